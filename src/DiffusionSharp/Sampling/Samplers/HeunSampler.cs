using DiffusionSharp.Denoisers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>
/// The options of EDM's stochastic sampler (Karras et al. 2022, Algorithm 2 and §4): the churn
/// γ_i = min(S_churn/N, √2 − 1) for σ_i ∈ [S_tmin, S_tmax] (0 elsewhere), and the scale S_noise of the noise added.
/// S_churn = 0 is the deterministic Heun sampler (Algorithm 1).
/// </summary>
/// <param name="SChurn">S_churn ≥ 0, the total amount of stochasticity (0: deterministic).</param>
/// <param name="STMin">S_tmin: churn only at σ_i ≥ S_tmin.</param>
/// <param name="STMax">S_tmax: churn only at σ_i ≤ S_tmax.</param>
/// <param name="SNoise">S_noise, the standard deviation of the added noise relative to 1 (slightly above 1 in the paper).</param>
public sealed record HeunSamplerOptions(double SChurn = 0, double STMin = 0, double STMax = double.PositiveInfinity, double SNoise = 1);

/// <summary>
/// Heun's second-order method on the probability-flow ODE with EDM's optional churn (Karras et al. 2022, Algorithm 2;
/// k-diffusion's <c>sample_heun</c>): σ̂ = σ_i(1 + γ_i), x̂ = x_i + √(σ̂² − σ_i²)·S_noise·n, d = (x̂ − D(x̂; σ̂))/σ̂,
/// x_{i+1} = x̂ + (σ_{i+1} − σ̂)·d, and where σ_{i+1} ≠ 0 the trapezoidal correction with d′ = (x_{i+1} − D(x_{i+1}; σ_{i+1}))/σ_{i+1}:
/// x_{i+1} = x̂ + (σ_{i+1} − σ̂)·(d + d′)/2. Two denoiser calls per step (one on the last step to σ = 0).
/// </summary>
public sealed class HeunSampler : ISigmaSampler
{
    /// <summary>A Heun sampler; the default options are deterministic.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative or non-finite S_churn or S_noise, or S_tmin &gt; S_tmax.</exception>
    public HeunSampler(HeunSamplerOptions? options = null)
    {
        Options = options ?? new HeunSamplerOptions();
        if (!double.IsFinite(Options.SChurn) || Options.SChurn < 0)
            throw new ArgumentOutOfRangeException(nameof(options), Options.SChurn, "S_churn must be finite and ≥ 0.");
        if (!double.IsFinite(Options.SNoise) || Options.SNoise < 0)
            throw new ArgumentOutOfRangeException(nameof(options), Options.SNoise, "S_noise must be finite and ≥ 0.");
        if (double.IsNaN(Options.STMin) || double.IsNaN(Options.STMax) || Options.STMin > Options.STMax)
            throw new ArgumentOutOfRangeException(nameof(options), Options.STMin, "S_tmin must not exceed S_tmax.");
    }

    /// <summary>The options.</summary>
    public HeunSamplerOptions Options { get; }

    /// <inheritdoc/>
    public Tensor Sample(IDenoiser denoiser, Tensor x, IReadOnlyList<double> sigmas, SamplingContext context)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        ArgumentNullException.ThrowIfNull(context);
        int n = Math.Max(sigmas.Count - 1, 1);
        double gammaMax = Math.Min(Options.SChurn / n, Math.Sqrt(2) - 1);
        var noise = Options.SChurn > 0 && Options.SNoise > 0 ? SigmaSteps.Noise(context, "Heun with S_churn > 0") : null;
        return SigmaSteps.Run(denoiser, x, sigmas, context, (i, xi, _) =>
        {
            double sigma = sigmas[i], sigmaNext = sigmas[i + 1];
            double gamma = sigma >= Options.STMin && sigma <= Options.STMax ? gammaMax : 0;
            double sigmaHat = sigma * (1 + gamma);
            var xHat = gamma > 0 && noise is not null
                ? xi + noise.Next(xi) * (Options.SNoise * Math.Sqrt(sigmaHat * sigmaHat - sigma * sigma))
                : xi;
            var denoised = SigmaSteps.Denoise(denoiser, xHat, sigmaHat, context);
            var d = (xHat - denoised) / sigmaHat;
            var xNext = xHat + d * (sigmaNext - sigmaHat);
            if (sigmaNext == 0)
                return (xNext, denoised);
            var denoisedNext = SigmaSteps.Denoise(denoiser, xNext, sigmaNext, context);
            var dNext = (xNext - denoisedNext) / sigmaNext;
            return (xHat + (d + dNext) * (0.5 * (sigmaNext - sigmaHat)), denoised);
        });
    }
}
