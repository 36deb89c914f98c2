using System.Text.Json;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>
/// What the two exponential-integrator multistep solvers (DPM-Solver and UniPC) share: the variance-preserving
/// parameterisation x_t = α_t x₀ + σ_t ε written through the VE noise level s = σ_t/α_t (so α_t = 1/√(1+s²),
/// σ_t = s·α_t, λ_t = log(α_t/σ_t) = −log s), their timestep spacing, the conversion of a network output to x₀ or ε,
/// add_noise, and a small dense solve.
/// </summary>
internal static class VpMultistepSupport
{
    /// <summary>The ᾱ diffusers' DPM/UniPC schedulers use: with zero-terminal-SNR betas the last ᾱ (exactly 0) is
    /// replaced by 2⁻²⁴ so that σ_T = √((1−ᾱ)/ᾱ) stays finite.</summary>
    internal static float[] SolverAlphasCumprod(NoiseSchedule schedule)
    {
        var alphasCumprod = (float[])schedule.AlphasCumprod.Clone();
        if (schedule.Options.RescaleBetasZeroSnr)
            alphasCumprod[^1] = MathF.Pow(2f, -24f);
        return alphasCumprod;
    }

    /// <summary>
    /// The inference timesteps, largest first, for the spacings of Lin et al. 2023, Table 2, with diffusers' rounding:
    /// linspace over [0, last−1] rounded half-to-even; leading multiples of ⌊last/(n+1)⌋ plus the offset; trailing
    /// round(last − i·T/n) − 1. <paramref name="lastTimestep"/> is T unless λ-clipping removed the noisiest steps.
    /// </summary>
    internal static double[] SpacedTimesteps(TimestepSpacing spacing, int numTrainTimesteps, int lastTimestep, int n, int stepsOffset)
    {
        var timesteps = new double[n];
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
            {
                var grid = SigmaGrid.Linspace(0, lastTimestep - 1, n + 1);
                for (int i = 0; i < n; i++)
                    timesteps[i] = Math.Round(grid[n - i], MidpointRounding.ToEven);
                break;
            }
            case TimestepSpacing.Leading:
            {
                int stepRatio = lastTimestep / (n + 1);
                for (int i = 0; i < n; i++)
                    timesteps[i] = (long)(n - i) * stepRatio + stepsOffset;
                break;
            }
            case TimestepSpacing.Trailing:
            {
                // round(arange(last, 0, −T/n)) − 1, NumPy's arange and rounding (half to even).
                return TimestepGrid.NumpyArange(lastTimestep, 0, -(double)numTrainTimesteps / n)
                    .Select(v => Math.Round(v, MidpointRounding.ToEven) - 1)
                    .ToArray();
            }
            default:
                throw new ArgumentException(
                    $"Unknown timestep_spacing {spacing}; allowed values: {DiffusersNames.AllowedValues<TimestepSpacing>()}.", nameof(spacing));
        }
        return timesteps;
    }

    /// <summary>
    /// The rollout's σ grid as float32 values (as diffusers stores it): <paramref name="sigmas"/> then
    /// <paramref name="finalSigma"/>. The grid must strictly decrease — a repeated σ makes a step of h = 0 in λ, and the
    /// multistep divided differences then divide by zero — except that the final σ may equal the last one (a Karras grid
    /// ending at σ_min with final_sigmas_type sigma_min), which the solvers take as an identity step.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A repeated or increasing σ (too many steps for the spacing).</exception>
    internal static double[] Float32Grid(double[] sigmas, double finalSigma, int numInferenceSteps)
    {
        var grid = new double[sigmas.Length + 1];
        for (int i = 0; i < sigmas.Length; i++)
            grid[i] = (float)sigmas[i];
        grid[^1] = (float)finalSigma;
        for (int i = 0; i + 1 < grid.Length; i++)
        {
            bool ok = i + 2 == grid.Length ? grid[i] >= grid[i + 1] : grid[i] > grid[i + 1];
            if (!ok)
                throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps,
                    $"{numInferenceSteps} steps repeat the noise level σ = {grid[i]} (steps {i} and {i + 1}); use fewer steps or another timestep_spacing.");
        }
        return grid;
    }

    /// <summary>α_t = 1/√(1+s²) and σ_t = s·α_t for the VE noise level s (EDM Table 1, "VP", with s(t) = α_t).</summary>
    internal static (double Alpha, double Sigma) AlphaSigma(double s)
    {
        double alpha = 1.0 / Math.Sqrt(s * s + 1.0);
        return (alpha, s * alpha);
    }

    /// <summary>λ = log α_t − log σ_t, the half log-SNR the exponential integrators step in (DPM-Solver, §3.1).</summary>
    internal static double Lambda(double s)
    {
        var (alpha, sigma) = AlphaSigma(s);
        return Math.Log(alpha) - Math.Log(sigma);
    }

    /// <summary>The data prediction x̂₀ from a network output: ε → (x − σ_t ε)/α_t, x₀ as is, v → α_t x − σ_t v
    /// (Salimans &amp; Ho 2022, §4).</summary>
    internal static Tensor ToData(PredictionType predictionType, Tensor modelOutput, Tensor sample, double alpha, double sigma) =>
        Parameterization.ToSample(modelOutput, predictionType, sample, SchedulerGuards.Scales(alpha, sigma, sample));

    /// <summary>The noise prediction ε̂ from a network output: ε as is, x₀ → (x − α_t x₀)/σ_t, v → α_t v + σ_t x.</summary>
    internal static Tensor ToNoise(PredictionType predictionType, Tensor modelOutput, Tensor sample, double alpha, double sigma) =>
        Parameterization.ToEpsilon(modelOutput, predictionType, sample, SchedulerGuards.Scales(alpha, sigma, sample));

    /// <summary>
    /// The rollout position of <paramref name="timestep"/> (diffusers' <c>index_for_timestep</c>, second match when a
    /// timestep repeats); see <see cref="SchedulerGuards.IndexForTimestep"/>.
    /// </summary>
    internal static int IndexForTimestep(double[] rolloutTimesteps, double timestep) =>
        SchedulerGuards.IndexForTimestep(Array.ConvertAll(rolloutTimesteps, t => (float)t), timestep);


    /// <summary>Rejects offset and thresholding values out of range (shared by both solvers' option records).</summary>
    internal static void CheckCommon(int stepsOffset, double dynamicThresholdingRatio, double sampleMaxValue)
    {
        if (stepsOffset < 0)
            throw new ArgumentOutOfRangeException("steps_offset", stepsOffset, "steps_offset must be 0 or positive.");
        if (!(dynamicThresholdingRatio is > 0 and <= 1))
            throw new ArgumentOutOfRangeException("dynamic_thresholding_ratio", dynamicThresholdingRatio, "dynamic_thresholding_ratio must be in (0, 1].");
        if (!double.IsFinite(sampleMaxValue) || sampleMaxValue < 1)
            throw new ArgumentOutOfRangeException("sample_max_value", sampleMaxValue, "sample_max_value must be finite and at least 1.");
    }

    /// <summary>Dynamic thresholding of x̂₀ (Saharia et al. 2022, §2.3), as <see cref="ForwardProcess.DynamicThreshold"/>.</summary>
    internal static Tensor Threshold(Tensor x0, double ratio, double maxValue) => ForwardProcess.DynamicThreshold(x0, ratio, maxValue);

    /// <summary>q(x_t | x₀) = α_t x₀ + σ_t ε per batch row, with σ looked up at each row's timestep in the rollout.</summary>
    internal static Tensor AddNoise(double[] rolloutTimesteps, double[] sigmas, Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (!originalSamples.shape.SequenceEqual(noise.shape))
            throw new ArgumentException("noise must have the shape of originalSamples.", nameof(noise));
        if (timesteps.ndim != 1 || timesteps.shape[0] != originalSamples.shape[0])
            throw new ArgumentException("timesteps must be 1-D with one entry per batch row.", nameof(timesteps));
        using var scope = NewDisposeScope();
        var ts = timesteps.to(ScalarType.Float64, CPU).data<double>().ToArray();
        var alphas = new double[ts.Length];
        var sigmaTs = new double[ts.Length];
        for (int b = 0; b < ts.Length; b++)
        {
            // The σ grid is float32; α_t, σ_t follow from it.
            (alphas[b], sigmaTs[b]) = AlphaSigma(sigmas[IndexForTimestep(rolloutTimesteps, ts[b])]);
        }
        var viewShape = new long[originalSamples.ndim];
        Array.Fill(viewShape, 1L);
        viewShape[0] = ts.Length;
        var alpha = torch.tensor(alphas).to(originalSamples.dtype, originalSamples.device).reshape(viewShape);
        var sigma = torch.tensor(sigmaTs).to(originalSamples.dtype, originalSamples.device).reshape(viewShape);
        return (alpha * originalSamples + sigma * noise).MoveToOuterDisposeScope();
    }

    /// <summary>Solves the small dense system A·x = b (Gaussian elimination with partial pivoting, float64).</summary>
    internal static double[] Solve(double[,] a, double[] b)
    {
        int n = b.Length;
        var m = (double[,])a.Clone();
        var x = (double[])b.Clone();
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++)
            {
                if (Math.Abs(m[r, col]) > Math.Abs(m[pivot, col]))
                    pivot = r;
            }
            if (m[pivot, col] == 0)
                throw new InvalidOperationException("Singular system: two solver nodes share one λ (repeated timesteps).");
            if (pivot != col)
            {
                for (int c = 0; c < n; c++)
                    (m[col, c], m[pivot, c]) = (m[pivot, c], m[col, c]);
                (x[col], x[pivot]) = (x[pivot], x[col]);
            }
            for (int r = col + 1; r < n; r++)
            {
                double f = m[r, col] / m[col, col];
                for (int c = col; c < n; c++)
                    m[r, c] -= f * m[col, c];
                x[r] -= f * x[col];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            double acc = x[r];
            for (int c = r + 1; c < n; c++)
                acc -= m[r, c] * x[c];
            x[r] = acc / m[r, r];
        }
        return x;
    }

    /// <summary>Rejects σ-grid and flow-matching options of diffusers that these solvers do not implement, so that a
    /// config is never silently read as something else.</summary>
    internal static void RejectUnsupported(JsonElement config, params string[] flags)
    {
        foreach (var flag in flags)
        {
            if (DiffusersConfig.GetBool(config, flag, false))
                throw new ArgumentException($"{flag}=true is not supported; allowed value: false.", flag);
        }
    }
}
