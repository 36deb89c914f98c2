using System.Text.Json;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class UniPcMultistepSchedulerTests(ITestOutputHelper output)
{
    private const string ClassName = "UniPCMultistepScheduler";

    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames(ClassName);

    [Fact]
    public void EveryFixtureCaseIsListed() => Assert.Equal(21, Cases().Count);

    [Theory]
    [MemberData(nameof(Cases))]
    public void FixtureConfigsBuildThroughTheFactoryAndWriteBackDiffusersValues(string name)
    {
        using var f = SchedulerFixture.Load(name);
        using var scheduler = Assert.IsType<UniPcMultistepScheduler>(SchedulerFactory.FromConfigJson(f.ConfigJson));
        Assert.Equal(UniPcMultistepOptions.FromDiffusersConfig(f.ConfigJson), scheduler.Options);
        f.AssertWrittenConfigMatches(scheduler.Options.ToDiffusersConfig());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RolloutMatchesDiffusers(string name)
    {
        using var f = SchedulerFixture.Load(name);
        var options = UniPcMultistepOptions.FromDiffusersConfig(f.ConfigJson);
        using var scheduler = new UniPcMultistepScheduler(options);
        f.AssertScheduleClose(scheduler.Schedule.AlphasCumprod.Select(a => (double)a).ToArray(), SchedulerFixture.ToDoubles(f.AlphasCumprod), "alphas_cumprod");
        Rollout.CheckAddNoise(f, scheduler);
        Rollout.Check(f, scheduler, scheduler.Sigmas);
        output.WriteLine(f.Summary());
    }

    [Fact]
    public void FixtureConfigsReadAsTheirInitArguments()
    {
        using var f = SchedulerFixture.Load("unipc_lin_eps_n10_disable_corrector0");
        var o = UniPcMultistepOptions.FromDiffusersConfig(f.ConfigJson);
        Assert.Equal([0], o.DisableCorrector);
        using var g = SchedulerFixture.Load("unipc_lin_eps_n10_noise_pred");
        var p = UniPcMultistepOptions.FromDiffusersConfig(g.ConfigJson);
        Assert.False(p.PredictX0);
        Assert.Equal(FinalSigmaType.SigmaMin, p.FinalSigmasType);
        Assert.Null(p.SigmaMin);
    }

    [Fact]
    public void MissingKeysTakeDiffusersDefaults()
    {
        var o = UniPcMultistepOptions.FromDiffusersConfig("{}");
        Assert.Equal(new UniPcMultistepOptions(), o);
        Assert.Equal(UniPcSolverType.Bh2, o.SolverType);
        Assert.True(o.PredictX0);
        Assert.Empty(o.DisableCorrector);
        // A DPM-Solver config's solver_type maps to bh2, as diffusers maps it.
        Assert.Equal(UniPcSolverType.Bh2, UniPcMultistepOptions.FromDiffusersConfig("{\"solver_type\": \"midpoint\"}").SolverType);
    }

    [Fact]
    public void OptionsRoundTripThroughJsonAndDiffusersConfig()
    {
        var o = new UniPcMultistepOptions
        {
            Schedule = new NoiseScheduleOptions { BetaSchedule = BetaSchedule.SquaredCosCapV2 },
            PredictionType = PredictionType.Sample,
            SolverOrder = 3,
            PredictX0 = false,
            SolverType = UniPcSolverType.Bh1,
            LowerOrderFinal = false,
            DisableCorrector = [0, 2],
            UseKarrasSigmas = true,
            SigmaMin = 0.02,
            SigmaMax = 80,
            FinalSigmasType = FinalSigmaType.SigmaMin,
            TimestepSpacing = TimestepSpacing.Leading,
            StepsOffset = 1,
        };
        var json = JsonSerializer.Serialize(o);
        Assert.Equal(o, JsonSerializer.Deserialize<UniPcMultistepOptions>(json));
        Assert.Contains("\"bh1\"", json);
        Assert.Equal(o, UniPcMultistepOptions.FromDiffusersConfig(o.ToDiffusersConfig().ToJsonString()));
        Assert.NotEqual(o, o with { DisableCorrector = [0, 3] });
        Assert.Equal(o.GetHashCode(), (o with { DisableCorrector = [0, 2] }).GetHashCode());
    }

    [Fact]
    public void RejectsUnsupportedConfigsNamingParameterAndAllowedValues()
    {
        var e = Assert.Throws<ArgumentException>(() => UniPcMultistepOptions.FromDiffusersConfig("{\"solver_type\": \"bh3\"}"));
        Assert.Equal("solver_type", e.ParamName);
        Assert.Contains("'bh1'", e.Message);
        Assert.Contains("'bh2'", e.Message);

        var o = Assert.Throws<ArgumentOutOfRangeException>(() => new UniPcMultistepScheduler(new UniPcMultistepOptions { SolverOrder = 5 }));
        Assert.Equal("solver_order", o.ParamName);
        Assert.Contains("1, 2, 3", o.Message);

        // The combinations for which diffusers' last step to σ = 0 is NaN.
        foreach (var bad in new[]
                 {
                     new UniPcMultistepOptions { SolverType = UniPcSolverType.Bh1 },
                     new UniPcMultistepOptions { PredictX0 = false },
                     new UniPcMultistepOptions { LowerOrderFinal = false },
                 })
        {
            e = Assert.Throws<ArgumentException>(() => new UniPcMultistepScheduler(bad));
            Assert.Equal("final_sigmas_type", e.ParamName);
            Assert.Contains("'sigma_min'", e.Message);
            using var ok = new UniPcMultistepScheduler(bad with { FinalSigmasType = FinalSigmaType.SigmaMin });
        }
        using (new UniPcMultistepScheduler(new UniPcMultistepOptions { LowerOrderFinal = false, SolverOrder = 1 }))
        {
        }

        e = Assert.Throws<ArgumentException>(() => UniPcMultistepOptions.FromDiffusersConfig("{\"use_flow_sigmas\": true}"));
        Assert.Equal("use_flow_sigmas", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new UniPcMultistepScheduler(new UniPcMultistepOptions { DisableCorrector = [-1] }));
    }

    [Fact]
    public void BadCallsThrowInsteadOfCrashing()
    {
        using var scope = NewDisposeScope();
        using var s = new UniPcMultistepScheduler(new UniPcMultistepOptions());
        var x = randn(2, 1, 4, 4);
        Assert.Throws<InvalidOperationException>(() => s.Step(x, 999, x));
        foreach (var bad in new[] { 0, -1, 1001 })
            Assert.Equal("numInferenceSteps", Assert.Throws<ArgumentOutOfRangeException>(() => s.SetTimesteps(bad)).ParamName);
        s.SetTimesteps(3);
        var inf = x.clone();
        inf[1, 0, 2, 2] = tensor(float.PositiveInfinity);
        Assert.Equal("modelOutput", Assert.Throws<ArgumentException>(() => s.Step(inf, 999, x)).ParamName);
        Assert.Equal("timestep", Assert.Throws<ArgumentException>(() => s.Step(x, 5, x)).ParamName);
    }

    [Fact]
    public void CorrectorChangesTheSampleOnlyWhereEnabled()
    {
        using var scope = NewDisposeScope();
        float[] Run(int[] disable)
        {
            using var s = new UniPcMultistepScheduler(new UniPcMultistepOptions { DisableCorrector = disable });
            s.SetTimesteps(6);
            var x = ones(1, 1, 2, 2);
            foreach (var t in s.Timesteps.data<double>().ToArray())
                x = s.Step(x * 0.3f + (float)(t / 1000), t, x).PrevSample;
            return x.data<float>().ToArray();
        }
        var all = Run([]);
        Assert.NotEqual(all, Run([2]));
        // The corrector of step 5 (the last) would run at a 7th step that never comes.
        Assert.Equal(all, Run([5]));
    }

    [Fact]
    public void SetTimestepsRestartsTheRolloutAndKeepsMemoryFlat()
    {
        using var s = new UniPcMultistepScheduler(new UniPcMultistepOptions { SolverOrder = 3 });
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
}
