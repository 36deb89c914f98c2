using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

public sealed class DiffusionSamplerTests(ITestOutputHelper output)
{
    private const double Mu = 0.3;
    private const double S = 0.5;
    private static readonly NoiseScheduleOptions s_linear = new();

    /// <summary>
    /// Data x₀ ~ N(μ, s²) per pixel has an exact denoiser, so a sampler's output distribution can be predicted.
    /// Heun (second order) must land on N(μ, s²) itself. The first-order samplers carry a known discretisation bias
    /// at these step counts (DDIM 50 steps: std 0.472 instead of 0.5); for them the empirical moments must match the
    /// moments of their own discrete chain, derived here independently in closed form (every step is affine in x for
    /// Gaussian data), and still lie within 7 % of s.
    /// </summary>
    [Theory]
    [InlineData(SamplerKind.Ddim, 50)]
    [InlineData(SamplerKind.HeunDiscrete, 50)]
    [InlineData(SamplerKind.EulerDiscrete, 50)]
    [InlineData(SamplerKind.Ddpm, 100)]
    public void LandsOnTheMeanAndVarianceOfGaussianData(SamplerKind kind, int steps)
    {
        // 16 × 1 × 16 × 16 = 4096 independent pixels: std error of the mean ≈ s/64 ≈ 0.008, of the std ≈ 1.1 %.
        var schedule = new NoiseSchedule(s_linear);
        using var scheduler = SchedulerFactory.Create(kind, s_linear, PredictionType.Epsilon,
            clipSample: kind is SamplerKind.Ddpm or SamplerKind.Ddim or SamplerKind.HeunDiscrete ? false : null);
        var network = new GaussianDataDenoiser(schedule, Mu, S);
        using var x = new DiffusionSampler(scheduler, network).Sample(Enumerable.Range(0, 16).Select(i => (long)(1000 + i)).ToArray(), [1, 16, 16], steps);
        double mean = x.mean().item<float>();
        double std = x.std().item<float>();

        (double Mean, double Std) expected = kind switch
        {
            SamplerKind.Ddim => LinearGaussianChain.Ddim(schedule, scheduler.Timesteps.data<double>().ToArray(), Mu, S),
            SamplerKind.EulerDiscrete => LinearGaussianChain.EulerInSigma(((EulerDiscreteScheduler)scheduler).Sigmas.ToArray(), Mu, S),
            SamplerKind.Ddpm => LinearGaussianChain.Ddpm(schedule, scheduler.Timesteps.data<double>().ToArray(), Mu, S),
            _ => (Mu, S),
        };
        output.WriteLine($"{kind} {steps} steps: mean {mean:F4} (chain {expected.Mean:F4}, μ {Mu}), std {std:F4} (chain {expected.Std:F4}, s {S}), calls {network.Calls}");
        Assert.InRange(mean, expected.Mean - 0.035, expected.Mean + 0.035);
        Assert.InRange(std, expected.Std * 0.965, expected.Std * 1.035);
        Assert.InRange(expected.Mean, Mu - 0.01, Mu + 0.01);
        Assert.InRange(expected.Std, S * 0.93, S * 1.07);
        Assert.Equal(kind == SamplerKind.HeunDiscrete ? 2 * steps - 1 : steps, network.Calls);
    }

    [Fact]
    public void GaussianCheckFailsForAWrongDenoiser()
    {
        // Guards the test above: a denoiser for the wrong data distribution lands visibly elsewhere.
        using var scheduler = SchedulerFactory.Create(SamplerKind.Ddim, s_linear, PredictionType.Epsilon, clipSample: false);
        var wrong = new GaussianDataDenoiser(new NoiseSchedule(s_linear), Mu, 0.8 * S);
        using var x = new DiffusionSampler(scheduler, wrong).Sample(Enumerable.Range(0, 16).Select(i => (long)i).ToArray(), [1, 16, 16], 50);
        Assert.True(x.std().item<float>() < 0.85 * S);
    }

