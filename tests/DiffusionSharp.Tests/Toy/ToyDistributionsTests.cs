using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Toy;

/// <summary>Shapes, determinism, scaling, classes and name parsing of <see cref="ToyDistributions"/>.</summary>
public sealed class ToyDistributionsTests
{
    public static TheoryData<string> AllNames => new(ToyDistributions.Names);

    [Theory]
    [MemberData(nameof(AllNames))]
    public void DrawsAreShapedSeededCentredAndOfTotalVarianceTwo(string name)
    {
        using var scope = NewDisposeScope();
        using var a = ToyDistributions.Sample(name, 20_000, seed: 3);
        using var b = ToyDistributions.Sample(name, 20_000, seed: 3);
        using var c = ToyDistributions.Sample(name, 20_000, seed: 4);
        Assert.Equal([20_000L, 2], a.Points.shape);
        Assert.Equal(ScalarType.Float32, a.Points.dtype);
        Assert.Equal([20_000L], a.Labels.shape);
        Assert.Equal(ScalarType.Int64, a.Labels.dtype);
        Assert.True(a.Points.equal(b.Points).all().item<bool>(), "the same seed must give the same points");
        Assert.True(a.Labels.equal(b.Labels).all().item<bool>(), "the same seed must give the same labels");
        Assert.False(a.Points.equal(c.Points).all().item<bool>(), "another seed must give other points");

        // The fixed affine map comes from a 200 000-point reference draw; a 20 000-point draw has its mean within a
        // few standard errors (√(2/20000) ≈ 0.01) of 0 and its total variance within a few percent of 2.
        var mean = a.Points.to(ScalarType.Float64).mean([0]);
        Assert.True(mean.abs().max().item<double>() < 0.05, $"{name}: mean {mean[0].item<double>():F3}, {mean[1].item<double>():F3}");
        double trace = (a.Points.to(ScalarType.Float64) - mean).square().sum(1).mean().item<double>();
        Assert.InRange(trace, 1.9, 2.1);

        var classes = a.ClassNames.Count;
        if (classes == 0)
        {
            Assert.True(a.Labels.eq(0).all().item<bool>());
            return;
        }
        // Every class occurs with about its share 1/K (a fair draw), and the classes interleave (random order).
        var counts = bincount(a.Labels, minlength: classes).to(ScalarType.Float64) / 20_000.0;
        Assert.True((counts - 1.0 / classes).abs().max().item<double>() < 0.02, $"{name}: class shares {string.Join(", ", counts.data<double>().ToArray())}");
        Assert.True(a.Labels.narrow(0, 0, 100).unique().Item1.shape[0] == classes, "the first 100 points should show every class");
    }

    [Fact]
    public void TwoMoonsLabelsNameTheMoonAndEightGaussiansTheComponent()
    {
        using var scope = NewDisposeScope();
        using var moons = ToyDistributions.Sample(ToyDistribution.TwoMoons, 4000, seed: 5);
        // The upper moon lies above the lower one on average: mean y of label 0 exceeds that of label 1.
        var y = moons.Points.select(1, 1);
        double upper = y.masked_select(moons.Labels.eq(0)).mean().item<float>();
        double lower = y.masked_select(moons.Labels.eq(1)).mean().item<float>();
        Assert.True(upper > lower + 0.5, $"upper moon mean y {upper:F2}, lower {lower:F2}");

        using var gauss = ToyDistributions.Sample(ToyDistribution.EightGaussians, 4000, seed: 5);
        // Component k is centred at angle kπ/4: each point's angle rounds to its own label.
        var p = gauss.Points.to(ScalarType.Float64);
        var angle = atan2(p.select(1, 1), p.select(1, 0));
        var k = (angle / (Math.PI / 4)).round().remainder(8).to(ScalarType.Int64);
        Assert.True(k.eq(gauss.Labels).to(ScalarType.Float64).mean().item<double>() > 0.999);
        Assert.Equal(8, gauss.ClassNames.Count);
    }

    [Theory]
    [InlineData("two-moons", ToyDistribution.TwoMoons)]
    [InlineData("Eight_Gaussians", ToyDistribution.EightGaussians)]
    [InlineData(" swiss-roll ", ToyDistribution.SwissRoll)]
    [InlineData("CHECKERBOARD", ToyDistribution.Checkerboard)]
    public void ParsesNamesAndWritesThemBack(string text, ToyDistribution expected)
    {
        Assert.Equal(expected, ToyDistributions.Parse(text));
        Assert.Equal(expected, ToyDistributions.Parse(expected.Name()));
    }

    [Fact]
    public void AnUnknownNameIsOneLineListingTheAllowedNames()
    {
        var e = Assert.Throws<ArgumentException>(() => ToyDistributions.Parse("three-moons"));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("'three-moons'", e.Message);
        Assert.Contains("two-moons, eight-gaussians, swiss-roll, checkerboard", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ToyDistributions.Sample(ToyDistribution.TwoMoons, 0, seed: 1));
    }
}
