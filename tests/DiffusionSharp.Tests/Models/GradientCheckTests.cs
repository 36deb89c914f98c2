using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Tests.Models;

/// <summary>
/// Input and weight gradients of every layer type the U-Net uses, in float32 and in the bfloat16 path, against the
/// same layer run in float64 (libtorch has no oneDNN float64 conv, so the reference takes the native kernels).
/// Errors are max|g − g₆₄| / max|g₆₄| per tensor.
/// </summary>
/// <remarks>
/// Tolerances. float32: 1e-4 (rounding gives ~1e-6 here; the oneDNN defect gives 0.1–1 or NaN).
/// bfloat16: u = 2⁻⁸ ≈ 3.9e-3 is its unit roundoff. A bf16 product rounds both operands and its result (≈ 3u worst
/// case per element, ~u typical after fp32 accumulation); a gradient passes through the forward product and one or
/// two backward products, so a single layer stays within 8u ≈ 3.1e-2; blocks that chain several bf16 products
/// (residual block, attention, the whole U-Net) get 16u ≈ 6.3e-2. Measured: ≤ 5e-3 per layer, ≤ 2.3e-2 for the
/// U-Net. The defect's errors (≥ 0.1, NaN, 1e25) stay far above both.
/// </remarks>
public sealed class GradientCheckTests(ITestOutputHelper output)
{
    internal const double Float32Tolerance = 1e-4;
    internal const double BFloat16LayerTolerance = 8.0 / 256;
    internal const double BFloat16BlockTolerance = 16.0 / 256;

    /// <summary>A layer under test: how to build it and how to call it on its inputs.</summary>
    private sealed record LayerCase(Func<LayerContext, nn.Module> Build, Func<nn.Module, Tensor[], Tensor> Run,
        Func<Generator, Tensor[]> Inputs, bool Composite = false, double Float32Tolerance = Float32Tolerance);

    private static readonly Dictionary<string, LayerCase> s_cases = new()
    {
        ["conv3x3 32->32"] = Conv(32, 32, 3, 1, 1),
        ["conv3x3 32->1 (conv_out)"] = Conv(32, 1, 3, 1, 1),
        ["conv3x3 64->4"] = Conv(64, 4, 3, 1, 1),
        ["conv3x3 16->3 (cifar conv_out)"] = Conv(16, 3, 3, 1, 1),
        ["conv3x3 1->32 (conv_in)"] = Conv(1, 32, 3, 1, 1),
        ["conv3x3 48->16 (up-block resnet)"] = Conv(48, 16, 3, 1, 1),
        ["conv1x1 96->64 (conv_shortcut)"] = Conv(96, 64, 1, 1, 0),
        ["conv1x1 48->16 (conv_shortcut)"] = Conv(48, 16, 1, 1, 0),
        ["downsample stride 2 pad 1"] = new(c => new Downsample2D(c, "d", 32, 1), (m, x) => ((Downsample2D)m).call(x[0]), g => [randn(2, 32, 8, 8, generator: g)]),
        ["downsample stride 2 pad 0 (asymmetric)"] = new(c => new Downsample2D(c, "d", 16, 0), (m, x) => ((Downsample2D)m).call(x[0]), g => [randn(2, 16, 8, 8, generator: g)]),
        ["upsample nearest x2 + conv"] = new(c => new Upsample2D(c, "u", 32), (m, x) => ((Upsample2D)m).call(x[0]), g => [randn(2, 32, 4, 4, generator: g)]),
        ["linear 64->256"] = new(c => new LinearProbe(c, 64, 256), (m, x) => ((LinearProbe)m).call(x[0]), g => [randn(3, 64, generator: g)]),
        ["groupnorm 8 groups"] = new(_ => new GroupNormProbe(8, 32), (m, x) => ((GroupNormProbe)m).call(x[0]), g => [randn(2, 32, 5, 5, generator: g) * 3 + 1]),
        ["silu"] = new(_ => new ActivationProbe(), (m, x) => ((ActivationProbe)m).call(x[0]), g => [randn(2, 8, 4, 4, generator: g) * 3]),
        ["attention 4 heads of 8"] = new(c => new SpatialSelfAttention(c, "a", 32, 8, 8, 1e-5, 1.0), (m, x) => ((SpatialSelfAttention)m).call(x[0]), g => [randn(2, 32, 4, 4, generator: g)], Composite: true),
        ["attention 1 head, no norm, rescale 2"] = new(c => new SpatialSelfAttention(c, "a", 16, 16, null, 1e-6, 2.0), (m, x) => ((SpatialSelfAttention)m).call(x[0]), g => [randn(2, 16, 4, 4, generator: g)], Composite: true),
        ["resnet block 32->64 (shortcut)"] = new(c => new ResnetBlock2D(c, "r", 32, 64, 128, 8, 1e-5, 0, ActivationFunction.Silu, ResnetTimeScaleShift.Default, 1.0),
            (m, x) => ((ResnetBlock2D)m).call(x[0], x[1]), g => [randn(2, 32, 8, 8, generator: g), randn(2, 128, generator: g)], Composite: true),
        ["resnet block scale-shift"] = new(c => new ResnetBlock2D(c, "r", 32, 32, 64, 8, 1e-6, 0, ActivationFunction.Silu, ResnetTimeScaleShift.ScaleShift, 1.0),
            (m, x) => ((ResnetBlock2D)m).call(x[0], x[1]), g => [randn(2, 32, 8, 8, generator: g), randn(2, 64, generator: g)], Composite: true),
        ["timestep embedding MLP (sinusoid input)"] = new(c => new TimestepEmbedding(c, 32, 128, "time_embedding"),
            (m, x) => ((TimestepEmbedding)m).call(x[0]), g => [new Timesteps(32, true, 0).call(tensor(new float[] { 3, 250.5f, 999 }))]),
        ["class embedding table"] = new(_ => new ClassEmbeddingTable(10, 64), (m, x) => ((ClassEmbeddingTable)m).call(x[0]), g => [tensor(new long[] { 3, 7, 3 })]),
        // The phase θ = 2π·W·log σ reaches |θ| ≈ 10³ here (W ~ N(0, 16²) as diffusers draws it, σ ∈ [0.01, 10]); float32
        // rounds θ to within 2⁻²⁴·|θ| ≈ 6e-5 rad, and sin/cos hand that on to the gradient, so this layer's float32
        // error is ~1e-4 by conditioning alone (diffusers' float32 layer has the same). 1e-3 still catches a wrong
        // derivative (errors of order 1). W comes from a fixed generator so the case is the same on every run.
        ["gaussian fourier features of sigma"] = new(_ => FourierProjection(16, 16, seed: 13), (m, x) => ((GaussianFourierProjection)m).call(x[0]),
            g => [rand(3, generator: g) * 10 + 0.01], Float32Tolerance: 1e-3),
    };

