using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>
/// Image-to-image by SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic Differential
/// Equations", Algorithm 1): perturb the input x₀ to an intermediate noise level, x(t₀) = x₀ + σ(t₀)·z (eq. 2's VE form,
/// which is σ-space), then run the reverse process from there. The strength S ∈ [0, 1] picks t₀ on the sampler's grid
/// as diffusers' img2img does: of the grid's N steps the last round(S·N) are run, starting at σ_k with k = N − round(S·N).
/// </summary>
/// <remarks>
/// S = 0 runs no step and returns the input unchanged. S = 1 starts at σ_0 = σ_max, where the sampler starts from pure
/// noise: there x is taken as σ_max·z (the input's share x₀/σ_max is under 1% for σ_max ≈ 157 and is dropped), so
/// strength 1 is, bit for bit, plain sampling with the same seeds. z is row i's first draw from seed i
/// (<see cref="PerSampleNoise"/>), and stochastic samplers continue that stream, so a row depends only on its own seed.
/// </remarks>
public static class Img2Img
{
    /// <summary>k = N − round(S·N): the grid index the edit starts from (N: no step, 0: plain sampling).</summary>
    /// <exception cref="ArgumentException">S is outside [0, 1].</exception>
    public static int StartIndex(int steps, double strength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (!(strength >= 0 && strength <= 1))
            throw new ArgumentException($"strength must be in [0, 1], not {strength}.", nameof(strength));
        return steps - (int)Math.Round(strength * steps, MidpointRounding.AwayFromZero);
    }

    /// <summary>
    /// Edits <paramref name="image"/> [B, C, H, W] (in [-1, 1]) at strength S over <paramref name="sigmas"/> (a sampling
    /// grid from σ_max down to 0, see <see cref="EditModel.SamplingSigmas"/>). Returns a fresh tensor; the input is left alone.
    /// </summary>
    /// <exception cref="ArgumentException">S outside [0, 1], seeds not one per row, or a grid that does not end at 0.</exception>
    public static Tensor Run(IDenoiser denoiser, ISigmaSampler sampler, Tensor image, IReadOnlyList<double> sigmas, double strength,
        long[] seeds, Tensor? classLabels = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(denoiser);
        ArgumentNullException.ThrowIfNull(sampler);
        EditChecks.ImageSeedsGrid(image, seeds, sigmas);
        int k = StartIndex(sigmas.Count - 1, strength);
        if (k == sigmas.Count - 1)
            return image.clone();
        using var noise = new PerSampleNoise(seeds);
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var z = noise.Next(image);
        var start = k == 0 ? z * sigmas[0] : image + z * sigmas[k];
        var tail = sigmas.Skip(k).ToArray();
        return sampler.Sample(denoiser, start, tail, new SamplingContext(classLabels, noise, null, cancellationToken)).MoveToOuterDisposeScope();
    }
}
