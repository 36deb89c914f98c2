using System.Text.Json;
using DiffusionSharp.IO;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Schedulers;

/// <summary>How sensitive a reference rollout is (the fixture's <c>conditioning</c> block; see the fixtures README).</summary>
/// <param name="Amplification">max_i rel_change_per_step[i] / 2⁻²⁰.</param>
/// <param name="IllConditioned">True when <paramref name="Amplification"/> &gt; 100.</param>
/// <param name="RelChangePerStep">Relative change of x_steps[i] when x_T is scaled by (1 + 2⁻²⁰).</param>
/// <param name="InputRelPerturbation">The input perturbation, 2⁻²⁰.</param>
public sealed record FixtureConditioning(double Amplification, bool IllConditioned, double[] RelChangePerStep, double InputRelPerturbation);

/// <summary>
/// One diffusers scheduler parity case (<c>schedulers/&lt;case&gt;.json</c> + <c>.safetensors</c>, see
/// shared/fixtures/diffusers/README.md): the reference rollout of the fake model <c>affine_v1</c>, plus the README's
/// tolerance rule. Owns its tensors: dispose it.
/// </summary>
public sealed class SchedulerFixture : IDisposable
{
    /// <summary>Relative tolerance of the README: max|a−b| ≤ 1e-4 · max(1, max|expected|).</summary>
    public const double StepTolerance = 1e-4;

    /// <summary>Relative tolerance for timesteps, sigmas and alphas_cumprod.</summary>
    public const double ScheduleRtol = 1e-6;

