using static TorchSharp.torch;

namespace DiffusionSharp.Schedules;

/// <summary>
/// The discrete training schedule: β_t, α_t = 1 − β_t and ᾱ_t = ∏_{s≤t} α_s (Ho et al. 2020, §2), indexed t = 0..T−1
/// as diffusers indexes them. Built in float32 with the same tensor operations diffusers uses (float32
/// <c>linspace</c>, float32 <c>cumprod</c>), so the arrays equal diffusers' <c>betas</c> and <c>alphas_cumprod</c>.
/// </summary>
public sealed class NoiseSchedule
{
    /// <summary>The largest β of <see cref="BetaSchedule.SquaredCosCapV2"/> (Nichol &amp; Dhariwal 2021, §3.2).</summary>
    public const double MaxBeta = 0.999;

    /// <summary>Builds the schedule described by <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">T &lt; 2, non-finite or out-of-range betas.</exception>
    /// <exception cref="ArgumentException"><c>TrainedBetas</c> has the wrong length, or an undefined schedule.</exception>
    public NoiseSchedule(NoiseScheduleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        Options = options;
        NumTrainTimesteps = options.NumTrainTimesteps;

        var betas = BuildBetas(options);
        if (options.RescaleBetasZeroSnr)
            betas = RescaleZeroTerminalSnr(betas);
        var alphas = new float[betas.Length];
        for (int i = 0; i < alphas.Length; i++)
            alphas[i] = 1f - betas[i];
        Betas = betas;
        Alphas = alphas;
        AlphasCumprod = Cumprod(alphas);
        foreach (var b in Betas)
        {
            if (!float.IsFinite(b) || b < 0f || b > 1f)
                throw new ArgumentOutOfRangeException(nameof(options), b, "Every beta must be finite and in [0, 1]; check BetaStart/BetaEnd.");
        }
    }

    /// <summary>The options this schedule was built from.</summary>
    public NoiseScheduleOptions Options { get; }

    /// <summary>T.</summary>
    public int NumTrainTimesteps { get; }

    /// <summary>β_t, t = 0..T−1 (float32, as diffusers).</summary>
    public float[] Betas { get; }

    /// <summary>α_t = 1 − β_t (float32).</summary>
    public float[] Alphas { get; }

    /// <summary>ᾱ_t = ∏_{s≤t} α_s (float32 cumulative product, as <c>torch.cumprod</c>).</summary>
    public float[] AlphasCumprod { get; }

    /// <summary>ᾱ as a fresh float32 CPU tensor [T] (the caller owns it).</summary>
    public Tensor AlphasCumprodTensor() => tensor(AlphasCumprod);

    /// <summary>
    /// σ_t = √((1 − ᾱ_t)/ᾱ_t), t = 0..T−1, in float32 as diffusers' σ-space schedulers compute it (increasing in t):
    /// the variance-exploding noise level of x_t/√ᾱ_t (Karras et al. 2022, Table 1, "VP").
    /// </summary>
    public float[] TrainSigmas() => SigmaGrid.SigmasFromAlphasCumprod(AlphasCumprod);

    private static void Validate(NoiseScheduleOptions o)
    {
        if (o.NumTrainTimesteps < 2)
            throw new ArgumentOutOfRangeException(nameof(o.NumTrainTimesteps), o.NumTrainTimesteps, "num_train_timesteps must be at least 2.");
        if (!Enum.IsDefined(o.BetaSchedule))
            throw new ArgumentException($"Unknown beta_schedule {(int)o.BetaSchedule}; allowed values: {DiffusersNames.AllowedValues<BetaSchedule>()}.", nameof(o.BetaSchedule));
        if (o.TrainedBetas is { } trained)
        {
            if (trained.Length != o.NumTrainTimesteps)
                throw new ArgumentException($"trained_betas has {trained.Length} values but num_train_timesteps is {o.NumTrainTimesteps}.", nameof(o.TrainedBetas));
            foreach (var b in trained)
            {
                if (!double.IsFinite(b) || b <= 0 || b > 1)
                    throw new ArgumentOutOfRangeException(nameof(o.TrainedBetas), b, "trained_betas must be finite and in (0, 1].");
            }
            return;
        }
        if (!double.IsFinite(o.BetaStart) || o.BetaStart <= 0 || o.BetaStart >= 1)
            throw new ArgumentOutOfRangeException(nameof(o.BetaStart), o.BetaStart, "beta_start must be finite and in (0, 1).");
        if (!double.IsFinite(o.BetaEnd) || o.BetaEnd <= 0 || o.BetaEnd >= 1)
            throw new ArgumentOutOfRangeException(nameof(o.BetaEnd), o.BetaEnd, "beta_end must be finite and in (0, 1).");
    }

