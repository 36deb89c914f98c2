using System.ComponentModel;
using DiffusionSharp.Sampling;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// The sampler options of the commands that draw from a model (<c>sample</c>, <c>evaluate</c>): a scheduler, or a
/// σ-space sampler and its grid, each defaulting to what the model folder says (EDM-preconditioned models: Heun).
/// </summary>
internal abstract class SamplerSettings : PipelineSettings
{
    [CommandOption("--sampler <NAME>")]
    [Description("ddpm, ddim, dpm++, euler, euler-a, heun, unipc. Default: the folder's scheduler_config.json.")]
    public string? Sampler { get; init; }

    [CommandOption("--sigma-sampler <NAME>")]
    [Description("A σ-space sampler instead of the scheduler: euler, heun, dpm++2m, dpm++2m-sde (EDM-preconditioned models: heun by default).")]
    public string? SigmaSampler { get; init; }

    [CommandOption("--sigmas <GRID>")]
    [Description("The σ grid of --sigma-sampler: karras, exponential, schedule.")]
    [DefaultValue("karras")]
    public string Sigmas { get; init; } = "karras";

    /// <summary>The generation options these settings and the command's own count, steps, class and seed give.</summary>
    public GenerationOptions GenerationOptions(int count, int? steps, int? classLabel, long seed) => new(
        count,
        Sampler is null ? null : SchedulerFactory.ParseKind(Sampler),
        steps,
        classLabel,
        Guidance,
        seed,
        BatchSize,
        SigmaSampler is null ? null : SigmaSamplers.Parse(SigmaSampler, "--sigma-sampler"),
        DiffusersNames.Parse<SigmaGridKind>(Sigmas, "--sigmas"));

    /// <summary>The sampler <paramref name="options"/> run on <paramref name="pipeline"/>, in words (for tables and reports).</summary>
    public static string Describe(DiffusionPipeline pipeline, GenerationOptions options) =>
        options.SigmaSampler is not null || pipeline.Metadata.Preconditioning is not null
            ? $"{SigmaSamplers.Name(options.SigmaSampler ?? SigmaSamplerKind.Heun)} over a {DiffusersNames.ToName(options.SigmaGrid)} σ grid"
            : SchedulerFactory.CliName(options.Sampler ?? pipeline.DefaultSampler);
}
