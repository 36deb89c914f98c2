using DiffusionSharp.Schedulers;
using Xunit.Abstractions;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class EulerAncestralDiscreteSchedulerTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames(EulerAncestralDiscreteScheduler.DiffusersClassName);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDiffusers(string name)
    {
        using var fx = SchedulerFixture.Load(name);
        using var scheduler = new EulerAncestralDiscreteScheduler(EulerAncestralDiscreteSchedulerOptions.FromDiffusersConfig(fx.Config));
        fx.AssertWrittenConfigMatches(scheduler.Options.ToDiffusersConfig());
        fx.AssertScheduleClose(scheduler.AlphasCumprod.Select(a => (double)a).ToArray(), SchedulerFixture.ToDoubles(fx.AlphasCumprod), "alphas_cumprod");
        scheduler.SetTimesteps(fx.NumInferenceSteps);
        Rollout.Check(fx, scheduler, scheduler.Sigmas.Select(s => (double)s).ToArray());
        Rollout.CheckAddNoise(fx, scheduler);
        output.WriteLine(fx.Summary());
    }

    [Fact]
    public void CaseCountMatchesTheManifest() => Assert.Equal(14, Cases().Count);
}
