using System.Text.Json;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Tests.Sampling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class DpmSolverMultistepSchedulerTests(ITestOutputHelper output)
{
    private const string ClassName = "DPMSolverMultistepScheduler";

    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames(ClassName);

    [Fact]
    public void EveryFixtureCaseIsListed() => Assert.Equal(29, Cases().Count);

    [Theory]
    [MemberData(nameof(Cases))]
    public void FixtureConfigsBuildThroughTheFactoryAndWriteBackDiffusersValues(string name)
    {
        using var f = SchedulerFixture.Load(name);
        using var scheduler = Assert.IsType<DpmSolverMultistepScheduler>(SchedulerFactory.FromConfigJson(f.ConfigJson));
        Assert.Equal(DpmSolverMultistepOptions.FromDiffusersConfig(f.ConfigJson), scheduler.Options);
        f.AssertWrittenConfigMatches(scheduler.Options.ToDiffusersConfig());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RolloutMatchesDiffusers(string name)
    {
        using var f = SchedulerFixture.Load(name);
        var options = DpmSolverMultistepOptions.FromDiffusersConfig(f.ConfigJson);
        using var scheduler = new DpmSolverMultistepScheduler(options);
        f.AssertScheduleClose(scheduler.Schedule.AlphasCumprod.Select(a => (double)a).ToArray(), SchedulerFixture.ToDoubles(f.AlphasCumprod), "alphas_cumprod");
        Rollout.CheckAddNoise(f, scheduler);
        Rollout.Check(f, scheduler, scheduler.Sigmas);
        output.WriteLine(f.Summary());
    }

    [Fact]
    public void FixtureConfigsReadAsTheirInitArguments()
    {
        using var f = SchedulerFixture.Load("dpm_lin_eps_n10_dpmsolver_order3");
        var o = DpmSolverMultistepOptions.FromDiffusersConfig(f.ConfigJson);
        Assert.Equal(DpmSolverAlgorithmType.DpmSolver, o.AlgorithmType);
        Assert.Equal(3, o.SolverOrder);
        Assert.Equal(FinalSigmaType.SigmaMin, o.FinalSigmasType);
        Assert.Equal(double.NegativeInfinity, o.LambdaMinClipped); // Python's bare -Infinity
        Assert.Equal(BetaSchedule.Linear, o.Schedule.BetaSchedule);
    }

    [Fact]
    public void MissingKeysTakeDiffusersDefaults()
    {
        var o = DpmSolverMultistepOptions.FromDiffusersConfig("{\"_class_name\": \"DPMSolverMultistepScheduler\"}");
        Assert.Equal(new DpmSolverMultistepOptions(), o);
        Assert.Equal(2, o.SolverOrder);
        Assert.Equal(DpmSolverAlgorithmType.DpmSolverPlusPlus, o.AlgorithmType);
        Assert.Equal(DpmSolverType.Midpoint, o.SolverType);
        Assert.Equal(TimestepSpacing.Linspace, o.TimestepSpacing);
        Assert.True(o.LowerOrderFinal);
        Assert.Equal(1000, o.Schedule.NumTrainTimesteps);
    }

    [Fact]
    public void ConfigsOfOtherSolversMapAsDiffusersMapsThem()
    {
        var o = DpmSolverMultistepOptions.FromDiffusersConfig("{\"algorithm_type\": \"deis\", \"solver_type\": \"bh2\"}");
        Assert.Equal(DpmSolverAlgorithmType.DpmSolverPlusPlus, o.AlgorithmType);
        Assert.Equal(DpmSolverType.Midpoint, o.SolverType);
    }

    [Fact]
    public void OptionsRoundTripThroughJsonAndDiffusersConfig()
    {
        var o = new DpmSolverMultistepOptions
        {
            Schedule = new NoiseScheduleOptions { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 },
            PredictionType = PredictionType.VPrediction,
            SolverOrder = 3,
            AlgorithmType = DpmSolverAlgorithmType.SdeDpmSolverPlusPlus,
            SolverType = DpmSolverType.Heun,
            LowerOrderFinal = false,
            EulerAtFinal = true,
            UseKarrasSigmas = true,
            FinalSigmasType = FinalSigmaType.SigmaMin,
            TimestepSpacing = TimestepSpacing.Trailing,
            StepsOffset = 1,
            Thresholding = true,
            DynamicThresholdingRatio = 0.9,
            SampleMaxValue = 2.5,
        };
        var json = JsonSerializer.Serialize(o);
        Assert.Equal(o, JsonSerializer.Deserialize<DpmSolverMultistepOptions>(json));
        Assert.Contains("sde-dpmsolver", json);
        Assert.Equal(o, DpmSolverMultistepOptions.FromDiffusersConfig(o.ToDiffusersConfig().ToJsonString()));

        var clipped = o with { LambdaMinClipped = -5.1 };
        Assert.Equal(clipped, DpmSolverMultistepOptions.FromDiffusersConfig(clipped.ToDiffusersConfig().ToJsonString()));
        // The default −∞ survives our JSON too.
        var defaults = new DpmSolverMultistepOptions();
        Assert.Equal(defaults, JsonSerializer.Deserialize<DpmSolverMultistepOptions>(JsonSerializer.Serialize(defaults)));
        Assert.Equal(defaults, DpmSolverMultistepOptions.FromDiffusersConfig(defaults.ToDiffusersConfig().ToJsonString()));
    }

    [Fact]
    public void RejectsWhatDiffusersRejectsNamingParameterAndAllowedValues()
    {
        // Noise prediction cannot step to σ = 0.
        var e = Assert.Throws<ArgumentException>(() => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.DpmSolver }));
        Assert.Equal("final_sigmas_type", e.ParamName);
        Assert.Contains("sigma_min", e.Message);
        e = Assert.Throws<ArgumentException>(() => DpmSolverMultistepOptions.FromDiffusersConfig("{\"algorithm_type\": \"dpmsolver\"}"));
        Assert.Equal("final_sigmas_type", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => DpmSolverMultistepOptions.FromDiffusersConfig("{\"algorithm_type\": \"dpm3\"}"));
        Assert.Equal("algorithm_type", e.ParamName);
        Assert.Contains("'dpmsolver++'", e.Message);
        Assert.Contains("'sde-dpmsolver++'", e.Message);

        e = Assert.Throws<ArgumentException>(() => DpmSolverMultistepOptions.FromDiffusersConfig("{\"solver_type\": \"rk4\"}"));
        Assert.Equal("solver_type", e.ParamName);
        Assert.Contains("'midpoint'", e.Message);
        Assert.Contains("'heun'", e.Message);

        var o = Assert.Throws<ArgumentOutOfRangeException>(() => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverOrder = 4 }));
        Assert.Equal("solver_order", o.ParamName);
        Assert.Contains("1, 2, 3", o.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverOrder = 0 }));

        e = Assert.Throws<ArgumentException>(() => new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = (DpmSolverAlgorithmType)17 }));
        Assert.Equal("algorithm_type", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => DpmSolverMultistepOptions.FromDiffusersConfig("{\"use_lu_lambdas\": true}"));
        Assert.Equal("use_lu_lambdas", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => DpmSolverMultistepOptions.FromDiffusersConfig("{\"prediction_type\": \"flow_prediction\"}"));
        Assert.Equal("prediction_type", e.ParamName);
    }

    [Fact]
    public void BadCallsThrowInsteadOfCrashing()
    {
        using var scope = NewDisposeScope();
        using var s = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions());
        var x = randn(2, 1, 4, 4);
        Assert.Throws<InvalidOperationException>(() => s.Step(x, 999, x));
        Assert.Throws<InvalidOperationException>(() => s.AddNoise(x, x, tensor(new[] { 999f, 999f })));

        foreach (var bad in new[] { 0, -3, 1001 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.SetTimesteps(bad));
            Assert.Equal("numInferenceSteps", e.ParamName);
            Assert.Contains("[1, 1000]", e.Message);
        }

        s.SetTimesteps(4);
        var nan = x.clone();
        nan[0, 0, 0, 0] = tensor(float.NaN);
        var n = Assert.Throws<ArgumentException>(() => s.Step(nan, 999, x));
        Assert.Equal("modelOutput", n.ParamName);
        Assert.Contains("finite", n.Message);
        Assert.Throws<ArgumentException>(() => s.Step(randn(2, 1, 4, 5), 999, x));
        Assert.Equal("timestep", Assert.Throws<ArgumentException>(() => s.Step(x, 998, x)).ParamName);

        var t = s.Timesteps.data<double>().ToArray();
        var y = x;
        foreach (var ti in t)
            y = s.Step(y * 0.1f, ti, y).PrevSample;
        Assert.Throws<InvalidOperationException>(() => s.Step(y, t[^1], y));

        using var sde = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { AlgorithmType = DpmSolverAlgorithmType.SdeDpmSolverPlusPlus });
        sde.SetTimesteps(4);
        Assert.Equal("noise", Assert.Throws<ArgumentNullException>(() => sde.Step(x, 999, x)).ParamName);
    }

    [Fact]
    public void LastStepToSigmaZeroReturnsTheDataPrediction()
    {
        using var scope = NewDisposeScope();
        using var s = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions());
        s.SetTimesteps(5);
        var x = randn(1, 1, 4, 4, generator: new TorchSharp.torch.Generator(3));
        SchedulerStepOutput? last = null;
        foreach (var t in s.Timesteps.data<double>().ToArray())
        {
            last = s.Step(x * 0.1f + 0.01f, t, x);
            x = last.PrevSample;
        }
        Assert.Equal(0.0, s.Sigmas[^1]);
        Assert.NotNull(last!.PredOriginalSample);
        Assert.True(last.PrevSample.allclose(last.PredOriginalSample!, 1e-6, 1e-6));
    }

    [Fact]
    public void SetTimestepsRestartsTheRolloutAndKeepsMemoryFlat()
    {
        using var s = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { SolverOrder = 3 });
        float[] Run()
        {
            using var scope = NewDisposeScope();
            s.SetTimesteps(8);
            var x = ones(1, 1, 2, 2) * 0.5f;
            foreach (var t in s.Timesteps.data<double>().ToArray())
            {
                using var stepScope = NewDisposeScope();
                x = s.Step(x * 0.1f + 0.001f * (float)t, t, x).PrevSample.MoveToOuterDisposeScope();
            }
            return x.data<float>().ToArray();
        }
        var first = Run();
        long live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var second = Run();
        Assert.Equal(first, second);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void LambdaClippingDropsTheNoisiestTimesteps()
    {
        // diffusers recommends lambda_min_clipped = −5.1 for the cosine schedule, whose λ reaches about −10 at t = 999.
        const double clip = -5.1;
        var options = new DpmSolverMultistepOptions { Schedule = new NoiseScheduleOptions { BetaSchedule = BetaSchedule.SquaredCosCapV2 }, LambdaMinClipped = clip };
        using var s = new DpmSolverMultistepScheduler(options);
        s.SetTimesteps(10);
        var ac = s.Schedule.AlphasCumprod;
        double Lambda(int t) => Math.Log(MathF.Sqrt(ac[t])) - Math.Log(MathF.Sqrt(1f - ac[t]));
        int first = (int)s.Timesteps[0].item<double>();
        Assert.True(first < 999);
        Assert.True(Lambda(first) >= clip, $"λ({first}) = {Lambda(first)}");
        Assert.True(Lambda(first + 1) < clip, $"λ({first + 1}) = {Lambda(first + 1)}");
    }

    [Theory]
    [InlineData(DpmSolverAlgorithmType.DpmSolverPlusPlus, FinalSigmaType.Zero)]
    [InlineData(DpmSolverAlgorithmType.DpmSolver, FinalSigmaType.SigmaMin)]
    public void ThresholdingKeepsTheDataPredictionInRange(DpmSolverAlgorithmType algorithm, FinalSigmaType finalSigmas)
    {
        using var scope = NewDisposeScope();
        var options = new DpmSolverMultistepOptions { AlgorithmType = algorithm, FinalSigmasType = finalSigmas, Thresholding = true, SampleMaxValue = 1.5 };
        using var s = new DpmSolverMultistepScheduler(options);
        using var plain = new DpmSolverMultistepScheduler(options with { Thresholding = false });
        s.SetTimesteps(5);
        plain.SetTimesteps(5);
        using var gen = new TorchSharp.torch.Generator(7);
        var x = randn(new long[] { 2, 1, 8, 8 }, generator: gen);
        double t = s.Timesteps[0].item<double>();
        // An ε far from the truth gives |x̂₀| in the hundreds at t = 999.
        var eps = x * 0.5f;
        var thresholded = s.Step(eps, t, x).PredOriginalSample!;
        var raw = plain.Step(eps, t, x).PredOriginalSample!;
        Assert.True(raw.abs().max().item<float>() > 10);
        // s is clamped to sample_max_value, so x̂₀ = clamp(x̂₀, −s, s)/s lies in [−1, 1].
        Assert.True(thresholded.abs().max().item<float>() <= 1.0f + 1e-6f);
        Assert.True(thresholded.sign().eq(raw.sign()).all().item<bool>());
    }

    [Fact]
    public void RepeatedNoiseLevelsAreRejectedAndAFinalRepeatIsAnIdentityStep()
    {
        using var scope = NewDisposeScope();
        // linspace over 1000 training steps with 1000 inference steps rounds two timesteps to the same value (h = 0,
        // then a division by zero in diffusers).
        using var s = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.SetTimesteps(1000));
        Assert.Equal("numInferenceSteps", e.ParamName);
        Assert.Contains("repeat", e.Message);
        s.SetTimesteps(500);

        // A Karras grid ends at σ_min, and final_sigmas_type sigma_min repeats it: the last step must return its input
        // (third order there would be 0/0 without the identity rule, as lower_order_final does not apply at 20 steps).
        using var k = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions
        {
            UseKarrasSigmas = true, FinalSigmasType = FinalSigmaType.SigmaMin, SolverOrder = 3, SolverType = DpmSolverType.Heun,
        });
        k.SetTimesteps(20);
        Assert.Equal(k.Sigmas[^2], k.Sigmas[^1]);
        var x = ones(1, 1, 2, 2);
        Tensor input = x;
        foreach (var t in k.Timesteps.data<double>().ToArray())
        {
            input = x;
            x = k.Step(x * 0.2f + 0.1f, t, x).PrevSample;
        }
        Assert.True(x.isfinite().all().item<bool>());
        Assert.True(x.eq(input).all().item<bool>());
    }

    [Fact]
    public void SdeSamplesDependOnlyOnTheirOwnSeed()
    {
        using var scope = NewDisposeScope();
        var schedule = new NoiseScheduleOptions();
        var network = new GaussianDataDenoiser(new NoiseSchedule(schedule), 0.3, 0.5);
        Tensor Run(long[] seeds)
        {
            using var s = new DpmSolverMultistepScheduler(new DpmSolverMultistepOptions { Schedule = schedule, AlgorithmType = DpmSolverAlgorithmType.SdeDpmSolverPlusPlus });
            return new DiffusionSampler(s, network).Sample(seeds, [1, 4, 4], 10);
        }
        var pair = Run([11, 12]);
        var alone = Run([12]);
        Assert.True(pair[1].eq(alone[0]).all().item<bool>());
        Assert.False(pair[0].eq(pair[1]).all().item<bool>());
        Assert.True(Run([11, 12]).eq(pair).all().item<bool>());
    }
}
