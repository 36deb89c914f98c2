using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>
/// Inpainting by per-step replacement of the known region (Song et al. 2021, "Score-Based Generative Modeling through
/// SDEs", Appendix I.2; the conditioning step of Lugmayr et al. 2022, "RePaint", eq. 8 and Algorithm 1 lines 5–7 with
/// U = 1): sampling starts from pure noise σ_max·z and after every step from σ_i to σ_{i+1} the pixels to keep are
/// replaced by the input noised to that level, x ← m⊙x + (1 − m)⊙(x₀ + σ_{i+1}·n) with fresh n, m = 1 where the mask
/// says regenerate. The last step ends at σ = 0, where the replacement is x₀ itself: the kept pixels of the result
/// equal the input exactly.
/// </summary>
/// <remarks>
/// Works with any <see cref="ISigmaSampler"/> through its step hook. All noise (the start, the known region, a
/// stochastic sampler's) is drawn from one <see cref="PerSampleNoise"/> stream per row, so a row depends only on its
/// own seed. <see cref="RePaint"/> adds resampling jumps.
/// </remarks>
public static class Inpainting
{
    /// <summary>
    /// Inpaints <paramref name="image"/> [B, C, H, W] where <paramref name="mask"/> (binary, [H, W] or [1|B, 1|C, H, W];
    /// 1 = regenerate) says, over a grid from σ_max to 0. Returns a fresh tensor.
    /// </summary>
    /// <exception cref="ArgumentException">A mask that is not binary or not the image's size, seeds not one per row, or a
    /// grid that does not end at 0.</exception>
    public static Tensor Replace(IDenoiser denoiser, ISigmaSampler sampler, Tensor image, Tensor mask, IReadOnlyList<double> sigmas,
        long[] seeds, Tensor? classLabels = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(sampler);
        EditChecks.ImageSeedsGrid(image, seeds, sigmas);
        using var noise = new PerSampleNoise(seeds);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var regenerate = EditChecks.Regenerate(mask, image);
        var start = noise.Next(image) * sigmas[0];
        var context = new SamplingContext(classLabels, noise, KnownRegionHook(image, regenerate, noise), cancellationToken);
        return sampler.Sample(denoiser, start, sigmas, context).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The step hook that projects the known region back: x ← where(regenerate, x, x₀ + σ_next·n). At σ_next = 0 it
    /// puts x₀ itself (no noise is drawn), so the kept pixels are exact.
    /// </summary>
    internal static SamplerStepHook KnownRegionHook(Tensor image, Tensor regenerate, INoiseSource noise) => step =>
    {
        var known = step.SigmaNext == 0 ? image : image + noise.Next(step.X) * step.SigmaNext;
        return where(regenerate, step.X, known.to(step.X.dtype));
    };
}
