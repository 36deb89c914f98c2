using DiffusionSharp.Denoisers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>
/// Euler's method on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ (Karras et al. 2022, eq. 3 with σ(t) = t,
/// s(t) = 1; Algorithm 1 without the Heun correction; k-diffusion's <c>sample_euler</c> without churn):
/// d_i = (x_i − D(x_i; σ_i))/σ_i, x_{i+1} = x_i + (σ_{i+1} − σ_i)·d_i. One denoiser call per step; first order.
/// </summary>
public sealed class EulerSampler : ISigmaSampler
{
    /// <inheritdoc/>
    public Tensor Sample(IDenoiser denoiser, Tensor x, IReadOnlyList<double> sigmas, SamplingContext context) =>
        SigmaSteps.Run(denoiser, x, sigmas, context, (i, xi, _) =>
        {
            double sigma = sigmas[i], sigmaNext = sigmas[i + 1];
            var denoised = SigmaSteps.Denoise(denoiser, xi, sigma, context);
            var d = (xi - denoised) / sigma;
            return (xi + d * (sigmaNext - sigma), denoised);
        });
}
