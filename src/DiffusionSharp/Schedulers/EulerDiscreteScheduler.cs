using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>What Euler passes to the network as its time input (diffusers' <c>timestep_type</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EulerTimestepType>))]
public enum EulerTimestepType
{
    /// <summary>The (possibly fractional) training timestep. JSON <c>"discrete"</c>.</summary>
    [JsonStringEnumMemberName("discrete")]
    Discrete,

    /// <summary>c_noise = ¼ log σ (Karras et al. 2022, Table 1, "EDM"), used only with v-prediction. JSON <c>"continuous"</c>.</summary>
    [JsonStringEnumMemberName("continuous")]
    Continuous,
}

/// <summary>Options of <see cref="EulerDiscreteScheduler"/>; defaults are diffusers' <c>EulerDiscreteScheduler</c> defaults.</summary>
public sealed record EulerDiscreteSchedulerOptions
{
    /// <summary>The training noise schedule.</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new();

    /// <summary>What the network predicts.</summary>
    [DiffusersKey("prediction_type")]
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>How timesteps map to σ.</summary>
    [DiffusersKey("interpolation_type")]
    public SigmaInterpolation InterpolationType { get; init; } = SigmaInterpolation.Linear;

    /// <summary>Walk the Karras et al. 2022 ρ = 7 grid (eq. 5) instead of the timesteps' σ.</summary>
    [DiffusersKey("use_karras_sigmas")]
    public bool UseKarrasSigmas { get; init; }

    /// <summary>Walk a grid even in log σ instead of the timesteps' σ.</summary>
    [DiffusersKey("use_exponential_sigmas")]
    public bool UseExponentialSigmas { get; init; }

    /// <summary>σ_min of the Karras/exponential grid (null: the timesteps' smallest σ).</summary>
    [DiffusersKey("sigma_min")]
    public double? SigmaMin { get; init; }

    /// <summary>σ_max of the Karras/exponential grid (null: the timesteps' largest σ).</summary>
    [DiffusersKey("sigma_max")]
    public double? SigmaMax { get; init; }

    /// <summary>How inference timesteps are spaced.</summary>
    [DiffusersKey("timestep_spacing")]
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Linspace;

    /// <summary>The network's time input.</summary>
    [DiffusersKey("timestep_type")]
    public EulerTimestepType TimestepType { get; init; } = EulerTimestepType.Discrete;

    /// <summary>Added to every timestep with <see cref="TimestepSpacing.Leading"/>.</summary>
    [DiffusersKey("steps_offset")]
    public int StepsOffset { get; init; }

    /// <summary>The σ the rollout ends at.</summary>
    [DiffusersKey("final_sigmas_type")]
    public FinalSigmaType FinalSigmasType { get; init; } = FinalSigmaType.Zero;

    /// <summary>S_churn of Karras et al. 2022, Algorithm 2 (0: the deterministic Euler ODE step). A <c>step()</c> argument in diffusers.</summary>
    public double SChurn { get; init; }

    /// <summary>S_tmin: churn only where σ ≥ S_tmin.</summary>
    public double STmin { get; init; }

    /// <summary>S_tmax: churn only where σ ≤ S_tmax.</summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public double STmax { get; init; } = double.PositiveInfinity;

    /// <summary>S_noise: the scale of the churn noise.</summary>
    public double SNoise { get; init; } = 1.0;

    /// <summary>Reads diffusers' <c>scheduler_config.json</c>; missing keys take diffusers' defaults (the S_* are step arguments there).</summary>
    /// <exception cref="ArgumentException">A key of the wrong type, an unknown name, or <c>use_beta_sigmas</c> (not supported).</exception>
    public static EulerDiscreteSchedulerOptions FromDiffusersConfig(JsonElement config)
    {
        if (DiffusersConfig.GetBool(config, "use_beta_sigmas", false))
            throw new ArgumentException("use_beta_sigmas is not supported; use use_karras_sigmas or use_exponential_sigmas.", "use_beta_sigmas");
        return DiffusersKeys.Read<EulerDiscreteSchedulerOptions>(config);
    }

    /// <summary>The diffusers <c>scheduler_config.json</c> content for these options.</summary>
    public JsonObject ToDiffusersConfig()
    {
        var o = DiffusersKeys.Write(this, EulerDiscreteScheduler.DiffusersClassName);
        o["use_beta_sigmas"] = false;
        return o;
    }
}

/// <summary>
/// Euler's method on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ in σ space, with optional "churn"
/// (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models", Algorithm 2 without the
/// Heun correction): σ̂ = σ_i(1 + γ_i), x̂ = x + √(σ̂² − σ_i²)·S_noise·z, x_{i+1} = x̂ + (σ_{i+1} − σ̂)(x̂ − D(x̂))/σ̂,
/// with γ_i = min(S_churn/N, √2 − 1) inside [S_tmin, S_tmax]. The VP network sees x/√(σ² + 1).
/// </summary>
/// <remarks>Matches diffusers' <c>EulerDiscreteScheduler</c> step for step (float32 σ arithmetic included).</remarks>
public sealed class EulerDiscreteScheduler : SigmaSpaceScheduler
{
    /// <summary>diffusers' class name, <c>_class_name</c> in <c>scheduler_config.json</c>.</summary>
    public const string DiffusersClassName = "EulerDiscreteScheduler";

    /// <summary>Builds the scheduler.</summary>
    /// <exception cref="ArgumentException">An invalid option (the message names the diffusers key).</exception>
    public EulerDiscreteScheduler(EulerDiscreteSchedulerOptions options)
        : base(new NoiseSchedule(Validated(options).Schedule), options.TimestepSpacing, finiteTerminalSnr: true)
    {
        Options = options;
    }

    /// <summary>The options.</summary>
    public EulerDiscreteSchedulerOptions Options { get; }

    /// <inheritdoc/>
    public override int Order => 1;

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        var grid = Options.UseKarrasSigmas ? SigmaGridKind.Karras : Options.UseExponentialSigmas ? SigmaGridKind.Exponential : SigmaGridKind.Timesteps;
        var (timesteps, sigmas) = DiscreteSigmaSchedule.Build(_alphasCumprod, Options.TimestepSpacing, numInferenceSteps, Options.StepsOffset,
            Options.InterpolationType, grid, Options.FinalSigmasType, Options.SigmaMin, Options.SigmaMax);
        if (Options.TimestepType == EulerTimestepType.Continuous && Options.PredictionType == PredictionType.VPrediction)
        {
            // EDM's c_noise = ¼ ln σ as the network's time input (Karras et al. 2022, Table 1).
            timesteps = sigmas[..^1].Select(s => 0.25f * MathF.Log(s)).ToArray();
        }
        UseGrid(timesteps, sigmas);
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException">The step churns (γ &gt; 0) and no noise source was given.</exception>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null)
    {
        SchedulerGuards.CheckStepInputs(modelOutput, sample);
        var sigmas = _sigmas ?? throw new InvalidOperationException("Call SetTimesteps first.");
        int i = EnsureStepIndex(timestep);
        if (i + 1 >= sigmas.Length)
            throw new InvalidOperationException("The rollout is over; call SetTimesteps to start another.");

        float sigma = sigmas[i];
        double gamma = Options.STmin <= sigma && sigma <= Options.STmax
            ? Math.Min(Options.SChurn / (sigmas.Length - 1), Math.Sqrt(2) - 1)
            : 0.0;
        float sigmaHat = sigma * (float)(gamma + 1);

        using var scope = NewDisposeScope();
        var x = sample.dtype == ScalarType.Float64 ? sample.alias() : sample.to(ScalarType.Float32);
        if (gamma > 0)
        {
            var z = SchedulerGuards.RequireNoise(noise, nameof(EulerDiscreteScheduler)).Next(modelOutput);
            var eps = z * (float)Options.SNoise;
            x = x + eps * MathF.Sqrt(sigmaHat * sigmaHat - sigma * sigma);
        }
        // ε is read at σ̂ (the churned level of x); v at σ, the level the network was given (as diffusers).
        var x0 = SchedulerGuards.SigmaSpaceSample(Options.PredictionType, modelOutput, x,
            Options.PredictionType == PredictionType.VPrediction ? sigma : sigmaHat);
        var derivative = (x - x0) / sigmaHat;
        float dt = sigmas[i + 1] - sigmaHat;
        var prev = (x + derivative * dt).to(modelOutput.dtype);
        _stepIndex = i + 1;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), x0.MoveToOuterDisposeScope());
    }

    private static EulerDiscreteSchedulerOptions Validated(EulerDiscreteSchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SchedulerGuards.CheckDefined(options.PredictionType, "prediction_type");
        SchedulerGuards.CheckDefined(options.InterpolationType, "interpolation_type");
        SchedulerGuards.CheckDefined(options.TimestepSpacing, "timestep_spacing");
        SchedulerGuards.CheckDefined(options.TimestepType, "timestep_type");
        SchedulerGuards.CheckDefined(options.FinalSigmasType, "final_sigmas_type");
        if (options.UseKarrasSigmas && options.UseExponentialSigmas)
            throw new ArgumentException("Only one of use_karras_sigmas and use_exponential_sigmas can be set.", "use_karras_sigmas");
        if (options.SigmaMin is { } lo)
            SchedulerGuards.CheckRange(lo, double.Epsilon, double.MaxValue, "sigma_min");
        if (options.SigmaMax is { } hi)
            SchedulerGuards.CheckRange(hi, options.SigmaMin ?? double.Epsilon, double.MaxValue, "sigma_max");
        SchedulerGuards.CheckRange(options.SChurn, 0, double.MaxValue, "s_churn");
        SchedulerGuards.CheckRange(options.SNoise, 0, double.MaxValue, "s_noise");
        if (double.IsNaN(options.STmin) || double.IsNaN(options.STmax) || options.STmin > options.STmax)
            throw new ArgumentOutOfRangeException("s_tmin", options.STmin, "s_tmin and s_tmax must be numbers with s_tmin ≤ s_tmax.");
        ArgumentOutOfRangeException.ThrowIfNegative(options.StepsOffset, "steps_offset");
        return options;
    }
}
