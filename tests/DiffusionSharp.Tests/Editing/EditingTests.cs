using DiffusionSharp.Editing;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Tests.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Editing;

/// <summary>Img2Img, inpainting (replacement and RePaint) and slerp against the analytic Gaussian denoiser.</summary>
public sealed class EditingTests
{
    private static readonly double[] s_sigmas = [.. SigmaGrid.Karras(0.01, 80, 12), 0.0];
    private static readonly long[] s_seeds = [4, 9];

    private static Tensor Image() => rand(2, 1, 6, 6, generator: new Generator(11)) * 2 - 1;

    private static Tensor HalfMask() => cat([zeros(1, 1, 6, 3), ones(1, 1, 6, 3)], 3);

    [Fact]
    public void StrengthZeroReturnsTheInputExactly()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.2, 0.5);
        var image = Image();
        var result = Img2Img.Run(denoiser, new EulerSampler(), image, s_sigmas, 0.0, s_seeds);
        Assert.True(result.BitEqual(image));
        Assert.Equal(0, denoiser.Calls);
    }

    [Fact]
    public void StrengthOneIsPlainSamplingBitForBit()
    {
        // Strength 1 starts at σ_0 from pure noise σ_0·z, z the seeds' first draws: the same tensor operations as plain
        // sampling, so the results are identical, not merely close.
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.2, 0.5);
        var image = Image();
        var edited = Img2Img.Run(denoiser, new EulerSampler(), image, s_sigmas, 1.0, s_seeds);
        using var noise = new PerSampleNoise(s_seeds);
        var plain = new EulerSampler().Sample(denoiser, noise.Next(image) * s_sigmas[0], s_sigmas, new SamplingContext(Noise: noise));
        Assert.True(edited.BitEqual(plain));
    }

    [Fact]
    public void IntermediateStrengthRunsTheTailOfTheGridAndMovesTowardsTheData()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.0, 0.5);
        var image = Image();
        Assert.Equal(6, Img2Img.StartIndex(12, 0.5));
        var result = Img2Img.Run(denoiser, new EulerSampler(), image, s_sigmas, 0.5, s_seeds);
        Assert.Equal(6, denoiser.Calls);
        Assert.False(result.BitEqual(image));
        // A row depends only on its own seed: row 1 alone gives the same result.
        var alone = Img2Img.Run(denoiser, new EulerSampler(), image[1..2], s_sigmas, 0.5, [s_seeds[1]]);
        Assert.True(alone.BitEqual(result[1..2]));
    }

    [Theory]
    [InlineData(-0.01)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void StrengthOutsideTheUnitIntervalIsRefusedNamingIt(double strength)
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => Img2Img.Run(new GaussianSigmaDenoiser(0, 1), new EulerSampler(), Image(), s_sigmas, strength, s_seeds));
        Assert.Contains("strength", e.Message);
    }

    [Fact]
    public void ReplacementKeepsTheKnownPixelsExactly()
    {
        using var scope = NewDisposeScope();
        var image = Image();
        var mask = HalfMask();
        var result = Inpainting.Replace(new GaussianSigmaDenoiser(0.0, 0.5), new EulerSampler(), image, mask, s_sigmas, s_seeds);
        var keep = mask.eq(0).expand_as(image);
        Assert.True(result.masked_select(keep).BitEqual(image.masked_select(keep)));
        Assert.False(result.masked_select(keep.logical_not()).BitEqual(image.masked_select(keep.logical_not())));
    }

    [Fact]
    public void RePaintScheduleRunsEveryBlockRTimesAndEndsAtTheEnd()
    {
        var path = RePaint.Schedule(12, new RePaintOptions(JumpLength: 3, Resamplings: 3));
        Assert.Equal(0, path[0]);
        Assert.Equal(12, path[^1]);
        // Down steps: the 12 of the grid, plus (r − 1)·j for each block end p ∈ {11, 8, 5}.
        int down = path.Zip(path.Skip(1)).Count(p => p.Second == p.First + 1);
        int up = path.Zip(path.Skip(1)).Count(p => p.Second == p.First - 3);
        Assert.Equal(12 + 3 * 2 * 3, down);
        Assert.Equal(3 * 2, up);
        Assert.Equal(path.Count - 1, down + up);
        Assert.Equal(Enumerable.Range(0, 13), RePaint.Schedule(12, new RePaintOptions(3, 1)));
    }

    [Fact]
    public void RePaintWithJumpsKeepsTheKnownRegionAndCallsTheDenoiserRTimesPerBlock()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.0, 0.5);
        var image = Image();
        var mask = HalfMask();
        var options = new RePaintOptions(JumpLength: 3, Resamplings: 3);
        var result = RePaint.Run(denoiser, new EulerSampler(), image, mask, s_sigmas, s_seeds, options);
        var keep = mask.eq(0).expand_as(image);
        Assert.True(result.masked_select(keep).BitEqual(image.masked_select(keep)));
        Assert.Equal(12 + 3 * 2 * 3, denoiser.Calls);
        Assert.True(result.isfinite().all().item<bool>());
        // r = 1 is the per-step replacement, bit for bit.
        var once = RePaint.Run(denoiser, new EulerSampler(), image, mask, s_sigmas, s_seeds, new RePaintOptions(3, 1));
        var replaced = Inpainting.Replace(denoiser, new EulerSampler(), image, mask, s_sigmas, s_seeds);
        Assert.True(once.BitEqual(replaced));
    }

    [Fact]
    public void RePaintLeavesTheLiveTensorCountFlat()
    {
        var denoiser = new GaussianSigmaDenoiser(0.0, 0.5);
        using var image = Image();
        using var mask = HalfMask();
        long Live() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        void Run(int steps, int r)
        {
            double[] sigmas = [.. SigmaGrid.Karras(0.01, 80, steps), 0.0];
            using var x = RePaint.Run(denoiser, new EulerSampler(), image, mask, sigmas, s_seeds, new RePaintOptions(2, r));
            using var y = Img2Img.Run(denoiser, new EulerSampler(), image, sigmas, 0.5, s_seeds);
        }
        Run(4, 2);
        long before = Live();
        Run(8, 2);
        Run(30, 4);
        Assert.Equal(before, Live());
    }

    [Fact]
    public void MaskOfAnotherSizeOrNotBinaryIsRefusedNamingTheMask()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.0, 0.5);
        var image = Image();
        var wrong = Assert.Throws<ArgumentException>(() => Inpainting.Replace(denoiser, new EulerSampler(), image, zeros(1, 1, 5, 6), s_sigmas, s_seeds));
        Assert.Contains("mask", wrong.Message);
        var gray = Assert.Throws<ArgumentException>(() => RePaint.Run(denoiser, new EulerSampler(), image, full(1, 1, 6, 6, 0.5f), s_sigmas, s_seeds, new RePaintOptions()));
        Assert.Contains("binary", gray.Message);
    }

    [Fact]
    public void SlerpHitsBothEndpointsExactlyAndKeepsTheNorm()
    {
        using var scope = NewDisposeScope();
        var a = PerSampleNoise.InitialNoise([0], [1, 28, 28]);
        var b = PerSampleNoise.InitialNoise([1], [1, 28, 28]);
        Assert.True(Interpolation.Slerp(a, b, 0).BitEqual(a));
        Assert.True(Interpolation.Slerp(a, b, 1).BitEqual(b));
        double na = a.norm().item<float>(), nb = b.norm().item<float>();
        foreach (double t in Interpolation.Times(9)[1..^1])
        {
            double n = Interpolation.Slerp(a, b, t).norm().item<float>();
            // Between the endpoints' norms (up to float32 rounding of 784 terms) …
            Assert.InRange(n, Math.Min(na, nb) * (1 - 1e-5), Math.Max(na, nb) * (1 + 1e-5));
        }
        // … while the straight line's midpoint loses ≈ 1 − 1/√2 of it (θ ≈ 90° for independent noises).
        double lerp = ((a + b) / 2).norm().item<float>();
        Assert.InRange(lerp / na, 0.6, 0.8);
        // With equal norms the norm is kept to float rounding at every t.
        var bEqual = b * (na / nb);
        Assert.Equal(na, Interpolation.Slerp(a, bEqual, 0.37).norm().item<float>(), na * 1e-6);
    }

    [Fact]
    public void InterpolationFramesStartAndEndAtTheSeedsOwnSamples()
    {
        using var scope = NewDisposeScope();
        var denoiser = new GaussianSigmaDenoiser(0.1, 0.5);
        var frames = Interpolation.Frames(denoiser, new EulerSampler(), 3, 8, 5, [1, 4, 4], s_sigmas);
        Assert.Equal(new long[] { 5, 1, 4, 4 }, frames.shape);
        foreach (var (seed, row) in new[] { (3L, 0), (8L, 4) })
        {
            var own = new EulerSampler().Sample(denoiser, PerSampleNoise.InitialNoise([seed], [1, 4, 4]) * s_sigmas[0], s_sigmas, new SamplingContext());
            Assert.True(own.BitEqual(frames[row..(row + 1)]));
        }
    }
}

/// <summary>Bit-exact comparison: same shape, every element equal.</summary>
internal static class TensorAssert
{
    public static bool BitEqual(this Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape))
            return false;
        using var same = a.eq(b).all();
        return same.item<bool>();
    }
}
