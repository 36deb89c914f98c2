using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

/// <summary>
/// Data x₀ ~ N(μ, s²) per element has a closed-form optimal ε-predictor, and the probability-flow ODE a closed-form
/// solution, so a solver can be checked against the exact answer rather than against another implementation.
/// </summary>
public sealed class GaussianDataSamplingTests
{
    private const double Mu = 1.5;
    private const double S = 0.5;
    private const int Batch = 16;
    private static readonly long[] Shape = [Batch, 1, 16, 16]; // 4096 samples

    /// <summary>
    /// The exact E[ε | x_t] for x_t = α x₀ + σ ε, x₀ ~ N(μ, s²): Cov(ε, x_t) = σ and Var(x_t) = v = α²s² + σ², so
    /// ε̂ = σ(x_t − αμ)/v. ᾱ at a fractional timestep is interpolated linearly.
    /// </summary>
    private sealed class GaussianEpsilonOracle(float[] alphasCumprod, double mu, double s) : IDiffusionNetwork
    {
        public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
        {
            using var scope = NewDisposeScope();
            var ts = timesteps.to(ScalarType.Float64).data<double>().ToArray();
            var gain = new double[ts.Length];
            var offset = new double[ts.Length];
            for (int b = 0; b < ts.Length; b++)
            {
                double alphaBar = SigmaGrid.InterpolateAtIndex(ts[b], alphasCumprod);
                double alpha = Math.Sqrt(alphaBar), sigma = Math.Sqrt(1 - alphaBar);
                double v = alpha * alpha * s * s + sigma * sigma;
                gain[b] = sigma / v;
                offset[b] = -sigma * alpha * mu / v;
            }
            var g = tensor(gain).to(sample.dtype).reshape(-1, 1, 1, 1);
            var o = tensor(offset).to(sample.dtype).reshape(-1, 1, 1, 1);
            return (g * sample + o).MoveToOuterDisposeScope();
        }
    }

    private static Tensor Sample(IScheduler scheduler, float[] alphasCumprod, Tensor xT, INoiseSource? noise)
    {
        var network = new GaussianEpsilonOracle(alphasCumprod, Mu, S);
        using var noGrad = no_grad();
        var x = xT.clone();
        foreach (var t in scheduler.Timesteps.data<double>().ToArray())
        {
            using var scope = NewDisposeScope();
            var input = scheduler.ScaleModelInput(x, t);
            var eps = network.Predict(input, full(Batch, t, dtype: ScalarType.Float64), null);
            x = scheduler.Step(eps, t, x, noise).PrevSample.MoveToOuterDisposeScope();
        }
        return x;
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
        "dpmsolver++ 2M" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions()),
        "dpmsolver++ 2M heun" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverType = DpmSolverType.Heun }),
        "dpmsolver++ 3M" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverOrder = 3 }),
        "dpmsolver 2M sigma_min" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.DpmSolver, FinalSigmasType = FinalSigmaType.SigmaMin }),
        "dpmsolver 3M sigma_min" => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.DpmSolver, SolverOrder = 3, FinalSigmasType = FinalSigmaType.SigmaMin }),
        "unipc bh2" => new UniPcMultistepScheduler(new UniPcMultistepOptions()),
        "unipc bh2 order 3" => new UniPcMultistepScheduler(new UniPcMultistepOptions { SolverOrder = 3 }),
        "unipc bh1 sigma_min" => new UniPcMultistepScheduler(new UniPcMultistepOptions { SolverType = UniPcSolverType.Bh1, FinalSigmasType = FinalSigmaType.SigmaMin }),
        "unipc noise sigma_min" => new UniPcMultistepScheduler(new UniPcMultistepOptions { PredictX0 = false, FinalSigmasType = FinalSigmaType.SigmaMin }),
        _ => throw new ArgumentException(solver, nameof(solver)),
    };

    private static (float[] AlphasCumprod, IReadOnlyList<double> Sigmas) Grid(IScheduler scheduler) => scheduler switch
    {
        DpmSolverMultistepScheduler d => (d.Schedule.AlphasCumprod, d.Sigmas),
        UniPcMultistepScheduler u => (u.Schedule.AlphasCumprod, u.Sigmas),
        _ => throw new ArgumentException("Not a multistep solver.", nameof(scheduler)),
    };

    /// <summary>max |x − exact flow endpoint| of a deterministic 50-step rollout from <paramref name="xT"/>.</summary>
    private static (Tensor X0, double Error) RunOde(IScheduler scheduler, Tensor xT)
    {
        scheduler.SetTimesteps(50);
        var (alphasCumprod, sigmas) = Grid(scheduler);
        var x0 = Sample(scheduler, alphasCumprod, xT, null);
        var exact = ExactEndpoint(sigmas, xT);
        return (x0, (x0.to(ScalarType.Float64) - exact).abs().max().item<double>());
    }

    [Theory]
    [MemberData(nameof(OdeSolvers))]
    public void OdeSolversFollowTheExactFlowAndLandOnTheData(string solver)
    {
        using var scope = NewDisposeScope();
        using var gen = new TorchSharp.torch.Generator(2024);
        var xT = randn(Shape, generator: gen);

        var scheduler = Build(solver);
        using var owned = (IDisposable)scheduler;
        var (x0, error) = RunOde(scheduler, xT);

        // The same grid with first-order DPM-Solver++ (DDIM): the multistep solvers must at least halve its error.
        var finalSigmas = Grid(scheduler).Sigmas[^1] == 0 ? FinalSigmaType.Zero : FinalSigmaType.SigmaMin;
        using var ddim = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverOrder = 1, FinalSigmasType = finalSigmas });
        var (_, firstOrderError) = RunOde(ddim, xT);

        Assert.True(error < 0.05 && error < firstOrderError / 2,
            $"{solver}: max |x0 − exact flow endpoint| = {error:G3} (first order: {firstOrderError:G3})");
        AssertRightDistribution(x0, solver);
    }

    [Fact]
    public void SdeDpmSolverPlusPlusLandsOnTheData()
    {
        using var scope = NewDisposeScope();
        using var scheduler = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.SdeDpmSolverPlusPlus });
        scheduler.SetTimesteps(50);
        using var noise = new PerSampleNoise(Enumerable.Range(100, Batch).Select(i => (long)i).ToArray());
        var xT = PerSampleNoise.InitialNoise(Enumerable.Range(0, Batch).Select(i => (long)i).ToArray(), Shape[1..]);
        var x0 = Sample(scheduler, scheduler.Schedule.AlphasCumprod, xT, noise);
        AssertRightDistribution(x0, "sde-dpmsolver++");
        // Not the ODE's endpoint: fresh noise went in.
        var exact = ExactEndpoint(scheduler.Sigmas, xT);
        Assert.True((x0.to(ScalarType.Float64) - exact).abs().max().item<double>() > 0.05);
    }
}
