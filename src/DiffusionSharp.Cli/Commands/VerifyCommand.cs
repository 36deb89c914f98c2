using System.ComponentModel;
using System.Globalization;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse verify --model DIR --io FILE [--tol 1e-4]</c>: runs the model on the file's <c>sample</c>,
/// <c>timesteps</c> and optional <c>class_labels</c> and compares with its <c>output</c>. Exit code 0 within the
/// tolerance, 2 above it, 1 for bad input.
/// </summary>
internal sealed class VerifyCommand : Command<VerifyCommand.Settings>
{
    public const int AboveTolerance = 2;

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")]
        [Description("diffusers UNet2DModel or UNet1DModel folder.")]
        public string Model { get; init; } = "";

        [CommandOption("--io <FILE>")]
        [Description("safetensors file with sample, timesteps, optional class_labels, and the expected output.")]
        public string Io { get; init; } = "";

        [CommandOption("--tol <TOL>")]
        [Description("Largest accepted max-abs difference (default 1e-4).")]
        public double Tolerance { get; init; } = 1e-4;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Io))
                return ValidationResult.Error("--model and --io are required");
            return Tolerance >= 0 ? ValidationResult.Success() : ValidationResult.Error("--tol must not be negative");
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.EnsureLoaded();
        using var model = LoadModel(settings.Model);
        using var scope = NewDisposeScope();
        var io = SafeTensors.Load(settings.Io);
        Tensor Get(string name) => io.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"{settings.Io}: tensor '{name}' not found");
        var sample = Get("sample");
        var timesteps = Get("timesteps");
        var expected = Get("output");
        var labels = io.GetValueOrDefault("class_labels");
        Tensor actual;
        try
        {
            using var _ = inference_mode();
            actual = ((Denoisers.IDiffusionNetwork)model).Predict(sample.to(ScalarType.Float32), timesteps, labels);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{settings.Io}: the inputs do not fit the model ({e.Message})", e);
        }
        if (!actual.shape.SequenceEqual(expected.shape))
            throw new InvalidDataException($"{settings.Io}: tensor 'output' has shape [{string.Join(", ", expected.shape)}], the model gives [{string.Join(", ", actual.shape)}]");
        double diff = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max().item<double>();
        bool ok = diff <= settings.Tolerance;
        AnsiConsole.Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"max |output - expected| = {diff:E3} (tolerance {settings.Tolerance:E1}): {(ok ? "OK" : "FAILED")}"));
        return ok ? 0 : AboveTolerance;
    }

    /// <summary>The UNet1DModel or UNet2DModel of a diffusers folder, chosen by its config's <c>_class_name</c>.</summary>
    internal static TorchSharp.torch.nn.Module LoadModel(string directory) =>
        Models.Diffusers.DiffusersUNet1DConfig.IsUNet1DFolder(directory) ? UNet1DModel.FromPretrained(directory) : UNet2DModel.FromPretrained(directory);
}
