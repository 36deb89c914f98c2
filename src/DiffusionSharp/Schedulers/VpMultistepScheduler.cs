using System.Diagnostics.CodeAnalysis;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>
/// What the two multistep solvers on the variance-preserving sample (<see cref="DpmSolverMultistepScheduler"/>,
/// <see cref="UniPcMultistepScheduler"/>) share: the training σ, the rollout's timesteps and float32 σ grid, the
/// history of converted model outputs, the step position, and the members of <see cref="IScheduler"/> that follow
/// from them. Each solver builds its own timestep/σ grid and its own update; the math they share is in
/// <see cref="VpMultistepSupport"/>.
/// </summary>
public abstract class VpMultistepScheduler : IScheduler
{
    private protected readonly float[] _trainSigmas;
    private protected readonly Tensor?[] _modelOutputs;
    private protected double[]? _timesteps;
    private protected double[]? _sigmas;
    private protected int? _stepIndex;
    private protected int _lowerOrderNums;
    private Tensor? _timestepsTensor;
    private bool _disposed;

    private protected VpMultistepScheduler(NoiseSchedule schedule, int solverOrder)
    {
        Schedule = schedule;
        _trainSigmas = SigmaGrid.SigmasFromAlphasCumprod(VpMultistepSupport.SolverAlphasCumprod(schedule));
        _modelOutputs = new Tensor?[solverOrder];
    }

    /// <summary>The training schedule.</summary>
    public NoiseSchedule Schedule { get; }

    /// <inheritdoc/>
    public int NumTrainTimesteps => Schedule.NumTrainTimesteps;

    /// <inheritdoc/>
    /// <remarks>Owned by the scheduler (do not dispose); replaced by the next <see cref="SetTimesteps"/>.</remarks>
    public Tensor Timesteps => _timestepsTensor ?? throw new InvalidOperationException("Call SetTimesteps before reading Timesteps.");

    /// <summary>The σ grid (σ = √((1−ᾱ)/ᾱ), float32 values) of the rollout: one per timestep plus the final σ.</summary>
    public IReadOnlyList<double> Sigmas => _sigmas ?? throw new InvalidOperationException("Call SetTimesteps before reading Sigmas.");

    /// <inheritdoc/>
    public double InitNoiseSigma => 1.0;

    /// <inheritdoc/>
    public int Order => 1;

    /// <summary>The index of the next step (null before the first <see cref="Step"/> of a rollout).</summary>
    public int? StepIndex => _stepIndex;

    /// <inheritdoc/>
    public abstract void SetTimesteps(int numInferenceSteps);

    /// <inheritdoc/>
    public abstract SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, INoiseSource? noise = null);

    /// <inheritdoc/>
    /// <remarks>The multistep solvers work on the VP sample directly: the input is returned unscaled (a new handle to it).</remarks>
    public Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return sample.alias();
    }

    /// <inheritdoc/>
    /// <remarks>x_t = α_t x₀ + σ_t ε with α_t, σ_t from the rollout's σ at each row's timestep, which must be one of
    /// <see cref="Timesteps"/>.</remarks>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_timesteps is null || _sigmas is null)
            throw new InvalidOperationException("Call SetTimesteps before AddNoise.");
        return VpMultistepSupport.AddNoise(_timesteps, _sigmas, originalSamples, noise, timesteps);
    }

    /// <summary>Releases the stored model outputs (and any other solver state) and the timestep tensor.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        ResetState();
        _timestepsTensor?.Dispose();
        _timestepsTensor = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>The start of <see cref="SetTimesteps"/>: not disposed, and 1 ≤ <paramref name="numInferenceSteps"/> ≤ T.</summary>
    private protected void CheckStepCount(int numInferenceSteps)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int t = NumTrainTimesteps;
        if (numInferenceSteps < 1 || numInferenceSteps > t)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, $"numInferenceSteps must be in [1, {t}] (num_train_timesteps).");
    }

    /// <summary>
    /// The end of <see cref="SetTimesteps"/>: checks the solver's timesteps lie in [0, T−1], rounds σ to float32 with
    /// the final σ appended (<see cref="VpMultistepSupport.Float32Grid"/>), clears the previous rollout's state and
    /// installs the new one.
    /// </summary>
    private protected void StartRollout(double[] timesteps, double[] sigmas, double finalSigma, int numInferenceSteps, TimestepSpacing spacing)
    {
        int t = NumTrainTimesteps;
        if (timesteps.Length == 0 || timesteps.Any(v => v < 0 || v > t - 1))
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps,
                $"The {spacing} spacing gives timesteps outside [0, {t - 1}] for this many steps.");
        var grid = VpMultistepSupport.Float32Grid(sigmas, finalSigma, numInferenceSteps);
        ResetState();
        _timesteps = timesteps;
        _sigmas = grid;
        _timestepsTensor?.Dispose();
        _timestepsTensor = SchedulerGuards.OwnedTimesteps(timesteps);
    }

    /// <summary>
    /// The checks every <see cref="Step"/> starts with, returning the rollout index of <paramref name="timestep"/>:
    /// not disposed, SetTimesteps was called, the inputs are valid, the rollout is not over, and the timestep is the
    /// next one (the first call instead locates it, so a rollout may start part-way, as image-to-image does).
    /// </summary>
    [MemberNotNull(nameof(_timesteps), nameof(_sigmas))]
    private protected int BeginStep(double timestep, Tensor modelOutput, Tensor sample)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_timesteps is null || _sigmas is null)
            throw new InvalidOperationException("Call SetTimesteps before Step.");
        SchedulerGuards.CheckStepInputs(modelOutput, sample);
        int i = _stepIndex ?? VpMultistepSupport.IndexForTimestep(_timesteps, timestep);
        if (i >= _timesteps.Length)
            throw new InvalidOperationException($"The rollout's {_timesteps.Length} steps are done; call SetTimesteps to start another.");
        if (_timesteps[i] != timestep)
            throw new ArgumentException($"Step {i} of the rollout is at timestep {_timesteps[i]}, not {timestep}.", nameof(timestep));
        return i;
    }

    /// <summary>Forgets the rollout's history (model outputs, step position, lower-order count); solvers add their own state.</summary>
    private protected virtual void ResetState()
    {
        for (int k = 0; k < _modelOutputs.Length; k++)
        {
            _modelOutputs[k]?.Dispose();
            _modelOutputs[k] = null;
        }
        _lowerOrderNums = 0;
        _stepIndex = null;
    }
}
