using DiffusionSharp.Evaluation;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Evaluation;

public sealed class FrechetDistanceTests
{
    private static Tensor RandomSpd(int d, Generator g)
    {
        var a = randn(d, d, dtype: ScalarType.Float64, generator: g);
        return a.matmul(a.T) / d + eye(d, dtype: ScalarType.Float64) * 0.1;
    }

    [Fact]
    public void IdenticalSetsAreAtDistanceZero()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(1, CPU);
        var x = randn(400, 16, generator: g) * 3 + 1;
        Assert.InRange(FrechetDistance.Compute(x, x.clone()), 0, 1e-8);
    }

    [Fact]
    public void DiagonalGaussiansMatchTheClosedForm()
    {
        using var scope = NewDisposeScope();
        // d² = ‖μ₁ − μ₂‖² + Σ (√a − √b)² for Σ₁ = diag(a), Σ₂ = diag(b).
        double[] a = [1, 4, 0.25, 9], b = [4, 1, 1, 9];
        double[] m1 = [0, 1, 2, 3], m2 = [1, 1, 0, 3];
        double expected = m1.Zip(m2, (p, q) => (p - q) * (p - q)).Sum() + a.Zip(b, (p, q) => Math.Pow(Math.Sqrt(p) - Math.Sqrt(q), 2)).Sum();
        double d2 = FrechetDistance.Compute(tensor(m1), diag(tensor(a)), tensor(m2), diag(tensor(b)));
        Assert.Equal(expected, d2, 10);
        Assert.Equal(1 + 4 + 1 + 1 + 0.25, expected, 12);
    }

    [Fact]
    public void GeneralCovariancesMatchTheEigenvaluesOfTheProduct()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(7, CPU);
        const int d = 12;
        var s1 = RandomSpd(d, g);
        var s2 = RandomSpd(d, g);
        var m1 = randn(d, dtype: ScalarType.Float64, generator: g);
        var m2 = randn(d, dtype: ScalarType.Float64, generator: g);
        // Independent route: Σ₁Σ₂ is similar to a PSD matrix, so its eigenvalues are real and ≥ 0 and
        // tr (Σ₁Σ₂)^½ = Σ √λᵢ(Σ₁Σ₂).
        var lambda = linalg.eigvals(s1.matmul(s2)).real;
        double trSqrt = lambda.clamp_min(0).sqrt().sum().item<double>();
        double expected = (m1 - m2).square().sum().item<double>() + s1.trace().item<double>() + s2.trace().item<double>() - 2 * trSqrt;
        Assert.Equal(expected, FrechetDistance.Compute(m1, s1, m2, s2), 8);
        // Symmetric in its arguments.
        Assert.Equal(FrechetDistance.Compute(m1, s1, m2, s2), FrechetDistance.Compute(m2, s2, m1, s1), 8);
    }

    [Fact]
    public void SampledGaussiansApproachTheClosedForm()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(3, CPU);
        // N(0, I) vs N(μ, 4I) in 3-D: d² = ‖μ‖² + 3 (1 − 2)² = 1 + 3 = 4.
        var x = randn(40_000, 3, generator: g);
        var y = randn(40_000, 3, generator: g) * 2 + tensor(new[] { 1f, 0f, 0f });
        Assert.InRange(FrechetDistance.Compute(x, y), 3.85, 4.15);
    }

    [Fact]
    public void RankDeficientCovariancesGiveARealFiniteValue()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5, CPU);
        // 6 samples in 32 dimensions: both covariances have rank ≤ 5.
        var x = randn(6, 32, generator: g);
        var y = randn(6, 32, generator: g) + 0.5;
        double d2 = FrechetDistance.Compute(x, y);
        Assert.True(double.IsFinite(d2) && d2 > 0, $"{d2}");
    }

    [Fact]
    public void StatisticsAreUnbiasedFloat64()
    {
        using var scope = NewDisposeScope();
        using var stats = FeatureStatistics.FromFeatures(tensor(new[] { 1f, 2f, 3f, 6f }, [2, 2]));
        Assert.Equal(ScalarType.Float64, stats.Covariance.dtype);
        Assert.Equal(new[] { 2.0, 4.0 }, stats.Mean.data<double>().ToArray());
        // Deviations (∓1, ∓2): Σ = [[1,2],[2,4]] · 2 / (2 − 1).
        Assert.Equal(new[] { 2.0, 4.0, 4.0, 8.0 }, stats.Covariance.data<double>().ToArray());
        Assert.Throws<ArgumentException>(() => FeatureStatistics.FromFeatures(zeros(1, 3)));
    }
}
