using System.Text.Json;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

public sealed class SchedulerValidationTests
{
    private static readonly NoiseScheduleOptions s_linear = new();

    public static TheoryData<SamplerKind> Kinds() =>
    [
        SamplerKind.Ddpm, SamplerKind.Ddim, SamplerKind.EulerDiscrete, SamplerKind.EulerAncestralDiscrete, SamplerKind.HeunDiscrete,
    ];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void StepCountsOutsideOneToTAreRejected(SamplerKind kind)
    {
        using var s = SchedulerFactory.Create(kind, s_linear, PredictionType.Epsilon);
        foreach (var n in new[] { 0, -3, 1001, int.MaxValue })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.SetTimesteps(n));
            Assert.Equal("numInferenceSteps", e.ParamName);
        }
        s.SetTimesteps(1000);
        s.SetTimesteps(1);
        Assert.Equal(1, s.Timesteps.shape[0]);
    }

    [Theory]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.EulerDiscrete)]
    [InlineData(SamplerKind.EulerAncestralDiscrete)]
    [InlineData(SamplerKind.HeunDiscrete)]
    [InlineData(SamplerKind.DpmSolverMultistep)]
    [InlineData(SamplerKind.UniPcMultistep)]
    public void EverySchedulerReleasesItsTimestepsTensor(SamplerKind kind)
    {
        using var s = SchedulerFactory.Create(kind, s_linear, PredictionType.Epsilon);
        s.SetTimesteps(10);
        var timesteps = s.Timesteps;
        var disposable = Assert.IsAssignableFrom<IDisposable>(s);
        disposable.Dispose();
        Assert.True(timesteps.IsInvalid, $"{kind}: the timesteps tensor is still alive after Dispose");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void NonFiniteModelOutputIsAnArgumentErrorNotACrash(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        using var s = SchedulerFactory.Create(kind, s_linear, PredictionType.Epsilon);
        s.SetTimesteps(10);
        double t = s.Timesteps[0].item<double>();
        var x = randn(2, 1, 4, 4) * (float)s.InitNoiseSigma;
        var bad = zeros(2, 1, 4, 4);
        bad[1, 0, 2, 3] = tensor(float.NaN);
        using var noise = new PerSampleNoise([1, 2]);
        var e = Assert.Throws<ArgumentException>(() => s.Step(bad, t, x, noise));
        Assert.Equal("modelOutput", e.ParamName);
        bad[1, 0, 2, 3] = tensor(float.PositiveInfinity);
        Assert.Throws<ArgumentException>(() => s.Step(bad, t, x, noise));
        Assert.Throws<ArgumentException>(() => s.Step(zeros(2, 1, 4, 5), t, x, noise));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void StepBeforeSetTimestepsIsAnInvalidOperation(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        using var s = SchedulerFactory.Create(kind, s_linear, PredictionType.Epsilon);
        Assert.Throws<InvalidOperationException>(() => s.Step(zeros(1, 1, 2, 2), 999, zeros(1, 1, 2, 2)));
        Assert.Throws<InvalidOperationException>(() => s.Timesteps);
    }

    [Fact]
    public void StochasticStepsNeedANoiseSource()
    {
        using var scope = NewDisposeScope();
        foreach (var s in new IScheduler[]
        {
            SchedulerFactory.Create(SamplerKind.Ddpm, s_linear, PredictionType.Epsilon),
            SchedulerFactory.Create(SamplerKind.Ddim, s_linear, PredictionType.Epsilon, eta: 1.0),
            SchedulerFactory.Create(SamplerKind.EulerAncestralDiscrete, s_linear, PredictionType.Epsilon),
            new EulerDiscreteScheduler(new EulerDiscreteSchedulerOptions { SChurn = 1.0 }),
        })
        {
            using (s)
            {
                s.SetTimesteps(5);
                double t = s.Timesteps[0].item<double>();
                var e = Assert.Throws<ArgumentNullException>(() => s.Step(zeros(1, 1, 2, 2), t, ones(1, 1, 2, 2)));
                Assert.Equal("noise", e.ParamName);
            }
        }
        // Deterministic ones need none.
        using var ddim = SchedulerFactory.Create(SamplerKind.Ddim, s_linear, PredictionType.Epsilon);
        ddim.SetTimesteps(5);
        ddim.Step(zeros(1, 1, 2, 2), ddim.Timesteps[0].item<double>(), ones(1, 1, 2, 2));
    }

    [Fact]
    public void TimestepsOutsideTheRolloutAreRejected()
    {
        using var scope = NewDisposeScope();
        using var euler = SchedulerFactory.Create(SamplerKind.EulerDiscrete, s_linear, PredictionType.Epsilon);
        euler.SetTimesteps(10);
        Assert.Throws<ArgumentException>(() => euler.ScaleModelInput(zeros(1, 1, 2, 2), 500.5));
        using var ddpm = SchedulerFactory.Create(SamplerKind.Ddpm, s_linear, PredictionType.Epsilon);
        ddpm.SetTimesteps(10);
        Assert.Throws<ArgumentException>(() => ddpm.Step(zeros(1, 1, 2, 2), 901, zeros(1, 1, 2, 2), new RecordedNoise([])));
        Assert.Throws<ArgumentException>(() => ddpm.Step(zeros(1, 1, 2, 2), 900.5, zeros(1, 1, 2, 2)));
    }

    [Fact]
    public void InvalidOptionsNameTheirKey()
    {
        Assert.Equal("steps_offset", Assert.Throws<ArgumentOutOfRangeException>(() => new DdimScheduler(new DdimSchedulerOptions { StepsOffset = -1 })).ParamName);
        Assert.Equal("eta", Assert.Throws<ArgumentOutOfRangeException>(() => new DdimScheduler(new DdimSchedulerOptions { Eta = -0.5 })).ParamName);
        Assert.Equal("eta", Assert.Throws<ArgumentOutOfRangeException>(() => new DdimScheduler(new DdimSchedulerOptions { Eta = double.NaN })).ParamName);
        Assert.Equal("clip_sample_range", Assert.Throws<ArgumentOutOfRangeException>(() => new DdpmScheduler(new DdpmSchedulerOptions { ClipSampleRange = 0 })).ParamName);
        Assert.Equal("dynamic_thresholding_ratio", Assert.Throws<ArgumentOutOfRangeException>(() => new DdpmScheduler(new DdpmSchedulerOptions { DynamicThresholdingRatio = 2 })).ParamName);
        Assert.Equal("prediction_type", Assert.Throws<ArgumentException>(() => new DdpmScheduler(new DdpmSchedulerOptions { PredictionType = (PredictionType)9 })).ParamName);
        Assert.Equal("timestep_spacing", Assert.Throws<ArgumentException>(() => new EulerDiscreteScheduler(new EulerDiscreteSchedulerOptions { TimestepSpacing = (TimestepSpacing)9 })).ParamName);
        Assert.Equal("use_karras_sigmas", Assert.Throws<ArgumentException>(() => new EulerDiscreteScheduler(new EulerDiscreteSchedulerOptions { UseKarrasSigmas = true, UseExponentialSigmas = true })).ParamName);
        Assert.Equal("s_churn", Assert.Throws<ArgumentOutOfRangeException>(() => new EulerDiscreteScheduler(new EulerDiscreteSchedulerOptions { SChurn = -1 })).ParamName);
        Assert.Equal("rescale_betas_zero_snr", Assert.Throws<ArgumentException>(() => new HeunDiscreteScheduler(new HeunDiscreteSchedulerOptions { Schedule = new() { RescaleBetasZeroSnr = true } })).ParamName);
        // Leading spacing with an offset that pushes the last timestep past T − 1.
        using var ddim = new DdimScheduler(new DdimSchedulerOptions { StepsOffset = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => ddim.SetTimesteps(1000));
        ddim.SetTimesteps(999);
    }

    [Theory]
    [InlineData("beta_schedule", "\"cosine\"", "squaredcos_cap_v2")]
    [InlineData("prediction_type", "\"x0\"", "v_prediction")]
    [InlineData("timestep_spacing", "\"uniform\"", "trailing")]
    [InlineData("variance_type", "\"learned_range\"", "fixed_large")]
    [InlineData("num_train_timesteps", "\"1000\"", "integer")]
    [InlineData("clip_sample", "1", "true or false")]
    public void UnknownConfigValuesNameTheKeyAndTheAllowedValues(string key, string value, string mentioned)
    {
        var json = $$"""{"_class_name": "DDPMScheduler", "{{key}}": {{value}}}""";
        var e = Assert.ThrowsAny<ArgumentException>(() => SchedulerFactory.FromConfigJson(json));
        Assert.Equal(key, e.ParamName);
        Assert.Contains(mentioned, e.Message);
    }

    [Fact]
    public void FactoryRejectsBadInputs()
    {
        Assert.Throws<ArgumentException>(() => SchedulerFactory.FromConfigJson("{}"));
        Assert.Throws<ArgumentException>(() => SchedulerFactory.FromConfigJson("[1, 2]"));
        Assert.Throws<ArgumentException>(() => SchedulerFactory.FromConfigJson("not json"));
        var e = Assert.Throws<ArgumentException>(() => SchedulerFactory.FromConfigJson("""{"_class_name": "LMSDiscreteScheduler"}"""));
        Assert.Contains("EulerDiscreteScheduler", e.Message);
        var k = Assert.Throws<ArgumentException>(() => SchedulerFactory.ParseKind("plms"));
        Assert.Contains("euler-a", k.Message);
        Assert.Equal(SamplerKind.EulerAncestralDiscrete, SchedulerFactory.ParseKind("Euler-A"));
        Assert.Equal(SamplerKind.DpmSolverMultistep, SchedulerFactory.ParseKind("dpmsolver++"));
        Assert.Equal(SamplerKind.DpmSolverMultistep, SchedulerFactory.ParseKind("dpm++"));
        Assert.Equal("heun", SchedulerFactory.CliName(SamplerKind.HeunDiscrete));
        Assert.Throws<ArgumentException>(() => SchedulerFactory.Create(SamplerKind.Ddim, s_linear, PredictionType.Epsilon, useKarrasSigmas: true));
        Assert.Throws<ArgumentException>(() => SchedulerFactory.Create(SamplerKind.EulerDiscrete, s_linear, PredictionType.Epsilon, eta: 0.5));
    }

    [Fact]
    public void MissingConfigKeysTakeDiffusersDefaults()
    {
        // The ddpm-cifar10-32 scheduler_config.json (fixtures README §3): no prediction_type, timestep_spacing, ...
        var ddpm = (DdpmScheduler)SchedulerFactory.FromConfigJson("""
            {"_class_name": "DDPMScheduler", "_diffusers_version": "0.1.1", "beta_end": 0.02, "beta_schedule": "linear",
             "beta_start": 0.0001, "clip_sample": true, "num_train_timesteps": 1000, "trained_betas": null, "variance_type": "fixed_large"}
            """);
        Assert.Equal(new DdpmSchedulerOptions { VarianceType = DdpmVarianceType.FixedLarge }, ddpm.Options);
        var heun = (HeunDiscreteScheduler)SchedulerFactory.FromConfigJson("""{"_class_name": "HeunDiscreteScheduler"}""");
        Assert.Equal(0.00085, heun.Options.Schedule.BetaStart);
        Assert.Equal(0.012, heun.Options.Schedule.BetaEnd);
        Assert.Equal(TimestepSpacing.Linspace, heun.Options.TimestepSpacing);
        var euler = (EulerDiscreteScheduler)SchedulerFactory.FromConfigJson("""{"_class_name": "EulerDiscreteScheduler", "sigma_min": null}""");
        Assert.Equal(new EulerDiscreteSchedulerOptions(), euler.Options);
    }

    public static TheoryData<string> MyFixtureCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in SchedulerFixture.ManifestCases)
        {
            var cls = c.GetProperty("scheduler_class").GetString();
            if (cls is "DDPMScheduler" or "DDIMScheduler" or "EulerDiscreteScheduler" or "EulerAncestralDiscreteScheduler" or "HeunDiscreteScheduler")
                data.Add(c.GetProperty("name").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(MyFixtureCases))]
    public void FixtureConfigsRoundTripThroughTheFactory(string name)
    {
        using var fx = SchedulerFixture.Load(name);
        var scheduler = SchedulerFactory.FromConfigJson(fx.ConfigJson);
        Assert.Equal(fx.SchedulerClass, SchedulerFactory.DiffusersClassName(SchedulerFactory.KindOfClassName(fx.SchedulerClass)));
        // Every key we write back has diffusers' value.
        var written = scheduler switch
        {
            DdpmScheduler s => s.Options.ToDiffusersConfig(),
            DdimScheduler s => s.Options.ToDiffusersConfig(),
            EulerDiscreteScheduler s => s.Options.ToDiffusersConfig(),
            EulerAncestralDiscreteScheduler s => s.Options.ToDiffusersConfig(),
            HeunDiscreteScheduler s => s.Options.ToDiffusersConfig(),
            _ => throw new InvalidOperationException(),
        };
        foreach (var (key, value) in written)
        {
            Assert.True(fx.Config.TryGetProperty(key, out var expected), $"{name}: wrote key '{key}' that diffusers does not have");
            var actual = JsonDocument.Parse(value?.ToJsonString() ?? "null").RootElement;
            Assert.True(JsonValuesEqual(expected, actual), $"{name}: '{key}' is {actual.GetRawText()}, diffusers has {expected.GetRawText()}");
        }
    }

    [Fact]
    public void OptionsRoundTripJson()
    {
        var schedule = new NoiseScheduleOptions { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012, RescaleBetasZeroSnr = true };
        RoundTrip(new DdpmSchedulerOptions { Schedule = schedule, VarianceType = DdpmVarianceType.FixedLarge, Thresholding = true, TimestepSpacing = TimestepSpacing.Trailing });
        RoundTrip(new DdimSchedulerOptions { Schedule = schedule, Eta = 0.5, SetAlphaToOne = false, StepsOffset = 1, PredictionType = PredictionType.VPrediction });
        RoundTrip(new EulerDiscreteSchedulerOptions { Schedule = schedule, UseKarrasSigmas = true, SigmaMin = 0.1, SChurn = 2, FinalSigmasType = FinalSigmaType.SigmaMin, InterpolationType = SigmaInterpolation.LogLinear });
        RoundTrip(new EulerDiscreteSchedulerOptions());
        RoundTrip(new EulerAncestralDiscreteSchedulerOptions { Schedule = schedule, TimestepSpacing = TimestepSpacing.Leading, StepsOffset = 1 });
        RoundTrip(new HeunDiscreteSchedulerOptions { UseKarrasSigmas = true, ClipSample = true, PredictionType = PredictionType.Sample });

        // And through diffusers' keys.
        var ddim = new DdimSchedulerOptions { Schedule = schedule, SetAlphaToOne = false, StepsOffset = 1 };
        Assert.Equal(ddim, DdimSchedulerOptions.FromDiffusersConfig(JsonDocument.Parse(ddim.ToDiffusersConfig().ToJsonString()).RootElement));
        var euler = new EulerDiscreteSchedulerOptions { Schedule = schedule, UseExponentialSigmas = true, SigmaMax = 10 };
        Assert.Equal(euler, EulerDiscreteSchedulerOptions.FromDiffusersConfig(JsonDocument.Parse(euler.ToDiffusersConfig().ToJsonString()).RootElement));
    }

    private static void RoundTrip<T>(T options) where T : class
    {
        var json = JsonSerializer.Serialize(options);
        var back = JsonSerializer.Deserialize<T>(json);
        Assert.Equal(options, back);
        Assert.DoesNotContain("\"PredictionType\":0", json); // enums travel by diffusers name
    }

    private static bool JsonValuesEqual(JsonElement a, JsonElement b)
    {
        if (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number)
            return a.GetDouble() == b.GetDouble();
        if (a.ValueKind != b.ValueKind)
            return false;
        return a.ValueKind switch
        {
            JsonValueKind.Array => a.GetArrayLength() == b.GetArrayLength() && a.EnumerateArray().Zip(b.EnumerateArray()).All(p => JsonValuesEqual(p.First, p.Second)),
            JsonValueKind.String => a.GetString() == b.GetString(),
            _ => a.GetRawText() == b.GetRawText(),
        };
    }
}
