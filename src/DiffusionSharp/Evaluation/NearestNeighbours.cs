using static TorchSharp.torch;

namespace DiffusionSharp.Evaluation;

/// <summary>Euclidean k-nearest-neighbour distances in float64, the building block of the manifold metrics.</summary>
public static class NearestNeighbours
{
    /// <summary>Pairwise Euclidean distances [N, M] between rows of <paramref name="a"/> [N, D] and <paramref name="b"/> [M, D], float64 on the CPU.</summary>
    public static Tensor Distances(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.dim() != 2 || b.dim() != 2 || a.shape[1] != b.shape[1])
            throw new ArgumentException($"points must be [N, D] and [M, D] of one D, not [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]");
        using var scope = NewDisposeScope();
        var x = a.detach().to(ScalarType.Float64, CPU);
        var y = b.detach().to(ScalarType.Float64, CPU);
        // ‖x − y‖² = ‖x‖² + ‖y‖² − 2 x·y, clamped at 0 against rounding; exact zeros on the diagonal of a set with itself.
        var d2 = (x.square().sum(1, keepdim: true) + y.square().sum(1).unsqueeze(0) - 2 * x.matmul(y.T)).clamp_min(0);
        return d2.sqrt().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// NND_k(x_i): the distance from each row of <paramref name="points"/> [N, D] to its k-th nearest other row (the
    /// point itself excluded), float64 [N].
    /// </summary>
    public static Tensor KthNeighbourRadii(Tensor points, int k)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (k < 1 || k >= points.shape[0])
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {points.shape[0] - 1}] for {points.shape[0]} points");
        using var scope = NewDisposeScope();
        var d = Distances(points, points).masked_fill(eye(points.shape[0], dtype: ScalarType.Bool), double.PositiveInfinity);
        var (values, _) = d.topk(k, dim: 1, largest: false, sorted: true);
        return values[.., k - 1].contiguous().MoveToOuterDisposeScope();
    }
}
