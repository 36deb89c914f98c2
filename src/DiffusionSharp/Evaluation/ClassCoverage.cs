using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>
/// How generated samples spread over the classes, as judged by a classifier: the histogram of predicted classes,
/// its Kullback–Leibler divergence from the uniform distribution, and — for class-conditional sampling — how
/// often the predicted class is the requested one.
/// </summary>
public static class ClassCoverage
{
    /// <summary>How many of <paramref name="predicted"/> (int64 class indices) fall in each of <paramref name="classes"/> classes.</summary>
    /// <exception cref="ArgumentException">A prediction lies outside [0, classes).</exception>
    public static long[] Histogram(Tensor predicted, int classes)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        var counts = new long[classes];
        using var scope = NewDisposeScope();
        foreach (long c in predicted.to(ScalarType.Int64, CPU).flatten().data<long>())
        {
            if (c < 0 || c >= classes)
                throw new ArgumentException($"class {c} is outside [0, {classes})", nameof(predicted));
            counts[c]++;
        }
        return counts;
    }

    /// <summary>
    /// KL(p ‖ u) = Σ_k p_k ln(K p_k) in nats, with p the normalised <paramref name="histogram"/>, u uniform over its
    /// K classes and 0 ln 0 = 0. It is 0 for perfect balance and ln K when every sample is in one class.
    /// </summary>
    public static double KlFromUniform(IReadOnlyList<long> histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        if (histogram.Count == 0)
            throw new ArgumentException("an empty histogram", nameof(histogram));
        if (histogram.Any(c => c < 0))
            throw new ArgumentException("negative counts", nameof(histogram));
        double total = histogram.Sum();
        if (total == 0)
            throw new ArgumentException("a histogram with no samples", nameof(histogram));
        double kl = 0;
        foreach (long c in histogram)
        {
            if (c == 0)
                continue;
            double p = c / total;
            kl += p * Math.Log(histogram.Count * p);
        }
        return Math.Max(0, kl);
    }

    /// <summary>The fraction of samples whose predicted class equals the requested one.</summary>
    public static double ConditionalAccuracy(Tensor predicted, Tensor requested)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(requested);
        if (predicted.numel() != requested.numel() || predicted.numel() == 0)
            throw new ArgumentException($"{predicted.numel()} predictions for {requested.numel()} requested labels");
        using var scope = NewDisposeScope();
        return predicted.to(ScalarType.Int64, CPU).flatten().eq(requested.to(ScalarType.Int64, CPU).flatten())
            .to(ScalarType.Float64).mean().item<double>();
    }
}
