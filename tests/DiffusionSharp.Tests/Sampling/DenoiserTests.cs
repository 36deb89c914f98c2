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
