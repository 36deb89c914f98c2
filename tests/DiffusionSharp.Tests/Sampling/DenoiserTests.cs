using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

public sealed class DenoiserTests
{
    private const double Mu = 0.3;
    private const double S = 0.5;

    /// <summary>Records the network's inputs and returns a constant prediction.</summary>
    private sealed class RecordingNetwork(float value) : IDiffusionNetwork
    {
        public Tensor? Input { get; private set; }
        public double[] Timesteps { get; private set; } = [];
        public int Calls { get; private set; }

        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            Calls++;
            Input = sample.clone().DetachFromDisposeScope();
            Timesteps = timesteps.to(ScalarType.Float64).data<double>().ToArray();
            return full_like(sample, value);
        }
    }

    [Theory]
    [InlineData(PredictionType.Epsilon)]
    [InlineData(PredictionType.Sample)]
    [InlineData(PredictionType.VPrediction)]
    public void DiscreteTimeDenoiserIsTheExactDenoiserAtTrainingSigmas(PredictionType type)
    {
        // The exact ε/x₀/v network of Gaussian data at integer t: wrapped, it must be the exact σ-space denoiser.
        using var scope = NewDisposeScope();
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        var network = new GaussianDataDenoiser(schedule, Mu, S, type == PredictionType.VPrediction ? PredictionType.Epsilon : type);
        IDiffusionNetwork source = type == PredictionType.VPrediction
            ? new PredictionAdapter(network, PredictionType.Epsilon, PredictionType.VPrediction, schedule)
            : network;
        var denoiser = new DiscreteTimeDenoiser(source, schedule, type, quantizeTimesteps: true);
        var exact = new GaussianSigmaDenoiser(Mu, S);
        int[] ts = [0, 37, 500, 999];
        var sigma = tensor(ts.Select(t => (double)denoiser.Sigmas[t]).ToArray());
        // x = x₀ + σn drawn from the data model, [4, 3, 5] (rank 3: the denoiser is rank-agnostic).
        var x = (Mu + S * randn(4, 3, 5, dtype: ScalarType.Float64, generator: new Generator(1)) + Tensors.PerRow.Broadcast(sigma, zeros(4, 3, 5, dtype: ScalarType.Float64)) * randn(4, 3, 5, dtype: ScalarType.Float64, generator: new Generator(2))).to(ScalarType.Float32);
        var got = denoiser.Denoise(x, sigma, null).to(ScalarType.Float64);
        var expected = exact.Denoise(x.to(ScalarType.Float64), sigma, null);
        // float32 network arithmetic; x̂₀ from ε divides by α = 1/√(1+σ²) ≈ 157 at t = 999, so scale the tolerance by it.
        var tol = Tensors.PerRow.Broadcast((sigma.square() + 1).sqrt() * 2e-6, x.to(ScalarType.Float64)) * (x.abs().to(ScalarType.Float64) + 1);
        var err = (got - expected).abs();
        Assert.True((err <= tol).all().item<bool>(), $"max err {err.max().item<double>()}");
    }

    [Fact]
    public void DiscreteTimeDenoiserScalesTheInputAndMapsSigmaToT()
    {
        using var scope = NewDisposeScope();
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        var net = new RecordingNetwork(0f);
        var denoiser = new DiscreteTimeDenoiser(net, schedule, PredictionType.Epsilon);
        var logSigmas = SigmaGrid.LogSigmas(schedule.TrainSigmas());
        var x = randn(3, 2, generator: new Generator(4));
        double[] sigmas = [0.5, 3.0, 1000.0];
        var d = denoiser.Denoise(x, tensor(sigmas), null);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(net.Input![i].allclose(x[i] / (float)Math.Sqrt(sigmas[i] * sigmas[i] + 1), rtol: 1e-6, atol: 1e-7));
            Assert.Equal((float)SigmaGrid.SigmaToT(sigmas[i], logSigmas), net.Timesteps[i], 4);
        }
        Assert.Equal(999.0, net.Timesteps[2]); // above σ_max clamps to T − 1
        Assert.NotEqual(Math.Round(net.Timesteps[0]), net.Timesteps[0]); // fractional without quantisation
        Assert.True(d.allclose(x)); // ε̂ = 0: x̂₀ = x_t/α = x

        var quantized = new DiscreteTimeDenoiser(net, schedule, PredictionType.Epsilon, quantizeTimesteps: true);
        using var _ = quantized.Denoise(x, tensor(sigmas), null);
        for (int i = 0; i < 3; i++)
            Assert.Equal(Math.Round(SigmaGrid.SigmaToT(sigmas[i], logSigmas)), net.Timesteps[i]);

        int calls = net.Calls;
        Assert.True(denoiser.Denoise(x, tensor(0.0), null).equal(x).all().item<bool>());
        Assert.Equal(calls, net.Calls);
        Assert.Throws<ArgumentException>(() => denoiser.Denoise(x, tensor(new[] { 1.0, -1.0, 1.0 }), null));
        Assert.Throws<ArgumentException>(() => denoiser.Denoise(x, tensor(new[] { 1.0, 1.0 }), null));
        Assert.Throws<ArgumentException>(() => new DiscreteTimeDenoiser(net, schedule, (PredictionType)17));
    }
}

