using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>Distances between point clouds [N, D], to tell a learnt distribution from noise (the 2-D toy experiments).</summary>
public static class PointCloudDistances
{
    /// <summary>
    /// The sliced Wasserstein-2 distance (Rabin et al. 2011; Bonneel et al. 2015): the root mean over
    /// <paramref name="directions"/> fixed random unit vectors θ of W₂²(θ·a, θ·b), each a sort of the two projections.
    /// </summary>
    /// <param name="a">[N, D] points.</param>
    /// <param name="b">[N, D] points (the same N and D).</param>
    /// <param name="directions">Number of random projections.</param>
    /// <param name="seed">Seed of the projections (fixed, so distances of different clouds compare).</param>
    /// <exception cref="ArgumentException">The shapes differ or are not [N, D].</exception>
    public static double SlicedWasserstein(Tensor a, Tensor b, int directions = 256, long seed = 12)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.dim() != 2 || !a.shape.SequenceEqual(b.shape))
            throw new ArgumentException($"point clouds must both be [N, D], got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]", nameof(b));
        ArgumentOutOfRangeException.ThrowIfLessThan(directions, 1);
        using var scope = NewDisposeScope();
        var theta = randn(a.shape[1], directions, dtype: ScalarType.Float64, generator: new Generator((ulong)seed));
        theta = theta / theta.square().sum(0, keepdim: true).sqrt();
        var (pa, _) = a.to(ScalarType.Float64).matmul(theta).sort(0);
        var (pb, _) = b.to(ScalarType.Float64).matmul(theta).sort(0);
        return Math.Sqrt((pa - pb).square().mean().item<double>());
    }

    /// <summary>The mean over the rows of <paramref name="points"/> [N, D] of the Euclidean distance to the nearest row of <paramref name="reference"/> [M, D].</summary>
    /// <exception cref="ArgumentException">The clouds are not [·, D] with the same D.</exception>
    public static double MeanNearestNeighbour(Tensor points, Tensor reference)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(reference);
        if (points.dim() != 2 || reference.dim() != 2 || points.shape[1] != reference.shape[1])
            throw new ArgumentException($"point clouds must be [N, D] and [M, D], got [{string.Join(", ", points.shape)}] and [{string.Join(", ", reference.shape)}]", nameof(reference));
        using var scope = NewDisposeScope();
        var d = cdist(points.to(ScalarType.Float64), reference.to(ScalarType.Float64));
        return d.min(1).values.mean().item<double>();
    }
}
