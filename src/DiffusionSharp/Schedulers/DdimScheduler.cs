using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>Options of <see cref="DdimScheduler"/>; defaults are diffusers' <c>DDIMScheduler</c> defaults.</summary>
public sealed record DdimSchedulerOptions
{
    /// <summary>The training noise schedule.</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new();

    /// <summary>What the network predicts.</summary>
    [DiffusersKey("prediction_type")]
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>Clamp x̂₀ to [−<see cref="ClipSampleRange"/>, <see cref="ClipSampleRange"/>] (ignored when <see cref="Thresholding"/>).</summary>
    [DiffusersKey("clip_sample")]
    public bool ClipSample { get; init; } = true;

    /// <summary>The clamp bound of <see cref="ClipSample"/>.</summary>
    [DiffusersKey("clip_sample_range")]
    public double ClipSampleRange { get; init; } = 1.0;

    /// <summary>Dynamic thresholding of x̂₀ (Saharia et al. 2022) instead of clipping.</summary>
    [DiffusersKey("thresholding")]
    public bool Thresholding { get; init; }

    /// <summary>The |x̂₀| quantile of dynamic thresholding.</summary>
    [DiffusersKey("dynamic_thresholding_ratio")]
    public double DynamicThresholdingRatio { get; init; } = 0.995;

    /// <summary>The largest threshold s of dynamic thresholding.</summary>
    [DiffusersKey("sample_max_value")]
    public double SampleMaxValue { get; init; } = 1.0;

    /// <summary>ᾱ "before" the first training step: 1 (true) or ᾱ_0 (false, as Stable Diffusion v1).</summary>
    [DiffusersKey("set_alpha_to_one")]
    public bool SetAlphaToOne { get; init; } = true;

    /// <summary>Added to every timestep with <see cref="TimestepSpacing.Leading"/>.</summary>
    [DiffusersKey("steps_offset")]
    public int StepsOffset { get; init; }

    /// <summary>How inference timesteps are spaced.</summary>
    [DiffusersKey("timestep_spacing")]
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Leading;

    /// <summary>η of Song et al. 2021, eq. 16: 0 is deterministic DDIM, 1 the DDPM posterior variance. A <c>step()</c> argument in diffusers.</summary>
    public double Eta { get; init; }

    /// <summary>Recompute ε̂ from the clipped x̂₀ (a <c>step()</c> argument in diffusers; off by default).</summary>
    public bool UseClippedModelOutput { get; init; }

    /// <summary>Reads diffusers' <c>scheduler_config.json</c>; missing keys take diffusers' defaults (η is not a config key).</summary>
    /// <exception cref="ArgumentException">A key of the wrong type or an unknown name.</exception>
    public static DdimSchedulerOptions FromDiffusersConfig(JsonElement config) => DiffusersKeys.Read<DdimSchedulerOptions>(config);

    /// <summary>The diffusers <c>scheduler_config.json</c> content for these options (η and clipped-output are step arguments there).</summary>
    public JsonObject ToDiffusersConfig() => DiffusersKeys.Write(this, DdimScheduler.DiffusersClassName);
}

/// <summary>
/// DDIM (Song, Meng &amp; Ermon 2021, "Denoising Diffusion Implicit Models"), eq. 12:
/// x_{t'} = √ᾱ_{t'} x̂₀ + √(1 − ᾱ_{t'} − σ_t²) ε̂ + σ_t z, with σ_t = η √((1−ᾱ_{t'})/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'}) (eq. 16).
/// η = 0 is the deterministic sampler (the probability-flow ODE's Euler step in √((1−ᾱ)/ᾱ)); η = 1 is DDPM's variance.
/// </summary>
/// <remarks>
/// Matches diffusers' <c>DDIMScheduler</c>, including its t' = t − ⌊T/N⌋ for every spacing, float32 coefficients and
/// <c>use_clipped_model_output=false</c> by default (ε̂ is not recomputed after clipping x̂₀).
/// </remarks>
public sealed class DdimScheduler : IScheduler
{
    /// <summary>diffusers' class name, <c>_class_name</c> in <c>scheduler_config.json</c>.</summary>
    public const string DiffusersClassName = "DDIMScheduler";

    private readonly float[] _alphasCumprod;
    private readonly float _finalAlphaCumprod;
    private readonly ForwardProcess _forward;
    private long[]? _timesteps;
    private Tensor? _timestepsTensor;
    private int _numInferenceSteps;

    /// <summary>Builds the scheduler.</summary>
    /// <exception cref="ArgumentException">An invalid option (the message names the diffusers key).</exception>
    public DdimScheduler(DdimSchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SchedulerGuards.CheckDefined(options.PredictionType, "prediction_type");
        SchedulerGuards.CheckDefined(options.TimestepSpacing, "timestep_spacing");
        SchedulerGuards.CheckRange(options.ClipSampleRange, double.Epsilon, double.MaxValue, "clip_sample_range");
        SchedulerGuards.CheckRange(options.DynamicThresholdingRatio, double.Epsilon, 1, "dynamic_thresholding_ratio");
        SchedulerGuards.CheckRange(options.SampleMaxValue, 1, double.MaxValue, "sample_max_value");
        SchedulerGuards.CheckRange(options.Eta, 0, double.MaxValue, "eta");
        ArgumentOutOfRangeException.ThrowIfNegative(options.StepsOffset, "steps_offset");
        Options = options;
        Schedule = new NoiseSchedule(options.Schedule);
        _alphasCumprod = Schedule.AlphasCumprod;
        _finalAlphaCumprod = options.SetAlphaToOne ? 1f : _alphasCumprod[0];
        _forward = new ForwardProcess(_alphasCumprod);
    }

