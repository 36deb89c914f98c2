using DiffusionSharp.Schedules;

namespace DiffusionSharp.Tests.Sampling;

/// <summary>
/// Closed-form moments of a sampler's discrete chain for data x₀ ~ N(μ, s²) with the exact denoiser: every step is
/// affine in x (plus independent Gaussian noise for DDPM), so mean and variance propagate exactly. Derived from the
/// papers' update rules, independently of the scheduler classes.
/// </summary>
internal static class LinearGaussianChain
{
    /// <summary>
    /// Euler in σ space: x' = x + (σ' − σ)(x − D(x; σ))/σ with D = μ + s²(x − μ)/(s² + σ²), i.e.
    /// x' − μ = (1 + g)(x − μ), g = σ(σ' − σ)/(s² + σ²); x starts as σ_0·N(0, 1).
    /// </summary>
    public static (double Mean, double Std) EulerInSigma(float[] sigmas, double mu, double s)
    {
        double mean = 0, std = sigmas[0];
        for (int i = 0; i + 1 < sigmas.Length; i++)
        {
            double sigma = sigmas[i], next = sigmas[i + 1];
            double g = sigma * (next - sigma) / (s * s + sigma * sigma);
            mean = mu + (1 + g) * (mean - mu);
            std *= Math.Abs(1 + g);
        }
        return (mean, std);
    }

    /// <summary>
    /// DDIM (η = 0) is Euler in σ = √((1−ᾱ)/ᾱ) on x̄ = x/√ᾱ (Song et al. 2021, eq. 14), from ᾱ_t to ᾱ_{t − T/N}
    /// (ᾱ = 1 after the last step).
    /// </summary>
    public static (double Mean, double Std) Ddim(NoiseSchedule schedule, double[] timesteps, double mu, double s)
    {
        int stride = schedule.NumTrainTimesteps / timesteps.Length;
        var sigmas = new List<float>();
        foreach (var t in timesteps)
            sigmas.Add(Sigma(schedule, (int)t));
        sigmas.Add(0f);
        // x_T ~ N(0, 1) is x̄ = x_T/√ᾱ_T: std √(1 + σ_T²).
        // The chain is linear with a zero-mean start, so rescaling the start rescales only the std.
        var (mean, std) = EulerInSigma(sigmas.ToArray(), mu, s);
        double scale = Math.Sqrt(1 + (double)sigmas[0] * sigmas[0]) / sigmas[0];
        Assert.True(timesteps[^1] - stride < 0, "the last DDIM step must go to ᾱ = 1 (σ = 0)");
        return (mean, std * scale);
    }

    /// <summary>
    /// DDPM ancestral sampling (Ho et al. 2020, eqs. 6–7) with x̂₀ = E[x₀|x_t] = μ + k(x_t − √ᾱ μ), k = √ᾱ s²/(ᾱs² + 1 − ᾱ):
    /// x' = c₀ x̂₀ + c₁ x + σ z, so mean' = c₀(μ + k(m − √ᾱ μ)) + c₁ m and var' = (c₀k + c₁)² var + σ².
    /// </summary>
    public static (double Mean, double Std) Ddpm(NoiseSchedule schedule, double[] timesteps, double mu, double s)
    {
        double m = 0, v = 1;
        for (int i = 0; i < timesteps.Length; i++)
        {
            int t = (int)timesteps[i];
            double a = schedule.AlphasCumprod[t];
            double aPrev = i + 1 < timesteps.Length ? schedule.AlphasCumprod[(int)timesteps[i + 1]] : 1.0;
            double beta = 1 - a / aPrev;
            double c0 = Math.Sqrt(aPrev) * beta / (1 - a);
            double c1 = Math.Sqrt(a / aPrev) * (1 - aPrev) / (1 - a);
            double k = Math.Sqrt(a) * s * s / (a * s * s + 1 - a);
            double noiseVar = t > 0 ? (1 - aPrev) / (1 - a) * beta : 0;
            m = c0 * (mu + k * (m - Math.Sqrt(a) * mu)) + c1 * m;
            v = (c0 * k + c1) * (c0 * k + c1) * v + noiseVar;
        }
        return (m, Math.Sqrt(v));
    }

    private static float Sigma(NoiseSchedule schedule, int t)
    {
        double a = schedule.AlphasCumprod[t];
        return (float)Math.Sqrt((1 - a) / a);
    }
}
