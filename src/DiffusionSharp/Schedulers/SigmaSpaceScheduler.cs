using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>
/// What the σ-space samplers (<see cref="EulerDiscreteScheduler"/>, <see cref="EulerAncestralDiscreteScheduler"/>,
/// <see cref="HeunDiscreteScheduler"/>; Karras et al. 2022's x = x₀ + σ ε parameterisation) share: ᾱ_t as the sampler
/// uses it, the rollout's float32 timesteps and σ grid, the step position, the VP network's input scaling
/// x/√(σ² + 1), σ-space noising, and the members of <see cref="IScheduler"/> that follow from them. Each sampler builds
/// its own grid (<see cref="SetTimesteps"/>, ending in <see cref="UseGrid"/>) and its own update.
/// </summary>
public abstract class SigmaSpaceScheduler : IScheduler
{
    private protected readonly float[] _alphasCumprod;
    private protected float[]? _timesteps;
    private protected float[]? _sigmas;
    private protected int? _stepIndex;
    private readonly TimestepSpacing _spacing;
    private Tensor? _timestepsTensor;

    /// <param name="schedule">The training schedule.</param>
    /// <param name="spacing">How the inference timesteps are spaced (it decides <see cref="InitNoiseSigma"/>).</param>
    /// <param name="finiteTerminalSnr">Under zero terminal SNR, keep ᾱ_T = 2⁻²⁴ (σ_T ≈ 4096) as diffusers does, since
    /// σ_T = √((1 − ᾱ_T)/ᾱ_T) would be infinite.</param>
    private protected SigmaSpaceScheduler(NoiseSchedule schedule, TimestepSpacing spacing, bool finiteTerminalSnr)
    {
        Schedule = schedule;
        _spacing = spacing;
        _alphasCumprod = (float[])schedule.AlphasCumprod.Clone();
        if (finiteTerminalSnr && schedule.Options.RescaleBetasZeroSnr)
            _alphasCumprod[^1] = MathF.Pow(2, -24);
    }

    /// <summary>The training schedule.</summary>
    public NoiseSchedule Schedule { get; }

    /// <summary>ᾱ_t as this scheduler uses it (ᾱ_T = 2⁻²⁴ under zero terminal SNR).</summary>
    public IReadOnlyList<float> AlphasCumprod => _alphasCumprod;

    /// <summary>σ of the rollout, one per <see cref="Timesteps"/> entry plus the final σ.</summary>
    public IReadOnlyList<float> Sigmas => _sigmas ?? throw new InvalidOperationException("Call SetTimesteps first.");

    /// <inheritdoc/>
    public int NumTrainTimesteps => Schedule.NumTrainTimesteps;

    /// <inheritdoc/>
    /// <remarks>Owned by the scheduler (do not dispose); replaced by the next <see cref="SetTimesteps"/>.</remarks>
    public Tensor Timesteps => _timestepsTensor ?? throw new InvalidOperationException("Call SetTimesteps first.");

    /// <inheritdoc/>
    public double InitNoiseSigma => DiscreteSigmaSchedule.InitNoiseSigma(_sigmas ?? throw new InvalidOperationException("Call SetTimesteps first."), _spacing);

    /// <inheritdoc/>
    public abstract int Order { get; }

    /// <inheritdoc/>
    public abstract void SetTimesteps(int numInferenceSteps);

    /// <inheritdoc/>
    public abstract SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null);

    /// <inheritdoc/>
    /// <remarks>The VP network sees x/√(σ² + 1), σ of the current step.</remarks>
    public Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        ArgumentNullException.ThrowIfNull(sample);
        float sigma = Sigmas[EnsureStepIndex(timestep)];
        return sample / MathF.Sqrt(sigma * sigma + 1f);
    }

    /// <inheritdoc/>
    /// <remarks>σ-space noising: x = x₀ + σ(t) ε per row, each row's timestep looked up among the rollout's timesteps
    /// (diffusers' add_noise with no begin index).</remarks>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (_timesteps is not { } scheduleTimesteps || _sigmas is not { } sigmas)
            throw new InvalidOperationException("Call SetTimesteps first.");
        if (!originalSamples.shape.SequenceEqual(noise.shape))
            throw new ArgumentException("noise must have the shape of originalSamples.", nameof(noise));
        using var scope = NewDisposeScope();
        var rows = timesteps.detach().to(ScalarType.Float32, CPU).flatten().data<float>().ToArray();
        if (rows.Length != originalSamples.shape[0])
            throw new ArgumentException($"{rows.Length} timesteps for a batch of {originalSamples.shape[0]}; give one per row.", nameof(timesteps));
        var rowSigmas = rows.Select(t => sigmas[SchedulerGuards.IndexForTimestep(scheduleTimesteps, t)]).ToArray();
        var shape = Enumerable.Repeat(1L, (int)originalSamples.dim()).ToArray();
        shape[0] = rowSigmas.Length;
        var sigma = tensor(rowSigmas).reshape(shape).to(originalSamples.dtype, originalSamples.device);
        return (originalSamples + noise * sigma).MoveToOuterDisposeScope();
    }

    /// <summary>Releases the timesteps tensor and any state a sampler keeps between steps.</summary>
    public void Dispose()
    {
        ResetState();
        _timestepsTensor?.Dispose();
        _timestepsTensor = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>The end of every <see cref="SetTimesteps"/>: installs the rollout's grid and starts it from its first step.</summary>
    private protected void UseGrid(float[] timesteps, float[] sigmas)
    {
        _timesteps = timesteps;
        _sigmas = sigmas;
        _stepIndex = null;
        ResetState();
        _timestepsTensor?.Dispose();
        _timestepsTensor = SchedulerGuards.OwnedTimesteps(timesteps.Select(t => (double)t));
    }

    /// <summary>Drops state kept between <see cref="Step"/> calls (none unless a sampler overrides this).</summary>
    private protected virtual void ResetState()
    {
    }

    /// <summary>The step position: found from <paramref name="timestep"/> at the first call of a rollout, then counted.</summary>
    private protected int EnsureStepIndex(double timestep)
    {
        if (_stepIndex is { } index)
            return index;
        var timesteps = _timesteps ?? throw new InvalidOperationException("Call SetTimesteps first.");
        _stepIndex = SchedulerGuards.IndexForTimestep(timesteps, timestep);
        return _stepIndex.Value;
    }
}
