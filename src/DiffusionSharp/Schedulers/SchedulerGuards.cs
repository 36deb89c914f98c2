using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>Argument checks and index look-ups shared by the schedulers (public boundary checks in one place).</summary>
public static class SchedulerGuards
{
    /// <summary>
    /// Checks a step's inputs: both present, same shape, floating point, and the model output finite — a NaN or ±∞
    /// from the network is reported here rather than silently propagated through the rollout.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ, a non-floating dtype, or a non-finite model output.</exception>
    public static void CheckStepInputs(Tensor modelOutput, Tensor sample)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        if (!modelOutput.shape.SequenceEqual(sample.shape))
            throw new ArgumentException(
                $"modelOutput shape [{string.Join(", ", modelOutput.shape)}] differs from sample shape [{string.Join(", ", sample.shape)}].",
                nameof(modelOutput));
        if (!modelOutput.is_floating_point() || !sample.is_floating_point())
            throw new ArgumentException("modelOutput and sample must be floating-point tensors.", nameof(modelOutput));
        using var finite = modelOutput.isfinite().all();
        if (!finite.item<bool>())
            throw new ArgumentException("modelOutput contains NaN or infinite values; the network diverged or was fed bad input.", nameof(modelOutput));
    }

    /// <summary>
    /// One (α, σ_t) pair for every row, as 0-dim CPU tensors for <see cref="Parameterization"/>: float64 for float64
    /// samples, float32 otherwise. A 0-dim CPU tensor enters PyTorch's kernels as a scalar exactly like the Python float
    /// diffusers passes, so the conversion rounds as diffusers' inline formulas do.
    /// </summary>
    public static NoiseScales Scales(double alpha, double sigma, Tensor like)
    {
        ArgumentNullException.ThrowIfNull(like);
        var dtype = like.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        return new NoiseScales(tensor(alpha, dtype: dtype), tensor(sigma, dtype: dtype));
    }

    /// <summary>
    /// x̂₀ of a σ-space scheduler (x = x₀ + σ·ε, the network saw x/√(σ² + 1)) from the network's output: through
    /// <see cref="Parameterization"/> at x itself with (α, σ_t) = (1, σ) for ε, and at x with (1/(σ² + 1), σ/√(σ² + 1))
    /// for v — the coefficients diffusers' Euler/Heun use, in float32 — so that x̂₀ = x − σ·ε and
    /// x̂₀ = x/(σ² + 1) − σ/√(σ² + 1)·v.
    /// </summary>
    public static Tensor SigmaSpaceSample(PredictionType type, Tensor modelOutput, Tensor x, float sigma)
    {
        if (type == PredictionType.VPrediction)
            return Parameterization.ToSample(modelOutput, type, x, Scales(1f / (sigma * sigma + 1f), sigma / MathF.Sqrt(sigma * sigma + 1f), x));
        return Parameterization.ToSample(modelOutput, type, x, Scales(1, sigma, x));
    }

    /// <summary>The noise source a stochastic step needs.</summary>
    /// <exception cref="ArgumentNullException">No source was given.</exception>
    public static INoiseSource RequireNoise(INoiseSource? noise, string scheduler) =>
        noise ?? throw new ArgumentNullException(nameof(noise), $"{scheduler} draws noise in this step; pass an INoiseSource (e.g. PerSampleNoise).");

    /// <summary>
    /// diffusers' <c>index_for_timestep</c>: the position of <paramref name="timestep"/> in the rollout; when it occurs
    /// more than once (Heun's repeated timesteps) the second occurrence, so that a rollout started mid-way (img2img)
    /// does not skip a σ.
    /// </summary>
    /// <exception cref="ArgumentException">The timestep is not in the rollout.</exception>
    public static int IndexForTimestep(ReadOnlySpan<float> timesteps, double timestep)
    {
        int first = -1;
        for (int i = 0; i < timesteps.Length; i++)
        {
            if (timesteps[i] == timestep)
            {
                if (first >= 0)
                    return i;
                first = i;
            }
        }
        if (first < 0)
            throw new ArgumentException($"Timestep {timestep} is not one of the scheduler's timesteps; pass values from Timesteps.", nameof(timestep));
        return first;
    }

    /// <summary>An integer training timestep in [0, T).</summary>
    /// <exception cref="ArgumentException">Fractional or out of range.</exception>
    public static int IntegerTimestep(double timestep, int numTrainTimesteps)
    {
        if (!(timestep >= 0 && timestep < numTrainTimesteps) || timestep != Math.Floor(timestep))
            throw new ArgumentException($"Timestep {timestep} must be an integer in [0, {numTrainTimesteps - 1}].", nameof(timestep));
        return (int)timestep;
    }

    /// <summary>Validates that <paramref name="value"/> is a defined member, naming the diffusers key and allowed values.</summary>
    /// <exception cref="ArgumentException">Undefined enum value.</exception>
    public static void CheckDefined<TEnum>(TEnum value, string key) where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentException($"Unknown {key} {value}; allowed values: {DiffusersNames.AllowedValues<TEnum>()}.", key);
    }

    /// <summary>Validates a finite number within [min, max].</summary>
    /// <exception cref="ArgumentOutOfRangeException">NaN, infinite, or outside the range.</exception>
    public static void CheckRange(double value, double min, double max, string key)
    {
        if (!double.IsFinite(value) || value < min || value > max)
            throw new ArgumentOutOfRangeException(key, value, $"{key} must be finite and within [{min}, {max}].");
    }

    /// <summary>A float64 CPU tensor of the timesteps, detached from any dispose scope (the scheduler owns it).</summary>
    public static Tensor OwnedTimesteps(IEnumerable<double> values) =>
        tensor(values.ToArray(), dtype: ScalarType.Float64).DetachFromDisposeScope();
}
