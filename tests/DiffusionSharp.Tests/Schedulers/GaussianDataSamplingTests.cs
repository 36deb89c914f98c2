using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Tests.Sampling;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

/// <summary>
/// Data x₀ ~ N(μ, s²) per element has a closed-form optimal ε-predictor, and the probability-flow ODE a closed-form
/// solution, so a solver can be checked against the exact answer rather than against another implementation.
/// </summary>
public sealed class GaussianDataSamplingTests(ITestOutputHelper output)
{
    private const double Mu = 1.5;
    private const double S = 0.5;
    private const int Batch = 16;
    private static readonly long[] Shape = [Batch, 1, 16, 16]; // 4096 samples

    private static readonly long[] s_seeds = Enumerable.Range(500, Batch).Select(i => (long)i).ToArray();

    /// <summary>
    /// A 50-step rollout through <see cref="DiffusionSampler"/> with the exact ε-predictor for N(μ, s²) data
    /// (<see cref="GaussianDataDenoiser"/>), and the x_T it started from (the first per-sample draw of the seeds).
    /// </summary>
    private static (Tensor XT, Tensor X0) Sample(IScheduler scheduler, NoiseScheduleOptions schedule)
    {
        var network = new GaussianDataDenoiser(new NoiseSchedule(schedule), Mu, S);
        var xT = PerSampleNoise.InitialNoise(s_seeds, Shape[1..]) * (float)scheduler.InitNoiseSigma;
        var x0 = new DiffusionSampler(scheduler, network).Sample(s_seeds, Shape[1..], 50);
        Assert.Equal(50, network.Calls);
        return (xT, x0);
    }

    /// <summary>
    /// The exact endpoint: the ODE flow from σ[0] to the last non-zero σ_L maps x linearly,
    /// x_L = α_L μ + √(v_L/v_T)(x_T − α_T μ). A last step to σ = 0 returns E[x₀ | x_L] = μ + α_L s²(x_L − α_L μ)/v_L
    /// (the solvers' first-order step there is exactly the data prediction); a grid ending at σ_min &gt; 0 ends at x_L.
    /// </summary>
    private static Tensor ExactEndpoint(IReadOnlyList<double> sigmas, Tensor xT)
    {
        static (double Alpha, double V) At(double sigmaVe)
        {
            double alpha = 1 / Math.Sqrt(1 + sigmaVe * sigmaVe);
            double sigma = sigmaVe * alpha;
            return (alpha, alpha * alpha * S * S + sigma * sigma);
        }
        bool toZero = sigmas[^1] == 0;
        var (alphaT, vT) = At(sigmas[0]);
        var (alphaL, vL) = At(toZero ? sigmas[^2] : sigmas[^1]);
        var xL = alphaL * Mu + Math.Sqrt(vL / vT) * (xT.to(ScalarType.Float64) - alphaT * Mu);
        return toZero ? Mu + alphaL * S * S * (xL - alphaL * Mu) / vL : xL;
    }

    private static (double Mean, double Var) Moments(Tensor x)
    {
        var d = x.to(ScalarType.Float64);
        return (d.mean().item<double>(), d.var().item<double>());
    }

    private static void AssertRightDistribution(Tensor x, string what)
    {
        // 4096 draws: the standard error of the mean is s/64 ≈ 0.008, of the variance s²·√(2/4096) ≈ 0.0055. The
        // last step returns a posterior mean, which lowers the variance by s²σ_L²/v_L (< 1% here).
        var (mean, variance) = Moments(x);
        Assert.True(Math.Abs(mean - Mu) < 0.04, $"{what}: mean {mean:F4}, expected {Mu}");
        Assert.True(Math.Abs(variance - S * S) < 0.03, $"{what}: variance {variance:F4}, expected {S * S}");
    }

    public static TheoryData<string> OdeSolvers() =>
    [
        "dpmsolver++ 2M", "dpmsolver++ 2M heun", "dpmsolver++ 3M", "dpmsolver 2M sigma_min", "dpmsolver 3M sigma_min",
        "unipc bh2", "unipc bh2 order 3", "unipc bh1 sigma_min", "unipc noise sigma_min",
    ];

