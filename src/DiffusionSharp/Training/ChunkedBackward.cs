using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>
/// Back-propagation of a batch mean in chunks: each chunk's per-sample losses [length] are summed, scaled by
/// scale/batch and back-propagated on their own, so only one chunk's activations are alive at a time and the summed
/// gradient is the batch's up to float summation order (<see cref="Models.BatchChunking"/> explains why this is faster
/// on the CPU). The caller makes every random draw for the whole batch before, so chunking never changes them.
/// </summary>
public static class ChunkedBackward
{
    /// <summary>
    /// Runs <paramref name="perSampleLoss"/>(start, length) for each chunk of at most <paramref name="chunkSize"/> of
    /// <paramref name="batch"/> rows and back-propagates its share; returns the batch mean loss (unscaled), NaN or
    /// infinite when any chunk's is.
    /// </summary>
    public static double Run(long batch, int chunkSize, double scale, Func<long, long, Tensor> perSampleLoss)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        ArgumentNullException.ThrowIfNull(perSampleLoss);
        double sum = 0;
        foreach (var (start, length) in Models.BatchChunking.Ranges(batch, chunkSize))
        {
            using var chunkScope = NewDisposeScope();
            var chunkSum = perSampleLoss(start, length).sum();
            sum += chunkSum.item<float>();
            (chunkSum * (scale / batch)).backward();
        }
        return sum / batch;
    }
}
