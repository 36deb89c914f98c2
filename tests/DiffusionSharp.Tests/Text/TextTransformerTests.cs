using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Text;

/// <summary>
/// The text transformer: shapes, causality, save/load, and float64 gradient checks of every layer type in fp32 and bf16
/// (tolerances as in <see cref="Models.GradientCheckTests"/>: 1e-4 in float32; 8u per bf16 layer, 16u for blocks
/// that chain several bf16 products, u = 2⁻⁸).
/// </summary>
public sealed class TextTransformerTests(ITestOutputHelper output)
{
    internal const double Float32Tolerance = 1e-4;
    private const double BFloat16LayerTolerance = 8.0 / 256;
    internal const double BFloat16BlockTolerance = 16.0 / 256;

    internal static TextTransformerConfig Tiny(bool causal = false, bool time = false) =>
        new("\nabcdefgh", Length: 12, Width: 16, Depth: 2, Heads: 2, MlpRatio: 2, Causal: causal, TimeConditioning: time);

    private sealed record LayerCase(Func<LayerContext, nn.Module> Build, Func<nn.Module, Tensor, Tensor> Run, Func<Generator, Tensor> Input, bool Composite);

    private static readonly Dictionary<string, LayerCase> s_cases = new()
    {
        ["rotary self-attention, bidirectional"] = new(c => new RotarySelfAttention(c, 16, 2, false, 10_000), (m, x) => ((RotarySelfAttention)m).call(x), g => randn(2, 7, 16, generator: g), true),
        ["rotary self-attention, causal"] = new(c => new RotarySelfAttention(c, 16, 4, true, 10_000), (m, x) => ((RotarySelfAttention)m).call(x), g => randn(2, 7, 16, generator: g), true),
        ["feed-forward"] = new(c => new FeedForward(c, 16, 32), (m, x) => ((FeedForward)m).call(x), g => randn(2, 5, 16, generator: g), true),
        ["pre-LN block"] = new(c => new TransformerBlock(c, 16, 2, 32, false, 10_000), (m, x) => ((TransformerBlock)m).call(x), g => randn(2, 6, 16, generator: g), true),
        ["pre-LN causal block"] = new(c => new TransformerBlock(c, 16, 2, 32, true, 10_000), (m, x) => ((TransformerBlock)m).call(x), g => randn(2, 6, 16, generator: g), true),
        ["time conditioning"] = new(c => new TimeConditioning(c, 16), (m, x) => ((TimeConditioning)m).call(x), g => rand(3, generator: g), true),
    };

