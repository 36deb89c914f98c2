using System.Text.Json;
using DiffusionSharp.Schedules;

namespace DiffusionSharp.Schedulers;

/// <summary>The samplers the library offers (CLI names in parentheses).</summary>
public enum SamplerKind
{
    /// <summary>DDPM ancestral sampling, Ho et al. 2020 (<c>ddpm</c>).</summary>
    Ddpm,

    /// <summary>DDIM, Song et al. 2021 (<c>ddim</c>).</summary>
    Ddim,

    /// <summary>DPM-Solver++ multistep, Lu et al. 2022 (<c>dpm++</c>, <c>dpmsolver++</c>).</summary>
    DpmSolverMultistep,

    /// <summary>Euler on the probability-flow ODE, Karras et al. 2022 (<c>euler</c>).</summary>
    EulerDiscrete,

    /// <summary>Euler-ancestral (<c>euler-a</c>).</summary>
    EulerAncestralDiscrete,

    /// <summary>Heun's second-order method, Karras et al. 2022 Algorithm 1 (<c>heun</c>).</summary>
    HeunDiscrete,

    /// <summary>UniPC multistep, Zhao et al. 2023 (<c>unipc</c>).</summary>
    UniPcMultistep,
}

/// <summary>
/// Builds schedulers by <see cref="SamplerKind"/> or from diffusers' <c>scheduler_config.json</c> (by <c>_class_name</c>).
/// </summary>
public static class SchedulerFactory
{
    private static readonly (string Name, SamplerKind Kind)[] s_cliNames =
    [
        ("ddpm", SamplerKind.Ddpm),
        ("ddim", SamplerKind.Ddim),
        ("dpm++", SamplerKind.DpmSolverMultistep),
        ("dpmsolver++", SamplerKind.DpmSolverMultistep),
        ("euler", SamplerKind.EulerDiscrete),
        ("euler-a", SamplerKind.EulerAncestralDiscrete),
        ("heun", SamplerKind.HeunDiscrete),
        ("unipc", SamplerKind.UniPcMultistep),
    ];

    private static readonly (string ClassName, SamplerKind Kind)[] s_classNames =
    [
        (DdpmScheduler.DiffusersClassName, SamplerKind.Ddpm),
        (DdimScheduler.DiffusersClassName, SamplerKind.Ddim),
        (DpmSolverMultistepScheduler.DiffusersClassName, SamplerKind.DpmSolverMultistep),
        (EulerDiscreteScheduler.DiffusersClassName, SamplerKind.EulerDiscrete),
        (EulerAncestralDiscreteScheduler.DiffusersClassName, SamplerKind.EulerAncestralDiscrete),
        (HeunDiscreteScheduler.DiffusersClassName, SamplerKind.HeunDiscrete),
        (UniPcMultistepScheduler.DiffusersClassName, SamplerKind.UniPcMultistep),
    ];

    /// <summary>The CLI names, comma-separated (for help texts and error messages).</summary>
    public static string CliNames => string.Join(", ", s_cliNames.Select(n => n.Name));

