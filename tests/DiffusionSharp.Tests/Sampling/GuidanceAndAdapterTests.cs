using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

public sealed class GuidanceAndAdapterTests
{
    /// <summary>A label-dependent toy network that records its calls and batch sizes.</summary>
    private sealed class LabelNetwork : IDiffusionNetwork
    {
        public List<long> BatchSizes { get; } = [];

        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            BatchSizes.Add(sample.shape[0]);
            var shape = Enumerable.Repeat(1L, (int)sample.dim()).ToArray();
            shape[0] = sample.shape[0];
            var y = classLabels!.to(ScalarType.Float32).reshape(shape);
            var t = timesteps.to(ScalarType.Float32).reshape(shape);
            return sample * 0.5f + y.square() * 0.1f + t * 0.001f;
        }
    }

    [Fact]
    public void ClassifierFreeGuidanceIsOneCallAndEqualsTheFormula()
    {
        using var scope = NewDisposeScope();
        var inner = new LabelNetwork();
        var cfg = new ClassifierFreeGuidance(inner, 3.5, nullClassId: 10);
        var x = randn(3, 1, 4, 4, generator: new Generator(5));
        var t = tensor(new float[] { 10, 500, 999 });
        var labels = tensor(new long[] { 1, 4, 7 });
        var guided = cfg.Predict(x, t, labels);
        Assert.Equal([6L], inner.BatchSizes);

        var reference = new LabelNetwork();
        var cond = reference.Predict(x, t, labels);
        var uncond = reference.Predict(x, t, full(3, 10L));
        var expected = uncond + 3.5f * (cond - uncond);
        Assert.True(guided.allclose(expected, rtol: 1e-6, atol: 1e-6));
        Assert.True(new ClassifierFreeGuidance(reference, 1.0, 10).Predict(x, t, labels).allclose(cond, rtol: 1e-6, atol: 1e-6));
        Assert.Throws<ArgumentNullException>(() => cfg.Predict(x, t, null));
        Assert.Throws<ArgumentException>(() => cfg.Predict(x, t, tensor(new long[] { 1 })));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClassifierFreeGuidance(inner, double.NaN, 10));
    }

    [Theory]
    [InlineData(PredictionType.Sample, PredictionType.Epsilon, 500.0)]
    [InlineData(PredictionType.Sample, PredictionType.VPrediction, 123.0)]
    [InlineData(PredictionType.Epsilon, PredictionType.Sample, 800.0)]
    [InlineData(PredictionType.Sample, PredictionType.Epsilon, 387.25)] // fractional (Euler/Heun) timestep
    public void PredictionAdapterConvertsExactly(PredictionType from, PredictionType to, double t)
    {
        using var scope = NewDisposeScope();
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        var source = new Sampling.GaussianDataDenoiser(schedule, 0.3, 0.5, from);
        var adapted = new PredictionAdapter(source, from, to, schedule);
        var x = randn(4, 1, 4, 4, dtype: ScalarType.Float64, generator: new Generator(3)).to(ScalarType.Float32);
        var ts = full(4, t, dtype: ScalarType.Float32);
        var got = adapted.Predict(x, ts, null).to(ScalarType.Float64);

        // Reference: ε and x₀ of the same exact denoiser, combined with the definitions of the targets.
        var eps = new Sampling.GaussianDataDenoiser(schedule, 0.3, 0.5, PredictionType.Epsilon).Predict(x, ts, null).to(ScalarType.Float64);
        var x0 = new Sampling.GaussianDataDenoiser(schedule, 0.3, 0.5, PredictionType.Sample).Predict(x, ts, null).to(ScalarType.Float64);
        double a = source.AlphaBar(t);
        var expected = to switch
        {
            PredictionType.Epsilon => eps,
            PredictionType.Sample => x0,
            _ => Math.Sqrt(a) * eps - Math.Sqrt(1 - a) * x0,
        };
        Assert.True(got.allclose(expected, rtol: 1e-4, atol: 1e-4), $"max diff {(got - expected).abs().max().item<double>()}");
    }

    [Fact]
    public void ForwardProcessConversionsRoundTrip()
    {
        using var scope = NewDisposeScope();
        var xt = randn(2, 3, dtype: ScalarType.Float64, generator: new Generator(1));
        var eps = randn(2, 3, dtype: ScalarType.Float64, generator: new Generator(2));
        var a = tensor(new double[] { 0.2, 0.9 }).reshape(2, 1);
        foreach (PredictionType mid in Enum.GetValues<PredictionType>())
        {
            var converted = ForwardProcess.Convert(eps, PredictionType.Epsilon, mid, xt, a);
            var back = ForwardProcess.Convert(converted, mid, PredictionType.Epsilon, xt, a);
            Assert.True(back.allclose(eps, rtol: 1e-12, atol: 1e-12), mid.ToString());
        }
        // v = √ᾱ ε − √(1−ᾱ) x₀ with x₀ from x_t and ε.
        var x0 = ForwardProcess.Convert(eps, PredictionType.Epsilon, PredictionType.Sample, xt, a);
        var v = ForwardProcess.Convert(eps, PredictionType.Epsilon, PredictionType.VPrediction, xt, a);
        Assert.True(v.allclose(a.sqrt() * eps - (1.0 - a).sqrt() * x0, rtol: 1e-12, atol: 1e-12));
    }

    [Fact]
    public void ForwardProcessAddNoiseVelocitySnrAndGuards()
    {
        using var scope = NewDisposeScope();
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        var fp = new ForwardProcess(schedule);
        var x0 = randn(2, 1, 2, 2, generator: new Generator(7));
        var n = randn(2, 1, 2, 2, generator: new Generator(8));
        var t = tensor(new long[] { 0, 999 });
        var xt = fp.AddNoise(x0, n, t);
        float a0 = schedule.AlphasCumprod[0], a1 = schedule.AlphasCumprod[999];
        Assert.True(xt[0].allclose(MathF.Sqrt(a0) * x0[0] + MathF.Sqrt(1 - a0) * n[0]));
        Assert.True(xt[1].allclose(MathF.Sqrt(a1) * x0[1] + MathF.Sqrt(1 - a1) * n[1]));
        var v = fp.GetVelocity(x0, n, t);
        Assert.True(v[1].allclose(MathF.Sqrt(a1) * n[1] - MathF.Sqrt(1 - a1) * x0[1]));
        Assert.Equal(a0 / (1.0 - a0), fp.Snr(0), 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => fp.AddNoise(x0, n, tensor(new long[] { 0, 1000 })));
        Assert.Throws<ArgumentOutOfRangeException>(() => fp.AddNoise(x0, n, tensor(new float[] { 0.5f, 3 })));
        Assert.Throws<ArgumentException>(() => fp.AddNoise(x0, n, tensor(new long[] { 1 })));
    }

    [Fact]
    public void DynamicThresholdingFollowsImagen()
    {
        using var scope = NewDisposeScope();
        // Row 0 within [−1, 1]: unchanged (s clamps to 1). Row 1 with a large outlier tail: divided by its 99.5 % quantile.
        var row0 = linspace(-0.9, 0.9, 200);
        var row1 = linspace(-3, 3, 200);
        var x = stack([row0, row1]).reshape(2, 1, 10, 20);
        var y = ForwardProcess.DynamicThreshold(x, 0.995, 2.5);
        Assert.True(y[0].allclose(x[0]));
        double s = Math.Min(row1.abs().quantile(tensor(0.995f)).item<float>(), 2.5);
        Assert.True(y[1].allclose(x[1].clamp(-s, s) / s, rtol: 1e-5, atol: 1e-6));
        Assert.True(ForwardProcess.ClipSample(x, 1.0).abs().max().item<float>() <= 1f);
        Assert.Throws<ArgumentOutOfRangeException>(() => ForwardProcess.DynamicThreshold(x, 1.5));
    }

    [Fact]
    public void EdmPreconditioningFollowsTable1()
    {
        using var scope = NewDisposeScope();
        var capture = new CaptureNetwork();
        var edm = new EdmPreconditioning(capture, sigmaData: 0.5);
        var x = randn(2, 1, 2, 2, generator: new Generator(9));
        var sigma = tensor(new float[] { 0.1f, 20f });
        var d = edm.Denoise(x, sigma, null);
        for (int i = 0; i < 2; i++)
        {
            double s = sigma[i].item<float>();
            Assert.True(capture.Input![i].allclose(x[i] * (float)edm.CIn(s), rtol: 1e-5, atol: 1e-6));
            Assert.Equal(0.25 * Math.Log(s), capture.Timesteps![i].item<float>(), 5);
            // F returns ones: D = c_skip x + c_out.
            Assert.True(d[i].allclose(x[i] * (float)edm.CSkip(s) + (float)edm.COut(s), rtol: 1e-5, atol: 1e-6));
        }
        // Table 1 limits: σ → 0 passes x through; the weights make unit-variance input and target for σ_data data.
        Assert.Equal(1.0, edm.CSkip(1e-6), 9);
        Assert.Equal(0.0, edm.COut(1e-9), 8);
        Assert.Equal(1.0, (0.25 + 4.0) * edm.CIn(2.0) * edm.CIn(2.0), 12);
        // The per-row tensor coefficients (for a loss) agree with the scalar ones, for any rank.
        var c = edm.Coefficients(sigma, x.flatten(1));
        for (int i = 0; i < 2; i++)
        {
            double s = sigma[i].item<float>();
            Assert.Equal(edm.CSkip(s), c.CSkip[i, 0].item<float>(), 5);
            Assert.Equal(edm.COut(s), c.COut[i, 0].item<float>(), 5);
            Assert.Equal(edm.CIn(s), c.CIn[i, 0].item<float>(), 5);
            Assert.Equal(EdmPreconditioning.CNoise(s), c.CNoise[i].item<float>(), 5);
            Assert.Equal(1 / (edm.COut(s) * edm.COut(s)), c.LossWeight[i, 0].item<float>(), 2);
        }
        Assert.Equal([2L, 1L], c.CSkip.shape);
        // σ = 0 is the identity (the σ → 0 limit), without calling F when no row needs it; negative σ is refused.
        var calls = capture.Calls;
        var atZero = edm.Denoise(x, tensor(new float[] { 0f, 0f }), null);
        Assert.True(atZero.equal(x).all().item<bool>());
        Assert.Equal(calls, capture.Calls);
        var mixed = edm.Denoise(x, tensor(new float[] { 0f, 20f }), null);
        Assert.True(mixed[0].equal(x[0]).all().item<bool>());
        Assert.True(mixed[1].allclose(d[1], rtol: 1e-5, atol: 1e-6));
        Assert.Throws<ArgumentException>(() => edm.Denoise(x, tensor(new float[] { -1f, 1f }), null));
    }

    private sealed class CaptureNetwork : IDiffusionNetwork
    {
        public Tensor? Input { get; private set; }
        public Tensor? Timesteps { get; private set; }
        public int Calls { get; private set; }

        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            Calls++;
            Input = sample.clone().DetachFromDisposeScope();
            Timesteps = timesteps.clone().DetachFromDisposeScope();
            return ones_like(sample);
        }
    }
}
