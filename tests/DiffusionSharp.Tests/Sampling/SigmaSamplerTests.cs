using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

public sealed class SigmaSamplerTests(ITestOutputHelper output)
{
    private static readonly HeunSamplerOptions s_churn = new(SChurn: 10);

    public static TheoryData<SigmaSamplerKind> Kinds => new(Enum.GetValues<SigmaSamplerKind>());

    [Theory]
    [MemberData(nameof(Kinds))]
    public void LiveTensorCountStaysFlat(SigmaSamplerKind kind)
    {
        var sampler = SigmaSamplers.Create(kind, s_churn);
        var denoiser = new GaussianSigmaDenoiser(0.3, 0.5);
        void Run(int steps)
        {
            using var x = SigmaSampling.Sample(sampler, denoiser, [1, 2], [1, 4, 4], SigmaGrid.Create(SigmaGridKind.Karras, steps, 0.002, 80));
        }
        long before = LiveTensors.AssertFlatOverSteps(Run, output, kind.ToString());
        // The count does see a tensor left alive (so the check can fail).
        using var leaked = zeros(1);
        Assert.Equal(before + 1, LiveTensors.Count);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void SamplesAreReproducibleAndIndependentOfTheBatch(SigmaSamplerKind kind)
    {
        var sampler = SigmaSamplers.Create(kind, s_churn);
        var denoiser = new GaussianSigmaDenoiser(0.3, 0.5);
        var sigmas = SigmaGrid.Create(SigmaGridKind.Karras, 6, 0.002, 80);
        using var scope = NewDisposeScope();
        var batch = SigmaSampling.Sample(sampler, denoiser, [11, 22, 33], [2, 3], sigmas);
        var again = SigmaSampling.Sample(sampler, denoiser, [11, 22, 33], [2, 3], sigmas);
        var alone = SigmaSampling.Sample(sampler, denoiser, [22], [2, 3], sigmas);
        var reordered = SigmaSampling.Sample(sampler, denoiser, [33, 22], [2, 3], sigmas);
        Assert.True(batch.equal(again).all().item<bool>(), "same seeds must give bit-identical samples");
        Assert.True(batch[1].equal(alone[0]).all().item<bool>(), "a sample must not depend on its batch");
        Assert.True(batch[2].equal(reordered[0]).all().item<bool>(), "a sample must not depend on its position");
        Assert.False(batch[0].equal(batch[1]).all().item<bool>());
        Assert.Equal(new long[] { 3, 2, 3 }, batch.shape);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TheHookSeesEveryStepAndMayReplaceX(SigmaSamplerKind kind)
    {
        var sampler = SigmaSamplers.Create(kind, s_churn);
        var denoiser = new GaussianSigmaDenoiser(0.3, 0.5);
        var sigmas = SigmaGrid.Create(SigmaGridKind.Karras, 5, 0.002, 80);
        var seen = new List<(int, double, double)>();
        using var scope = NewDisposeScope();
        // Inpainting-style projection: column 0 is known to be 1, so after every step it is set back to 1 + σ_next·0.
        var result = SigmaSampling.Sample(sampler, denoiser, [1, 2], [3], sigmas, onStep: step =>
        {
            seen.Add((step.Index, step.Sigma, step.SigmaNext));
            Assert.Equal(new long[] { 2, 3 }, step.Denoised.shape);
            var known = step.X.clone();
            known[.., 0] = 1.0f;
            return known;
        });
        Assert.Equal(Enumerable.Range(0, 5).Select(i => (i, sigmas[i], sigmas[i + 1])), seen);
        Assert.True(result[.., 0].eq(1.0f).all().item<bool>());
        Assert.False(result[.., 1].eq(1.0f).all().item<bool>());
        // Returning null keeps x: the same result as no hook.
        var plain = SigmaSampling.Sample(sampler, denoiser, [1, 2], [3], sigmas);
        var kept = SigmaSampling.Sample(sampler, denoiser, [1, 2], [3], sigmas, onStep: _ => null);
        Assert.True(plain.equal(kept).all().item<bool>());
    }

    [Fact]
    public void HeunCallsTheDenoiserTwicePerStepButOnceIntoZeroAndOthersOnce()
    {
        var sigmas = SigmaGrid.Create(SigmaGridKind.Karras, 7, 0.002, 80);
        int Calls(ISigmaSampler sampler)
        {
            var denoiser = new GaussianSigmaDenoiser(0.3, 0.5);
            using var x = SigmaSampling.Sample(sampler, denoiser, [1], [4], sigmas);
            return denoiser.Calls;
        }
        Assert.Equal(2 * 7 - 1, Calls(new HeunSampler()));
        Assert.Equal(7, Calls(new EulerSampler()));
        Assert.Equal(7, Calls(new DpmPlusPlus2MSampler()));
        Assert.Equal(7, Calls(new DpmPlusPlus2MSdeSampler()));
    }

    [Fact]
    public void ArgumentsAreChecked()
    {
        var denoiser = new GaussianSigmaDenoiser(0.3, 0.5);
        using var scope = NewDisposeScope();
        var x = zeros(2, 3);
        var ctx = new SamplingContext();
        Assert.Throws<ArgumentException>(() => new EulerSampler().Sample(denoiser, x, [], ctx));
        Assert.Throws<ArgumentException>(() => new EulerSampler().Sample(denoiser, x, [1.0, 2.0, 0.0], ctx));
        Assert.Throws<ArgumentException>(() => new EulerSampler().Sample(denoiser, x, [1.0, -1.0], ctx));
        Assert.Throws<ArgumentException>(() => new EulerSampler().Sample(denoiser, x, [1.0, 0.0], new SamplingContext(ClassLabels: tensor(new long[] { 1 }))));
        Assert.Throws<ArgumentException>(() => new DpmPlusPlus2MSdeSampler().Sample(denoiser, x, [1.0, 0.0], ctx));
        Assert.Throws<ArgumentException>(() => new HeunSampler(s_churn).Sample(denoiser, x, [1.0, 0.0], ctx));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HeunSampler(new HeunSamplerOptions(SChurn: -1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HeunSampler(new HeunSamplerOptions(STMin: 2, STMax: 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DpmPlusPlus2MSdeSampler(new DpmPlusPlus2MSdeOptions(Eta: 1.5)));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => new EulerSampler().Sample(denoiser, x, [1.0, 0.0], new SamplingContext(Cancellation: cancelled.Token)));
        // A one-point grid is no step: a copy of x, never x itself.
        var same = new EulerSampler().Sample(denoiser, x, [1.0], ctx);
        Assert.False(ReferenceEquals(same, x));
        Assert.True(same.equal(x).all().item<bool>());
        // Deterministic samplers leave their x alone.
        var start = randn(2, 3);
        var copy = start.clone();
        using var _ = new DpmPlusPlus2MSampler().Sample(denoiser, start, [2.0, 1.0, 0.0], ctx);
        Assert.True(start.equal(copy).all().item<bool>());
    }

    [Fact]
    public void SamplerNamesRoundTripInOnePlace()
    {
        foreach (var kind in Enum.GetValues<SigmaSamplerKind>())
            Assert.Equal(kind, SigmaSamplers.Parse(SigmaSamplers.Name(kind)));
        Assert.Equal(["euler", "heun", "dpm++2m", "dpm++2m-sde"], Enum.GetValues<SigmaSamplerKind>().Select(SigmaSamplers.Name));
        Assert.IsType<DpmPlusPlus2MSdeSampler>(SigmaSamplers.Create(SigmaSamplers.Parse("dpm++2m-sde")));
        var error = Assert.Throws<ArgumentException>(() => SigmaSamplers.Parse("ddim"));
        Assert.Contains("'dpm++2m'", error.Message);
        Assert.True(SigmaSamplers.IsStochastic(SigmaSamplerKind.DpmPlusPlus2MSde));
        Assert.False(SigmaSamplers.IsStochastic(SigmaSamplerKind.Heun));
        Assert.True(SigmaSamplers.IsStochastic(SigmaSamplerKind.Heun, s_churn));
    }

    [Fact]
    public void SigmaGridsEndAtZeroAndTheScheduleGridIsTheSchedulersOwn()
    {
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        foreach (var kind in Enum.GetValues<SigmaGridKind>())
        {
            var grid = SigmaGrid.Create(kind, 10, 0.002, 80, schedule);
            Assert.Equal(11, grid.Length);
            Assert.Equal(0.0, grid[^1]);
            Assert.All(Enumerable.Range(1, 10), i => Assert.True(grid[i] < grid[i - 1]));
        }
        Assert.Equal(80, SigmaGrid.Create(SigmaGridKind.Karras, 10, 0.002, 80)[0], 12);
        Assert.Equal(0.002, SigmaGrid.Create(SigmaGridKind.Exponential, 10, 0.002, 80)[9], 12);
        // The schedule's grid is diffusers' Euler σ grid (the σ of the spaced timesteps), for every spacing.
        foreach (var spacing in Enum.GetValues<TimestepSpacing>())
        {
            var (_, expected) = DiscreteSigmaSchedule.Build(schedule.AlphasCumprod, spacing, 10, stepsOffset: spacing == TimestepSpacing.Leading ? 1 : 0);
            var grid = SigmaGrid.Schedule(schedule, 10, spacing, spacing == TimestepSpacing.Leading ? 1 : 0);
            Assert.Equal(expected[..^1], grid.Select(s => (float)s));
        }
        Assert.Equal(schedule.TrainSigmas()[^1], (float)SigmaGrid.Schedule(schedule, 10)[0]);
        Assert.Throws<ArgumentException>(() => SigmaGrid.Create(SigmaGridKind.Timesteps, 10, 0.002, 80));
        Assert.Equal("schedule", DiffusersNames.ToName(SigmaGridKind.Timesteps));
    }
}
