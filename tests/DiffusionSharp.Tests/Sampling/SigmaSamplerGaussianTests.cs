using DiffusionSharp.Denoisers;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

/// <summary>
/// Closed-form checks of the σ-space samplers on data N(μ, s²) per coordinate, whose exact denoiser is
/// D(x; σ) = (s²x + σ²μ)/(s² + σ²) and whose probability-flow ODE has the solution
/// x(σ) = μ + (x(σ_max) − μ)·√(s² + σ²)/√(s² + σ_max²).
/// </summary>
public sealed class SigmaSamplerGaussianTests(ITestOutputHelper output)
{
    private const double Mu = 0.3;
    private const double S = 0.5;
    private const double SigmaMin = 0.002;
    private const double SigmaMax = 80;

    /// <summary>Max |sampler(x_T) − x(σ_min)| on a Karras grid of n points ending at σ_min (every step a full step).</summary>
    private static double FlowError(ISigmaSampler sampler, IDenoiser denoiser, int n, double sigmaMin = SigmaMin, double sigmaMax = SigmaMax)
    {
        using var scope = NewDisposeScope();
        var (x, result) = Rollout(sampler, denoiser, n, sigmaMin, sigmaMax);
        return (result - new GaussianSigmaDenoiser(Mu, S).Flow(x, sigmaMax, sigmaMin)).abs().max().item<double>();
    }

    /// <summary>(x_T ~ N(μ, s² + σ_max²) [4, 64] float64 from a fixed seed, the sampler's result on a Karras grid ending at σ_min).</summary>
    private static (Tensor X, Tensor Result) Rollout(ISigmaSampler sampler, IDenoiser denoiser, int n, double sigmaMin, double sigmaMax)
    {
        var x = Mu + Math.Sqrt(S * S + sigmaMax * sigmaMax) * randn(4, 64, dtype: ScalarType.Float64, generator: new TorchSharp.torch.Generator(3));
        var result = sampler.Sample(denoiser, x, SigmaGrid.Karras(sigmaMin, sigmaMax, n), new SamplingContext());
        return (x, result.to(ScalarType.Float64));
    }

    /// <summary>
    /// A method of order p has global error C·h^p, so doubling the steps divides the error by 2^p. The ratios are
    /// checked to lie within 25 % of 2^p at 16 → 32 → 64 steps, and the error to fall below a bound at 64 steps.
    /// </summary>
    [Theory]
    [InlineData(SigmaSamplerKind.Euler, 1)]
    [InlineData(SigmaSamplerKind.Heun, 2)]
    [InlineData(SigmaSamplerKind.DpmPlusPlus2M, 2)]
    public void DeterministicSamplersConvergeToTheFlowAtTheirOrder(SigmaSamplerKind kind, int order)
    {
        var sampler = SigmaSamplers.Create(kind);
        var denoiser = new GaussianSigmaDenoiser(Mu, S);
        double e16 = FlowError(sampler, denoiser, 16), e32 = FlowError(sampler, denoiser, 32), e64 = FlowError(sampler, denoiser, 64);
        output.WriteLine($"{kind}: errors {e16:E3} {e32:E3} {e64:E3}, ratios {e16 / e32:F3} {e32 / e64:F3}");
        double expected = Math.Pow(2, order);
        Assert.InRange(e32 / e64, 0.75 * expected, 1.25 * expected);
        Assert.InRange(e16 / e32, 0.7 * expected, 1.3 * expected);
    }

    [Fact]
    public void ConvergenceCheckFailsForAWrongDenoiser()
    {
        // Guards the theory above: a denoiser for s' = 0.9·s does not converge to the flow of N(μ, s²).
        var wrong = new GaussianSigmaDenoiser(Mu, 0.9 * S);
        Assert.True(FlowError(new HeunSampler(), wrong, 64) > 0.02);
    }

