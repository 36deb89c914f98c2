using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// A denoiser in σ-space (Karras et al. 2022, "Elucidating the Design Space…", eq. 1–3; k-diffusion's contract):
/// given x = x₀ + σ·n (the variance-exploding form: no scaling of the signal) and the noise level σ of each row, it
/// returns D(x; σ) ≈ E[x₀ | x], the denoised sample. Every σ-space sampler (Sampling/Samplers) takes one, over any σ grid.
/// </summary>
/// <remarks>
/// This is the σ contract; <see cref="IDiffusionNetwork"/> is the discrete-time contract diffusers uses (network(x_t, t)
/// with x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε). The two never mix silently: <c>DiscreteTimeDenoiser</c> turns a
/// discrete-time network into a denoiser, and <see cref="EdmPreconditioning"/> is a denoiser around a raw network.
/// </remarks>
public interface IDenoiser
{
    /// <summary>
    /// D(x; σ): <paramref name="x"/> [B, …] of any rank, <paramref name="sigma"/> [B] (or a scalar for every row) in
    /// float32 or float64, σ ≥ 0, optional <paramref name="classLabels"/> [B] int64. Returns x̂₀ shaped like x (a fresh
    /// tensor; the arguments are left alone).
    /// </summary>
    Tensor Denoise(Tensor x, Tensor sigma, Tensor? classLabels);
}
