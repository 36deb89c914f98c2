using DiffusionSharp.Schedulers;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class DdimSchedulerTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases() => SchedulerFixture.CaseNames(DdimScheduler.DiffusersClassName);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDiffusers(string name)
    {
        using var fx = SchedulerFixture.Load(name);
        var options = DdimSchedulerOptions.FromDiffusersConfig(fx.Config) with { Eta = fx.StepKwarg("eta", 0.0) };
        fx.AssertWrittenConfigMatches(options.ToDiffusersConfig());
        using var scheduler = new DdimScheduler(options);
        fx.AssertScheduleClose(scheduler.AlphasCumprod.Select(a => (double)a).ToArray(), SchedulerFixture.ToDoubles(fx.AlphasCumprod), "alphas_cumprod");
        Rollout.Check(fx, scheduler);
        Rollout.CheckAddNoise(fx, scheduler);
        output.WriteLine(fx.Summary());
        using var scope = NewDisposeScope();
        fx.AssertClose(scheduler.GetVelocity(fx.AddNoiseX0, fx.AddNoiseNoise, fx.AddNoiseTimesteps), fx.AddNoiseVelocity!, "add_noise_velocity");
    }

    [Fact]
    public void CaseCountMatchesTheManifest() => Assert.Equal(17, Cases().Count);
}
