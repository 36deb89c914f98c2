using DiffusionSharp.Evaluation;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Compare;

/// <summary>The comparison's sample metrics on small point sets whose answers are worked out by hand.</summary>
public sealed class CompareMetricsTests
{
    private static Tensor Points(params double[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    [Fact]
    public void KthNeighbourRadiiExcludeThePointItself()
    {
        using var scope = NewDisposeScope();
        // 0, 1, 3, 7 on a line: nearest other points at 1, 1, 2, 4; second nearest at 3, 2, 3, 6.
        var x = Points([0], [1], [3], [7]);
        Assert.Equal(new[] { 1.0, 1, 2, 4 }, NearestNeighbours.KthNeighbourRadii(x, 1).data<double>().ToArray());
        Assert.Equal(new[] { 3.0, 2, 3, 6 }, NearestNeighbours.KthNeighbourRadii(x, 2).data<double>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => NearestNeighbours.KthNeighbourRadii(x, 4));
    }

    [Fact]
    public void PrecisionAndRecallCountPointsInsideTheOtherSetsBalls()
    {
        using var scope = NewDisposeScope();
        // Real: 0, 1, 2, 3 (k = 1 radii all 1, so the real manifold is [−1, 4]). Fake: 0.5, 2.5, 10, 11 (radii 2, 2, 1, 1:
        // balls [−1.5, 2.5], [0.5, 4.5], [9, 11], [10, 12]).
        var real = Points([0], [1], [2], [3]);
        var fake = Points([0.5], [2.5], [10], [11]);
        var r = PrecisionRecall.Compute(real, fake, k: 1);
        Assert.Equal(0.5, r.Precision, 12);   // 0.5 and 2.5 inside, 10 and 11 outside
        Assert.Equal(1.0, r.Recall, 12);      // 0, 1, 2 in [−1.5, 2.5], 3 in [0.5, 4.5]
        // k = 3: real radii 3, 2, 2, 3 → every real point's ball still misses 10 and 11.
        Assert.Equal(0.5, PrecisionRecall.Compute(real, fake, k: 3).Precision, 12);
    }

    [Fact]
    public void IdenticalSetsHavePerfectPrecisionRecallAndCoverage()
    {
        using var scope = NewDisposeScope();
        var x = randn(50, 4, generator: new TorchSharp.torch.Generator(3));
        var pr = PrecisionRecall.Compute(x, x.clone(), 3);
        Assert.Equal((1.0, 1.0), (pr.Precision, pr.Recall));
        var dc = DensityCoverage.Compute(x, x.clone(), 5);
        Assert.Equal(1.0, dc.Coverage);
        Assert.True(dc.Density >= 1.0, $"density {dc.Density}: each point is inside its own ball and those of its ≥ k neighbours' reverse set");
    }

    [Fact]
    public void DensityAndCoverageFollowNaeemEtAl()
    {
        using var scope = NewDisposeScope();
        // Real 0, 1, 2, 3 with k = 1: balls [−1, 1], [0, 2], [1, 3], [2, 4]. Fake 1 lies in three balls, fake 10 in none.
        var real = Points([0], [1], [2], [3]);
        var fake = Points([1], [10]);
        var dc = DensityCoverage.Compute(real, fake, k: 1);
        Assert.Equal(3.0 / (1 * 2), dc.Density, 12);   // (3 + 0) / (k·M)
        Assert.Equal(3.0 / 4, dc.Coverage, 12);        // the balls of 0, 1, 2 hold a fake; that of 3 does not
        // k = 2: radii 2, 1, 1, 2 → fake 1 is in all four balls: density 4 / (2·2), coverage 1.
        var dc2 = DensityCoverage.Compute(real, fake, k: 2);
        Assert.Equal(1.0, dc2.Density, 12);
        Assert.Equal(1.0, dc2.Coverage, 12);
    }

    [Fact]
    public void MemorisationFlagsSamplesMuchCloserToOneTrainingPointThanToTheNext()
    {
        using var scope = NewDisposeScope();
        var train = Points([0, 0], [10, 0], [0, 10]);
        // (1, 0): d1 = 1, d2 = 9 (to (10, 0)) → ratio 0.11 < 1/3, memorised. (5, 0): d1 = d2 = 5 → not. (2, 0): d1 = 2, d2 = 8
        // → ratio 0.25, memorised. (3, 0): d1 = 3, d2 = 7 → ratio 0.43, not.
        var samples = Points([1, 0], [5, 0], [2, 0], [3, 0]);
        Assert.Equal(0.5, Memorisation.Share(samples, train), 12);
        Assert.Equal(0.5, Memorisation.Share(samples, train, blockSize: 1), 12);
        // A copy of a training point is memorised (d1 = 0).
        Assert.Equal(1.0, Memorisation.Share(Points([10, 0]), train), 12);
    }

    [Fact]
    public void DistancesAreEuclidean()
    {
        using var scope = NewDisposeScope();
        var d = NearestNeighbours.Distances(Points([0, 0], [3, 4]), Points([0, 0], [6, 8]));
        Assert.Equal(new[] { 0.0, 10, 5, 5 }, d.flatten().data<double>().ToArray());
    }
}
