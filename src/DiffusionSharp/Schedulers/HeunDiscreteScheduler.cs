using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>Options of <see cref="HeunDiscreteScheduler"/>; defaults are diffusers' <c>HeunDiscreteScheduler</c> defaults (β from 0.00085 to 0.012).</summary>
public sealed record HeunDiscreteSchedulerOptions
{
    /// <summary>The training noise schedule (diffusers' Heun defaults to β_start = 0.00085, β_end = 0.012).</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new() { BetaStart = 0.00085, BetaEnd = 0.012 };

    /// <summary>What the network predicts.</summary>
    [DiffusersKey("prediction_type")]
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>Walk the Karras et al. 2022 ρ = 7 grid (eq. 5).</summary>
    [DiffusersKey("use_karras_sigmas")]
    public bool UseKarrasSigmas { get; init; }

    /// <summary>Walk a grid even in log σ.</summary>
    [DiffusersKey("use_exponential_sigmas")]
    public bool UseExponentialSigmas { get; init; }

    /// <summary>Clamp x̂₀ to [−<see cref="ClipSampleRange"/>, <see cref="ClipSampleRange"/>].</summary>
    [DiffusersKey("clip_sample")]
    public bool ClipSample { get; init; }

    /// <summary>The clamp bound of <see cref="ClipSample"/>.</summary>
    [DiffusersKey("clip_sample_range")]
    public double ClipSampleRange { get; init; } = 1.0;

    /// <summary>How inference timesteps are spaced.</summary>
    [DiffusersKey("timestep_spacing")]
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Linspace;

    /// <summary>Added to every timestep with <see cref="TimestepSpacing.Leading"/>.</summary>
    [DiffusersKey("steps_offset")]
    public int StepsOffset { get; init; }

    /// <summary>Reads diffusers' <c>scheduler_config.json</c>; missing keys take diffusers' defaults.</summary>
    /// <exception cref="ArgumentException">A key of the wrong type, an unknown name, or <c>use_beta_sigmas</c> (not supported).</exception>
    public static HeunDiscreteSchedulerOptions FromDiffusersConfig(JsonElement config)
    {
        if (DiffusersConfig.GetBool(config, "use_beta_sigmas", false))
            throw new ArgumentException("use_beta_sigmas is not supported; use use_karras_sigmas or use_exponential_sigmas.", "use_beta_sigmas");
        return DiffusersKeys.Read<HeunDiscreteSchedulerOptions>(config);
    }

    /// <summary>The diffusers <c>scheduler_config.json</c> content for these options.</summary>
    public JsonObject ToDiffusersConfig()
    {
        var o = DiffusersKeys.Write(this, HeunDiscreteScheduler.DiffusersClassName);
        o.Remove("rescale_betas_zero_snr"); // not a HeunDiscreteScheduler argument
        o["use_beta_sigmas"] = false;
        return o;
    }
}

/// <summary>
/// Heun's second-order method on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ (Karras et al. 2022,
/// Algorithm 1, the deterministic sampler): an Euler step to σ_{i+1}, then the trapezoidal correction
/// x_{i+1} = x_i + (σ_{i+1} − σ_i)·½(d_i + d'_{i+1}); the last step (σ_{i+1} = 0) is Euler only.
/// </summary>
/// <remarks>
/// Two network calls per step, made through the diffusers contract as two <see cref="Step"/> calls over interleaved
/// timesteps [t_0, t_1, t_1, t_2, t_2, ..., t_{N−1}, t_{N−1}] and σ [σ_0, σ_1, σ_1, ..., σ_{N−1}, σ_{N−1}, 0]
/// (2N − 1 calls). The first call of a pair keeps d_i, Δσ and x_i; the second consumes them. Matches diffusers'
/// <c>HeunDiscreteScheduler</c> step for step.
/// </remarks>
public sealed class HeunDiscreteScheduler : SigmaSpaceScheduler
{
    /// <summary>diffusers' class name, <c>_class_name</c> in <c>scheduler_config.json</c>.</summary>
    public const string DiffusersClassName = "HeunDiscreteScheduler";

    // State between the two calls of a step: d_i, Δσ and x_i (detached from dispose scopes, owned here).
    private Tensor? _prevDerivative;
    private Tensor? _prevSample;
    private float _dt;

    /// <summary>Builds the scheduler.</summary>
    /// <exception cref="ArgumentException">An invalid option (the message names the diffusers key).</exception>
    public HeunDiscreteScheduler(HeunDiscreteSchedulerOptions options)
        : base(new NoiseSchedule(Validated(options).Schedule), options.TimestepSpacing, finiteTerminalSnr: false)
    {
        Options = options;
    }

    /// <summary>The options.</summary>
    public HeunDiscreteSchedulerOptions Options { get; }

