namespace DiffusionSharp.Schedules;

/// <summary>
/// Noise-level grids and conversions for σ-space samplers, where x_σ = x₀ + σ·ε (Karras et al. 2022, "Elucidating the
/// Design Space of Diffusion-Based Generative Models", hereafter EDM). Each grid is a plain function, so any σ-space
/// sampler can take any grid. Grids are returned largest σ first, without the trailing 0 that samplers append.
/// </summary>
public static class SigmaGrid
{
    /// <summary>
    /// EDM eq. 5: σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i = 0..n−1, ρ = 7 in the paper.
    /// Float64 with a NumPy-style ramp, as diffusers' <c>_convert_to_karras</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">n &lt; 1, non-positive or non-finite σ, σ_min &gt; σ_max, or ρ ≤ 0.</exception>
    public static double[] Karras(double sigmaMin, double sigmaMax, int n, double rho = 7)
    {
        CheckRange(sigmaMin, sigmaMax, n);
        if (!double.IsFinite(rho) || rho <= 0)
            throw new ArgumentOutOfRangeException(nameof(rho), rho, "rho must be finite and positive.");
        var ramp = Linspace(0, 1, n);
        double minInvRho = Math.Pow(sigmaMin, 1 / rho);
        double maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        var sigmas = new double[n];
        for (int i = 0; i < n; i++)
            sigmas[i] = Math.Pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), rho);
        return sigmas;
    }

    /// <summary>σ_i = exp(linspace(log σ_max, log σ_min, n)_i): evenly spaced in log σ (diffusers' exponential sigmas).</summary>
    /// <exception cref="ArgumentOutOfRangeException">n &lt; 1, non-positive or non-finite σ, or σ_min &gt; σ_max.</exception>
    public static double[] Exponential(double sigmaMin, double sigmaMax, int n)
    {
        CheckRange(sigmaMin, sigmaMax, n);
        var logs = Linspace(Math.Log(sigmaMax), Math.Log(sigmaMin), n);
        for (int i = 0; i < n; i++)
            logs[i] = Math.Exp(logs[i]);
        return logs;
    }

    /// <summary>
    /// The training schedule's own σ grid: the σ_t of <paramref name="n"/> inference timesteps spaced over the T training
    /// timesteps as diffusers' σ-space schedulers space them (<see cref="TimestepGrid.Float32"/>: leading, trailing or
    /// linspace), σ interpolated linearly in t between the training σ_t = √((1 − ᾱ_t)/ᾱ_t). Largest first, no trailing 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">n outside [1, T].</exception>
    public static double[] Schedule(NoiseSchedule schedule, int n, TimestepSpacing spacing = TimestepSpacing.Linspace, int stepsOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var trainSigmas = schedule.TrainSigmas();
        return TimestepGrid.Float32(spacing, schedule.NumTrainTimesteps, n, stepsOffset)
            .Select(t => InterpolateAtIndex(t, trainSigmas))
            .ToArray();
    }

    /// <summary>
    /// The σ grid a σ-space sampler walks: <paramref name="steps"/> noise levels of the chosen kind followed by σ = 0, so
    /// steps + 1 values (Karras and exponential between <paramref name="sigmaMin"/> and <paramref name="sigmaMax"/>;
    /// <see cref="SigmaGridKind.Timesteps"/> is <see cref="Schedule"/> of <paramref name="schedule"/>, which must be given,
    /// and ignores the bounds).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">steps &lt; 1, bad bounds, or ρ ≤ 0.</exception>
    /// <exception cref="ArgumentException">An undefined kind, or <see cref="SigmaGridKind.Timesteps"/> without a schedule.</exception>
    public static double[] Create(SigmaGridKind kind, int steps, double sigmaMin, double sigmaMax, NoiseSchedule? schedule = null,
        TimestepSpacing spacing = TimestepSpacing.Linspace, double rho = 7)
    {
        var grid = kind switch
        {
            SigmaGridKind.Karras => Karras(sigmaMin, sigmaMax, steps, rho),
            SigmaGridKind.Exponential => Exponential(sigmaMin, sigmaMax, steps),
            SigmaGridKind.Timesteps => Schedule(schedule ?? throw new ArgumentException("The schedule's own σ grid needs the training schedule.", nameof(schedule)), steps, spacing),
            _ => throw new ArgumentException($"Unknown sigma grid {(int)kind}; allowed values: {string.Join(", ", Enum.GetNames<SigmaGridKind>())}.", nameof(kind)),
        };
        var withZero = new double[grid.Length + 1];
        grid.CopyTo(withZero, 0);
        return withZero;
    }

    /// <summary>
    /// NumPy's <c>linspace(start, stop, n)</c> in float64: start + i·(stop − start)/(n − 1), the last value exactly
    /// <paramref name="stop"/>. Schedulers use it wherever diffusers uses <c>np.linspace</c>.
    /// </summary>
    public static double[] Linspace(double start, double stop, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 0);
        var y = new double[n];
        if (n == 0)
            return y;
        if (n == 1)
        {
            y[0] = start;
            return y;
        }
        double step = (stop - start) / (n - 1);
        for (int i = 0; i < n; i++)
            y[i] = i * step + start;
        y[n - 1] = stop;
        return y;
    }

    /// <summary>σ = √((1 − ᾱ)/ᾱ): the VE noise level of x/√ᾱ for a VP sample x (EDM, Table 1, "VP").</summary>
    public static double SigmaFromAlphaBar(double alphaBar) => Math.Sqrt((1 - alphaBar) / alphaBar);

    /// <summary>ᾱ = 1/(1 + σ²), the inverse of <see cref="SigmaFromAlphaBar"/>.</summary>
    public static double AlphaBarFromSigma(double sigma) => 1 / (1 + sigma * sigma);

    /// <summary>σ_t = √((1 − ᾱ_t)/ᾱ_t) for every training timestep, in float32 operations as diffusers computes it.</summary>
    public static float[] SigmasFromAlphasCumprod(ReadOnlySpan<float> alphasCumprod)
    {
        var sigmas = new float[alphasCumprod.Length];
        for (int i = 0; i < sigmas.Length; i++)
            sigmas[i] = MathF.Sqrt((1f - alphasCumprod[i]) / alphasCumprod[i]);
        return sigmas;
    }

    /// <summary>
    /// EDM's VP noise level σ(t) = √(exp(½β_d t² + β_min t) − 1) for continuous t ∈ [ε_t, 1] (EDM, Table 1, "VP"; the
    /// defaults are Song et al. 2021's β_d = 19.9, β_min = 0.1).
    /// </summary>
    public static double VpSigma(double t, double betaD = 19.9, double betaMin = 0.1) =>
        Math.Sqrt(Math.Exp(0.5 * betaD * t * t + betaMin * t) - 1);

    /// <summary>The inverse of <see cref="VpSigma"/>: t(σ) = (√(β_min² + 2β_d log(1 + σ²)) − β_min)/β_d (EDM, Table 1).</summary>
    public static double VpSigmaInverse(double sigma, double betaD = 19.9, double betaMin = 0.1) =>
        (Math.Sqrt(betaMin * betaMin + 2 * betaD * Math.Log(1 + sigma * sigma)) - betaMin) / betaD;

    /// <summary>EDM's own noise level: σ(t) = t, s(t) = 1 (EDM, Table 1, "EDM"), so the ODE time is σ itself.</summary>
    public static double EdmSigma(double t) => t;

    /// <summary>
    /// EDM's time steps (EDM, eq. 5, with σ(t) = t): <paramref name="n"/> values from σ_max down to σ_min with ρ = 7,
    /// followed by t_N = 0, as Algorithm 1/2 expect. The paper's defaults are σ_min = 0.002, σ_max = 80.
    /// </summary>
    public static double[] EdmTimeSteps(int n, double sigmaMin = 0.002, double sigmaMax = 80, double rho = 7)
    {
        var grid = Karras(sigmaMin, sigmaMax, n, rho);
        var withZero = new double[n + 1];
        grid.CopyTo(withZero, 0);
        return withZero;
    }

    /// <summary>
    /// σ → fractional training timestep by linear interpolation in log σ between the two bracketing training
    /// timesteps (diffusers' <c>_sigma_to_t</c>). <paramref name="logSigmas"/> are the float32 log σ_t of the training
    /// schedule (increasing in t, see <see cref="LogSigmas"/>); σ below/above the table clamps to t = 0 / T−1.
    /// </summary>
    /// <remarks>
    /// Bit-faithful to diffusers under NumPy 1.x type promotion, where a float64 scalar meeting a float32 array is
    /// demoted: log σ is rounded to float32, the bracket search and the weight w are float32, and only
    /// t = (1 − w)·low + w·high is formed in float64.
    /// </remarks>
    public static double SigmaToT(double sigma, ReadOnlySpan<float> logSigmas)
    {
        if (logSigmas.Length < 2)
            throw new ArgumentException("At least two training sigmas are needed.", nameof(logSigmas));
        float logSigma = (float)Math.Log(Math.Max(sigma, 1e-10));
        // The last index whose log σ_t ≤ log σ (0 if none), kept one short of the end so that high = low + 1 exists.
        int low = 0;
        for (int j = 0; j < logSigmas.Length; j++)
        {
            if (logSigma - logSigmas[j] >= 0f)
                low = j;
        }
        low = Math.Min(low, logSigmas.Length - 2);
        int high = low + 1;
        float w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high]);
        w = Math.Clamp(w, 0f, 1f);
        return (double)(1f - w) * low + (double)w * high;
    }

    /// <summary>log σ_t in float32, as <c>np.log</c> on a float32 array computes it (see <see cref="NumpyLog"/>).</summary>
    public static float[] LogSigmas(ReadOnlySpan<float> sigmas)
    {
        var logs = new float[sigmas.Length];
        for (int i = 0; i < logs.Length; i++)
            logs[i] = NumpyLog.Float32(sigmas[i]);
        return logs;
    }

    /// <summary>
    /// NumPy's <c>interp(x, arange(len(table)), table)</c>: piecewise-linear lookup of a fractional index into a float32
    /// table, in float64, clamped at both ends (how diffusers maps timesteps to σ).
    /// </summary>
    public static double InterpolateAtIndex(double x, ReadOnlySpan<float> table)
    {
        if (table.Length == 0)
            throw new ArgumentException("Empty table.", nameof(table));
        if (double.IsNaN(x))
            return double.NaN;
        if (x <= 0)
            return table[0];
        if (x >= table.Length - 1)
            return table[^1];
        int j = (int)Math.Floor(x);
        double frac = x - j;
        double lo = table[j];
        double hi = table[j + 1];
        // NumPy's form: slope·(x − x_j) + y_j, which is exact at integer x.
        return (hi - lo) * frac + lo;
    }

    private static void CheckRange(double sigmaMin, double sigmaMax, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (!double.IsFinite(sigmaMin) || sigmaMin <= 0)
            throw new ArgumentOutOfRangeException(nameof(sigmaMin), sigmaMin, "sigma_min must be finite and positive.");
        if (!double.IsFinite(sigmaMax) || sigmaMax < sigmaMin)
            throw new ArgumentOutOfRangeException(nameof(sigmaMax), sigmaMax, "sigma_max must be finite and at least sigma_min.");
    }
}
