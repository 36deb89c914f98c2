using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Models.Layers1D;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Tests.Models;

/// <summary>
/// Input and weight gradients of every layer type of the 1-D U-Net, in float32 and in the bfloat16 path, against the
/// same layer in float64 (tolerances and error measure as in <see cref="GradientCheckTests"/>: 1e-4 in float32,
/// 8u per bf16 layer and 16u per composite block, u = 2⁻⁸).
/// </summary>
public sealed class UNet1DGradientCheckTests(ITestOutputHelper output)
{
    private const double Float32Tolerance = 1e-4;
    private const double BFloat16LayerTolerance = 8.0 / 256;
    private const double BFloat16BlockTolerance = 16.0 / 256;

    /// <summary>
    /// Whole networks in bf16: 64u. Their gradients pass through 20–40 chained bf16 products (Dance: 12 ResConvBlocks
    /// and 6 attentions in the mid block alone) and GroupNorms over few channels, so per-tensor errors compound beyond
    /// one block's 16u: measured worst tensor 0.12 (dance_tiny, an attention query bias) and 0.12 (resnet_temporal_tiny,
    /// a GroupNorm weight), inputs 0.02–0.07. The float32 runs (≤ 1e-5) are the defect check for the whole network;
    /// this still catches NaN and order-one errors.
    /// </summary>
    private const double BFloat16NetworkTolerance = 64.0 / 256;

    private sealed record LayerCase(Func<LayerContext, nn.Module> Build, Func<nn.Module, Tensor[], Tensor> Run,
        Func<Generator, Tensor[]> Inputs, bool Composite = false);

    private static LayerCase Single(Func<LayerContext, nn.Module<Tensor, Tensor>> build, Func<Generator, Tensor> input, bool composite = false) =>
        new(build, (m, x) => ((nn.Module<Tensor, Tensor>)m).call(x[0]), g => [input(g)], composite);

    private static LayerCase WithTime(Func<LayerContext, nn.Module<Tensor, Tensor, Tensor>> build, Func<Generator, Tensor[]> inputs) =>
        new(build, (m, x) => ((nn.Module<Tensor, Tensor, Tensor>)m).call(x[0], x[1]), inputs, Composite: true);

    private static readonly Dictionary<string, LayerCase> s_cases = new()
    {
        ["conv1d k5 16->16"] = Conv(16, 16, 5, 2),
        ["conv1d k5 9->16 (dance input + Fourier features)"] = Conv(9, 16, 5, 2),
        ["conv1d k5 16->1 (last ResConvBlock)"] = Conv(16, 1, 5, 2),
        ["conv1d k5 17->8 (odd)"] = Conv(17, 8, 5, 2),
        ["conv1d k1 48->16 (conv_skip)"] = Conv(48, 16, 1, 0),
        ["conv1d k3 stride 2 (Downsample1D)"] = Single(c => new ConvDownsample1D(c, "d", 16), g => randn(2, 16, 32, generator: g)),
        ["conv_transpose1d k4 stride 2 (Upsample1D)"] = Single(c => new ConvTransposeUpsample1D(c, "u", 16), g => randn(2, 16, 16, generator: g)),
        ["conv_transpose1d k4 stride 2, 24 channels"] = Single(c => new ConvTransposeUpsample1D(c, "u", 24), g => randn(2, 24, 16, generator: g)),
        ["cubic FIR downsample (reflect)"] = Single(c => new FirDownsample1d(c, "d"), g => randn(2, 9, 32, generator: g)),
        ["cubic FIR upsample (reflect, transposed)"] = Single(c => new FirUpsample1d(c, "u"), g => randn(2, 16, 16, generator: g)),
        ["ResConvBlock 9->16 (conv_skip)"] = Single(c => new ResConvBlock1D(c, "r", 9, 16, 16), g => randn(2, 9, 32, generator: g), composite: true),
        ["ResConvBlock 32->16 is_last"] = Single(c => new ResConvBlock1D(c, "r", 32, 32, 16, isLast: true), g => randn(2, 32, 32, generator: g), composite: true),
        ["SelfAttention1d 64 (2 heads)"] = Single(c => new SelfAttention1d(c, "a", 64), g => randn(2, 64, 16, generator: g), composite: true),
        ["ResidualTemporalBlock1D 16->32"] = WithTime(c => new ResidualTemporalBlock1D(c, "r", 16, 32, 16), g => [randn(2, 16, 32, generator: g), randn(2, 16, generator: g)]),
        ["ResidualTemporalBlock1D 32->32 (identity residual)"] = WithTime(c => new ResidualTemporalBlock1D(c, "r", 32, 32, 16), g => [randn(2, 32, 16, generator: g), randn(2, 16, generator: g)]),
        ["OutConv1DBlock 16->2 (mish)"] = Single(c => new OutConv1DBlock(c, "o", 8, 16, 2, ActivationFunction.Mish), g => randn(2, 16, 32, generator: g), composite: true),
        ["OutValueFunctionBlock"] = WithTime(c => new OutValueFunctionBlock(c, "o", 16, 8, ActivationFunction.Mish), g => [randn(3, 16, 1, generator: g), randn(3, 8, generator: g)]),
        ["time MLP (mish, out c0) on the sinusoid"] = Single(c => new TimestepEmbedding(c, 16, 64, "time_mlp", ActivationFunction.Mish, 16),
            g => new Timesteps(16, false, 1).call(tensor(new float[] { 10, 700, 3 }))),
        // Dance Diffusion's features of t ∈ [0, 1] itself (no log), W ~ N(0, 1): the phase stays small, so 1e-4 holds.
        ["Fourier features of t (no log, cos first)"] = Single(_ => Fourier(), g => rand(3, generator: g)),
    };