    /// <summary>Parses a CLI sampler name (<c>ddpm</c>, <c>ddim</c>, <c>dpm++</c>/<c>dpmsolver++</c>, <c>euler</c>, <c>euler-a</c>, <c>heun</c>, <c>unipc</c>; case-insensitive).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the accepted ones.</exception>
    public static SamplerKind ParseKind(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var (cli, kind) in s_cliNames)
        {
            if (string.Equals(cli, name.Trim(), StringComparison.OrdinalIgnoreCase))
                return kind;
        }
        throw new ArgumentException($"Unknown sampler '{name}'; allowed values: {CliNames}.", nameof(name));
    }

    /// <summary>The canonical CLI name of <paramref name="kind"/>.</summary>
    public static string CliName(SamplerKind kind) =>
        s_cliNames.FirstOrDefault(n => n.Kind == kind).Name
        ?? throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a defined SamplerKind.");

    /// <summary>The diffusers class name of <paramref name="kind"/> (e.g. <c>EulerDiscreteScheduler</c>).</summary>
    public static string DiffusersClassName(SamplerKind kind) =>
        s_classNames.FirstOrDefault(n => n.Kind == kind).ClassName
        ?? throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a defined SamplerKind.");

    /// <summary>
    /// A scheduler of <paramref name="kind"/> over <paramref name="schedule"/> for a network predicting
    /// <paramref name="prediction"/>; other options keep diffusers' defaults for that scheduler.
    /// </summary>
    /// <param name="kind">The sampler.</param>
    /// <param name="schedule">The training noise schedule the network was trained with.</param>
    /// <param name="prediction">What the network predicts.</param>
    /// <param name="timestepSpacing">Timestep spacing (null: the scheduler's diffusers default).</param>
    /// <param name="useKarrasSigmas">Karras σ grid (σ-space samplers only).</param>
    /// <param name="eta">DDIM's η (DDIM only; 0 is deterministic).</param>
    /// <param name="clipSample">Clamp x̂₀ to [−1, 1] (DDPM, DDIM, Heun; null: the scheduler's default, true for DDPM/DDIM).</param>
    /// <exception cref="ArgumentException">An option the chosen sampler does not have, or an invalid value.</exception>
    /// <exception cref="NotSupportedException">The sampler is not available in this build.</exception>
    public static IScheduler Create(
        SamplerKind kind,
        NoiseScheduleOptions schedule,
        PredictionType prediction,
        TimestepSpacing? timestepSpacing = null,
        bool useKarrasSigmas = false,
        double eta = 0.0,
        bool? clipSample = null)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (useKarrasSigmas && kind is SamplerKind.Ddpm or SamplerKind.Ddim or SamplerKind.EulerAncestralDiscrete)
            throw new ArgumentException($"Karras sigmas apply to euler, heun, dpm++ and unipc, not {CliName(kind)}.", nameof(useKarrasSigmas));
        if (eta != 0.0 && kind != SamplerKind.Ddim)
            throw new ArgumentException($"eta applies to ddim only, not {CliName(kind)}.", nameof(eta));
        if (clipSample is not null && kind is not (SamplerKind.Ddpm or SamplerKind.Ddim or SamplerKind.HeunDiscrete))
            throw new ArgumentException($"clip_sample applies to ddpm, ddim and heun, not {CliName(kind)}.", nameof(clipSample));
        switch (kind)
        {
            case SamplerKind.Ddpm:
            {
                var d = new DdpmSchedulerOptions();
                return new DdpmScheduler(d with
                {
                    Schedule = schedule,
                    PredictionType = prediction,
                    TimestepSpacing = timestepSpacing ?? d.TimestepSpacing,
                    ClipSample = clipSample ?? d.ClipSample,
                });
            }
            case SamplerKind.Ddim:
            {
                var d = new DdimSchedulerOptions();
                return new DdimScheduler(d with
                {
                    Schedule = schedule,
                    PredictionType = prediction,
                    TimestepSpacing = timestepSpacing ?? d.TimestepSpacing,
                    ClipSample = clipSample ?? d.ClipSample,
                    Eta = eta,
                });
            }
            case SamplerKind.EulerDiscrete:
            {
                var d = new EulerDiscreteSchedulerOptions();
                return new EulerDiscreteScheduler(d with
                {
                    Schedule = schedule,
                    PredictionType = prediction,
                    TimestepSpacing = timestepSpacing ?? d.TimestepSpacing,
                    UseKarrasSigmas = useKarrasSigmas,
                });
            }
            case SamplerKind.EulerAncestralDiscrete:
            {
                var d = new EulerAncestralDiscreteSchedulerOptions();
                return new EulerAncestralDiscreteScheduler(d with
                {
                    Schedule = schedule,
                    PredictionType = prediction,
                    TimestepSpacing = timestepSpacing ?? d.TimestepSpacing,
                });
            }
            case SamplerKind.HeunDiscrete:
            {
                var d = new HeunDiscreteSchedulerOptions();
                return new HeunDiscreteScheduler(d with
                {
                    Schedule = schedule,
                    PredictionType = prediction,
                    TimestepSpacing = timestepSpacing ?? d.TimestepSpacing,
                    UseKarrasSigmas = useKarrasSigmas,
                    ClipSample = clipSample ?? d.ClipSample,
                });
            }
            case SamplerKind.DpmSolverMultistep:
            {
                var d = new DpmSolverMultistepOptions();
                return new DpmSolverMultistepScheduler(d with
                {
                    Schedule = schedule,
                    PredictionType = prediction,
                    TimestepSpacing = timestepSpacing ?? d.TimestepSpacing,
                    UseKarrasSigmas = useKarrasSigmas,
                });
            }
            case SamplerKind.UniPcMultistep:
            {
                var d = new UniPcMultistepOptions();
                return new UniPcMultistepScheduler(d with
                {
                    Schedule = schedule,
                    PredictionType = prediction,
                    TimestepSpacing = timestepSpacing ?? d.TimestepSpacing,
                    UseKarrasSigmas = useKarrasSigmas,
                });
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, $"Unknown sampler; allowed values: {CliNames}.");
        }
    }

    /// <summary>
    /// diffusers' <c>scheduler_config.json</c> content for <paramref name="kind"/> with its defaults over the given training
    /// schedule and prediction type (what a saved model folder carries, so diffusers and <see cref="FromConfig"/> rebuild it).
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject ToDiffusersConfig(SamplerKind kind, NoiseScheduleOptions schedule, PredictionType prediction)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return kind switch
        {
            SamplerKind.Ddpm => new DdpmSchedulerOptions { Schedule = schedule, PredictionType = prediction }.ToDiffusersConfig(),
            SamplerKind.Ddim => new DdimSchedulerOptions { Schedule = schedule, PredictionType = prediction }.ToDiffusersConfig(),
            SamplerKind.DpmSolverMultistep => new DpmSolverMultistepOptions { Schedule = schedule, PredictionType = prediction }.ToDiffusersConfig(),
            SamplerKind.UniPcMultistep => new UniPcMultistepOptions { Schedule = schedule, PredictionType = prediction }.ToDiffusersConfig(),
            SamplerKind.EulerDiscrete => new EulerDiscreteSchedulerOptions { Schedule = schedule, PredictionType = prediction }.ToDiffusersConfig(),
            SamplerKind.EulerAncestralDiscrete => new EulerAncestralDiscreteSchedulerOptions { Schedule = schedule, PredictionType = prediction }.ToDiffusersConfig(),
            SamplerKind.HeunDiscrete => new HeunDiscreteSchedulerOptions { Schedule = schedule, PredictionType = prediction }.ToDiffusersConfig(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, $"Unknown sampler; allowed values: {CliNames}."),
        };
    }

    /// <summary>A scheduler from the text of diffusers' <c>scheduler_config.json</c>, chosen by its <c>_class_name</c>.</summary>
    /// <exception cref="ArgumentException">Invalid JSON, no or unknown <c>_class_name</c>, or an invalid key.</exception>
    /// <exception cref="NotSupportedException">A known diffusers scheduler that is not available in this build.</exception>
    public static IScheduler FromConfigJson(string json) => FromConfig(DiffusersConfig.ParseObject(json));

    /// <summary>A scheduler from a parsed diffusers <c>scheduler_config.json</c>.</summary>
    /// <exception cref="ArgumentException">No or unknown <c>_class_name</c>, or an invalid key.</exception>
    /// <exception cref="NotSupportedException">A known diffusers scheduler that is not available in this build.</exception>
    public static IScheduler FromConfig(JsonElement config)
    {
        var className = DiffusersConfig.ClassName(config)
            ?? throw new ArgumentException("The scheduler config has no _class_name.", "_class_name");
        var kind = KindOfClassName(className);
        return kind switch
        {
            SamplerKind.Ddpm => new DdpmScheduler(DdpmSchedulerOptions.FromDiffusersConfig(config)),
            SamplerKind.Ddim => new DdimScheduler(DdimSchedulerOptions.FromDiffusersConfig(config)),
            SamplerKind.EulerDiscrete => new EulerDiscreteScheduler(EulerDiscreteSchedulerOptions.FromDiffusersConfig(config)),
            SamplerKind.EulerAncestralDiscrete => new EulerAncestralDiscreteScheduler(EulerAncestralDiscreteSchedulerOptions.FromDiffusersConfig(config)),
            SamplerKind.HeunDiscrete => new HeunDiscreteScheduler(HeunDiscreteSchedulerOptions.FromDiffusersConfig(config)),
            SamplerKind.DpmSolverMultistep => new DpmSolverMultistepScheduler(DpmSolverMultistepOptions.FromDiffusersConfig(config)),
            SamplerKind.UniPcMultistep => new UniPcMultistepScheduler(UniPcMultistepOptions.FromDiffusersConfig(config)),
            _ => throw new NotSupportedException($"{className} is not available yet."),
        };
    }

    /// <summary>The <see cref="SamplerKind"/> of a diffusers scheduler class name.</summary>
    /// <exception cref="ArgumentException">Not one of the supported class names.</exception>
    public static SamplerKind KindOfClassName(string className)
    {
        ArgumentNullException.ThrowIfNull(className);
        foreach (var (name, kind) in s_classNames)
        {
            if (name == className)
                return kind;
        }
        throw new ArgumentException(
            $"Unknown scheduler _class_name '{className}'; allowed values: {string.Join(", ", s_classNames.Select(n => n.ClassName))}.", "_class_name");
    }
}