public sealed class GuidedDenoiserTests
{
    /// <summary>A label-dependent σ-space denoiser that records the batch sizes it sees.</summary>
    private sealed class LabelDenoiser : IDenoiser
    {
        public List<long> BatchSizes { get; } = [];

        public Tensor Denoise(Tensor x, Tensor sigma, Tensor? classLabels)
        {
            BatchSizes.Add(x.shape[0]);
            var y = Tensors.PerRow.Broadcast(classLabels!.to(ScalarType.Float32), x);
            var s = Tensors.PerRow.Broadcast(sigma.to(ScalarType.Float32), x);
            return x * 0.5f + y.square() * 0.1f + s * 0.01f;
        }
    }

    [Fact]
    public void GuidanceOnX0IsOneCallAndEqualsTheFormula()
    {
        using var scope = NewDisposeScope();
        var inner = new LabelDenoiser();
        var guided = new GuidedDenoiser(inner, 3.5, nullClassId: 10);
        var x = randn(3, 2, 5, generator: new Generator(5));
        var sigma = tensor(new float[] { 0.1f, 2f, 80f });
        var labels = tensor(new long[] { 1, 4, 7 });
        var result = guided.Denoise(x, sigma, labels);
        Assert.Equal([6L], inner.BatchSizes);
        var reference = new LabelDenoiser();
        var cond = reference.Denoise(x, sigma, labels);
        var uncond = reference.Denoise(x, sigma, full(3, 10L));
        Assert.True(result.allclose(uncond + 3.5f * (cond - uncond), rtol: 1e-6, atol: 1e-6));
        Assert.True(new GuidedDenoiser(reference, 1.0, 10).Denoise(x, tensor(2f), labels).allclose(reference.Denoise(x, tensor(2f), labels), rtol: 1e-6, atol: 1e-6));
        Assert.Throws<ArgumentNullException>(() => guided.Denoise(x, sigma, null));
        Assert.Throws<ArgumentException>(() => guided.Denoise(x, sigma, tensor(new long[] { 1 })));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GuidedDenoiser(inner, double.NaN, 10));
    }

    [Fact]
    public void GuidingX0EqualsGuidingEpsilonThroughDiscreteTimeDenoiser()
    {
        // Guidance on ε̂ (ClassifierFreeGuidance on the network) and on x̂₀ (GuidedDenoiser) are the same denoiser.
        using var scope = NewDisposeScope();
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        var network = new LabelNetwork();
        var viaEpsilon = new DiscreteTimeDenoiser(new ClassifierFreeGuidance(network, 2.5, 9), schedule, PredictionType.Epsilon);
        var viaX0 = new GuidedDenoiser(new DiscreteTimeDenoiser(network, schedule, PredictionType.Epsilon), 2.5, 9);
        var x = randn(2, 3, 4, generator: new Generator(8));
        var sigma = tensor(new[] { 0.7, 12.0 });
        var labels = tensor(new long[] { 2, 5 });
        var a = viaEpsilon.Denoise(x, sigma, labels);
        var b = viaX0.Denoise(x, sigma, labels);
        Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-5), $"max diff {(a - b).abs().max().item<float>()}");
    }

    private sealed class LabelNetwork : IDiffusionNetwork
    {
        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            var y = Tensors.PerRow.Broadcast(classLabels!.to(ScalarType.Float32), sample);
            var t = Tensors.PerRow.Broadcast(timesteps.to(ScalarType.Float32), sample);
            return sample * 0.3f + y * 0.05f + t * 0.0001f;
        }
    }
}
