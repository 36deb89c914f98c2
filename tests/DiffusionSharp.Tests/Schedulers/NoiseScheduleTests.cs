using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class NoiseScheduleTests
{
    public static TheoryData<string> AllCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in SchedulerFixture.ManifestCases)
            data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void BetasAndAlphasCumprodMatchDiffusers(string name)
    {
        using var fx = SchedulerFixture.Load(name);
        // Heun's diffusers defaults for the betas differ (0.00085 → 0.012); the fixture configs spell every key.
        var options = DiffusersConfig.ReadSchedule(fx.Config, new NoiseScheduleOptions());
        var schedule = new NoiseSchedule(options);
        var expectedBetas = SchedulerFixture.ToDoubles(fx.Betas);
        fx.AssertScheduleClose(schedule.Betas.Select(b => (double)b).ToArray(), expectedBetas, "betas");

        var expectedAc = SchedulerFixture.ToDoubles(fx.AlphasCumprod);
        var actualAc = schedule.AlphasCumprod.Select(a => (double)a).ToArray();
        if (options.RescaleBetasZeroSnr && fx.SchedulerClass.StartsWith("Euler", StringComparison.Ordinal))
        {
            // diffusers' Euler schedulers then overwrite ᾱ_T = 0 by 2^-24 so that σ_max stays finite.
            Assert.Equal(0f, schedule.AlphasCumprod[^1]);
            actualAc[^1] = Math.Pow(2, -24);
        }
        fx.AssertScheduleClose(actualAc, expectedAc, "alphas_cumprod");
    }

    [Fact]
    public void ZeroTerminalSnrEndsAtZeroAndKeepsTheFirstValue()
    {
        var plain = new NoiseSchedule(new NoiseScheduleOptions { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 });
        var zsnr = new NoiseSchedule(new NoiseScheduleOptions { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012, RescaleBetasZeroSnr = true });
        Assert.Equal(0f, zsnr.AlphasCumprod[^1]);
        Assert.Equal(1f, zsnr.Betas[^1]);
        Assert.Equal(plain.AlphasCumprod[0], zsnr.AlphasCumprod[0], 6);
    }

    [Fact]
    public void SigmoidScheduleStaysInsideItsRangeAndIncreases()
    {
        var s = new NoiseSchedule(new NoiseScheduleOptions { BetaSchedule = BetaSchedule.Sigmoid, BetaStart = 0.0001, BetaEnd = 0.02 });
        Assert.All(s.Betas, b => Assert.InRange(b, 0.0001f, 0.02f));
        for (int i = 1; i < s.Betas.Length; i++)
            Assert.True(s.Betas[i] >= s.Betas[i - 1]);
        // sigmoid(±6) ≈ 0.00247 / 0.99753 of the range.
        Assert.Equal(0.0001 + 0.0199 * (1 / (1 + Math.Exp(6))), s.Betas[0], 6);
    }

    [Fact]
    public void TrainedBetasAreUsedAsGiven()
    {
        var betas = Enumerable.Range(0, 10).Select(i => 0.01 + 0.01 * i).ToArray();
        var s = new NoiseSchedule(new NoiseScheduleOptions { NumTrainTimesteps = 10, TrainedBetas = betas });
        Assert.Equal(betas.Select(b => (float)b), s.Betas);
        double prod = 1;
        for (int i = 0; i < 10; i++)
        {
            prod *= 1 - (float)betas[i];
            Assert.Equal(prod, s.AlphasCumprod[i], 6);
        }
    }

    [Fact]
    public void BadOptionsThrowNamingTheParameter()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new NoiseSchedule(new NoiseScheduleOptions { NumTrainTimesteps = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NoiseSchedule(new NoiseScheduleOptions { BetaStart = double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NoiseSchedule(new NoiseScheduleOptions { BetaEnd = 1.5 }));
        Assert.Throws<ArgumentException>(() => new NoiseSchedule(new NoiseScheduleOptions { TrainedBetas = [0.1, 0.2] }));
        Assert.Throws<ArgumentException>(() => new NoiseSchedule(new NoiseScheduleOptions { BetaSchedule = (BetaSchedule)42 }));
        var e = Assert.Throws<ArgumentException>(() => DiffusersNames.ParseBetaSchedule("cosine"));
        Assert.Equal("beta_schedule", e.ParamName);
        Assert.Contains("squaredcos_cap_v2", e.Message);
        Assert.Equal(PredictionType.VPrediction, DiffusersNames.ParsePredictionType("v_prediction"));
        Assert.Equal(TimestepSpacing.Trailing, DiffusersNames.ParseTimestepSpacing("trailing"));
        Assert.Equal("scaled_linear", DiffusersNames.ToName(BetaSchedule.ScaledLinear));
    }

    [Fact]
    public void OptionsRoundTripJson()
    {
        var o = new NoiseScheduleOptions { BetaSchedule = BetaSchedule.SquaredCosCapV2, RescaleBetasZeroSnr = true, NumTrainTimesteps = 4, TrainedBetas = [0.1, 0.2, 0.3, 0.4] };
        var json = System.Text.Json.JsonSerializer.Serialize(o);
        Assert.Contains("\"squaredcos_cap_v2\"", json);
        var back = System.Text.Json.JsonSerializer.Deserialize<NoiseScheduleOptions>(json);
        Assert.Equal(o, back);
    }
}

public sealed class SigmaGridTests
{
    [Fact]
    public void KarrasFollowsEquation5()
    {
        var s = SigmaGrid.Karras(0.002, 80, 5, 7);
        Assert.Equal(80, s[0], 12);
        Assert.Equal(0.002, s[^1], 12);
        double a = Math.Pow(80, 1 / 7.0), b = Math.Pow(0.002, 1 / 7.0);
        for (int i = 0; i < 5; i++)
            Assert.Equal(Math.Pow(a + i / 4.0 * (b - a), 7), s[i], 10);
    }

    [Fact]
    public void ExponentialIsEvenInLogSigma()
    {
        var s = SigmaGrid.Exponential(0.1, 10, 5);
        for (int i = 1; i < 5; i++)
            Assert.Equal(Math.Log(s[i - 1]) - Math.Log(s[i]), Math.Log(100) / 4, 12);
    }

    [Fact]
    public void SigmaToTInvertsTheTrainingSigmas()
    {
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());
        var sigmas = schedule.TrainSigmas();
        var logs = SigmaGrid.LogSigmas(sigmas);
        foreach (int t in new[] { 0, 1, 17, 500, 998, 999 })
            Assert.Equal(t, SigmaGrid.SigmaToT(sigmas[t], logs), 3);
        double mid = Math.Exp(0.5 * (logs[100] + logs[101]));
        Assert.Equal(100.5, SigmaGrid.SigmaToT(mid, logs), 3);
        Assert.Equal(0, SigmaGrid.SigmaToT(1e-6, logs));
        Assert.Equal(999, SigmaGrid.SigmaToT(1e6, logs));
    }

    [Fact]
    public void VpSigmaInverseIsItsInverseAndAlphaBarConversionsAgree()
    {
        foreach (var t in new[] { 0.001, 0.1, 0.5, 1.0 })
            Assert.Equal(t, SigmaGrid.VpSigmaInverse(SigmaGrid.VpSigma(t)), 10);
        Assert.Equal(0.3, SigmaGrid.AlphaBarFromSigma(SigmaGrid.SigmaFromAlphaBar(0.3)), 12);
        var edm = SigmaGrid.EdmTimeSteps(18);
        Assert.Equal(19, edm.Length);
        Assert.Equal(80, edm[0], 10);
        Assert.Equal(0, edm[^1]);
    }

    [Fact]
    public void BadGridArgumentsThrow()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SigmaGrid.Karras(0.1, 10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SigmaGrid.Karras(-1, 10, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => SigmaGrid.Karras(20, 10, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => SigmaGrid.Exponential(0.1, double.NaN, 4));
    }
}

public sealed class NoiseSourceTests
{
    [Fact]
    public void PerSampleNoiseRowsDependOnlyOnTheirSeed()
    {
        using var scope = NewDisposeScope();
        var batch = PerSampleNoise.InitialNoise([7, 8, 9], [1, 4, 4]);
        var alone = PerSampleNoise.InitialNoise([8], [1, 4, 4]);
        var again = PerSampleNoise.InitialNoise([7, 8, 9], [1, 4, 4]);
        Assert.Equal(new long[] { 3, 1, 4, 4 }, batch.shape);
        Assert.True(batch[1].equal(alone[0]).all().item<bool>());
        Assert.True(batch.equal(again).all().item<bool>());
        Assert.False(batch[0].equal(batch[2]).all().item<bool>());

        using var source = new PerSampleNoise([8, 7]);
        var first = source.Draw([1, 4, 4]);
        var second = source.Next(first);
        Assert.True(first[0].equal(batch[1]).all().item<bool>());
        Assert.True(first[1].equal(batch[0]).all().item<bool>());
        Assert.False(first.equal(second).all().item<bool>());
        Assert.Throws<ArgumentException>(() => source.Next(zeros(3, 1, 4, 4)));
        Assert.Throws<ArgumentException>(() => new PerSampleNoise([]));
    }

    [Fact]
    public void RecordedNoiseReplaysInOrderAndRefusesExtraDraws()
    {
        using var scope = NewDisposeScope();
        var a = randn(2, 3);
        var b = randn(2, 3);
        var noise = new RecordedNoise([a, b]);
        Assert.True(noise.Next(zeros(2, 3)).equal(a).all().item<bool>());
        Assert.Throws<InvalidOperationException>(() => noise.Next(zeros(1, 3)));
        Assert.True(noise.Next(zeros(2, 3)).equal(b).all().item<bool>());
        Assert.Equal(0, noise.Remaining);
        Assert.Throws<InvalidOperationException>(() => noise.Next(zeros(2, 3)));
    }
}
