using DiffusionSharp.Compare;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Tests.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Compare;

/// <summary>
/// Input and weight gradients of every layer type the GAN and the VAE add, in float32 and bf16, against float64, with
/// the tolerances of <see cref="GradientCheckTests"/>. Spectrally normalised layers run in evaluation mode, so ũ is the
/// same in both copies (the power-iteration update is a no-grad side effect, checked separately).
/// </summary>
// Runs alone: the models draw their initial weights from the process-wide generator, which the test seeds; a class
// running in parallel could draw from it between the seed and the build (one CI run then checked other weights).
[Collection("Exclusive")]
public sealed class CompareGradientCheckTests(ITestOutputHelper output)
{
    private sealed record Case(Func<LayerContext, nn.Module> Build, Func<nn.Module, Tensor[], Tensor> Run, Func<Generator, Tensor[]> Inputs, bool Composite = false, bool WholeNetwork = false);

    private static readonly GanConfig s_gan = new() { Variant = GanVariants.HingeSpectralNorm, NumClasses = 10, GeneratorWidth = 8, DiscriminatorWidth = 8, LatentDim = 8, LabelEmbedDim = 4, ImageSize = 16, NormGroups = 2 };

    private static readonly Dictionary<string, Case> s_cases = new()
    {
        ["conv3x3 1->16 stride 1"] = new(c => new ConvLayer(c, 1, 16, 3, 1, false, 0), (m, x) => ((ConvLayer)m).call(x[0]), g => [randn(2, 1, 8, 8, generator: g)]),
        ["conv3x3 16->32 stride 2"] = new(c => new ConvLayer(c, 16, 32, 3, 2, false, 0), (m, x) => ((ConvLayer)m).call(x[0]), g => [randn(2, 16, 8, 8, generator: g)]),
        ["spectral-norm conv3x3 8->16 stride 2"] = new(c => new ConvLayer(c, 8, 16, 3, 2, true, 3), (m, x) => ((ConvLayer)m).call(x[0]), g => [randn(2, 8, 8, 8, generator: g)], Composite: true),
        ["spectral-norm linear 32->1"] = new(c => new LinearLayer(c, 32, 1, true, 4), (m, x) => ((LinearLayer)m).call(x[0]), g => [randn(3, 32, generator: g)], Composite: true),
        ["linear 12->64"] = new(c => new LinearLayer(c, 12, 64, false, 0), (m, x) => ((LinearLayer)m).call(x[0]), g => [randn(3, 12, generator: g)]),
        ["up block nearest x2 + conv + groupnorm + relu"] = new(c => new UpBlock(c, 16, 8, 4), (m, x) => ((UpBlock)m).call(x[0], null), g => [randn(2, 16, 4, 4, generator: g)], Composite: true),
        ["class-conditional groupnorm"] = new(c => Randomised(new ClassConditionalNorm(4, 16, 6)), (m, x) => ((ClassConditionalNorm)m).call(x[0], x[1]), g => [randn(3, 16, 4, 4, generator: g), randn(3, 6, generator: g)], Composite: true),
        ["GAN generator (class-conditional norms)"] = new(c => Only(Randomised(Gan(c)), n => n.StartsWith("generator.", StringComparison.Ordinal)), (m, x) => ((GanModel)m).Decode(x[0], x[1]), g => [randn(3, 8, generator: g), tensor(new long[] { 1, 7, 3 })], Composite: true, WholeNetwork: true),
        ["GAN generator (label embedding concatenated to z)"] = new(c => Only(new GanModel(s_gan with { LabelConditioning = GanLabelConditioning.Input }) { Precision = c.Precision }, n => n.StartsWith("generator.", StringComparison.Ordinal)), (m, x) => ((GanModel)m).Decode(x[0], x[1]), g => [randn(3, 8, generator: g), tensor(new long[] { 1, 7, 3 })], Composite: true, WholeNetwork: true),
        ["GAN discriminator (spectral norm, projection)"] = new(c => Only(Gan(c), n => n.StartsWith("discriminator.", StringComparison.Ordinal)), (m, x) => ((GanModel)m).Discriminate(x[0], x[1]), g => [randn(3, 1, 16, 16, generator: g), tensor(new long[] { 1, 7, 3 })], Composite: true, WholeNetwork: true),
        ["VAE encoder mean and log-variance"] = new(c => Only(Vae(c), IsEncoder), (m, x) => { var (mu, lv) = ((VaeModel)m).Encode(x[0], x[1]); return cat([mu, lv], 1); }, g => [randn(3, 1, 16, 16, generator: g), tensor(new long[] { 0, 9, 4 })], Composite: true, WholeNetwork: true),
        ["VAE decoder logits"] = new(c => Only(Vae(c), n => !IsEncoder(n)), (m, x) => ((VaeModel)m).DecoderLogits(x[0], x[1]), g => [randn(3, 4, generator: g), tensor(new long[] { 0, 9, 4 })], Composite: true, WholeNetwork: true),
    };