    public static TheoryData<string, ComputePrecision> Cases => Models.GradientCheckTests.InBothPrecisions(s_cases.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void LayerGradientsMatchFloat64(string name, ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        var c = s_cases[name];
        using var module = c.Build(new LayerContext { Precision = precision });
        using var reference = c.Build(new LayerContext());
        reference.load_state_dict(module.state_dict());
        reference.to(ScalarType.Float64);
        var x64 = c.Input(new Generator(7)).to(ScalarType.Float64);
        double tol = precision == ComputePrecision.Full ? Float32Tolerance : c.Composite ? BFloat16BlockTolerance : BFloat16LayerTolerance;
        foreach (var (what, err) in CompareGradients(module, reference, x64, c.Run))
        {
            output.WriteLine($"{name} [{precision}] {what}: {err:E2}");
            Assert.True(err <= tol, $"{name} [{precision}]: {what} gradient error {err:E3} > {tol:E1}");
        }
    }

    [Fact]
    public void CausalModelOnlyLooksBack()
    {
        using var scope = NewDisposeScope();
        foreach (bool causal in new[] { true, false })
        {
            using var model = new TextTransformer(Tiny(causal));
            var a = randint(0, 9, [1, 10], generator: new Generator(1));
            var b = a.clone();
            b[0, 6] = (b[0, 6] + 1) % 9;
            using var mode = inference_mode();
            var diff = (model.call(a, zeros(1)) - model.call(b, zeros(1))).abs().amax([0, 2]);
            double before = diff.narrow(0, 0, 6).max().item<float>(), after = diff.narrow(0, 6, 4).min().item<float>();
            Assert.True(after > 1e-4, $"causal {causal}: changing position 6 must change its own logits");
            if (causal)
                Assert.Equal(0, before);
            else
                Assert.True(before > 1e-4, "a bidirectional model sees later tokens");
        }
    }

    [Fact]
    public void SaveAndLoadGiveTheSameLogits()
    {
        using var scope = NewDisposeScope();
        using var temp = new TempFolder();
        using var model = new TextTransformer(Tiny(time: true));
        model.Save(temp.Path);
        using var loaded = TextTransformer.Load(temp.Path);
        Assert.Equal(model.Config, loaded.Config);
        Assert.Equal(model.Config.CountParameters(), model.parameters().Sum(p => p.numel()));
        var x = randint(0, 10, [2, 12], generator: new Generator(2));
        var t = tensor(new float[] { 0.3f, 0.7f });
        using var mode = inference_mode();
        Assert.True(model.call(x, t).eq(loaded.call(x, t)).all().item<bool>());
    }

    [Fact]
    public void BrokenModelFoldersGiveOneLineErrors()
    {
        using var temp = new TempFolder();
        var e = Assert.Throws<InvalidDataException>(() => TextTransformer.Load(temp.Path));
        Assert.Contains("config.json: not found", e.Message, StringComparison.Ordinal);
        using (var model = new TextTransformer(Tiny()))
            model.Save(temp.Path);
        File.WriteAllText(temp.File("config.json"), File.ReadAllText(temp.File("config.json")).Replace("\"width\": 16", "\"width\": 32", StringComparison.Ordinal));
        e = Assert.Throws<InvalidDataException>(() => TextTransformer.Load(temp.Path));
        Assert.Contains("parameters", e.Message, StringComparison.Ordinal);
        File.WriteAllText(temp.File("config.json"), "{\"characters\": \"ba\"}");
        e = Assert.Throws<InvalidDataException>(() => TextTransformer.Load(temp.Path));
        Assert.Contains("ascending", e.Message, StringComparison.Ordinal);
        File.WriteAllText(temp.File("config.json"), "{\"characters\": \"ab\", \"heads\": 3}");
        Assert.Throws<InvalidDataException>(() => TextTransformer.Load(temp.Path));
        File.WriteAllText(temp.File("config.json"), "not json");
        e = Assert.Throws<InvalidDataException>(() => TextTransformer.Load(temp.Path));
        Assert.DoesNotContain('\n', e.Message);
    }

    internal static List<(string What, double Error)> CompareGradients(nn.Module module, nn.Module reference, Tensor input64, Func<nn.Module, Tensor, Tensor> run)
    {
        var x32 = input64.to(ScalarType.Float32).detach().requires_grad_(true);
        var x64 = input64.detach().requires_grad_(true);
        var y64 = run(reference, x64);
        var dy = randn(y64.shape, ScalarType.Float64, generator: new Generator(5)) + 1;
        (y64 * dy).sum().backward();
        var y32 = run(module, x32);
        Assert.Equal(ScalarType.Float32, y32.dtype);
        (y32.to(ScalarType.Float64) * dy).sum().backward();
        var errors = new List<(string, double)>();
        if (x64.grad is not null && x64.grad.abs().max().item<double>() > 0)
            errors.Add(("input", RelErr(x32.grad!, x64.grad)));
        var refParams = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in module.named_parameters())
        {
            var r = refParams[name].grad;
            if (r is null || r.abs().max().item<double>() == 0)
                continue; // e.g. the key bias (softmax ignores it) or unused embedding rows only; no signal to compare
            if (name.EndsWith("qkv.bias", StringComparison.Ordinal))
            {
                // The key third of this bias has gradient ≡ 0 in exact arithmetic (softmax is shift-invariant): compare
                // the q and v thirds only.
                long w = p.shape[0] / 3;
                errors.Add((name + " (q)", RelErr(p.grad!.narrow(0, 0, w), r.narrow(0, 0, w))));
                errors.Add((name + " (v)", RelErr(p.grad!.narrow(0, 2 * w, w), r.narrow(0, 2 * w, w))));
                continue;
            }
            errors.Add((name, RelErr(p.grad!, r)));
        }
        return errors;
    }

    private static double RelErr(Tensor actual, Tensor expected)
    {
        double err = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max().item<double>()
            / expected.abs().max().to(ScalarType.Float64).item<double>();
        return double.IsNaN(err) ? double.PositiveInfinity : err;
    }
}