    public static TheoryData<string, ComputePrecision> Cases => InBothPrecisions(s_cases.Keys);

    /// <summary>Every case name once in fp32 and once in bf16: the theory data of each gradient-check class.</summary>
    internal static TheoryData<string, ComputePrecision> InBothPrecisions(IEnumerable<string> names)
    {
        var data = new TheoryData<string, ComputePrecision>();
        foreach (var name in names)
        {
            data.Add(name, ComputePrecision.Full);
            data.Add(name, ComputePrecision.BFloat16);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LayerGradientsMatchFloat64(string name, ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        var c = s_cases[name];
        var ctx = new LayerContext { Precision = precision };
        using var module = c.Build(ctx);
        using var reference = c.Build(new LayerContext());
        reference.load_state_dict(module.state_dict());
        reference.to(ScalarType.Float64);

        var inputs64 = c.Inputs(new Generator(7)).Select(t => t.is_floating_point() ? t.to(ScalarType.Float64) : t).ToArray();
        double tol = precision == ComputePrecision.Full ? c.Float32Tolerance : c.Composite ? BFloat16BlockTolerance : BFloat16LayerTolerance;
        var errors = CompareGradients(module, reference, inputs64, (m, xs) => c.Run(m, xs));
        foreach (var (what, err) in errors)
        {
            output.WriteLine($"{name} [{precision}] {what}: {err:E2}");
            Assert.True(err <= tol, $"{name} [{precision}]: {what} gradient error {err:E3} > {tol:E1}");
        }
    }

    public static TheoryData<int, int, ComputePrecision> FewChannelConvs => new()
    {
        { 32, 1, ComputePrecision.Full }, { 64, 4, ComputePrecision.Full }, { 16, 3, ComputePrecision.Full }, { 17, 8, ComputePrecision.Full },
        { 32, 1, ComputePrecision.BFloat16 }, { 64, 4, ComputePrecision.BFloat16 }, { 1, 32, ComputePrecision.BFloat16 }, { 3, 16, ComputePrecision.BFloat16 },
    };

    /// <summary>
    /// The defect itself: libtorch's raw conv2d against the mitigated one on the shapes that break it. The raw error
    /// is recorded in the output (it depends on the CPU and on memory contents, so it is not asserted); the
    /// mitigated path must be right.
    /// </summary>
    [Theory]
    [MemberData(nameof(FewChannelConvs))]
    public void RawConvDefectIsRecordedAndTheMitigatedConvIsRight(int cin, int cout, ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var x64 = randn(2, cin, 8, 8, ScalarType.Float64, generator: g);
        var w64 = randn(cout, cin, 3, 3, ScalarType.Float64, generator: g) / Math.Sqrt(cin * 9);
        var b64 = randn(cout, ScalarType.Float64, generator: g);
        var dy64 = randn(2, cout, 8, 8, ScalarType.Float64, generator: g) + 1;
        var dt = precision == ComputePrecision.Full ? ScalarType.Float32 : ScalarType.BFloat16;
        double tol = precision == ComputePrecision.Full ? Float32Tolerance : BFloat16LayerTolerance;

        (Tensor Dx, Tensor Dw, Tensor Y) Run(ScalarType type, Func<Tensor, Tensor, Tensor, Tensor> conv)
        {
            var x = x64.to(type).detach().requires_grad_(true);
            var w = w64.to(type).detach().requires_grad_(true);
            var b = b64.to(type).detach().requires_grad_(true);
            var y = conv(x, w, b);
            y.backward([dy64.to(type)]);
            return (x.grad!, w.grad!, y.detach());
        }

        var reference = Run(ScalarType.Float64, (x, w, b) => F.conv2d(x, w, b, [1], [1]));
        var raw = Run(dt, (x, w, b) => F.conv2d(x, w, b, [1], [1]));
        var mitigated = Run(dt, (x, w, b) => CpuConvolution.Conv2d(x, w, b, 1, 1));
        double rawDx = RelErr(raw.Dx, reference.Dx), rawDw = RelErr(raw.Dw, reference.Dw), rawY = RelErr(raw.Y, reference.Y);
        double dx = RelErr(mitigated.Dx, reference.Dx), dw = RelErr(mitigated.Dw, reference.Dw), y = RelErr(mitigated.Y, reference.Y);
        string verdict = rawDx <= tol && rawDw <= tol && rawY <= tol ? "within tolerance on this machine" : "WRONG";
        output.WriteLine($"{cin}->{cout} {dt}: raw libtorch conv2d: y {rawY:E2}, dx {rawDx:E2}, dw {rawDw:E2} ({verdict}); mitigated: y {y:E2}, dx {dx:E2}, dw {dw:E2}");
        Assert.True(y <= tol, $"mitigated output error {y:E3}");
        Assert.True(dx <= tol, $"mitigated input-gradient error {dx:E3}");
        Assert.True(dw <= tol, $"mitigated weight-gradient error {dw:E3}");
    }

    [Theory]
    [InlineData(ComputePrecision.Full)]
    [InlineData(ComputePrecision.BFloat16)]
    public void WholeUNetGradientsMatchFloat64(ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        string dir = Path.Combine(TestPaths.UNet2D, "tiny_class_cond");
        using var model = UNet2DModel.FromPretrained(dir);
        model.Precision = precision;
        using var reference = UNet2DModel.FromPretrained(dir);
        reference.to(ScalarType.Float64);
        var g = new Generator(11);
        Tensor[] inputs64 = [randn(2, 1, 16, 16, ScalarType.Float64, generator: g), tensor(new long[] { 10, 700 }), tensor(new long[] { 3, 7 })];
        var errors = CompareGradients(model, reference, inputs64, (m, xs) => ((UNet2DModel)m).call(xs[0], xs[1], xs[2]));
        double tol = precision == ComputePrecision.Full ? Float32Tolerance : BFloat16BlockTolerance;
        var worst = errors.MaxBy(e => e.Error);
        output.WriteLine($"U-Net [{precision}]: {errors.Count} gradients, worst {worst.What} {worst.Error:E2}; input {errors[0].Error:E2}");
        foreach (var (what, err) in errors)
            Assert.True(err <= tol, $"U-Net [{precision}]: {what} gradient error {err:E3} > {tol:E1}");
    }

    /// <summary>
    /// Runs <paramref name="module"/> (float32 parameters) and <paramref name="reference"/> (float64) on the same inputs
    /// with the loss Σ y·ḡ for a fixed random ḡ; returns the relative error of every floating input's and parameter's gradient.
    /// </summary>
    internal static List<(string What, double Error)> CompareGradients(nn.Module module, nn.Module reference, Tensor[] inputs64,
        Func<nn.Module, Tensor[], Tensor> run)
    {
        Tensor[] Leaves(ScalarType type) => inputs64.Select(t => t.is_floating_point() ? t.to(type).detach().requires_grad_(true) : t).ToArray();
        var x32 = Leaves(ScalarType.Float32);
        var x64 = Leaves(ScalarType.Float64);
        var y64 = run(reference, x64);
        // ḡ has mean 1, not 0: bias gradients are sums of ḡ, and a zero-mean ḡ makes those sums cancel, so their
        // relative error would measure the conditioning of the sum rather than the layer.
        var dy = randn(y64.shape, ScalarType.Float64, generator: new Generator(5)) + 1;
        (y64 * dy).sum().backward();
        var y32 = run(module, x32);
        Assert.Equal(ScalarType.Float32, y32.dtype);
        (y32.to(ScalarType.Float64) * dy).sum().backward();

        var errors = new List<(string, double)>();
        for (int i = 0; i < inputs64.Length; i++)
        {
            if (inputs64[i].is_floating_point())
                errors.Add(($"input {i}", RelErr(x32[i].grad!, x64[i].grad!)));
        }
        var refParams = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        double scale = refParams.Values.Where(p => p.grad is not null).Select(p => p.grad!.abs().max().item<double>()).DefaultIfEmpty(0).Max();
        foreach (var (name, p) in module.named_parameters())
        {
            var r = refParams[name];
            if (!p.requires_grad)
                continue;
            Assert.NotNull(p.grad);
            if (name.EndsWith("to_k.bias", StringComparison.Ordinal) || name is "key.bias" || name.EndsWith(".key.bias", StringComparison.Ordinal))
            {
                // Exactly zero in exact arithmetic: q·(k + b) shifts every score of a query by the same q·b, which softmax
                // ignores. Only rounding noise remains; compare it to the scale of the other gradients instead.
                errors.Add((name + " (≡ 0, vs. gradient scale)", p.grad.abs().max().to(ScalarType.Float64).item<double>() / scale));
                continue;
            }
            errors.Add((name, RelErr(p.grad, r.grad!)));
        }
        return errors;
    }

    internal static double RelErr(Tensor actual, Tensor expected)
    {
        double err = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max().item<double>()
            / expected.abs().max().to(ScalarType.Float64).item<double>();
        return double.IsNaN(err) ? double.PositiveInfinity : err;
    }

    private static GaussianFourierProjection FourierProjection(long size, double scale, long seed)
    {
        var module = new GaussianFourierProjection(size, scale);
        using (no_grad())
            module.get_parameter("weight")!.copy_(randn(size, generator: new Generator((ulong)seed)) * scale);
        return module;
    }

    private static LayerCase Conv(int cin, int cout, int k, int stride, int padding) =>
        new(c => new ConvProbe(c, cin, cout, k, stride, padding), (m, x) => ((ConvProbe)m).call(x[0]), g => [randn(2, cin, 8, 8, generator: g)]);

    private sealed class ConvProbe : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv;
        private readonly LayerContext _ctx;
        private readonly long _stride, _padding;

        public ConvProbe(LayerContext ctx, long cin, long cout, long k, long stride, long padding) : base(nameof(ConvProbe))
        {
            _ctx = ctx;
            _stride = stride;
            _padding = padding;
            conv = nn.Conv2d(cin, cout, k);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => Ops.Conv2d(_ctx, conv, x, _stride, _padding);
    }

    private sealed class LinearProbe : nn.Module<Tensor, Tensor>
    {
        private readonly Linear linear;
        private readonly LayerContext _ctx;

        public LinearProbe(LayerContext ctx, long inFeatures, long outFeatures) : base(nameof(LinearProbe))
        {
            _ctx = ctx;
            linear = nn.Linear(inFeatures, outFeatures);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => Ops.Linear(_ctx, linear, x);
    }

    private sealed class GroupNormProbe : nn.Module<Tensor, Tensor>
    {
        private readonly GroupNorm norm;
        private readonly long _groups;

        public GroupNormProbe(long groups, long channels) : base(nameof(GroupNormProbe))
        {
            _groups = groups;
            norm = Ops.NewGroupNorm(groups, channels, 1e-5);
            using (no_grad())
            {
                // A non-trivial affine, so that swapped or dropped weight/bias gradients show.
                norm.weight.copy_(randn(channels, generator: new Generator(2)) * 0.1 + 1);
                norm.bias!.copy_(randn(channels, generator: new Generator(4)) * 0.1);
            }
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => Ops.GroupNorm(norm, _groups, 1e-5, x);
    }

    private sealed class ActivationProbe : nn.Module<Tensor, Tensor>
    {
        public ActivationProbe() : base(nameof(ActivationProbe)) => RegisterComponents();

        public override Tensor forward(Tensor x) => Ops.Activation(ActivationFunction.Silu, x);
    }
}
