using DiffusionSharp.Models.Layers;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace DiffusionSharp.Models.Layers1D;

/// <summary>
/// The 1-D U-Net's convolutions at the layer context's <see cref="ComputePrecision"/>, each through
/// <see cref="CpuConvolution"/> (the oneDNN channel-count defect affects conv1d as it does conv2d). Modules hold the
/// parameters under diffusers' names and call these instead of their own forward.
/// </summary>
internal static class Ops1D
{
    /// <summary>conv1d with zero padding <paramref name="padding"/> at both ends.</summary>
    public static Tensor Conv1d(LayerContext ctx, Conv1d conv, Tensor x, long stride, long padding) =>
        Run(ctx, x, conv.weight, conv.bias, (a, w, b) => CpuConvolution.Conv1d(a, w, b, stride, padding));

    /// <summary>conv_transpose1d (weight [C_in, C_out, k]).</summary>
    public static Tensor ConvTranspose1d(LayerContext ctx, ConvTranspose1d conv, Tensor x, long stride, long padding) =>
        Run(ctx, x, conv.weight, conv.bias, (a, w, b) => CpuConvolution.ConvTranspose1d(a, w, b, stride, padding));

    /// <summary>The same FIR <paramref name="taps"/> on every channel (depthwise), stride 2, no padding; transposed for upsampling.</summary>
    public static Tensor Fir(LayerContext ctx, Tensor x, Tensor taps, bool transpose, long padding)
    {
        long c = x.shape[1];
        using var scope = NewDisposeScope();
        var w = taps.to(x.dtype).reshape(1, 1, -1).expand(c, 1, -1);
        var y = Run(ctx, x, w, null, (a, k, _) => transpose
            ? CpuConvolution.ConvTranspose1d(a, k, null, 2, padding, groups: c)
            : CpuConvolution.Conv1d(a, k, null, 2, padding, groups: c));
        return y.MoveToOuterDisposeScope();
    }

    private static Tensor Run(LayerContext ctx, Tensor x, Tensor w, Tensor? b, Func<Tensor, Tensor, Tensor?, Tensor> op)
    {
        if (ctx.Precision == ComputePrecision.Full)
            return op(x, w, b);
        using var scope = NewDisposeScope();
        var y = op(x.to(ScalarType.BFloat16), w.to(ScalarType.BFloat16), b?.to(ScalarType.BFloat16));
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }
}
