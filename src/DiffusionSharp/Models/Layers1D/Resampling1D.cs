using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers1D;

/// <summary>The fixed FIR taps of diffusers' 1-D resamplers (only <c>cubic</c> is used by its blocks).</summary>
internal static class FirKernels
{
    /// <summary>Keys's cubic kernel (a = −0.5) sampled at half-integer offsets, 8 taps summing to 1.</summary>
    public static readonly double[] Cubic = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875];
}

/// <summary>
/// diffusers' <c>Downsample1d("cubic")</c> (from Dance Diffusion / k-diffusion): reflect-pad by taps/2 − 1, then the
/// same low-pass FIR on every channel with stride 2, so L → L/2. Its taps are the buffer <c>kernel</c> (in the state
/// dict, and used as loaded).
/// </summary>
internal sealed class FirDownsample1d : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "kernel")] private readonly Tensor _kernel;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public FirDownsample1d(LayerContext ctx, string path) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _kernel = tensor(FirKernels.Cubic, ScalarType.Float32).DetachFromDisposeScope();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long pad = _kernel.shape[0] / 2 - 1;
        var y = Ops1D.Fir(_ctx, F.pad(x, [pad, pad], PaddingModes.Reflect), _kernel, transpose: false, padding: 0);
        _ctx.Emit(_path, y);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers' <c>Upsample1d("cubic")</c>: reflect-pad by (p + 1)/2 with p = taps/2 − 1, then a stride-2 transposed
/// FIR with padding 2p + 1, so L → 2L. The buffer <c>kernel</c> holds the taps × 2 (the gain of zero-stuffing).
/// </summary>
internal sealed class FirUpsample1d : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "kernel")] private readonly Tensor _kernel;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public FirUpsample1d(LayerContext ctx, string path) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _kernel = (tensor(FirKernels.Cubic, ScalarType.Float32) * 2).DetachFromDisposeScope();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long pad = _kernel.shape[0] / 2 - 1;
        long reflect = (pad + 1) / 2;
        var y = Ops1D.Fir(_ctx, F.pad(x, [reflect, reflect], PaddingModes.Reflect), _kernel, transpose: true, padding: 2 * pad + 1);
        _ctx.Emit(_path, y);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers' <c>Downsample1D(use_conv=True)</c>: a stride-2 conv k3, padding 1 (parameter <c>conv</c>).</summary>
internal sealed class ConvDownsample1D : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")] private readonly Conv1d _conv;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public ConvDownsample1D(LayerContext ctx, string path, long channels) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _conv = nn.Conv1d(channels, channels, 3, stride: 2, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = Ops1D.Conv1d(_ctx, _conv, x, 2, 1);
        _ctx.Emit(_path, y);
        return y;
    }
}

/// <summary>diffusers' <c>Upsample1D(use_conv_transpose=True)</c>: a transposed conv k4, stride 2, padding 1 (parameter <c>conv</c>).</summary>
internal sealed class ConvTransposeUpsample1D : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")] private readonly ConvTranspose1d _conv;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public ConvTransposeUpsample1D(LayerContext ctx, string path, long channels) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _conv = nn.ConvTranspose1d(channels, channels, 4, stride: 2, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = Ops1D.ConvTranspose1d(_ctx, _conv, x, 2, 1);
        _ctx.Emit(_path, y);
        return y;
    }
}
