using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// The variance-preserving forward process q(x_t | x₀) = N(√ᾱ_t x₀, (1 − ᾱ_t) I) (Ho et al. 2020, eq. 4) and the
/// exact conversions between the three things a network may predict from x_t: ε, x₀ and
/// v = √ᾱ ε − √(1−ᾱ) x₀ (Salimans &amp; Ho 2022, "Progressive Distillation", §4 and Appendix D).
/// The formulas themselves live once, in <see cref="Parameterization"/>; this class supplies the schedule's coefficients.
/// Also the clean-sample guards DDPM/DDIM apply to x̂₀: clipping and dynamic thresholding (Saharia et al. 2022, §2.3).
/// </summary>
/// <remarks>
/// Per-row coefficients are float32, computed as diffusers computes them (√ᾱ and √(1 − ᾱ) of the float32 ᾱ), so that
/// <see cref="AddNoise"/> and <see cref="GetVelocity"/> reproduce diffusers' <c>add_noise</c> / <c>get_velocity</c>.
/// Every method returns a fresh tensor and leaves its arguments alone.
/// </remarks>
public sealed class ForwardProcess
{
    private readonly float[] _alphasCumprod;

    /// <summary>The process of <paramref name="schedule"/> (its ᾱ_t, t = 0..T−1).</summary>
    public ForwardProcess(NoiseSchedule schedule)
        : this((schedule ?? throw new ArgumentNullException(nameof(schedule))).AlphasCumprod)
    {
    }

    /// <summary>The process with the given ᾱ_t, t = 0..T−1 (copied).</summary>
    /// <exception cref="ArgumentException">Empty, or a value outside [0, 1].</exception>
    public ForwardProcess(IReadOnlyList<float> alphasCumprod)
    {
        ArgumentNullException.ThrowIfNull(alphasCumprod);
        if (alphasCumprod.Count == 0)
            throw new ArgumentException("alphas_cumprod is empty.", nameof(alphasCumprod));
        _alphasCumprod = alphasCumprod.ToArray();
        foreach (var a in _alphasCumprod)
        {
            if (!(a >= 0f && a <= 1f))
                throw new ArgumentException($"alphas_cumprod values must lie in [0, 1]; got {a}.", nameof(alphasCumprod));
        }
    }

    /// <summary>T.</summary>
    public int NumTrainTimesteps => _alphasCumprod.Length;