    private static float[] BuildBetas(NoiseScheduleOptions o)
    {
        int T = o.NumTrainTimesteps;
        if (o.TrainedBetas is { } trained)
            return trained.Select(b => (float)b).ToArray();
        switch (o.BetaSchedule)
        {
            case BetaSchedule.Linear:
                return TorchLinspace.Float32(o.BetaStart, o.BetaEnd, T);
            case BetaSchedule.ScaledLinear:
            {
                // Linear in √β, then squared: the latent-diffusion ("scaled_linear") schedule.
                var sqrtBetas = TorchLinspace.Float32(Math.Sqrt(o.BetaStart), Math.Sqrt(o.BetaEnd), T);
                return sqrtBetas.Select(r => r * r).ToArray();
            }
            case BetaSchedule.SquaredCosCapV2:
                return BetasForAlphaBar(T, MaxBeta);
            case BetaSchedule.Sigmoid:
            {
                using var scope = NewDisposeScope();
                var betas = tensor(TorchLinspace.Float32(-6.0, 6.0, T)).sigmoid() * (o.BetaEnd - o.BetaStart) + o.BetaStart;
                return betas.data<float>().ToArray();
            }
            default:
                throw new ArgumentException($"Unknown beta_schedule {o.BetaSchedule}.", nameof(o));
        }
    }

    /// <summary>
    /// ∏ of the prefix, as <c>torch.cumprod</c> on a float32 CPU tensor computes it: the running product is kept in
    /// float64 and each output rounded to float32.
    /// </summary>
    public static float[] Cumprod(ReadOnlySpan<float> values)
    {
        var result = new float[values.Length];
        double product = 1;
        for (int i = 0; i < values.Length; i++)
        {
            product *= values[i];
            result[i] = (float)product;
        }
        return result;
    }

    /// <summary>
    /// Discretises ᾱ(t) = cos²(((t + s)/(1 + s))·π/2), s = 0.008 (Nichol &amp; Dhariwal 2021, eq. 17):
    /// β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), <paramref name="maxBeta"/>), computed in float64 and rounded to float32.
    /// </summary>
    public static float[] BetasForAlphaBar(int numDiffusionTimesteps, double maxBeta = MaxBeta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numDiffusionTimesteps, 1);
        static double AlphaBar(double t)
        {
            var c = Math.Cos((t + 0.008) / 1.008 * Math.PI / 2);
            return c * c;
        }
        var betas = new float[numDiffusionTimesteps];
        for (int i = 0; i < numDiffusionTimesteps; i++)
        {
            double t1 = (double)i / numDiffusionTimesteps;
            double t2 = (double)(i + 1) / numDiffusionTimesteps;
            betas[i] = (float)Math.Min(1 - AlphaBar(t2) / AlphaBar(t1), maxBeta);
        }
        return betas;
    }

    /// <summary>
    /// Zero terminal SNR (Lin et al. 2023, Algorithm 1): shift √ᾱ so its last value is 0, scale it so its first value is
    /// unchanged, and recover β from the new ᾱ. Float32 throughout, as diffusers.
    /// </summary>
    private static float[] RescaleZeroTerminalSnr(float[] betas)
    {
        int n = betas.Length;
        var alphas = new float[n];
        for (int i = 0; i < n; i++)
            alphas[i] = 1f - betas[i];
        var alphaBarSqrt = Cumprod(alphas);
        for (int i = 0; i < n; i++)
            alphaBarSqrt[i] = MathF.Sqrt(alphaBarSqrt[i]);
        float first = alphaBarSqrt[0], last = alphaBarSqrt[^1];
        float scale = first / (first - last);
        var alphaBar = new float[n];
        for (int i = 0; i < n; i++)
        {
            float shifted = (alphaBarSqrt[i] - last) * scale;
            alphaBar[i] = shifted * shifted;
        }
        // Undo the cumulative product: α_0 = ᾱ_0, α_t = ᾱ_t/ᾱ_{t−1}; then β = 1 − α.
        var rescaled = new float[n];
        rescaled[0] = 1f - alphaBar[0];
        for (int i = 1; i < n; i++)
            rescaled[i] = 1f - alphaBar[i] / alphaBar[i - 1];
        return rescaled;
    }
}
