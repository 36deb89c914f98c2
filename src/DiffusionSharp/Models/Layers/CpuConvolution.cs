using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers;

/// <summary>
/// 2-D convolution that stays correct on libtorch 2.10's CPU backend: both channel counts are zero-padded up to a
/// multiple of <see cref="ChannelMultiple"/> around libtorch's <c>conv2d</c>.
/// </summary>
/// <remarks>
/// <para>The defect: libtorch 2.10's oneDNN convolution (what <c>conv2d</c> runs on x86 CPUs for float32 and
/// bfloat16) returns wrong numbers when a channel count is not a multiple of its register blocking. Measured here
/// (AMD EPYC, AVX-512): input gradients of convs whose output channels are not a multiple of 16 (the U-Net's
/// <c>conv_out</c>, 32→1 or 64→4: errors 20–80 % or NaN), forward outputs with 17–40 input channels on small maps,
/// stride-2 input gradients with 33–48 input channels, and in bfloat16 almost any channel count below 16 or not a
/// multiple of 16 — apparently from uninitialised padding of oneDNN's blocked layouts (results vary run to run and
/// include NaN). Weight gradients of the conv itself were always right.</para>
/// <para>The mitigation: pad x with zero channels and W with zero rows/columns so both counts are multiples of 32,
/// convolve, and keep the first C_out output channels. The zero channels add nothing to the output, and autograd
/// through <c>pad</c>/<c>narrow</c> returns exactly the gradients of the unpadded convolution. With channel counts
/// that are multiples of 32, every case measured (2,976 shapes: 32–128 channels, 1×1 and 3×3, stride 1 and 2,
/// padding 0 and 1, maps 2–32 px, batch 1–5, float32 and bfloat16) and the whole U-Net matched float64 to
/// rounding. Real widths (64, 128, 256, …) need no padding; only conv_in/conv_out and odd widths pay for it.</para>
/// <para>tests/DiffusionSharp.Tests/Models/GradientCheckTests.cs compares every layer type against float64 and
/// records the raw kernel's error beside the mitigated one.</para>
/// </remarks>
public static class CpuConvolution
{
    /// <summary>Channel counts are padded up to a multiple of this.</summary>
    public const long ChannelMultiple = 32;

    /// <summary>y = conv2d(x, w, b) (x [B, C_in, H, W], w [C_out, C_in, kh, kw], b [C_out] or null) with stride <paramref name="stride"/> and zero padding <paramref name="padding"/> on all sides.</summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? b, long stride, long padding)
    {
        long cin = w.shape[1], cout = w.shape[0];
        long ci = RoundUp(cin), co = RoundUp(cout);
        if (ci == cin && co == cout)
            return F.conv2d(x, w, b, [stride], [padding]);
        using var scope = NewDisposeScope();
        if (ci != cin)
        {
            x = F.pad(x, [0, 0, 0, 0, 0, ci - cin]);      // pads (W, H, C) of [B, C, H, W]
            w = F.pad(w, [0, 0, 0, 0, 0, ci - cin]);      // pads (kw, kh, C_in) of [C_out, C_in, kh, kw]
        }
        if (co != cout)
        {
            w = F.pad(w, [0, 0, 0, 0, 0, 0, 0, co - cout]);
            if (b is not null)
                b = F.pad(b, [0, co - cout]);
        }
        var y = F.conv2d(x, w, b, [stride], [padding]);
        if (co != cout)
            y = y.narrow(1, 0, cout);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// y = conv1d(x, w, b) (x [B, C_in, L], w [C_out, C_in/groups, k]) with zero padding <paramref name="padding"/> on
    /// both ends, channel-padded as <see cref="Conv2d"/> is. Grouped convolutions are supported for groups = 1 and for
    /// depthwise convolutions (groups = C_in = C_out, w [C, 1, k]), whose padded groups are zero too.
    /// </summary>
    public static Tensor Conv1d(Tensor x, Tensor w, Tensor? b, long stride, long padding, long groups = 1)
    {
        long cout = w.shape[0];
        long cin = groups == 1 ? w.shape[1] : CheckDepthwise(w, groups, cout);
        long ci = RoundUp(cin), co = RoundUp(cout);
        if (ci == cin && co == cout)
            return F.conv1d(x, w, b, stride, padding, groups: groups);
        using var scope = NewDisposeScope();
        x = F.pad(x, [0, 0, 0, ci - cin]);                 // pads (L, C) of [B, C, L]
        if (groups == 1)
            w = F.pad(w, [0, 0, 0, ci - cin, 0, co - cout]);   // pads (k, C_in, C_out) of [C_out, C_in, k]
        else
            w = F.pad(w, [0, 0, 0, 0, 0, co - cout]);
        if (b is not null)
            b = F.pad(b, [0, co - cout]);
        var y = F.conv1d(x, w, b, stride, padding, groups: groups == 1 ? 1 : co);
        return y.narrow(1, 0, cout).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// y = conv_transpose1d(x, w, b) (x [B, C_in, L], w [C_in, C_out/groups, k]) with stride <paramref name="stride"/>
    /// and padding <paramref name="padding"/>, channel-padded like <see cref="Conv1d"/> (groups = 1 or depthwise).
    /// </summary>
    public static Tensor ConvTranspose1d(Tensor x, Tensor w, Tensor? b, long stride, long padding, long groups = 1)
    {
        long cin = w.shape[0];
        long cout = groups == 1 ? w.shape[1] : CheckDepthwise(w, groups, cin);
        long ci = RoundUp(cin), co = RoundUp(cout);
        if (ci == cin && co == cout)
            return F.conv_transpose1d(x, w, b, stride, padding, groups: groups);
        using var scope = NewDisposeScope();
        x = F.pad(x, [0, 0, 0, ci - cin]);
        if (groups == 1)
            w = F.pad(w, [0, 0, 0, co - cout, 0, ci - cin]);   // pads (k, C_out, C_in) of [C_in, C_out, k]
        else
            w = F.pad(w, [0, 0, 0, 0, 0, ci - cin]);
        if (b is not null)
            b = F.pad(b, [0, co - cout]);
        var y = F.conv_transpose1d(x, w, b, stride, padding, groups: groups == 1 ? 1 : ci);
        return y.narrow(1, 0, cout).MoveToOuterDisposeScope();
    }

    private static long CheckDepthwise(Tensor w, long groups, long channels)
    {
        if (groups != channels || w.shape[1] != 1)
            throw new ArgumentException($"only groups = 1 or depthwise convolutions are supported, got groups {groups} for weight [{string.Join(", ", w.shape)}]", nameof(groups));
        return channels;
    }

    private static long RoundUp(long c) => (c + ChannelMultiple - 1) / ChannelMultiple * ChannelMultiple;
}
