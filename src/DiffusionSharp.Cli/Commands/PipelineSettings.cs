using System.ComponentModel;
using DiffusionSharp.Runtime;
using DiffusionSharp.Sampling;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli.Commands;

/// <summary>The options of every command that samples a model folder (<c>sample</c>, <c>evaluate</c>), and how they open it.</summary>
internal abstract class PipelineSettings : CommandSettings
{
    [CommandOption("--model <DIR>")]
    [Description("Model folder (diffusers layout). Default: the embedded class-conditional MNIST model.")]
    public string? Model { get; init; }

    [CommandOption("--guidance <G>")]
    [Description("Classifier-free guidance scale (1 = none). Default: the model's.")]
    public double? Guidance { get; init; }

    [CommandOption("--batch-size <N>")]
    [DefaultValue(100)]
    public int BatchSize { get; init; } = 100;

    [CommandOption("--precision <P>")]
    [Description("fp32 or bf16 (conv/linear/attention in bfloat16; faster on CPUs with AVX512-BF16/AMX, see BENCHMARKS.md).")]
    [DefaultValue("fp32")]
    public string Precision { get; init; } = "fp32";

    /// <summary>--model, or the embedded model next to the executable.</summary>
    public string ModelDirectory => Model ?? CliPaths.DefaultModel;

    [CommandOption("--device <NAME>")]
    [Description("cpu, cuda or auto.")]
    [DefaultValue("cpu")]
    public string Device { get; init; } = "cpu";

    /// <summary>Loads <see cref="ModelDirectory"/> onto --device and sets the network's arithmetic to --precision.</summary>
    public DiffusionPipeline LoadPipeline()
    {
        var precision = CliPrecision.Parse(Precision);   // a bad --precision fails before the model is read
        var device = TorchRuntime.ResolveDevice(Device); // so does a --device that is not there
        var pipeline = DiffusionPipeline.Load(ModelDirectory, device);
        pipeline.Model.Precision = precision;
        return pipeline;
    }
}
