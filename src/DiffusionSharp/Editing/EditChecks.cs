using DiffusionSharp.Sampling.Samplers;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>The argument checks every edit shares (one-line messages naming the argument).</summary>
internal static class EditChecks
{
    /// <summary>An image batch [B, …] with one seed per row, and a σ grid that ends at 0.</summary>
    public static void ImageSeedsGrid(Tensor image, long[] seeds, IReadOnlyList<double> sigmas)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(sigmas);
        if (image.dim() < 2)
            throw new ArgumentException($"image must be [B, C, …]; got [{string.Join(", ", image.shape)}].", nameof(image));
        if (seeds.Length != image.shape[0])
            throw new ArgumentException($"seeds: one per image row is needed; got {seeds.Length} for {image.shape[0]} rows.", nameof(seeds));
        if (sigmas.Count < 2 || sigmas[^1] != 0)
            throw new ArgumentException("sigmas must hold at least one step and end at 0.", nameof(sigmas));
    }

    /// <summary>
    /// The regenerate-mask as a bool tensor broadcastable to <paramref name="image"/>: the mask is [H, W], [1|B, 1|C, H, W]
    /// and binary (0 keep, 1 regenerate).
    /// </summary>
    public static Tensor Regenerate(Tensor mask, Tensor image)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var m = mask.dim() == 2 ? mask.unsqueeze(0).unsqueeze(0) : mask;
        bool fits = m.dim() == image.dim()
            && m.shape[^2..].SequenceEqual(image.shape[^2..])
            && (m.shape[0] == 1 || m.shape[0] == image.shape[0])
            && (m.shape[1] == 1 || m.shape[1] == image.shape[1]);
        if (!fits)
            throw new ArgumentException($"mask is [{string.Join(", ", mask.shape)}] but the image is [{string.Join(", ", image.shape)}]: it must match the image's height and width.", nameof(mask));
        if (!m.eq(0).logical_or(m.eq(1)).all().item<bool>())
            throw new ArgumentException("mask must be binary (0 keep, 1 regenerate); threshold gray masks at 0.5 (EditImages.LoadMask does).", nameof(mask));
        return m.eq(1).to(image.device);
    }
}
