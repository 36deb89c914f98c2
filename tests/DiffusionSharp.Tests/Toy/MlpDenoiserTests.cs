using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Tests.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Toy;

/// <summary>Construction, inputs, checkpoints and gradients of <see cref="MlpDenoiser"/>.</summary>
public sealed class MlpDenoiserTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("mlp-tests-");

    public void Dispose() => _tmp.Delete(recursive: true);

    private static readonly MlpDenoiserConfig s_small = new() { Width = 32, NumBlocks = 2, TimeEmbedDim = 48, NumClasses = 3 };

    [Fact]
    public void FreshModelHasIdentityLayerNormsAndTheCountedParameters()
    {
        using var model = new MlpDenoiser(s_small);
        int norms = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.True(p.isfinite().all().item<bool>(), $"{name} has non-finite values");
            if (!name.Contains("norm"))
                continue;
            norms++;
            float expected = name.EndsWith(".weight", StringComparison.Ordinal) ? 1f : 0f;
            Assert.True(p.eq(expected).all().item<bool>(), $"{name} is not {expected}");
        }
        Assert.Equal(2 * s_small.NumBlocks, norms);
        Assert.Equal(s_small.CountParameters(), model.ParameterCount);
        using var standard = new MlpDenoiser(new MlpDenoiserConfig());
        output.WriteLine($"default config (width 128, 4 blocks): {standard.ParameterCount} parameters");
        Assert.Equal(new MlpDenoiserConfig().CountParameters(), standard.ParameterCount);
    }

    [Fact]
    public void PredictsPointsShapedLikeItsInputAndChecksItsArguments()
    {
        using var scope = NewDisposeScope();
        using var model = new MlpDenoiser(s_small);
        var x = randn(5, 2);
        Assert.Equal([5L, 2], model.Predict(x, tensor(new long[] { 0, 10, 500, 999, 3 }), tensor(new long[] { 0, 1, 2, 3, 1 })).shape);
        Assert.Equal([5L, 2], model.Predict(x, tensor(7.5f), null).shape);   // scalar t, null class
        // No labels is the null class.
        Assert.True(model.Predict(x, tensor(7L), null).equal(model.Predict(x, tensor(7L), full(5, 3L))).all().item<bool>());
        Assert.Throws<ArgumentException>(() => model.Predict(randn(5, 3), tensor(1L), null));
        Assert.Throws<ArgumentException>(() => model.Predict(randn(5, 2, 1), tensor(1L), null));
        Assert.Throws<ArgumentException>(() => model.Predict(x, zeros(4), null));
        var e = Assert.Throws<ArgumentException>(() => model.Predict(x, tensor(1L), full(5, 4L)));
        Assert.Contains("[0, 3]", e.Message);
        using var unconditional = new MlpDenoiser(s_small with { NumClasses = 0 });
        Assert.Throws<ArgumentException>(() => unconditional.Predict(x, tensor(1L), zeros(5, ScalarType.Int64)));
        Assert.Throws<ArgumentException>(() => new MlpDenoiser(s_small with { Width = 33 }));
    }

    [Theory]
    [InlineData(ComputePrecision.Full)]
    [InlineData(ComputePrecision.BFloat16)]
    public void SaveAndLoadRoundTripBitExactly(ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        using var model = new MlpDenoiser(s_small) { Precision = precision };
        string dir = Path.Combine(_tmp.FullName, "m");
        model.SavePretrained(dir);
        using var loaded = MlpDenoiser.FromPretrained(dir);
        loaded.Precision = precision;
        Assert.Equal(s_small, loaded.Config);
        var a = model.state_dict();
        foreach (var (key, value) in loaded.state_dict())
            Assert.True(value.equal(a[key]).all().item<bool>(), $"{key} differs after the round trip");
        var x = randn(8, 2, generator: new Generator(2));
        var t = arange(0, 800, 100, dtype: ScalarType.Int64);
        var y = tensor(new long[] { 0, 1, 2, 3, 0, 1, 2, 3 });
        Assert.True(model.Predict(x, t, y).equal(loaded.Predict(x, t, y)).all().item<bool>());
        Assert.Contains("\"_class_name\": \"MlpDenoiser\"", File.ReadAllText(Path.Combine(dir, MlpDenoiser.ConfigFileName)));
    }

    [Fact]
    public void BrokenFoldersGiveOneLineErrorsNamingTheFile()
    {
        using var model = new MlpDenoiser(s_small);
        string Fresh(string name)
        {
            string d = Path.Combine(_tmp.FullName, name);
            model.SavePretrained(d);
            return d;
        }
        void Fails(string dir, string file, string fragment)
        {
            var e = Assert.Throws<InvalidDataException>(() => MlpDenoiser.FromPretrained(dir).Dispose());
            Assert.DoesNotContain('\n', e.Message);
            Assert.Contains(file, e.Message);
            Assert.Contains(fragment, e.Message);
        }

        Fails(Path.Combine(_tmp.FullName, "absent"), MlpDenoiser.ConfigFileName, "not found");
        string noWeights = Fresh("no-weights");
        File.Delete(Path.Combine(noWeights, MlpDenoiser.WeightsFileName));
        Fails(noWeights, MlpDenoiser.WeightsFileName, "not found");
        string badJson = Fresh("bad-json");
        File.WriteAllText(Path.Combine(badJson, MlpDenoiser.ConfigFileName), "{\"_class_name\": \"MlpDenoiser\", ");
        Fails(badJson, MlpDenoiser.ConfigFileName, "malformed JSON");
        string wrongClass = Fresh("wrong-class");
        File.WriteAllText(Path.Combine(wrongClass, MlpDenoiser.ConfigFileName), "{\"_class_name\": \"UNet2DModel\"}");
        Fails(wrongClass, MlpDenoiser.ConfigFileName, "expected 'MlpDenoiser'");
        string badValue = Fresh("bad-value");
        File.WriteAllText(Path.Combine(badValue, MlpDenoiser.ConfigFileName), "{\"_class_name\": \"MlpDenoiser\", \"width\": -4}");
        Fails(badValue, MlpDenoiser.ConfigFileName, "width");
        string truncated = Fresh("truncated");
        string weights = Path.Combine(truncated, MlpDenoiser.WeightsFileName);
        File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..200]);
        Fails(truncated, MlpDenoiser.WeightsFileName, "");
        string otherShape = Fresh("other-shape");
        File.WriteAllText(Path.Combine(otherShape, MlpDenoiser.ConfigFileName), (s_small with { NumBlocks = 1 }).ToJson());
        Fails(otherShape, MlpDenoiser.WeightsFileName, "parameters");
    }

    public static TheoryData<string, ComputePrecision> GradientCases
    {
        get
        {
            var data = new TheoryData<string, ComputePrecision>();
            foreach (var name in new[] { "layernorm", "residual block", "whole network" })
            {
                data.Add(name, ComputePrecision.Full);
                data.Add(name, ComputePrecision.BFloat16);
            }
            return data;
        }
    }

    /// <summary>Input and parameter gradients against float64, with the tolerances of <see cref="GradientCheckTests"/>.</summary>
    [Theory]
    [MemberData(nameof(GradientCases))]
    public void GradientsMatchFloat64(string name, ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(7);
        (Func<LayerContext, nn.Module> build, Func<nn.Module, Tensor[], Tensor> run, Tensor[] inputs, bool composite) = name switch
        {
            "layernorm" => ((Func<LayerContext, nn.Module>)(_ => new LayerNormProbe(24)), (Func<nn.Module, Tensor[], Tensor>)((m, x) => ((LayerNormProbe)m).call(x[0])),
                new[] { randn(4, 24, ScalarType.Float64, generator: g) * 3 + 1 }, false),
            "residual block" => (c => new MlpResidualBlock(c, 32, 48, 1e-5), (m, x) => ((MlpResidualBlock)m).call(x[0], x[1]),
                new[] { randn(4, 32, ScalarType.Float64, generator: g), randn(4, 48, ScalarType.Float64, generator: g) }, true),
            _ => (c => new MlpDenoiser(s_small) { Precision = c.Precision }, (m, x) => ((MlpDenoiser)m).call(x[0], x[1], x[2]),
                new[] { randn(4, 2, ScalarType.Float64, generator: g), tensor(new long[] { 3, 250, 700, 999 }), tensor(new long[] { 0, 1, 2, 3 }) }, true),
        };
        torch.manual_seed(3);
        using var module = build(new LayerContext { Precision = precision });
        using var reference = build(new LayerContext());
        reference.load_state_dict(module.state_dict());
        reference.to(ScalarType.Float64);
        double tol = precision == ComputePrecision.Full ? GradientCheckTests.Float32Tolerance
            : composite ? GradientCheckTests.BFloat16BlockTolerance : GradientCheckTests.BFloat16LayerTolerance;
        var errors = GradientCheckTests.CompareGradients(module, reference, inputs, run);
        var worst = errors.MaxBy(e => e.Error);
        output.WriteLine($"{name} [{precision}]: {errors.Count} gradients, worst {worst.What} {worst.Error:E2}");
        foreach (var (what, err) in errors)
            Assert.True(err <= tol, $"{name} [{precision}]: {what} gradient error {err:E3} > {tol:E1}");
    }

    private sealed class LayerNormProbe : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.LayerNorm norm;

        public LayerNormProbe(long width) : base(nameof(LayerNormProbe))
        {
            norm = MlpResidualBlock.NewLayerNorm(width, 1e-5);
            using (no_grad())
            {
                // A non-trivial affine, so that swapped or dropped weight/bias gradients show.
                norm.weight!.copy_(randn(width, generator: new Generator(2)) * 0.1 + 1);
                norm.bias!.copy_(randn(width, generator: new Generator(4)) * 0.1);
            }
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => MlpResidualBlock.LayerNormOf(norm, 1e-5, x);
    }
}
