using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>The reverse-process variance σ_t² of DDPM (Ho et al. 2020, §3.2), diffusers' <c>variance_type</c>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DdpmVarianceType>))]
public enum DdpmVarianceType
{
    /// <summary>σ_t² = β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t)·β_t, the posterior variance (optimal for deterministic x₀). JSON <c>"fixed_small"</c>.</summary>
    [JsonStringEnumMemberName("fixed_small")]
    FixedSmall,

    /// <summary>Same σ_t as <see cref="FixedSmall"/>, formed as exp(½ log β̃_t). JSON <c>"fixed_small_log"</c>.</summary>
    [JsonStringEnumMemberName("fixed_small_log")]
    FixedSmallLog,

    /// <summary>σ_t² = β_t (optimal for x₀ ~ N(0, I)). JSON <c>"fixed_large"</c>.</summary>
    [JsonStringEnumMemberName("fixed_large")]
    FixedLarge,
}

/// <summary>Options of <see cref="DdpmScheduler"/>; defaults are diffusers' <c>DDPMScheduler</c> defaults.</summary>
public sealed record DdpmSchedulerOptions
{
    /// <summary>The training noise schedule.</summary>
    public NoiseScheduleOptions Schedule { get; init; } = new();

    /// <summary>What the network predicts.</summary>
    [DiffusersKey("prediction_type")]
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>The reverse-process variance.</summary>
    [DiffusersKey("variance_type")]
    public DdpmVarianceType VarianceType { get; init; } = DdpmVarianceType.FixedSmall;

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

    /// <summary>How inference timesteps are spaced.</summary>
    [DiffusersKey("timestep_spacing")]
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Leading;

    /// <summary>Added to every timestep with <see cref="TimestepSpacing.Leading"/>.</summary>
    [DiffusersKey("steps_offset")]
    public int StepsOffset { get; init; }

    /// <summary>Reads diffusers' <c>scheduler_config.json</c>; missing keys take diffusers' defaults.</summary>
    /// <exception cref="ArgumentException">A key of the wrong type or an unknown name.</exception>
    public static DdpmSchedulerOptions FromDiffusersConfig(JsonElement config) => DiffusersKeys.Read<DdpmSchedulerOptions>(config);

    /// <summary>The diffusers <c>scheduler_config.json</c> content for these options.</summary>
    public JsonObject ToDiffusersConfig() => DiffusersKeys.Write(this, DdpmScheduler.DiffusersClassName);
}

/// <summary>
/// Ancestral sampling of DDPM (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", Algorithm 2) over a subset
/// of the training timesteps: from x_t, form x̂₀, take the mean of the posterior q(x_{t'} | x_t, x̂₀) (eq. 7, with
/// t' the next timestep and the one-step β replaced by 1 − ᾱ_t/ᾱ_{t'}), and add σ_t z unless t = 0.
/// </summary>
/// <remarks>Matches diffusers' <c>DDPMScheduler</c> step for step, including its float32 coefficient arithmetic.</remarks>
public sealed class DdpmScheduler : IScheduler
{
    /// <summary>diffusers' class name, <c>_class_name</c> in <c>scheduler_config.json</c>.</summary>
    public const string DiffusersClassName = "DDPMScheduler";

    private readonly float[] _alphasCumprod;
    private readonly ForwardProcess _forward;
    private long[]? _timesteps;
    private Tensor? _timestepsTensor;

    /// <summary>Builds the scheduler.</summary>
    /// <exception cref="ArgumentException">An invalid option (the message names the diffusers key).</exception>
    public DdpmScheduler(DdpmSchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SchedulerGuards.CheckDefined(options.PredictionType, "prediction_type");
        SchedulerGuards.CheckDefined(options.VarianceType, "variance_type");
        SchedulerGuards.CheckDefined(options.TimestepSpacing, "timestep_spacing");
        SchedulerGuards.CheckRange(options.ClipSampleRange, double.Epsilon, double.MaxValue, "clip_sample_range");
        SchedulerGuards.CheckRange(options.DynamicThresholdingRatio, double.Epsilon, 1, "dynamic_thresholding_ratio");
        SchedulerGuards.CheckRange(options.SampleMaxValue, 1, double.MaxValue, "sample_max_value");
        ArgumentOutOfRangeException.ThrowIfNegative(options.StepsOffset, "steps_offset");
        Options = options;
        Schedule = new NoiseSchedule(options.Schedule);
        _alphasCumprod = Schedule.AlphasCumprod;
        _forward = new ForwardProcess(_alphasCumprod);
    }

    /// <summary>The options.</summary>
    public DdpmSchedulerOptions Options { get; }

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
    /// <exception cref="ArgumentNullException">No noise source and t &gt; 0.</exception>
    public SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null)
    {
        SchedulerGuards.CheckStepInputs(modelOutput, sample);
        var timesteps = _timesteps ?? throw new InvalidOperationException("Call SetTimesteps first.");
        int t = SchedulerGuards.IntegerTimestep(timestep, NumTrainTimesteps);
        int index = Array.IndexOf(timesteps, (long)t);
        if (index < 0)
            throw new ArgumentException($"Timestep {t} is not one of the scheduler's timesteps.", nameof(timestep));
        long prevT = index == timesteps.Length - 1 ? -1 : timesteps[index + 1];

        // Float32 coefficients, as diffusers forms them from float32 ᾱ.
        float alphaProdT = _alphasCumprod[t];
        float alphaProdTPrev = prevT >= 0 ? _alphasCumprod[prevT] : 1f;
        float betaProdT = 1f - alphaProdT;
        float betaProdTPrev = 1f - alphaProdTPrev;
        float currentAlphaT = alphaProdT / alphaProdTPrev;
        float currentBetaT = 1f - currentAlphaT;

        using var scope = NewDisposeScope();
        // Eq. 15 of Ho et al. 2020, inverted (x̂₀ = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t for ε), at float32 √ᾱ_t and √(1−ᾱ_t).
        var x0 = Parameterization.ToSample(modelOutput, Options.PredictionType, sample,
            SchedulerGuards.Scales(MathF.Sqrt(alphaProdT), MathF.Sqrt(betaProdT), sample));
        if (Options.Thresholding)
            x0 = ForwardProcess.DynamicThreshold(x0, Options.DynamicThresholdingRatio, Options.SampleMaxValue);
        else if (Options.ClipSample)
            x0 = ForwardProcess.ClipSample(x0, Options.ClipSampleRange);

        // Posterior mean μ̃_t(x_t, x̂₀) (Ho et al. 2020, eq. 7).
        float x0Coeff = MathF.Sqrt(alphaProdTPrev) * currentBetaT / betaProdT;
        float xtCoeff = MathF.Sqrt(currentAlphaT) * betaProdTPrev / betaProdT;
        var prev = x0Coeff * x0 + xtCoeff * sample;

        if (t > 0)
        {
            var z = SchedulerGuards.RequireNoise(noise, nameof(DdpmScheduler)).Next(modelOutput);
            // β̃_t = (1 − ᾱ_{t'})/(1 − ᾱ_t)·β_t, floored at 1e-20 as diffusers does before the log/sqrt.
            float posteriorVariance = MathF.Max(betaProdTPrev / betaProdT * currentBetaT, 1e-20f);
            float sigma = Options.VarianceType switch
            {
                DdpmVarianceType.FixedLarge => MathF.Sqrt(currentBetaT),
                DdpmVarianceType.FixedSmallLog => MathF.Exp(0.5f * MathF.Log(posteriorVariance)),
                _ => MathF.Sqrt(posteriorVariance),
            };
            prev = prev + sigma * z;
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