    /// <summary>
    /// EDM-preconditioned sampling: the raw network F = (D − c_skip·x)/c_out, evaluated from F's own inputs (c_in·x and
    /// c_noise = ¼ ln σ), makes EdmPreconditioning(F) the exact denoiser up to the float32 rounding of c_noise
    /// (|δσ/σ| ≤ 4·2⁻²⁴·|c_noise| ≈ 3·10⁻⁷ at σ = 80), so Heun through it matches Heun on the exact denoiser to ~10⁻⁶.
    /// </summary>
    [Fact]
    public void HeunThroughEdmPreconditioningMatchesTheClosedForm()
    {
        var edm = new EdmPreconditioning(new ExactRawEdmNetwork(Mu, S, 0.5), sigmaData: 0.5);
        var exact = new GaussianSigmaDenoiser(Mu, S);
        using var scope = NewDisposeScope();
        var x = Mu + Math.Sqrt(S * S + SigmaMax * SigmaMax) * randn(4, 64, dtype: ScalarType.Float64, generator: new TorchSharp.torch.Generator(5));
        var sigmas = SigmaGrid.Karras(SigmaMin, SigmaMax, 32);
        var viaEdm = new HeunSampler().Sample(edm, x, sigmas, new SamplingContext());
        var viaExact = new HeunSampler().Sample(exact, x, sigmas, new SamplingContext());
        double difference = (viaEdm - viaExact).abs().max().item<double>();
        double flowError = (viaEdm - exact.Flow(x, SigmaMax, SigmaMin)).abs().max().item<double>();
        output.WriteLine($"EDM vs exact denoiser {difference:E3}; vs closed form {flowError:E3} (Heun error {FlowError(new HeunSampler(), exact, 32):E3})");
        Assert.True(difference < 1e-5, $"difference {difference}");
        Assert.True(flowError < FlowError(new HeunSampler(), exact, 32) + 1e-5);
    }

    /// <summary>
    /// The pipeline's EDM σ range is Karras et al.'s (0.002, 80) at their σ_data = 0.5 and keeps its signal-to-noise
    /// ratios for other data scales: σ_max/σ_data = 160 and σ_min/σ_data = 0.004 for speech at σ_data = 0.063 too.
    /// </summary>
    [Fact]
    public void EdmSigmaRangeScalesWithTheDataDeviation()
    {
        Assert.Equal((0.002, 80.0), DiffusionSharp.Sampling.DiffusionPipeline.EdmSigmaRange(0.5));
        var (min, max) = DiffusionSharp.Sampling.DiffusionPipeline.EdmSigmaRange(0.063);
        Assert.Equal(160.0, max / 0.063, 9);
        Assert.Equal(0.004, min / 0.063, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => DiffusionSharp.Sampling.DiffusionPipeline.EdmSigmaRange(0));
    }

    /// <summary>
    /// A discrete-time ε network on the default linear schedule (T = 1000), exact for Gaussian data at every
    /// (fractional) t it is given, wrapped in DiscreteTimeDenoiser, follows the flow between the schedule's σ_0 and
    /// σ_{T−1}. The timesteps reach the network in float32 (relative 6·10⁻⁸ at t ≈ 1000), so it equals the exact-denoiser
    /// rollout to ~10⁻⁵.
    /// </summary>
    [Theory]
    [InlineData(SigmaSamplerKind.Heun)]
    [InlineData(SigmaSamplerKind.DpmPlusPlus2M)]
    public void DiscreteTimeDenoiserOnARealScheduleMatchesTheClosedForm(SigmaSamplerKind kind)
    {
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        var denoiser = new DiscreteTimeDenoiser(new ExactEpsilonNetwork(schedule, Mu, S), schedule, PredictionType.Epsilon);
        var sampler = SigmaSamplers.Create(kind);
        using var scope = NewDisposeScope();
        var (_, viaNetwork) = Rollout(sampler, denoiser, 32, denoiser.SigmaMin, denoiser.SigmaMax);
        var (_, viaExact) = Rollout(sampler, new GaussianSigmaDenoiser(Mu, S), 32, denoiser.SigmaMin, denoiser.SigmaMax);
        double difference = (viaNetwork - viaExact).abs().max().item<double>();
        output.WriteLine($"{kind}: network vs exact denoiser {difference:E3}; flow error {FlowError(sampler, denoiser, 32, denoiser.SigmaMin, denoiser.SigmaMax):E3}");
        Assert.True(difference < 1e-5, $"difference {difference}");
    }

    /// <summary>
    /// The stochastic samplers land on N(μ, s²): 16 × 1024 = 16,384 coordinates give standard errors
    /// s/√n ≈ 0.0039 for the mean and s²·√(2/n) ≈ 0.0028 for the variance; both must lie within 4 of them. x_T is drawn
    /// from the exact N(μ, s² + σ_max²) so that only the sampler is tested. The discretisation bias of the variance is
    /// second order in the step (measured on 65,536 coordinates: churned Heun +0.011 at 64 steps, +0.0029 at 128; 2M SDE
    /// +0.005 and +0.0007), so 128 steps keep it near one standard error.
    /// </summary>
    [Theory]
    [InlineData(SigmaSamplerKind.Heun, 128)]
    [InlineData(SigmaSamplerKind.DpmPlusPlus2MSde, 128)]
    public void StochasticSamplersMatchTheDataMoments(SigmaSamplerKind kind, int steps)
    {
        var (mean, variance, n) = StochasticMoments(kind, new GaussianSigmaDenoiser(Mu, S), steps);
        double seMean = S / Math.Sqrt(n), seVar = S * S * Math.Sqrt(2.0 / n);
        output.WriteLine($"{kind} {steps}: mean {mean:F5} ({(mean - Mu) / seMean:F2} SE), variance {variance:F5} ({(variance - S * S) / seVar:F2} SE)");
        Assert.InRange(mean, Mu - 4 * seMean, Mu + 4 * seMean);
        Assert.InRange(variance, S * S - 4 * seVar, S * S + 4 * seVar);
    }