    [Theory]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.EulerAncestralDiscrete)]
    [InlineData(SamplerKind.HeunDiscrete)]
    public void SamplesAreReproducibleAndIndependentOfTheBatch(SamplerKind kind)
    {
        var network = new GaussianDataDenoiser(new NoiseSchedule(s_linear), Mu, S);
        using var scope = NewDisposeScope();
        Tensor Run(long[] seeds)
        {
            using var scheduler = SchedulerFactory.Create(kind, s_linear, PredictionType.Epsilon);
            return new DiffusionSampler(scheduler, network).Sample(seeds, [1, 4, 4], 8);
        }
        var batch = Run([11, 22, 33]);
        var again = Run([11, 22, 33]);
        var alone = Run([22]);
        var reordered = Run([33, 22]);
        Assert.True(batch.equal(again).all().item<bool>(), "same seeds must give bit-identical samples");
        Assert.True(batch[1].equal(alone[0]).all().item<bool>(), "a sample must not depend on its batch");
        Assert.True(batch[1].equal(reordered[1]).all().item<bool>(), "a sample must not depend on its position");
        Assert.True(batch[2].equal(reordered[0]).all().item<bool>());
        Assert.False(batch[0].equal(batch[1]).all().item<bool>());
    }

    [Fact]
    public void CallbackSeesEveryStepAndX0Predictions()
    {
        using var scheduler = SchedulerFactory.Create(SamplerKind.HeunDiscrete, s_linear, PredictionType.Epsilon);
        var network = new GaussianDataDenoiser(new NoiseSchedule(s_linear), Mu, S);
        var seen = new List<int>();
        double lastX0Mean = double.NaN;
        using var x = new DiffusionSampler(scheduler, network).Sample([1, 2], [1, 4, 4], 5, onStep: (i, xi, x0) =>
        {
            seen.Add(i);
            Assert.NotNull(x0);
            Assert.Equal(new long[] { 2, 1, 4, 4 }, xi.shape);
            lastX0Mean = x0!.mean().item<float>();
        });
        Assert.Equal(Enumerable.Range(0, 9), seen);
        Assert.False(double.IsNaN(lastX0Mean));
    }

    [Fact]
    public void TheStepHookMayReplaceX()
    {
        // Inpainting-style: pixel (0, 0) is set to 0.7 after every step, so the returned x₀ holds it there.
        using var scheduler = SchedulerFactory.Create(SamplerKind.Ddim, s_linear, PredictionType.Epsilon, clipSample: false);
        var network = new GaussianDataDenoiser(new NoiseSchedule(s_linear), Mu, S);
        int calls = 0;
        using var x = new DiffusionSampler(scheduler, network).Sample([1, 2], [1, 4, 4], 6, replaceX: (i, t, xi, x0) =>
        {
            calls++;
            var known = xi.clone();
            known[.., 0, 0, 0] = 0.7f;
            return known;
        });
        Assert.Equal(6, calls);
        Assert.True(x[.., 0, 0, 0].eq(0.7f).all().item<bool>());
        Assert.False(x[.., 0, 1, 1].eq(0.7f).all().item<bool>());
        using var plain = new DiffusionSampler(scheduler, network).Sample([1, 2], [1, 4, 4], 6);
        using var kept = new DiffusionSampler(scheduler, network).Sample([1, 2], [1, 4, 4], 6, replaceX: (_, _, _, _) => null);
        Assert.True(plain.equal(kept).all().item<bool>());
    }

    [Fact]
    public void LiveTensorCountStaysFlat()
    {
        var network = new GaussianDataDenoiser(new NoiseSchedule(s_linear), Mu, S);
        void Run(int steps)
        {
            using var heun = (HeunDiscreteScheduler)SchedulerFactory.Create(SamplerKind.HeunDiscrete, s_linear, PredictionType.Epsilon);
            using var x = new DiffusionSampler(heun, network).Sample([1, 2], [1, 4, 4], steps);
        }
        LiveTensors.AssertFlatOverSteps(Run, output, "diffusers Heun");
    }

    private sealed class LabelRecorder : IDiffusionNetwork
    {
        public List<long[]> Labels { get; } = [];
        public List<double> Timesteps { get; } = [];

        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            Labels.Add(classLabels!.data<long>().ToArray());
            Timesteps.Add(timesteps[0].item<float>());
            Assert.Equal(sample.shape[0], timesteps.shape[0]);
            return zeros_like(sample);
        }
    }

    [Fact]
    public void ClassLabelsAndTimestepsReachTheNetworkAndTheCallersTensorsSurvive()
    {
        using var scheduler = SchedulerFactory.Create(SamplerKind.EulerDiscrete, s_linear, PredictionType.Epsilon);
        var network = new LabelRecorder();
        using var labels = tensor(new long[] { 3, 7 });
        using var x = new DiffusionSampler(scheduler, network).Sample([1, 2], [1, 2, 2], 4, labels);
        Assert.All(network.Labels, l => Assert.Equal(new long[] { 3, 7 }, l));
        Assert.Equal(scheduler.Timesteps.data<double>().ToArray(), network.Timesteps);
        Assert.Equal(new long[] { 3, 7 }, labels.data<long>().ToArray());
    }

    [Fact]
    public void RejectsBadArguments()
    {
        using var scheduler = SchedulerFactory.Create(SamplerKind.Ddim, s_linear, PredictionType.Epsilon);
        var sampler = new DiffusionSampler(scheduler, new GaussianDataDenoiser(new NoiseSchedule(s_linear), Mu, S));
        Assert.Throws<ArgumentException>(() => sampler.Sample([], [1, 4, 4], 5));
        Assert.Throws<ArgumentException>(() => sampler.Sample([1], [1, 0, 4], 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample([1], [1, 4, 4], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample([1], [1, 4, 4], 1001));
        using var labels = tensor(new long[] { 1, 2 });
        Assert.Throws<ArgumentException>(() => sampler.Sample([1], [1, 4, 4], 5, labels));
    }
}
