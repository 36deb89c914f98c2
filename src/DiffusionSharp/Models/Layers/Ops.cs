using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers;

/// <summary>
/// The U-Net's products (conv, linear, batched matmul) at the layer context's <see cref="ComputePrecision"/>, and its
/// parameter-free pieces. Modules hold the parameters (TorchSharp's <c>Conv2d</c>/<c>Linear</c>/<c>GroupNorm</c>,
/// so checkpoint keys are <c>weight</c>/<c>bias</c>) and call these instead of the modules' own forward.
/// </summary>
internal static class Ops
{
    /// <summary>2-D convolution (zero padding <paramref name="padding"/> on every side), through <see cref="CpuConvolution"/>.</summary>
    public static Tensor Conv2d(LayerContext ctx, Conv2d conv, Tensor x, long stride, long padding)
    {
        if (ctx.Precision == ComputePrecision.Full)
            return CpuConvolution.Conv2d(x, conv.weight, conv.bias, stride, padding);
        using var scope = NewDisposeScope();
        var y = CpuConvolution.Conv2d(x.to(ScalarType.BFloat16), conv.weight.to(ScalarType.BFloat16), conv.bias?.to(ScalarType.BFloat16), stride, padding);
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>y = x·Wᵀ + b over the last dimension.</summary>
    public static Tensor Linear(LayerContext ctx, Linear linear, Tensor x)
    {
        if (ctx.Precision == ComputePrecision.Full)
            return F.linear(x, linear.weight, linear.bias);
        using var scope = NewDisposeScope();
        var y = F.linear(x.to(ScalarType.BFloat16), linear.weight.to(ScalarType.BFloat16), linear.bias?.to(ScalarType.BFloat16));
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Most query or key positions for which bfloat16 attention runs as two matmuls (see <see cref="Attention"/>).</summary>
    public const long MaxUnfusedAttentionLength = 1024;

    /// <summary>
    /// softmax(q·kᵀ/√d)·v for q, k, v of shape [B, heads, n, d], through libtorch's fused
    /// <c>scaled_dot_product_attention</c> (on the CPU a FlashAttention-style kernel, Dao et al. 2022: it tiles the
    /// n×n scores and keeps only a log-sum-exp per row for the backward pass, so the [B·heads, n, n] score and
    /// probability tensors are never materialised). The softmax accumulates in float32 at either precision, which is
    /// diffusers' <c>upcast_softmax</c>.
    /// </summary>
    /// <remarks>
    /// In bfloat16 the two products run as plain batched matmuls around a float32 softmax instead: libtorch 2.10's
    /// CPU flash kernel in bfloat16 issues thousands of tiny oneDNN matmuls per call and, measured here (AMD EPYC,
    /// 2 threads, [32, 4, n, 32], forward + backward), takes 42 ms at n = 196 and 13 ms at n = 49 — slower than its
    /// own float32 version (22 / 4 ms) — where the two bf16 matmuls take 20 / 1.6 ms. The n×n scores then exist, but
    /// only per chunk (<see cref="BatchChunking"/>); above <see cref="MaxUnfusedAttentionLength"/> positions the fused
    /// kernel is used after all, so that long sequences never hold n×n scores.
    /// </remarks>
    public static Tensor Attention(LayerContext ctx, Tensor q, Tensor k, Tensor v)
    {
        if (ctx.Precision == ComputePrecision.Full)
            return F.scaled_dot_product_attention(q, k, v);
        using var scope = NewDisposeScope();
        if (q.shape[^2] > MaxUnfusedAttentionLength || k.shape[^2] > MaxUnfusedAttentionLength)
            return F.scaled_dot_product_attention(q.to(ScalarType.BFloat16), k.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16))
                .to(q.dtype).MoveToOuterDisposeScope();
        var kb = k.to(ScalarType.BFloat16);
        var scores = matmul(q.to(ScalarType.BFloat16), kb.transpose(-2, -1));
        var p = F.softmax(scores.to(ScalarType.Float32) * (1.0 / Math.Sqrt(q.shape[^1])), -1);
        var o = matmul(p.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16));
        return o.to(q.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>GroupNorm in the input's dtype (never reduced precision: its statistics need the full mantissa).</summary>
    public static Tensor GroupNorm(GroupNorm norm, long groups, double eps, Tensor x) =>
        F.group_norm(x, groups, norm.weight, norm.bias, eps);

    /// <summary>The activations diffusers' <c>get_activation</c> knows.</summary>
    public static Tensor Activation(ActivationFunction fn, Tensor x) => fn switch
    {
        ActivationFunction.Silu or ActivationFunction.Swish => F.silu(x),
        ActivationFunction.Mish => F.mish(x),
        ActivationFunction.Gelu => F.gelu(x),
        ActivationFunction.Relu => F.relu(x),
        _ => throw new ArgumentOutOfRangeException(nameof(fn), fn, null),
    };

    /// <summary>
    /// A GroupNorm module with weight = 1 and bias = 0 (TorchSharp 0.107 leaves them uninitialised, unlike PyTorch).
    /// </summary>
    public static GroupNorm NewGroupNorm(long groups, long channels, double eps)
    {
        var norm = nn.GroupNorm(groups, channels, eps, affine: true);
        using (no_grad())
        {
            norm.weight.fill_(1);
            norm.bias!.fill_(0);
        }
        return norm;
    }
}