    [Fact]
    public void MomentCheckFailsForAWrongDenoiser()
    {
        // s' = 0.95·s: the variance moves by ≈ 0.024, ~9 standard errors.
        var (_, variance, n) = StochasticMoments(SigmaSamplerKind.DpmPlusPlus2MSde, new GaussianSigmaDenoiser(Mu, 0.95 * S), 128);
        Assert.True(Math.Abs(variance - S * S) > 4 * S * S * Math.Sqrt(2.0 / n));
    }

    private static (double Mean, double Variance, long N) StochasticMoments(SigmaSamplerKind kind, IDenoiser denoiser, int steps)
    {
        using var scope = NewDisposeScope();
        var seeds = Enumerable.Range(0, 16).Select(i => 500L + i).ToArray();
        using var noise = new PerSampleNoise(seeds);
        var sampler = SigmaSamplers.Create(kind, heun: new HeunSamplerOptions(SChurn: 40, STMin: 0.05, STMax: 50, SNoise: 1));
        var sigmas = SigmaGrid.Create(SigmaGridKind.Karras, steps, SigmaMin, SigmaMax);
        var x = Mu + Math.Sqrt(S * S + SigmaMax * SigmaMax) * noise.Draw([1024], ScalarType.Float64);
        var result = sampler.Sample(denoiser, x, sigmas, new SamplingContext(Noise: noise));
        return (result.mean().item<double>(), result.var().item<double>(), result.numel());
    }

    /// <summary>The raw network F with EdmPreconditioning(F) = the exact Gaussian denoiser: F = (D − c_skip·x)/c_out.</summary>
    private sealed class ExactRawEdmNetwork(double mean, double std, double sigmaData) : IDiffusionNetwork
    {
        private readonly GaussianSigmaDenoiser _exact = new(mean, std);

        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            using var scope = NewDisposeScope();
            var sigma = (timesteps.to(ScalarType.Float64) * 4).exp(); // c_noise = ¼ ln σ
            var s = Tensors.PerRow.Broadcast(sigma, sample.to(ScalarType.Float64));
            var s2 = s.square() + sigmaData * sigmaData;
            var x = sample.to(ScalarType.Float64) * s2.sqrt(); // the input is c_in·x
            var cSkip = sigmaData * sigmaData / s2;
            var cOut = s * sigmaData * s2.rsqrt();
            return ((_exact.Denoise(x, sigma, null) - cSkip * x) / cOut).to(sample.dtype).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// The exact ε of Gaussian data for x_t = α·x₀ + σ_t·ε at any fractional t, with σ(t) interpolated in log σ between
    /// the training σ_t (the inverse of DiscreteTimeDenoiser's σ → t), α = 1/√(1 + σ²), σ_t = σα:
    /// E[ε | x_t] = σ_t(x_t − αμ)/(α²s² + σ_t²).
    /// </summary>
    private sealed class ExactEpsilonNetwork(NoiseSchedule schedule, double mean, double std) : IDiffusionNetwork
    {
        private readonly float[] _logSigmas = SigmaGrid.LogSigmas(schedule.TrainSigmas());

        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            using var scope = NewDisposeScope();
            var sigma = timesteps.to(ScalarType.Float64).data<double>().Select(t => Math.Exp(SigmaGrid.InterpolateAtIndex(t, _logSigmas))).ToArray();
            var s = Tensors.PerRow.Broadcast(tensor(sigma), sample.to(ScalarType.Float64));
            var alpha = (s.square() + 1).rsqrt();
            var sigmaT = s * alpha;
            var xt = sample.to(ScalarType.Float64);
            var eps = sigmaT * (xt - alpha * mean) / (alpha.square() * (std * std) + sigmaT.square());
            return eps.to(sample.dtype).MoveToOuterDisposeScope();
        }
    }
}
