using System.ComponentModel;
using System.Text.Json;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using DiffusionSharp.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse export --model DIR --out DIR</c>: loads a UNet2DModel folder (checking it fully, mapping legacy
/// attention names) and writes one diffusers' <c>UNet2DModel.from_pretrained</c> loads unchanged, plus the
/// source's <c>scheduler_config.json</c> when it has one.
/// </summary>
internal sealed class ExportCommand : Command<ExportCommand.Settings>
{
    public const string SchedulerConfigFileName = "scheduler_config.json";

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")]
        [Description("Source folder (config.json + diffusion_pytorch_model.safetensors).")]
        public string Model { get; init; } = "";

        [CommandOption("--out <DIR>")]
        [Description("Destination folder (created if needed).")]
        public string Out { get; init; } = "";

        public override ValidationResult Validate() =>
            string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Out) ? ValidationResult.Error("--model and --out are required") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.EnsureLoaded();
        return CliErrors.Run(() =>
    {
        string schedulerSource = Path.Combine(settings.Model, SchedulerConfigFileName);
        string? schedulerJson = null;
        if (File.Exists(schedulerSource))
        {
            schedulerJson = File.ReadAllText(schedulerSource);
            try
            {
                using var doc = JsonDocument.Parse(schedulerJson);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{schedulerSource}: not a JSON object");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{schedulerSource}: malformed JSON ({e.Message})", e);
            }
        }
        using var model = UNet2DModel.FromPretrained(settings.Model);
        model.SavePretrained(settings.Out);
        if (schedulerJson is not null)
            AtomicFile.WriteAllText(Path.Combine(settings.Out, SchedulerConfigFileName), schedulerJson);
        AnsiConsole.Console.WriteLine($"wrote {Path.Combine(settings.Out, DiffusersUNet2DConfig.FileName)}, "
            + $"{Path.Combine(settings.Out, DiffusersUNet2DCheckpoint.WeightsFileName)} ({model.ParameterCount} parameters)"
            + (schedulerJson is null ? "" : $" and {Path.Combine(settings.Out, SchedulerConfigFileName)}"));
        return 0;
    });
    }
}
