using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Data;

/// <summary>Options of a <see cref="DataLoader"/>.</summary>
/// <param name="BatchSize">Samples per batch.</param>
/// <param name="Seed">Seeds the shuffle and the flips; the same seed gives the same batches.</param>
/// <param name="Shuffle">Draw a fresh permutation every epoch (else dataset order).</param>
/// <param name="RandomHorizontalFlip">Mirror each image left–right with probability ½ (images [N, C, H, W] only). Off by
/// default, and wrong for digits and text, whose mirror images are not in the data distribution.</param>
/// <param name="DropLast">Drop the last, smaller batch of an epoch so every batch has <paramref name="BatchSize"/> samples.</param>
public sealed record DataLoaderOptions(
    int BatchSize,
    long Seed = 0,
    bool Shuffle = true,
    bool RandomHorizontalFlip = false,
    bool DropLast = true);

/// <summary>One batch: samples [N, …] (of the dataset's rank and dtype) and their int64 labels. The receiver owns and disposes it.</summary>
/// <param name="Samples">The samples (not in any dispose scope).</param>
/// <param name="Labels">The labels (not in any dispose scope).</param>
/// <param name="Epoch">The epoch the batch belongs to, from 0.</param>
/// <param name="Index">The batch's position in its epoch, from 0.</param>
public sealed record Batch(Tensor Samples, Tensor Labels, long Epoch, int Index) : IDisposable
{
    /// <summary>The samples of an image batch, N×C×H×W float32 in [-1, 1] (the same tensor as <see cref="Samples"/>).</summary>
    public Tensor Images => Samples;

    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        Samples.Dispose();
        Labels.Dispose();
    }
}

/// <summary>
/// Batches of a <see cref="SampleDataset"/> (any rank) with a seeded shuffle, optional random horizontal flips for images, and the next
/// batch assembled on a background task while the caller trains on the current one.
/// </summary>
/// <remarks>
/// Determinism: epoch e's order is a permutation drawn from (seed, e) alone, and batch b's flips from
/// (seed, e, b) alone, so the k-th batch is the same whatever was consumed before — a run resumed at step k with
/// <see cref="Batches(long)"/> sees exactly the batches the uninterrupted run would have.
/// The loader reads the dataset's tensors and never changes them; it does not own the dataset.
/// </remarks>
public sealed class DataLoader
{
    private readonly SampleDataset _dataset;

    /// <summary>Creates a loader over <paramref name="dataset"/> (which must outlive it).</summary>
    /// <exception cref="ArgumentException">The batch size is not positive, or larger than the dataset with
    /// <see cref="DataLoaderOptions.DropLast"/> (no batch would ever be produced), or flips asked for on data that are not images.</exception>
    public DataLoader(SampleDataset dataset, DataLoaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize, nameof(options));
        if (dataset.Count == 0 || (options.DropLast && options.BatchSize > dataset.Count))
            throw new ArgumentException($"batch size {options.BatchSize} with {dataset.Count} samples yields no batch", nameof(options));
        if (options.RandomHorizontalFlip && (dataset.Samples.dim() != 4 || !dataset.Samples.is_floating_point()))
            throw new ArgumentException($"random flips are for images [N, C, H, W]; {dataset.Name} has samples [{string.Join(", ", dataset.Samples.shape)}]", nameof(options));
        _dataset = dataset;
        Options = options;
        BatchesPerEpoch = (int)(options.DropLast
            ? dataset.Count / options.BatchSize
            : (dataset.Count + options.BatchSize - 1) / options.BatchSize);
    }

    /// <summary>The options.</summary>
    public DataLoaderOptions Options { get; }

    /// <summary>Batches in one epoch.</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>The batches of one epoch, each prepared on a background task while the previous one is in use.</summary>
    public IEnumerable<Batch> Epoch(long epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return Prefetch(Plan(epoch * BatchesPerEpoch, (epoch + 1) * BatchesPerEpoch));
    }

    /// <summary>
    /// An endless stream of batches across epochs, starting at global batch index <paramref name="startStep"/>
    /// (epoch = step / <see cref="BatchesPerEpoch"/>). Stop by disposing the enumerator (a <c>foreach</c> that breaks).
    /// </summary>
    public IEnumerable<Batch> Batches(long startStep = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startStep);
        return Prefetch(Plan(startStep, long.MaxValue));
    }

    /// <summary>Assembles one batch synchronously (what the background task runs).</summary>
    public Batch GetBatch(long epoch, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)BatchesPerEpoch, nameof(index));
        long[] order = Order(epoch);
        return Assemble(order, epoch, index);
    }

    private IEnumerable<(long Epoch, int Index)> Plan(long from, long to)
    {
        for (long step = from; step < to; step++)
            yield return (step / BatchesPerEpoch, (int)(step % BatchesPerEpoch));
    }

    private long[] Order(long epoch)
    {
        if (!Options.Shuffle)
        {
            var identity = new long[_dataset.Count];
            for (long i = 0; i < identity.Length; i++)
                identity[i] = i;
            return identity;
        }
        return SeededShuffle.Permutation(_dataset.Count, SeededShuffle.Mix(Options.Seed, epoch));
    }

    private Batch Assemble(long[] order, long epoch, int index)
    {
        int start = index * Options.BatchSize;
        int size = (int)Math.Min(Options.BatchSize, order.Length - start);
        var indices = order.AsSpan(start, size).ToArray();
        // Runs on a pool thread: its own scope (scopes are per thread) and no autograd.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var idx = tensor(indices, [size]);
        var samples = _dataset.Samples.index_select(0, idx);
        var labels = _dataset.Labels.index_select(0, idx);
        if (Options.RandomHorizontalFlip)
        {
            var rng = new SeededShuffle.SplitMix64(SeededShuffle.Mix(Options.Seed, epoch, index, 0x666C6970));
            var flips = new bool[size];
            for (int i = 0; i < size; i++)
                flips[i] = rng.NextBool();
            var mask = tensor(flips, [size, 1, 1, 1]);
            samples = where(mask, samples.flip(3), samples);
        }
        return new Batch(samples.DetachFromDisposeScope(), labels.DetachFromDisposeScope(), epoch, index);
    }

    private IEnumerable<Batch> Prefetch(IEnumerable<(long Epoch, int Index)> plan)
    {
        long[]? order = null;
        long orderEpoch = -1;
        Task<Batch> Start((long Epoch, int Index) item)
        {
            if (item.Epoch != orderEpoch)
            {
                order = Order(item.Epoch);
                orderEpoch = item.Epoch;
            }
            var o = order!;
            return Task.Run(() => Assemble(o, item.Epoch, item.Index));
        }

        using var items = plan.GetEnumerator();
        if (!items.MoveNext())
            yield break;
        Task<Batch>? pending = Start(items.Current);
        try
        {
            while (pending is not null)
            {
                Batch current = pending.GetAwaiter().GetResult();
                pending = null;
                if (items.MoveNext())
                    pending = Start(items.Current);
                yield return current;
            }
        }
        finally
        {
            // An abandoned enumeration still owns the batch being prepared.
            if (pending is not null)
            {
                try { pending.Wait(); } catch (AggregateException) { } // it failed: nothing to release
                if (pending.IsCompletedSuccessfully)
                    pending.Result.Dispose();
            }
        }
    }
}