    private static readonly Lazy<JsonDocument> s_manifest = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Schedulers, "manifest.json"))));

    private readonly Dictionary<string, Tensor> _tensors;

    private SchedulerFixture(string name)
    {
        Name = name;
        // DiffusersConfig.ParseObject accepts Python's bare -Infinity/NaN (DPM-Solver's lambda_min_clipped).
        Json = DiffusersConfig.ParseObject(File.ReadAllText(Path.Combine(TestPaths.Schedulers, name + ".json")));
        _tensors = SafeTensors.Load(Path.Combine(TestPaths.Schedulers, name + ".safetensors"));
        var root = Json;
        SchedulerClass = root.GetProperty("scheduler_class").GetString()!;
        NumInferenceSteps = root.GetProperty("num_inference_steps").GetInt32();
        NumStepCalls = root.GetProperty("num_step_calls").GetInt32();
        Timesteps = root.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var sigmas = root.GetProperty("sigmas");
        Sigmas = sigmas.ValueKind == JsonValueKind.Array ? sigmas.EnumerateArray().Select(e => e.GetDouble()).ToArray() : null;
        InitNoiseSigma = root.GetProperty("init_noise_sigma").GetDouble();
        Stochastic = root.GetProperty("stochastic").GetBoolean();
        NoiseStepIndex = root.GetProperty("noise_step_index").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var addNoise = root.GetProperty("add_noise");
        AddNoiseScheduleIndices = addNoise.GetProperty("schedule_indices").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var c = root.GetProperty("conditioning");
        Conditioning = new FixtureConditioning(
            c.GetProperty("amplification").GetDouble(),
            c.GetProperty("ill_conditioned").GetBoolean(),
            c.GetProperty("rel_change_per_step").EnumerateArray().Select(e => e.GetDouble()).ToArray(),
            c.GetProperty("input_rel_perturbation").GetDouble());
    }

    /// <summary>Loads case <paramref name="name"/> (e.g. <c>ddim_lin_eps_n10</c>).</summary>
    public static SchedulerFixture Load(string name) => new(name);

    /// <summary>The manifest's <c>cases</c> entries.</summary>
    public static IEnumerable<JsonElement> ManifestCases => s_manifest.Value.RootElement.GetProperty("cases").EnumerateArray();

    /// <summary>Names of every case of one diffusers scheduler class (e.g. <c>DDIMScheduler</c>), for a [Theory].</summary>
    public static TheoryData<string> CaseNames(string schedulerClass)
    {
        var data = new TheoryData<string>();
        foreach (var c in ManifestCases)
        {
            if (c.GetProperty("scheduler_class").GetString() == schedulerClass)
                data.Add(c.GetProperty("name").GetString()!);
        }
        return data;
    }

    /// <summary>The case name.</summary>
    public string Name { get; }

    /// <summary>The diffusers class, e.g. <c>EulerDiscreteScheduler</c>.</summary>
    public string SchedulerClass { get; }

    /// <summary>The whole case JSON.</summary>
    public JsonElement Json { get; }

    /// <summary>The scheduler's full diffusers config (<c>scheduler_config.json</c> content).</summary>
    public JsonElement Config => Json.GetProperty("config");

    /// <summary>The config as a JSON string, as <c>scheduler_config.json</c> would hold it.</summary>
    public string ConfigJson => Config.GetRawText();

    /// <summary>The constructor arguments that were passed (the rest are defaults).</summary>
    public JsonElement InitKwargs => Json.GetProperty("init_kwargs");

    /// <summary>Extra <c>step()</c> arguments (<c>eta</c>, <c>s_churn</c>).</summary>
    public JsonElement StepKwargs => Json.GetProperty("step_kwargs");

    /// <summary>A numeric step argument, or <paramref name="fallback"/> when absent.</summary>
    public double StepKwarg(string key, double fallback) =>
        StepKwargs.TryGetProperty(key, out var v) ? v.GetDouble() : fallback;

    /// <summary>The rollout length given to <c>set_timesteps</c>.</summary>
    public int NumInferenceSteps { get; }

    /// <summary>The number of <c>step</c> calls (Heun: 2N − 1).</summary>
    public int NumStepCalls { get; }

    /// <summary><c>scheduler.timesteps</c> after <c>set_timesteps</c>.</summary>
    public double[] Timesteps { get; }

    /// <summary><c>scheduler.sigmas</c> after <c>set_timesteps</c> (null for DDPM/DDIM).</summary>
    public double[]? Sigmas { get; }

    /// <summary><c>init_noise_sigma</c>.</summary>
    public double InitNoiseSigma { get; }

    /// <summary>True when the rollout drew noise.</summary>
    public bool Stochastic { get; }

    /// <summary>For each recorded noise draw k, the step call that drew it.</summary>
    public int[] NoiseStepIndex { get; }

    /// <summary>Indices into <see cref="Timesteps"/> of the three add_noise rows.</summary>
    public int[] AddNoiseScheduleIndices { get; }

    /// <summary>The sensitivity of the rollout.</summary>
    public FixtureConditioning Conditioning { get; }

    /// <summary>A named tensor of the case (owned by the fixture).</summary>
    public Tensor this[string name] => _tensors.TryGetValue(name, out var t)
        ? t : throw new KeyNotFoundException($"Case {Name} has no tensor '{name}'.");

    /// <summary>True when the case has tensor <paramref name="name"/>.</summary>
    public bool Has(string name) => _tensors.ContainsKey(name);

    /// <summary>Training betas [1000].</summary>
    public Tensor Betas => this["betas"];

    /// <summary>Training ᾱ [1000].</summary>
    public Tensor AlphasCumprod => this["alphas_cumprod"];

    /// <summary>Standard-normal start x_T [2,1,8,8].</summary>
    public Tensor XT => this["x_T"];

    /// <summary>x_T · init_noise_sigma [2,1,8,8].</summary>
    public Tensor XInit => this["x_init"];

    /// <summary>scale_model_input outputs per step call [S,2,1,8,8].</summary>
    public Tensor ModelInputs => this["model_inputs"];

    /// <summary>Fake-model outputs per step call [S,2,1,8,8].</summary>
    public Tensor ModelOutputs => this["model_outputs"];

    /// <summary>prev_sample per step call [S,2,1,8,8].</summary>
    public Tensor XSteps => this["x_steps"];

    /// <summary>pred_original_sample per step call [S,2,1,8,8], when the scheduler forms one.</summary>
    public Tensor? PredOriginalSamples => _tensors.GetValueOrDefault("pred_original_samples");

    /// <summary>Recorded noise draws [K,2,1,8,8] (stochastic cases).</summary>
    public Tensor? Noise => _tensors.GetValueOrDefault("noise");

    /// <summary>The recorded draws as a list, in order (views owned by the fixture), for <c>RecordedNoise</c>.</summary>
    public IReadOnlyList<Tensor> NoiseDraws()
    {
        if (Noise is not { } noise)
            return [];
        var draws = new List<Tensor>();
        for (int k = 0; k < noise.shape[0]; k++)
            draws.Add(noise[k]);
        return draws;
    }

    /// <summary>add_noise inputs x₀ [3,1,8,8].</summary>
    public Tensor AddNoiseX0 => this["add_noise_x0"];

    /// <summary>add_noise inputs ε [3,1,8,8].</summary>
    public Tensor AddNoiseNoise => this["add_noise_noise"];

    /// <summary>add_noise per-row timesteps [3].</summary>
    public Tensor AddNoiseTimesteps => this["add_noise_timesteps"];

    /// <summary>add_noise(x₀, ε, t) [3,1,8,8].</summary>
    public Tensor AddNoiseResult => this["add_noise_result"];

    /// <summary>get_velocity(x₀, ε, t) [3,1,8,8], where saved.</summary>
    public Tensor? AddNoiseVelocity => _tensors.GetValueOrDefault("add_noise_velocity");

    /// <summary>
    /// The fixtures' fake model <c>affine_v1</c>: c = (float)((0.05·t)/1000) computed in float64, then
    /// model_input·0.1f + c as two float32 operations.
    /// </summary>
    public static Tensor AffineV1(Tensor modelInput, double t)
    {
        float c = (float)((0.05 * t) / 1000.0);
        using var scaled = modelInput * 0.1f;
        return scaled + c;
    }

    /// <summary>
    /// The absolute tolerance for step call <paramref name="step"/> given the expected tensor: the README's
    /// 1e-4 · max(1, max|expected|), and, for ill-conditioned cases, that bound widened by the step's measured
    /// amplification (rel_change_per_step[i] / 2⁻²⁰) over 10, the amplification of the well-conditioned cases.
    /// </summary>
    public double Tolerance(Tensor expected, int step)
    {
        double scale = Math.Max(1.0, MaxAbs(expected));
        double tol = StepTolerance * scale;
        if (Conditioning.IllConditioned)
        {
            double amp = Conditioning.RelChangePerStep[step] / Conditioning.InputRelPerturbation;
            tol *= Math.Max(1.0, amp / 10.0);
        }
        return tol;
    }

    /// <summary>The largest max|a−b| / max(1, max|expected|) seen by the Assert* methods (for reporting).</summary>
    public double WorstScaledError { get; private set; }

    /// <summary>Where <see cref="WorstScaledError"/> was seen.</summary>
    public string WorstAt { get; private set; } = "";

    /// <summary>Asserts max|actual − expected| within <see cref="Tolerance"/> for step <paramref name="step"/>.</summary>
    public void AssertStepClose(Tensor actual, Tensor expected, int step, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double tol = Tolerance(expected, step);
        double err = MaxAbsDiff(actual, expected);
        Record(err / Math.Max(1.0, MaxAbs(expected)), $"{what}[{step}]");
        Assert.True(err <= tol, $"{Name}: {what}[{step}] max|a-b| = {err:G4} > tol {tol:G4} (max|expected| = {MaxAbs(expected):G4})");
    }

    /// <summary>Asserts a whole-tensor comparison at the README's plain rule (no step scaling).</summary>
    public void AssertClose(Tensor actual, Tensor expected, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double tol = StepTolerance * Math.Max(1.0, MaxAbs(expected));
        double err = MaxAbsDiff(actual, expected);
        Record(err / Math.Max(1.0, MaxAbs(expected)), what);
        Assert.True(err <= tol, $"{Name}: {what} max|a-b| = {err:G4} > tol {tol:G4}");
    }

    private void Record(double scaled, string where)
    {
        if (scaled > WorstScaledError)
        {
            WorstScaledError = scaled;
            WorstAt = where;
        }
    }

    /// <summary>One line for test output: the case's worst scaled error and its conditioning.</summary>
    public string Summary() =>
        $"{Name}: worst max|a-b|/max(1,|e|) = {WorstScaledError:E2} at {WorstAt}; amplification {Conditioning.Amplification:G3}{(Conditioning.IllConditioned ? " (ill-conditioned)" : "")}";

    /// <summary>
    /// Every key of <paramref name="written"/> (our options' <c>ToDiffusersConfig()</c>) exists in this case's diffusers
    /// config with the same value; numbers compare as doubles, arrays element by element.
    /// </summary>
    public void AssertWrittenConfigMatches(System.Text.Json.Nodes.JsonObject written)
    {
        foreach (var (key, value) in written)
        {
            Assert.True(Config.TryGetProperty(key, out var expected), $"{Name}: wrote key '{key}' that diffusers does not have");
            var actual = JsonDocument.Parse(value?.ToJsonString() ?? "null").RootElement;
            Assert.True(ConfigValueEquals(expected, actual), $"{Name}: '{key}' is {actual.GetRawText()}, diffusers has {expected.GetRawText()}");
        }
    }

    private static bool ConfigValueEquals(JsonElement a, JsonElement b) => (a.ValueKind, b.ValueKind) switch
    {
        (JsonValueKind.Number, JsonValueKind.Number) => a.GetDouble() == b.GetDouble(),
        (JsonValueKind.Array, JsonValueKind.Array) => a.GetArrayLength() == b.GetArrayLength()
            && a.EnumerateArray().Zip(b.EnumerateArray()).All(p => ConfigValueEquals(p.First, p.Second)),
        (JsonValueKind.String, JsonValueKind.String) => a.GetString() == b.GetString(),
        _ => a.ValueKind == b.ValueKind && a.GetRawText() == b.GetRawText(),
    };

    /// <summary>Asserts |a_i − e_i| ≤ rtol·|e_i| (+ a float32 ulp floor for zeros) element by element.</summary>
    public void AssertScheduleClose(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, string what, double rtol = ScheduleRtol)
    {
        Assert.True(actual.Length == expected.Length, $"{Name}: {what} has {actual.Length} values, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            double bound = rtol * Math.Abs(expected[i]) + 1e-12;
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound,
                $"{Name}: {what}[{i}] = {actual[i]:R}, expected {expected[i]:R} (rtol {rtol})");
        }
    }

    /// <summary>max|a − b| over all elements, in float64.</summary>
    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    }

    /// <summary>max|t| in float64.</summary>
    public static double MaxAbs(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.to(ScalarType.Float64).abs().max().item<double>();
    }

    /// <summary>A float32 tensor's values as float64.</summary>
    public static double[] ToDoubles(Tensor t)
    {
        using var d = t.to(ScalarType.Float64);
        return d.data<double>().ToArray();
    }

    /// <summary>Releases the tensors.</summary>
    public void Dispose()
    {
        foreach (var t in _tensors.Values)
            t.Dispose();
    }
}