    /// <inheritdoc/>
    public override int Order => 2;

    /// <summary>True when the next <see cref="Step"/> is the first (Euler) half of a step.</summary>
    public bool StateInFirstOrder => _prevDerivative is null;

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        var grid = Options.UseKarrasSigmas ? SigmaGridKind.Karras : Options.UseExponentialSigmas ? SigmaGridKind.Exponential : SigmaGridKind.Timesteps;
        var (timesteps, sigmas) = DiscreteSigmaSchedule.Build(_alphasCumprod, Options.TimestepSpacing, numInferenceSteps, Options.StepsOffset, grid: grid);
        // Interleave: σ_0, then every σ_1..σ_{N−1} twice, then 0; t_0, then every t_1..t_{N−1} twice.
        var interleavedSigmas = new List<float>(2 * sigmas.Length) { sigmas[0] };
        for (int i = 1; i < sigmas.Length - 1; i++)
        {
            interleavedSigmas.Add(sigmas[i]);
            interleavedSigmas.Add(sigmas[i]);
        }
        interleavedSigmas.Add(sigmas[^1]);
        var interleavedTimesteps = new List<float>(2 * timesteps.Length) { timesteps[0] };
        for (int i = 1; i < timesteps.Length; i++)
        {
            interleavedTimesteps.Add(timesteps[i]);
            interleavedTimesteps.Add(timesteps[i]);
        }
        UseGrid(interleavedTimesteps.ToArray(), interleavedSigmas.ToArray());
    }

    /// <inheritdoc/>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null)
    {
        SchedulerGuards.CheckStepInputs(modelOutput, sample);
        var sigmas = _sigmas ?? throw new InvalidOperationException("Call SetTimesteps first.");
        int i = EnsureStepIndex(timestep);
        if (i + 1 >= sigmas.Length && StateInFirstOrder)
            throw new InvalidOperationException("The rollout is over; call SetTimesteps to start another.");
        bool first = StateInFirstOrder;
        float sigma = first ? sigmas[i] : sigmas[i - 1];
        float sigmaNext = first ? sigmas[i + 1] : sigmas[i];
        float sigmaHat = sigma; // Algorithm 1 has no churn: σ̂ = σ.
        // D is evaluated at the σ the network saw: σ̂ in the Euler half, σ_{i+1} in the correction.
        float sigmaInput = first ? sigmaHat : sigmaNext;

        using var scope = NewDisposeScope();
        var x0 = SchedulerGuards.SigmaSpaceSample(Options.PredictionType, modelOutput, sample, sigmaInput);
        if (Options.ClipSample)
            x0 = x0.clamp(-Options.ClipSampleRange, Options.ClipSampleRange);

        Tensor prev;
        if (first)
        {
            // d_i = (x_i − D(x_i; σ_i))/σ_i and an Euler step.
            var derivative = (sample - x0) / sigmaHat;
            float dt = sigmaNext - sigmaHat;
            ResetState();
            _prevDerivative = derivative.clone().DetachFromDisposeScope();
            _prevSample = sample.clone().DetachFromDisposeScope();
            _dt = dt;
            prev = sample + derivative * dt;
        }
        else
        {
            // d'_{i+1} = (x̃ − D(x̃; σ_{i+1}))/σ_{i+1}; average with d_i and restart from x_i.
            var derivative = (sample - x0) / sigmaNext;
            derivative = (_prevDerivative! + derivative) / 2;
            prev = _prevSample! + derivative * _dt;
            ResetState();
        }
        _stepIndex = i + 1;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), x0.MoveToOuterDisposeScope());
    }

    /// <summary>Drops d_i, Δσ and x_i kept between the two calls of a step.</summary>
    private protected override void ResetState()
    {
        _prevDerivative?.Dispose();
        _prevSample?.Dispose();
        _prevDerivative = null;
        _prevSample = null;
    }

    private static HeunDiscreteSchedulerOptions Validated(HeunDiscreteSchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SchedulerGuards.CheckDefined(options.PredictionType, "prediction_type");
        SchedulerGuards.CheckDefined(options.TimestepSpacing, "timestep_spacing");
        if (options.UseKarrasSigmas && options.UseExponentialSigmas)
            throw new ArgumentException("Only one of use_karras_sigmas and use_exponential_sigmas can be set.", "use_karras_sigmas");
        SchedulerGuards.CheckRange(options.ClipSampleRange, double.Epsilon, double.MaxValue, "clip_sample_range");
        ArgumentOutOfRangeException.ThrowIfNegative(options.StepsOffset, "steps_offset");
        if (options.Schedule.RescaleBetasZeroSnr)
            throw new ArgumentException("HeunDiscreteScheduler has no zero-terminal-SNR variant (σ_T would be infinite).", "rescale_betas_zero_snr");
        return options;
    }
}
