using DiffusionSharp.Denoisers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models",
/// Algorithm 2, in σ-space as k-diffusion's <c>sample_dpmpp_2m</c>): with λ = −ln σ, h_i = λ_{i+1} − λ_i and
/// r_i = h_{i−1}/h_i, the data-prediction multistep update
/// x_{i+1} = (σ_{i+1}/σ_i)·x_i − (e^{−h_i} − 1)·D_i with D_i = (1 + 1/(2r_i))·x̂₀,i − (1/(2r_i))·x̂₀,i−1
/// (first order, D_i = x̂₀,i, on the first step and on the last step to σ = 0). One denoiser call per step; second order.
/// </summary>
public sealed class DpmPlusPlus2MSampler : ISigmaSampler
{
    /// <inheritdoc/>
    public Tensor Sample(IDenoiser denoiser, Tensor x, IReadOnlyList<double> sigmas, SamplingContext context) =>
        SigmaSteps.Run(denoiser, x, sigmas, context, (i, xi, previous) =>
        {
            double sigma = sigmas[i], sigmaNext = sigmas[i + 1];
            var denoised = SigmaSteps.Denoise(denoiser, xi, sigma, context);
            // σ_{i+1}/σ_i = e^{−h}; the update's −(e^{−h} − 1) = 1 − σ_{i+1}/σ_i stays finite at σ_{i+1} = 0.
            double ratio = sigmaNext / sigma;
            var d = denoised;
            if (previous is not null && sigmaNext > 0)
            {
                double h = Math.Log(sigma / sigmaNext);
                double hLast = Math.Log(sigmas[i - 1] / sigma);
                double r = hLast / h;
                d = denoised * (1 + 1 / (2 * r)) - previous * (1 / (2 * r));
            }
            return (xi * ratio + d * (1 - ratio), denoised);
        });
}
