using static TorchSharp.torch;

namespace DiffusionSharp.Models;

/// <summary>
/// Splits a batch into chunks small enough that a network's largest activation stays under a byte budget.
/// </summary>
/// <remarks>
/// <para>Why: on the CPU, a large batch makes every activation a large allocation. glibc's malloc serves blocks
/// above its mmap threshold (at most 32 MiB) with fresh mmaps, so each such tensor is page-faulted in and zeroed by
/// the kernel on every call, and freed back with munmap; on the 2-core VM of BENCHMARKS.md that made a batch-128
/// training step of the <c>small</c> preset take 5–6 s instead of 3 s. Holding those blocks in the heap instead
/// (<c>M_MMAP_MAX = 0</c>) was as fast but left the heap ~1 GB larger than the peak live set (fragmentation).
/// Running the same batch as chunks whose largest tensor stays under the budget avoids both: nothing crosses the
/// mmap threshold, the working set of one pass fits better in cache, and the activations saved for backward are
/// those of one chunk, not of the batch (peak RSS 1.06 GB instead of 3.3 GB there, at the same step time).</para>
/// <para>Chunking never changes what is computed. Inference passes are independent per sample. Training draws
/// every random number for the whole batch first and back-propagates each chunk's share of the batch mean, so the
/// summed gradient is the batch gradient up to float summation order (see
/// <see cref="Training.ChunkedBackward"/>).</para>
/// </remarks>
public static class BatchChunking
{
    /// <summary>Default ceiling for the largest activation of one chunk: 24 MiB, under glibc's 32 MiB mmap threshold.</summary>
    public const long DefaultBudgetBytes = 24L * 1024 * 1024;

    /// <summary>
    /// The chunk size for <paramref name="batch"/> samples when one sample's largest activation has
    /// <paramref name="elementsPerSample"/> elements of <paramref name="bytesPerElement"/> bytes: the batch is cut into
    /// the fewest chunks that respect <paramref name="budgetBytes"/>, of near-equal size (128 at a 41-sample limit is
    /// 4 × 32, not 41 + 41 + 41 + 5). Never below 1, never above <paramref name="batch"/>.
    /// </summary>
    public static int ChunkSize(long batch, long elementsPerSample, int bytesPerElement = 4, long budgetBytes = DefaultBudgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(elementsPerSample, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerElement, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(budgetBytes, 1);
        long limit = Math.Max(1, budgetBytes / (elementsPerSample * bytesPerElement));
        if (limit >= batch)
            return (int)batch;
        long chunks = (batch + limit - 1) / limit;
        return (int)((batch + chunks - 1) / chunks);
    }

    /// <summary>The (start, length) ranges that cover [0, <paramref name="batch"/>) in chunks of at most <paramref name="chunkSize"/>.</summary>
    public static IEnumerable<(long Start, long Length)> Ranges(long batch, int chunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        for (long start = 0; start < batch; start += chunkSize)
            yield return (start, Math.Min(chunkSize, batch - start));
    }

    /// <summary>
    /// Runs <paramref name="network"/> over <paramref name="sample"/> in chunks of at most <paramref name="chunkSize"/>
    /// rows and concatenates the outputs (inference only: the caller checks that no gradient is wanted). Timesteps that
    /// are one per row, and labels, are split with the rows; a single timestep is passed to every chunk.
    /// </summary>
    public static Tensor Predict(Func<Tensor, Tensor, Tensor?, Tensor> network, Tensor sample, Tensor timesteps, Tensor? classLabels, int chunkSize)
    {
        ArgumentNullException.ThrowIfNull(network);
        long batch = sample.shape[0];
        if (chunkSize >= batch)
            return network(sample, timesteps, classLabels);
        bool perSample = timesteps.dim() > 0 && timesteps.shape[0] == batch && batch > 1;
        var outputs = new List<Tensor>();
        using var scope = NewDisposeScope();
        foreach (var (start, length) in Ranges(batch, chunkSize))
            outputs.Add(network(sample.narrow(0, start, length), perSample ? timesteps.narrow(0, start, length) : timesteps, classLabels?.narrow(0, start, length)));
        return cat(outputs, 0).MoveToOuterDisposeScope();
    }
}
