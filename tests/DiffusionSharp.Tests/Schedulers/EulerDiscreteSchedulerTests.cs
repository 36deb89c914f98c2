using DiffusionSharp.Schedulers;
using Xunit.Abstractions;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class EulerDiscreteSchedulerTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames(EulerDiscreteScheduler.DiffusersClassName);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDiffusers(string name)
    {
        using var fx = SchedulerFixture.Load(name);
        var options = EulerDiscreteSchedulerOptions.FromDiffusersConfig(fx.Config) with { SChurn = fx.StepKwarg("s_churn", 0.0) };
        fx.AssertWrittenConfigMatches(options.ToDiffusersConfig());
        using var scheduler = new EulerDiscreteScheduler(options);
        fx.AssertScheduleClose(scheduler.AlphasCumprod.Select(a => (double)a).ToArray(), SchedulerFixture.ToDoubles(fx.AlphasCumprod), "alphas_cumprod");
        scheduler.SetTimesteps(fx.NumInferenceSteps);
        Rollout.Check(fx, scheduler, scheduler.Sigmas.Select(s => (double)s).ToArray());
        Rollout.CheckAddNoise(fx, scheduler);
        output.WriteLine(fx.Summary());
    }

    [Fact]
    public void CaseCountMatchesTheManifest() => Assert.Equal(22, Cases().Count);
}
