using DiffusionSharp.Denoisers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>The options of <see cref="DpmPlusPlus2MSdeSampler"/>.</summary>
/// <param name="Eta">η ∈ [0, 1]: the fraction of the SDE's noise (1: the SDE solver, 0: DPM-Solver++(2M) itself).</param>
/// <param name="SNoise">A scale on the injected noise (1: exact).</param>
public sealed record DpmPlusPlus2MSdeOptions(double Eta = 1, double SNoise = 1);

/// <summary>
/// DPM-Solver++(2M) SDE (Lu et al. 2022, "DPM-Solver++", §5 and Appendix B, the second-order multistep solver of the
/// reverse SDE; the midpoint variant of k-diffusion's <c>sample_dpmpp_2m_sde</c>). With λ = −ln σ, h = λ_{i+1} − λ_i,
/// r = h_{i−1}/h and c = 1 − e^{−(1+η)h}:
/// x_{i+1} = (σ_{i+1}/σ_i)·e^{−ηh}·x_i + c·x̂₀,i + (c/(2r))·(x̂₀,i − x̂₀,i−1) + σ_{i+1}·√(1 − e^{−2ηh})·S_noise·n,
/// the correction term from the second step on; the last step to σ = 0 returns x̂₀. One denoiser call per step.
/// </summary>
/// <remarks>Fresh standard-normal noise per step comes from <see cref="SamplingContext.Noise"/> (k-diffusion defaults to a
/// Brownian tree; independent increments have the same law).</remarks>
public sealed class DpmPlusPlus2MSdeSampler : ISigmaSampler
{
    /// <summary>A DPM-Solver++(2M) SDE sampler.</summary>
    /// <exception cref="ArgumentOutOfRangeException">η outside [0, 1] or S_noise negative or not finite.</exception>
    public DpmPlusPlus2MSdeSampler(DpmPlusPlus2MSdeOptions? options = null)
    {
        Options = options ?? new DpmPlusPlus2MSdeOptions();
        if (!(Options.Eta >= 0 && Options.Eta <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), Options.Eta, "eta must lie in [0, 1].");
        if (!double.IsFinite(Options.SNoise) || Options.SNoise < 0)
            throw new ArgumentOutOfRangeException(nameof(options), Options.SNoise, "S_noise must be finite and ≥ 0.");
    }

    /// <summary>The options.</summary>
    public DpmPlusPlus2MSdeOptions Options { get; }

    /// <inheritdoc/>
    public Tensor Sample(IDenoiser denoiser, Tensor x, IReadOnlyList<double> sigmas, SamplingContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        double eta = Options.Eta;
        var noise = eta > 0 && Options.SNoise > 0 ? SigmaSteps.Noise(context, "DPM-Solver++(2M) SDE") : null;
        return SigmaSteps.Run(denoiser, x, sigmas, context, (i, xi, previous) =>
        {
            double sigma = sigmas[i], sigmaNext = sigmas[i + 1];
            var denoised = SigmaSteps.Denoise(denoiser, xi, sigma, context);
            if (sigmaNext == 0)
                return (denoised.clone(), denoised);
            double h = Math.Log(sigma / sigmaNext);
            double c = -double.ExpM1(-(1 + eta) * h);
            var next = xi * (sigmaNext / sigma * Math.Exp(-eta * h)) + denoised * c;
            if (previous is not null)
            {
                double r = Math.Log(sigmas[i - 1] / sigma) / h;
                next += (denoised - previous) * (0.5 * c / r);
            }
            if (noise is not null)
                next += noise.Next(xi) * (sigmaNext * Math.Sqrt(-double.ExpM1(-2 * eta * h)) * Options.SNoise);
            return (next, denoised);
        });
    }
}
