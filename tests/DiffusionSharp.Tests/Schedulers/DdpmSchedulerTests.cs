using DiffusionSharp.Schedulers;
using Xunit.Abstractions;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class DdpmSchedulerTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames(DdpmScheduler.DiffusersClassName);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDiffusers(string name)
    {
        using var fx = SchedulerFixture.Load(name);
        using var scheduler = new DdpmScheduler(DdpmSchedulerOptions.FromDiffusersConfig(fx.Config));
        fx.AssertWrittenConfigMatches(scheduler.Options.ToDiffusersConfig());
        var ac = scheduler.AlphasCumprod.Select(a => (double)a).ToArray();
        fx.AssertScheduleClose(ac, SchedulerFixture.ToDoubles(fx.AlphasCumprod), "alphas_cumprod");
        Rollout.Check(fx, scheduler);
        Rollout.CheckAddNoise(fx, scheduler);
        output.WriteLine(fx.Summary());
        using var scope = NewDisposeScope();
        fx.AssertClose(scheduler.GetVelocity(fx.AddNoiseX0, fx.AddNoiseNoise, fx.AddNoiseTimesteps), fx.AddNoiseVelocity!, "add_noise_velocity");
    }

    [Fact]
    public void CaseCountMatchesTheManifest() => Assert.Equal(15, Cases().Count);
}