    public static TheoryData<string, ComputePrecision> Cases => GradientCheckTests.InBothPrecisions(s_cases.Keys);

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
        var inputs64 = c.Inputs(new Generator(7)).Select(t => t.to(ScalarType.Float64)).ToArray();
        double tol = precision == ComputePrecision.Full ? Float32Tolerance : c.Composite ? BFloat16BlockTolerance : BFloat16LayerTolerance;
        foreach (var (what, err) in GradientCheckTests.CompareGradients(module, reference, inputs64, c.Run))
        {
            output.WriteLine($"{name} [{precision}] {what}: {err:E2}");
            Assert.True(err <= tol, $"{name} [{precision}]: {what} gradient error {err:E3} > {tol:E1}");
        }
    }

    public static TheoryData<int, int, bool, ComputePrecision> FewChannelConvs => new()
    {
        { 16, 1, false, ComputePrecision.Full }, { 9, 16, false, ComputePrecision.Full }, { 17, 8, false, ComputePrecision.Full },
        { 24, 24, true, ComputePrecision.Full }, { 16, 1, false, ComputePrecision.BFloat16 }, { 24, 24, true, ComputePrecision.BFloat16 },
    };

    /// <summary>
    /// libtorch's raw conv1d / conv_transpose1d against the channel-padded ones: the raw error is recorded (it depends on
    /// the CPU), the mitigated path must match float64.
    /// </summary>
    [Theory]
    [MemberData(nameof(FewChannelConvs))]
    public void RawConv1dIsRecordedAndTheMitigatedConvIsRight(int cin, int cout, bool transpose, ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var x64 = randn(2, cin, 32, ScalarType.Float64, generator: g);
        var w64 = (transpose ? randn(cin, cout, 4, ScalarType.Float64, generator: g) : randn(cout, cin, 5, ScalarType.Float64, generator: g)) / Math.Sqrt(cin * 5);
        var b64 = randn(cout, ScalarType.Float64, generator: g);
        var dt = precision == ComputePrecision.Full ? ScalarType.Float32 : ScalarType.BFloat16;
        double tol = precision == ComputePrecision.Full ? Float32Tolerance : BFloat16LayerTolerance;
        Func<Tensor, Tensor, Tensor, Tensor> raw = transpose ? (x, w, b) => F.conv_transpose1d(x, w, b, 2, 1) : (x, w, b) => F.conv1d(x, w, b, 1, 2);
        Func<Tensor, Tensor, Tensor, Tensor> mitigated = transpose
            ? (x, w, b) => CpuConvolution.ConvTranspose1d(x, w, b, 2, 1) : (x, w, b) => CpuConvolution.Conv1d(x, w, b, 1, 2);
        Tensor? dy64 = null;

        (Tensor Dx, Tensor Dw, Tensor Y) Run(ScalarType type, Func<Tensor, Tensor, Tensor, Tensor> conv)
        {
            var x = x64.to(type).detach().requires_grad_(true);
            var w = w64.to(type).detach().requires_grad_(true);
            var b = b64.to(type).detach().requires_grad_(true);
            var y = conv(x, w, b);
            dy64 ??= randn(y.shape, ScalarType.Float64, generator: new Generator(5)) + 1;
            y.backward([dy64.to(type)]);
            return (x.grad!, w.grad!, y.detach());
        }

        var reference = Run(ScalarType.Float64, raw);
        var r = Run(dt, raw);
        var m = Run(dt, mitigated);
        output.WriteLine($"{(transpose ? "conv_transpose1d" : "conv1d")} {cin}->{cout} {dt}: raw y {GradientCheckTests.RelErr(r.Y, reference.Y):E2}, "
            + $"dx {GradientCheckTests.RelErr(r.Dx, reference.Dx):E2}, dw {GradientCheckTests.RelErr(r.Dw, reference.Dw):E2}; mitigated y "
            + $"{GradientCheckTests.RelErr(m.Y, reference.Y):E2}, dx {GradientCheckTests.RelErr(m.Dx, reference.Dx):E2}, dw {GradientCheckTests.RelErr(m.Dw, reference.Dw):E2}");
        Assert.True(GradientCheckTests.RelErr(m.Y, reference.Y) <= tol, "mitigated output");
        Assert.True(GradientCheckTests.RelErr(m.Dx, reference.Dx) <= tol, "mitigated input gradient");
        Assert.True(GradientCheckTests.RelErr(m.Dw, reference.Dw) <= tol, "mitigated weight gradient");
    }

    [Theory]
    [InlineData("dance_tiny", ComputePrecision.Full)]
    [InlineData("dance_tiny", ComputePrecision.BFloat16)]
    [InlineData("resnet_temporal_tiny", ComputePrecision.Full)]
    [InlineData("resnet_temporal_tiny", ComputePrecision.BFloat16)]
    public void WholeUNet1DGradientsMatchFloat64(string folder, ComputePrecision precision)
    {
        using var scope = NewDisposeScope();
        string dir = Path.Combine(TestPaths.UNet1D, folder);
        using var model = UNet1DModel.FromPretrained(dir);
        model.Precision = precision;
        using var reference = UNet1DModel.FromPretrained(dir);
        reference.to(ScalarType.Float64);
        var cfg = model.Config;
        long length = cfg.MinimumLength * 2;
        var g = new Generator(11);
        Tensor[] inputs = [randn(2, cfg.InChannels, length, ScalarType.Float64, generator: g),
            cfg.TimeEmbeddingType == TimeEmbeddingType.Fourier ? tensor(new double[] { 0.25, 0.9 }) : tensor(new long[] { 10, 700 })];
        var errors = GradientCheckTests.CompareGradients(model, reference, inputs, (m, xs) => ((UNet1DModel)m).call(xs[0], xs[1], null));
        double tol = precision == ComputePrecision.Full ? Float32Tolerance : BFloat16NetworkTolerance;
        var worst = errors.MaxBy(e => e.Error);
        output.WriteLine($"{folder} [{precision}]: {errors.Count} gradients, worst {worst.What} {worst.Error:E2}; input {errors[0].Error:E2}");
        foreach (var (what, err) in errors)
            Assert.True(err <= tol, $"{folder} [{precision}]: {what} gradient error {err:E3} > {tol:E1}");
    }

    private static GaussianFourierProjection Fourier()
    {
        var module = new GaussianFourierProjection(8, 1.0, log: false, flipSinToCos: true);
        using (no_grad())
            module.get_parameter("weight")!.copy_(randn(8, generator: new Generator(13)));
        return module;
    }

    private static LayerCase Conv(int cin, int cout, int k, int padding) =>
        Single(c => new Conv1dProbe(c, cin, cout, k, padding), g => randn(2, cin, 32, generator: g));

    private sealed class Conv1dProbe : nn.Module<Tensor, Tensor>
    {
        private readonly Conv1d conv;
        private readonly LayerContext _ctx;
        private readonly long _padding;

        public Conv1dProbe(LayerContext ctx, long cin, long cout, long k, long padding) : base(nameof(Conv1dProbe))
        {
            _ctx = ctx;
            _padding = padding;
            conv = nn.Conv1d(cin, cout, k);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => Ops1D.Conv1d(_ctx, conv, x, 1, _padding);
    }
}