    private static IScheduler Build(string solver) => solver switch
    {
        "dpmsolver++ 2M" => SchedulerFactory.Create(SamplerKind.DpmSolverMultistep, new NoiseScheduleOptions(), PredictionType.Epsilon),
        "dpmsolver++ 2M heun" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverType = DpmSolverType.Heun }),
        "dpmsolver++ 3M" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverOrder = 3 }),
        "dpmsolver 2M sigma_min" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.DpmSolver, FinalSigmasType = FinalSigmaType.SigmaMin }),
        "dpmsolver 3M sigma_min" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.DpmSolver, SolverOrder = 3, FinalSigmasType = FinalSigmaType.SigmaMin }),
        "unipc bh2" => SchedulerFactory.Create(SamplerKind.UniPcMultistep, new NoiseScheduleOptions(), PredictionType.Epsilon),
        "unipc bh2 order 3" => new UniPcMultistepScheduler(new UniPcMultistepOptions { SolverOrder = 3 }),
        "unipc bh1 sigma_min" => new UniPcMultistepScheduler(new UniPcMultistepOptions { SolverType = UniPcSolverType.Bh1, FinalSigmasType = FinalSigmaType.SigmaMin }),
        "unipc noise sigma_min" => new UniPcMultistepScheduler(new UniPcMultistepOptions { PredictX0 = false, FinalSigmasType = FinalSigmaType.SigmaMin }),
        _ => throw new ArgumentException(solver, nameof(solver)),
    };

    private static IReadOnlyList<double> Sigmas(IScheduler scheduler) => scheduler switch
    {
        DpmSolverMultistepScheduler d => d.Sigmas,
        UniPcMultistepScheduler u => u.Sigmas,
        _ => throw new ArgumentException("Not a multistep solver.", nameof(scheduler)),
    };

    /// <summary>x₀ of a deterministic 50-step rollout and its max distance to the exact flow endpoint.</summary>
    private static (Tensor X0, double Error) RunOde(IScheduler scheduler)
    {
        var (xT, x0) = Sample(scheduler, new NoiseScheduleOptions());
        var exact = ExactEndpoint(Sigmas(scheduler), xT);
        return (x0, (x0.to(ScalarType.Float64) - exact).abs().max().item<double>());
    }

    [Theory]
    [MemberData(nameof(OdeSolvers))]
    public void OdeSolversFollowTheExactFlowAndLandOnTheData(string solver)
    {
        using var scope = NewDisposeScope();
        using var scheduler = Build(solver);
        using var owned = (IDisposable)scheduler;
        var (x0, error) = RunOde(scheduler);

        // The same grid with first-order DPM-Solver++ (DDIM): the multistep solvers must at least halve its error.
        var finalSigmas = Sigmas(scheduler)[^1] == 0 ? FinalSigmaType.Zero : FinalSigmaType.SigmaMin;
        using var ddim = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverOrder = 1, FinalSigmasType = finalSigmas });
        var (_, firstOrderError) = RunOde(ddim);

        var (mean, variance) = Moments(x0);
        output.WriteLine($"{solver}: max |x0 − exact| = {error:G3} (first order {firstOrderError:G3}); mean {mean:F4}, variance {variance:F4}");
        Assert.True(error < 0.05 && error < firstOrderError / 2,
            $"{solver}: max |x0 − exact flow endpoint| = {error:G3} (first order: {firstOrderError:G3})");
        AssertRightDistribution(x0, solver);
    }

    [Fact]
    public void SdeDpmSolverPlusPlusLandsOnTheData()
    {
        using var scope = NewDisposeScope();
        using var scheduler = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.SdeDpmSolverPlusPlus });
        var (xT, x0) = Sample(scheduler, scheduler.Options.Schedule);
        var (mean, variance) = Moments(x0);
        output.WriteLine($"sde-dpmsolver++: mean {mean:F4}, variance {variance:F4}");
        AssertRightDistribution(x0, "sde-dpmsolver++");
        // Not the ODE's endpoint: fresh noise went in at every step.
        var exact = ExactEndpoint(scheduler.Sigmas, xT);
        Assert.True((x0.to(ScalarType.Float64) - exact).abs().max().item<double>() > 0.05);
    }
}