    /// <summary>The options.</summary>
    public DdimSchedulerOptions Options { get; }

    /// <summary>The training schedule.</summary>
    public NoiseSchedule Schedule { get; }

    /// <summary>ᾱ_t as this scheduler uses it.</summary>
    public IReadOnlyList<float> AlphasCumprod => _alphasCumprod;

    /// <inheritdoc/>
    public int NumTrainTimesteps => Schedule.NumTrainTimesteps;

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> was not called.</exception>
    public Tensor Timesteps => _timestepsTensor ?? throw new InvalidOperationException("Call SetTimesteps first.");

    /// <summary>The rollout's timesteps as integers.</summary>
    public IReadOnlyList<long> TimestepValues => _timesteps ?? throw new InvalidOperationException("Call SetTimesteps first.");

    /// <inheritdoc/>
    public double InitNoiseSigma => 1.0;

    /// <inheritdoc/>
    public int Order => 1;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps)
    {
        _timesteps = TimestepGrid.Discrete(Options.TimestepSpacing, NumTrainTimesteps, numInferenceSteps, Options.StepsOffset);
        _numInferenceSteps = numInferenceSteps;
        _timestepsTensor?.Dispose();
        _timestepsTensor = SchedulerGuards.OwnedTimesteps(_timesteps.Select(t => (double)t));
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return sample.alias();
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException">η &gt; 0 and no noise source.</exception>
    public SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null)
    {
        SchedulerGuards.CheckStepInputs(modelOutput, sample);
        if (_timesteps is null)
            throw new InvalidOperationException("Call SetTimesteps first.");
        int t = SchedulerGuards.IntegerTimestep(timestep, NumTrainTimesteps);
        int prevT = t - NumTrainTimesteps / _numInferenceSteps;

        float alphaProdT = _alphasCumprod[t];
        float alphaProdTPrev = prevT >= 0 ? _alphasCumprod[prevT] : _finalAlphaCumprod;
        float betaProdT = 1f - alphaProdT;
        float sqrtAlphaProdT = MathF.Sqrt(alphaProdT);
        float sqrtBetaProdT = MathF.Sqrt(betaProdT);

        using var scope = NewDisposeScope();
        // Eq. 9: x̂₀ = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t, and ε̂ for the direction term, from any parameterisation.
        var scales = SchedulerGuards.Scales(sqrtAlphaProdT, sqrtBetaProdT, sample);
        var x0 = Parameterization.ToSample(modelOutput, Options.PredictionType, sample, scales);
        var eps = Parameterization.ToEpsilon(modelOutput, Options.PredictionType, sample, scales);
        if (Options.Thresholding)
            x0 = ForwardProcess.DynamicThreshold(x0, Options.DynamicThresholdingRatio, Options.SampleMaxValue);
        else if (Options.ClipSample)
            x0 = ForwardProcess.ClipSample(x0, Options.ClipSampleRange);

        // Eq. 16: σ_t² = (1−ᾱ_{t'})/(1−ᾱ_t) · (1 − ᾱ_t/ᾱ_{t'}), scaled by η.
        float variance = (1f - alphaProdTPrev) / betaProdT * (1f - alphaProdT / alphaProdTPrev);
        float stdDevT = (float)Options.Eta * MathF.Sqrt(variance);
        if (Options.UseClippedModelOutput)
            eps = Parameterization.ToEpsilon(x0, PredictionType.Sample, sample, scales);

        // Eq. 12: "direction pointing to x_t" plus the predicted x₀ at ᾱ_{t'}.
        var direction = MathF.Sqrt(1f - alphaProdTPrev - stdDevT * stdDevT) * eps;
        var prev = MathF.Sqrt(alphaProdTPrev) * x0 + direction;
        if (Options.Eta > 0)
        {
            var z = SchedulerGuards.RequireNoise(noise, nameof(DdimScheduler)).Next(modelOutput);
            prev = prev + stdDevT * z;
        }
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), x0.MoveToOuterDisposeScope());
    }

    /// <summary>Releases the timesteps tensor.</summary>
    public void Dispose()
    {
        _timestepsTensor?.Dispose();
        _timestepsTensor = null;
    }

    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        _forward.AddNoise(originalSamples, noise, timesteps);

    /// <summary>The v-prediction target √ᾱ_t ε − √(1−ᾱ_t) x₀ (diffusers' <c>get_velocity</c>).</summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps) =>
        _forward.GetVelocity(sample, noise, timesteps);
}
