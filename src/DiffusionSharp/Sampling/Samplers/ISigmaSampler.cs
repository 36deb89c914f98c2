using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Sampling.Samplers;

/// <summary>
/// A σ-space sampler (k-diffusion's <c>sample_*</c> functions; Karras et al. 2022, "Elucidating the Design Space…",
/// Algorithms 1–2): it integrates from noise level sigmas[0] down to sigmas[^1] over any σ grid, calling the denoiser
/// D(x; σ) → x̂₀ as often as its algorithm needs. The sampler owns its loop; any state between steps (a multistep
/// solver's previous x̂₀) is a local of one <see cref="Sample"/> call, so an instance is stateless and reusable.
/// </summary>
/// <remarks>
/// Ownership: <see cref="Sample"/> never disposes or modifies <c>x</c>, the denoiser, the context's labels or its noise
/// source; it returns a fresh tensor that the caller owns (it lands in the caller's dispose scope, if any). It runs
/// under <c>torch.inference_mode()</c> with one dispose scope per step, so the number of live tensors does not grow with
/// the number of steps.
/// </remarks>
public interface ISigmaSampler
{
    /// <summary>
    /// Runs the sampler. x is at noise level sigmas[0] (x = x0 + sigmas[0]·n); sigmas is decreasing and ends at 0 (or
    /// σ_min). Returns x at sigmas[^1] (x̂₀ when it ends at 0), a fresh tensor shaped like x.
    /// </summary>
    /// <exception cref="ArgumentException">The grid is empty, not decreasing, negative or not finite; or a stochastic
    /// sampler was given no <see cref="SamplingContext.Noise"/>.</exception>
    /// <exception cref="OperationCanceledException"><see cref="SamplingContext.Cancellation"/> was signalled (checked between steps).</exception>
    Tensor Sample(IDenoiser denoiser, Tensor x, IReadOnlyList<double> sigmas, SamplingContext context);
}

/// <summary>What a σ-space sampler needs besides the denoiser, the start sample and the grid.</summary>
/// <param name="ClassLabels">[B] int64 labels handed to every denoiser call (borrowed; not disposed).</param>
/// <param name="Noise">
/// Where stochastic samplers (churned Heun, DPM-Solver++(2M) SDE) draw their per-step noise; deterministic ones ignore
/// it. Use <see cref="PerSampleNoise"/> so that row i depends only on its own seed. Borrowed: the caller disposes it.
/// </param>
/// <param name="OnStep">Called after every step; may replace x (see <see cref="SamplerStepHook"/>).</param>
/// <param name="Cancellation">Checked before every step.</param>
public sealed record SamplingContext(Tensor? ClassLabels = null, INoiseSource? Noise = null, SamplerStepHook? OnStep = null, CancellationToken Cancellation = default);

/// <summary>
/// Called after every step; returns a replacement for x (inpainting projects the known region back), or null to keep x.
/// </summary>
/// <remarks>
/// <see cref="SamplerStepInfo.X"/> and <see cref="SamplerStepInfo.Denoised"/> are valid only during the call (they are
/// freed with the step's dispose scope): clone what must be kept, and never dispose them. A returned replacement is
/// taken over by the sampler (it is made during the step, so it lives in the step's scope, and the sampler moves it
/// out); it must be shaped like X and is x at <see cref="SamplerStepInfo.SigmaNext"/>. Returning X itself keeps x.
/// </remarks>
public delegate Tensor? SamplerStepHook(SamplerStepInfo step);

/// <summary>One finished step of a σ-space sampler.</summary>
/// <param name="Index">The step index i: the step went from sigmas[i] to sigmas[i + 1].</param>
/// <param name="Sigma">sigmas[i].</param>
/// <param name="SigmaNext">sigmas[i + 1], the noise level of <paramref name="X"/>.</param>
/// <param name="X">x after the step, at <paramref name="SigmaNext"/>.</param>
/// <param name="Denoised">The step's first x̂₀ = D(x; σ) (at the churned σ̂ for churned Heun).</param>
public sealed record SamplerStepInfo(int Index, double Sigma, double SigmaNext, Tensor X, Tensor Denoised);