    /// <summary>ᾱ_t.</summary>
    public float AlphaBar(int t)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(t);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(t, _alphasCumprod.Length);
        return _alphasCumprod[t];
    }

    /// <summary>The signal-to-noise ratio SNR(t) = ᾱ_t/(1 − ᾱ_t) (Kingma et al. 2021, eq. 2), in float64.</summary>
    public double Snr(int t)
    {
        double a = AlphaBar(t);
        return a / (1 - a);
    }

    /// <summary>
    /// x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε with one timestep per batch row (Ho et al. 2020, eq. 4).
    /// </summary>
    /// <param name="originalSamples">x₀ [B, ...].</param>
    /// <param name="noise">ε, shaped like x₀.</param>
    /// <param name="timesteps">[B] integer timesteps in [0, T), int64 or float holding integers.</param>
    /// <exception cref="ArgumentException">Shapes disagree, or a timestep is fractional or out of range.</exception>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        CheckPair(originalSamples, noise, nameof(noise));
        using var scope = NewDisposeScope();
        return Parameterization.Noised(originalSamples, noise, Scales(originalSamples, timesteps)).MoveToOuterDisposeScope();
    }

    /// <summary>v_t = √ᾱ_t ε − √(1 − ᾱ_t) x₀ per row (Salimans &amp; Ho 2022, §4): the v-prediction training target.</summary>
    /// <exception cref="ArgumentException">Shapes disagree, or a timestep is fractional or out of range.</exception>
    public Tensor GetVelocity(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        CheckPair(originalSamples, noise, nameof(noise));
        using var scope = NewDisposeScope();
        return Parameterization.Target(PredictionType.VPrediction, originalSamples, noise, Scales(originalSamples, timesteps)).MoveToOuterDisposeScope();
    }

    /// <summary>ᾱ at per-row timesteps, shaped [B, 1, ..., 1] to broadcast against <paramref name="like"/>, float32.</summary>
    public Tensor AlphaBarPerRow(Tensor like, Tensor timesteps)
    {
        var rows = TimestepIndices(timesteps, like);
        var values = rows.Select(t => _alphasCumprod[t]).ToArray();
        return Broadcastable(values, like);
    }

    /// <summary>
    /// Converts a prediction between parameterisations at noise level ᾱ (per row or scalar, broadcastable to x_t):
    /// x₀ = (x_t − √(1−ᾱ) ε)/√ᾱ, ε = (x_t − √ᾱ x₀)/√(1−ᾱ), x₀ = √ᾱ x_t − √(1−ᾱ) v, ε = √ᾱ v + √(1−ᾱ) x_t.
    /// </summary>
    /// <remarks>ε from x₀ divides by √(1−ᾱ) and x₀ from ε by √ᾱ: both are ill-conditioned at the ends of the schedule.</remarks>
    public static Tensor Convert(Tensor prediction, PredictionType from, PredictionType to, Tensor sample, Tensor alphaBar)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(alphaBar);
        CheckDefined(from, nameof(from));
        CheckDefined(to, nameof(to));
        if (from == to)
            return prediction.clone();
        using var scope = NewDisposeScope();
        var a = alphaBar.to(prediction.dtype, prediction.device);
        return Parameterization.Convert(prediction, from, to, sample, new NoiseScales(a.sqrt(), (1.0 - a).sqrt())).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="Convert(Tensor, PredictionType, PredictionType, Tensor, Tensor)"/> at one scalar ᾱ.</summary>
    public static Tensor Convert(Tensor prediction, PredictionType from, PredictionType to, Tensor sample, double alphaBar)
    {
        using var a = tensor(alphaBar, dtype: ScalarType.Float64);
        return Convert(prediction, from, to, sample, a);
    }

    /// <summary>Clamps x̂₀ to [−range, range] (DDPM's "clip_sample"; Ho et al. 2020 clip to the data range [−1, 1]).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="range"/> is not finite and positive.</exception>
    public static Tensor ClipSample(Tensor sample, double range = 1.0)
    {
        ArgumentNullException.ThrowIfNull(sample);
        if (!double.IsFinite(range) || range <= 0)
            throw new ArgumentOutOfRangeException(nameof(range), range, "clip_sample_range must be finite and positive.");
        return sample.clamp(-range, range);
    }

    /// <summary>
    /// Dynamic thresholding (Saharia et al. 2022, "Imagen", §2.3): per sample, s = the <paramref name="ratio"/>-quantile
    /// of |x̂₀|, clamped to [1, <paramref name="maxValue"/>]; then x̂₀ ← clamp(x̂₀, −s, s)/s. With s = 1 it is plain clipping.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ratio"/> outside (0, 1] or <paramref name="maxValue"/> below 1.</exception>
    public static Tensor DynamicThreshold(Tensor sample, double ratio = 0.995, double maxValue = 1.0)
    {
        ArgumentNullException.ThrowIfNull(sample);
        if (!(ratio > 0 && ratio <= 1))
            throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "dynamic_thresholding_ratio must be in (0, 1].");
        if (!(maxValue >= 1) || double.IsInfinity(maxValue))
            throw new ArgumentOutOfRangeException(nameof(maxValue), maxValue, "sample_max_value must be finite and at least 1.");
        if (sample.dim() < 1)
            throw new ArgumentException("Dynamic thresholding needs a batch dimension.", nameof(sample));
        using var scope = NewDisposeScope();
        var dtype = sample.dtype;
        var work = dtype is ScalarType.Float32 or ScalarType.Float64 ? sample : sample.to(ScalarType.Float32);
        var flat = work.reshape(work.shape[0], -1);
        using var q = tensor(ratio, dtype: work.dtype, device: work.device);
        var s = flat.abs().quantile(q, 1).clamp(1.0, maxValue).unsqueeze(1);
        var thresholded = minimum(maximum(flat, -s), s) / s;
        return thresholded.reshape(sample.shape).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The per-row VP scales (√ᾱ_t, √(1 − ᾱ_t)) at integer timesteps, in float32 as diffusers forms them.</summary>
    public NoiseScales Scales(Tensor like, Tensor timesteps)
    {
        var rows = TimestepIndices(timesteps, like);
        var sqrtA = new float[rows.Length];
        var sqrt1mA = new float[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            float a = _alphasCumprod[rows[i]];
            sqrtA[i] = MathF.Sqrt(a);
            sqrt1mA[i] = MathF.Sqrt(1f - a);
        }
        return new NoiseScales(Broadcastable(sqrtA, like), Broadcastable(sqrt1mA, like));
    }

    private int[] TimestepIndices(Tensor timesteps, Tensor like)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        ArgumentNullException.ThrowIfNull(like);
        if (like.dim() < 1)
            throw new ArgumentException("The sample needs a batch dimension.", nameof(like));
        using var flat = timesteps.detach().to(ScalarType.Float64, CPU).flatten();
        var values = flat.data<double>().ToArray();
        if (values.Length != like.shape[0])
            throw new ArgumentException($"{values.Length} timesteps for a batch of {like.shape[0]}; give one per row.", nameof(timesteps));
        var rows = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double t = values[i];
            if (!(t >= 0 && t < _alphasCumprod.Length) || t != Math.Floor(t))
                throw new ArgumentOutOfRangeException(nameof(timesteps), t, $"Timesteps must be integers in [0, {_alphasCumprod.Length - 1}].");
            rows[i] = (int)t;
        }
        return rows;
    }

    private static Tensor Broadcastable(float[] perRow, Tensor like)
    {
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = perRow.Length;
        return tensor(perRow).reshape(shape).to(like.dtype, like.device);
    }

    private static void CheckPair(Tensor x0, Tensor noise, string name)
    {
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(noise);
        if (!x0.shape.SequenceEqual(noise.shape))
            throw new ArgumentException($"Noise shape [{string.Join(", ", noise.shape)}] differs from sample shape [{string.Join(", ", x0.shape)}].", name);
    }

    private static void CheckDefined(PredictionType p, string name)
    {
        if (!Enum.IsDefined(p))
            throw new ArgumentException($"Unknown prediction_type {(int)p}; allowed values: {DiffusersNames.AllowedValues<PredictionType>()}.", name);
    }
}
