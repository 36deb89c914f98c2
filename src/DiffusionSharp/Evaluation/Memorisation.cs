using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>
/// The memorisation criterion of Gu et al., "On Memorization in Diffusion Models" (2023, §3, following Yoon et al. 2023):
/// a generated sample x counts as memorised when ‖x − NN₁(x)‖ &lt; ⅓ · ‖x − NN₂(x)‖, NN₁ and NN₂ its nearest and
/// second-nearest training samples (ℓ2) in pixel space, as in the paper, or in any feature space the caller maps both
/// sets to (the comparison also applies it to the digit classifier's features, where a sample's residual noise does not
/// inflate both distances). The share of memorised samples is reported.
/// </summary>
public static class Memorisation
{
    /// <summary>The ratio threshold of the criterion.</summary>
    public const double Ratio = 1.0 / 3.0;

    /// <summary>
    /// The share of <paramref name="samples"/> [M, …] memorised from <paramref name="training"/> [N, …] (N ≥ 2; both
    /// flattened per row), computed in blocks of <paramref name="blockSize"/> samples.
    /// </summary>
    public static double Share(Tensor samples, Tensor training, int blockSize = 256)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(training);
        if (training.shape[0] < 2)
            throw new ArgumentException("memorisation needs at least 2 training samples", nameof(training));
        using var scope = NewDisposeScope();
        var train = training.reshape(training.shape[0], -1);
        var flat = samples.reshape(samples.shape[0], -1);
        long memorised = 0;
        for (long start = 0; start < flat.shape[0]; start += blockSize)
        {
            using var block = NewDisposeScope();
            var d = NearestNeighbours.Distances(flat.narrow(0, start, Math.Min(blockSize, flat.shape[0] - start)), train);
            var (two, _) = d.topk(2, dim: 1, largest: false, sorted: true);
            memorised += two[.., 0].lt(two[.., 1] * Ratio).sum().item<long>();
        }
        return memorised / (double)flat.shape[0];
    }
}
