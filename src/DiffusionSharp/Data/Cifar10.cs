namespace DiffusionSharp.Data;

/// <summary>
/// CIFAR-10 in its binary distribution (<c>cifar-10-batches-bin</c>): each record is 1 label byte then 3,072 pixel
/// bytes, the 32×32 red plane, then green, then blue, each row-major — already the C×H×W layout.
/// </summary>
/// <remarks>Format: https://www.cs.toronto.edu/~kriz/cifar.html ("Binary version").</remarks>
public static class Cifar10
{
    /// <summary>Bytes per record: 1 label + 3×32×32 pixels.</summary>
    public const int RecordBytes = 1 + 3 * 32 * 32;

    /// <summary>The class names in label order (as in <c>batches.meta.txt</c>).</summary>
    public static IReadOnlyList<string> DefaultClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>
    /// Loads the training batches (<c>data_batch_1.bin</c> … <c>data_batch_5.bin</c>, those present) or the test
    /// batch (<c>test_batch.bin</c>) from <paramref name="folder"/> or its <c>cifar-10-batches-bin</c> sub-folder.
    /// Class names come from <c>batches.meta.txt</c> when present.
    /// </summary>
    /// <exception cref="InvalidDataException">No batch file, or a malformed one (named in the message).</exception>
    public static ImageDataset Load(string folder, bool train)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string sub = Path.Combine(folder, "cifar-10-batches-bin");
        if (Directory.Exists(sub))
            folder = sub;
        var files = train
            ? Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).Where(File.Exists).ToList()
            : [.. new[] { Path.Combine(folder, "test_batch.bin") }.Where(File.Exists)];
        if (files.Count == 0)
            throw new InvalidDataException($"{folder}: no CIFAR-10 {(train ? "data_batch_*.bin" : "test_batch.bin")} file");
        IReadOnlyList<string> names = DefaultClassNames;
        string meta = Path.Combine(folder, "batches.meta.txt");
        if (File.Exists(meta))
        {
            var lines = File.ReadAllLines(meta).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
            if (lines.Length != 10)
                throw new InvalidDataException($"{meta}: {lines.Length} class names, CIFAR-10 has 10");
            names = lines;
        }
        return LoadBatches(files, names, train ? "cifar10/train" : "cifar10/test");
    }

    /// <summary>Loads and concatenates binary batch files.</summary>
    /// <exception cref="InvalidDataException">A file is empty, not a whole number of records, or has a label
    /// outside 0–9; the message names the file.</exception>
    public static ImageDataset LoadBatches(IReadOnlyList<string> files, IReadOnlyList<string>? classNames = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0)
            throw new ArgumentException("no batch files", nameof(files));
        classNames ??= DefaultClassNames;
        var pixels = new MemoryStream();
        var labels = new List<long>();
        foreach (string file in files)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidDataException($"{file}: cannot read ({e.Message})", e);
            }
            if (bytes.Length == 0 || bytes.Length % RecordBytes != 0)
                throw new InvalidDataException($"{file}: {bytes.Length} bytes is not a whole number of {RecordBytes}-byte CIFAR-10 records");
            for (int offset = 0; offset < bytes.Length; offset += RecordBytes)
            {
                byte label = bytes[offset];
                if (label >= classNames.Count)
                    throw new InvalidDataException($"{file}: record {offset / RecordBytes} has label {label}, outside 0-{classNames.Count - 1}");
                labels.Add(label);
                pixels.Write(bytes, offset + 1, RecordBytes - 1);
            }
        }
        return ImageDataset.FromBytes(name ?? "cifar10", pixels.ToArray(), labels.Count, 3, 32, 32, labels.ToArray(), classNames);
    }
}