    /// <summary>Every layer in fp32 and bf16; the whole networks in fp32 only, since the models refuse bf16 (see <see cref="GanModel.Precision"/>).</summary>
    public static TheoryData<string, ComputePrecision> Cases
    {
        get
        {
            var data = new TheoryData<string, ComputePrecision>();
            foreach (var (name, c) in s_cases)
            {
                data.Add(name, ComputePrecision.Full);
                if (!c.WholeNetwork)
                    data.Add(name, ComputePrecision.BFloat16);
            }
            return data;
        }
    }

    [Fact]
    public void TheModelsRefuseBf16()
    {
        using var gan = new GanModel(s_gan);
        using var vae = new VaeModel(new VaeConfig { NumClasses = 10, Width = 8, LatentDim = 4, ImageSize = 16, NormGroups = 2 });
        Assert.Contains("bf16", Assert.Throws<NotSupportedException>(() => gan.Precision = ComputePrecision.BFloat16).Message);
        Assert.Contains("bf16", Assert.Throws<NotSupportedException>(() => vae.Precision = ComputePrecision.BFloat16).Message);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LayerGradientsMatchFloat64(string name, ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        var c = s_cases[name];
        var ctx = new LayerContext { Precision = precision };
        manual_seed(20261202);   // the models draw their initial weights from the global generator: fix them, whatever ran before
        using var module = c.Build(ctx);
        using var reference = c.Build(new LayerContext());
        reference.load_state_dict(module.state_dict());
        reference.to(ScalarType.Float64);
        module.eval();
        reference.eval();
        var inputs64 = c.Inputs(new Generator(7)).Select(t => t.is_floating_point() ? t.to(ScalarType.Float64) : t).ToArray();
        double tol = precision == ComputePrecision.Full ? GradientCheckTests.Float32Tolerance
            : c.Composite ? GradientCheckTests.BFloat16BlockTolerance : GradientCheckTests.BFloat16LayerTolerance;
        var errors = GradientCheckTests.CompareGradients(module, reference, inputs64, (m, xs) => c.Run(m, xs));
        foreach (var (what, err) in errors)
        {
            output.WriteLine($"{name} [{precision}] {what}: {err:E2}");
            Assert.True(err <= tol, $"{name} [{precision}]: {what} gradient error {err:E3} > {tol:E1}");
        }
    }

    [Fact]
    public void PowerIterationConvergesToTheLargestSingularValue()
    {
        using var scope = NewDisposeScope();
        var sn = new SpectralNorm(6, seed: 1);
        sn.train();
        var w = randn(6, 10, generator: new Generator(2));
        for (int i = 0; i < 50; i++)
            sn.Normalize(w);
        double largest = linalg.svdvals(w)[0].item<float>();
        var normalised = sn.Normalize(w);
        Assert.Equal(1.0, linalg.svdvals(normalised)[0].item<float>(), 3);
        Assert.True(largest > 1, $"σ₁ = {largest}");
    }

    /// <summary>Replaces the zero-initialised class gains with random ones, so that the class path carries a gradient to check.</summary>
    private static T Randomised<T>(T module) where T : nn.Module
    {
        using var _ = no_grad();
        foreach (var (name, p) in module.named_parameters())
            if (name.Contains("class_affine", StringComparison.Ordinal))
                p.copy_(randn_like(p) * 0.3);
        return module;
    }

    private static bool IsEncoder(string name) => name.StartsWith("encoder.", StringComparison.Ordinal) || name.StartsWith("posterior.", StringComparison.Ordinal);

    /// <summary>Freezes the parameters the probed half does not use (the other network of the model), so only the probed ones are compared.</summary>
    private static nn.Module Only(nn.Module model, Func<string, bool> probed)
    {
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = probed(name);
        return model;
    }

    // The GAN and VAE probes are whole models at an 8×8 size; the layer context is theirs, so precision is set on them.
    private static GanModel Gan(LayerContext ctx) => new(s_gan) { Precision = ctx.Precision };

    private static VaeModel Vae(LayerContext ctx) => new(new VaeConfig { NumClasses = 10, Width = 8, LatentDim = 4, ImageSize = 16, NormGroups = 2 }) { Precision = ctx.Precision };
}
