using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Text;

/// <summary>Parameter-free pieces of the text transformer.</summary>
internal static class TransformerOps
{
    /// <summary>A LayerNorm module with weight = 1 and bias = 0 set explicitly (as <see cref="Ops.NewGroupNorm"/> does).</summary>
    public static LayerNorm NewLayerNorm(long width)
    {
        var norm = nn.LayerNorm(width, 1e-5);
        using (no_grad())
        {
            norm.weight!.fill_(1);
            norm.bias!.fill_(0);
        }
        return norm;
    }

    /// <summary>LayerNorm in the input's dtype (never reduced precision).</summary>
    public static Tensor Norm(LayerNorm norm, Tensor x) => F.layer_norm(x, [x.shape[^1]], norm.weight, norm.bias, 1e-5);

    /// <summary>
    /// Rotary position embedding (RoFormer, Su et al. 2021, eq. 34, in the rotate-half layout): the pair
    /// (x_i, x_{i+d/2}) of head channel i at position p is rotated by θ = p·base^(−2i/d). x is [B, heads, n, d] and
    /// holds positions <paramref name="offset"/> … offset + n − 1 (an offset for tokens appended to a
    /// <see cref="KeyValueCache"/>). The angles are formed in float64 so long sequences keep their phase.
    /// </summary>
    public static Tensor Rotary(Tensor x, double rotaryBase, long offset = 0)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[2], d = x.shape[3], half = d / 2;
        var inv = exp(arange(0, half, dtype: ScalarType.Float64) * (-2.0 * Math.Log(rotaryBase) / d));
        var angle = arange(offset, offset + n, dtype: ScalarType.Float64).unsqueeze(1) * inv.unsqueeze(0);
        var cosine = cat([cos(angle), cos(angle)], 1).to(x.dtype);
        var sine = cat([sin(angle), sin(angle)], 1).to(x.dtype);
        var x1 = x.narrow(3, 0, half);
        var x2 = x.narrow(3, half, half);
        var rotated = cat([-x2, x1], 3);
        return (x * cosine + rotated * sine).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// softmax(q·kᵀ/√d)·v through libtorch's fused <c>scaled_dot_product_attention</c> (TorchSharp 0.107 spells its flag <c>is_casual</c>), causal when asked (each
    /// position then attends to itself and earlier ones only); in bfloat16 at <see cref="ComputePrecision.BFloat16"/>.
    /// </summary>
    public static Tensor Attention(LayerContext ctx, Tensor q, Tensor k, Tensor v, bool causal)
    {
        if (ctx.Precision == ComputePrecision.Full)
            return F.scaled_dot_product_attention(q, k, v, is_casual: causal);
        using var scope = NewDisposeScope();
        var o = F.scaled_dot_product_attention(q.to(ScalarType.BFloat16), k.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16), is_casual: causal);
        return o.to(q.dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head self-attention with rotary positions on q and k; <c>qkv</c> is one [3·width, width] projection.</summary>
internal sealed class RotarySelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly LayerContext _ctx;
    private readonly long _heads;
    private readonly bool _causal;
    private readonly double _rotaryBase;

    public RotarySelfAttention(LayerContext ctx, long width, long heads, bool causal, double rotaryBase) : base(nameof(RotarySelfAttention))
    {
        if (width % heads != 0 || width / heads % 2 != 0)
            throw new ArgumentException($"width {width} must split into {heads} heads of an even size");
        _ctx = ctx;
        _heads = heads;
        _causal = causal;
        _rotaryBase = rotaryBase;
        qkv = nn.Linear(width, 3 * width);
        proj = nn.Linear(width, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Attend(x, null, 0);

    /// <summary>
    /// Causal attention of the n new positions in <paramref name="x"/> [B, n, C] (positions cache.Length …) over the
    /// keys and values <paramref name="cache"/> holds for <paramref name="layer"/> and their own, which it appends
    /// there. Equal to <see cref="forward"/> on the whole prefix at those positions. n may exceed 1 only while the
    /// cache is empty (a prompt), where the causal mask of <see cref="forward"/> applies.
    /// </summary>
    public Tensor Extend(Tensor x, KeyValueCache cache, int layer)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (!_causal)
            throw new InvalidOperationException("a key/value cache needs causal attention: a bidirectional layer's earlier outputs change with every new token");
        if (x.shape[1] > 1 && cache.Length > 0)
            throw new ArgumentException($"{x.shape[1]} tokens appended to a cache of {cache.Length}: only an empty cache takes more than one", nameof(x));
        return Attend(x, cache, layer);
    }

    /// <summary>
    /// The attention of <see cref="forward"/> (no cache: positions 0 … n − 1 among themselves) and of
    /// <see cref="Extend"/> (positions cache.Length … over the cached keys too; causal masking is needed only while
    /// the cache was empty, since one new position attends to every earlier one).
    /// </summary>
    private Tensor Attend(Tensor x, KeyValueCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], width = x.shape[2], d = width / _heads, position = cache?.Length ?? 0;
        var parts = Ops.Linear(_ctx, qkv, x).view(b, n, 3, _heads, d).permute(2, 0, 3, 1, 4);
        var q = TransformerOps.Rotary(parts[0], _rotaryBase, position);
        var (k, v) = (TransformerOps.Rotary(parts[1], _rotaryBase, position), parts[2]);
        if (cache is not null)
            (k, v) = cache.Append(layer, k, v);
        var o = TransformerOps.Attention(_ctx, q, k, v, _causal && position == 0);
        var merged = o.transpose(1, 2).reshape(b, n, width);
        return Ops.Linear(_ctx, proj, merged).MoveToOuterDisposeScope();
    }
}

/// <summary>The position-wise MLP: Linear(width → ratio·width), GELU, Linear(ratio·width → width).</summary>
internal sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly LayerContext _ctx;

    public FeedForward(LayerContext ctx, long width, long hidden) : base(nameof(FeedForward))
    {
        _ctx = ctx;
        fc1 = nn.Linear(width, hidden);
        fc2 = nn.Linear(hidden, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Ops.Linear(_ctx, fc2, F.gelu(Ops.Linear(_ctx, fc1, x))).MoveToOuterDisposeScope();
    }
}

/// <summary>A pre-LayerNorm transformer block (Xiong et al. 2020): x + Attn(LN(x)), then x + MLP(LN(x)).</summary>
internal sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly RotarySelfAttention attn;
    private readonly LayerNorm norm2;
    private readonly FeedForward mlp;

    public TransformerBlock(LayerContext ctx, long width, long heads, long hidden, bool causal, double rotaryBase) : base(nameof(TransformerBlock))
    {
        norm1 = TransformerOps.NewLayerNorm(width);
        attn = new RotarySelfAttention(ctx, width, heads, causal, rotaryBase);
        norm2 = TransformerOps.NewLayerNorm(width);
        mlp = new FeedForward(ctx, width, hidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Apply(x, attn.call);

    /// <summary><see cref="forward"/> for new positions, attention through <see cref="RotarySelfAttention.Extend"/>.</summary>
    public Tensor Extend(Tensor x, KeyValueCache cache, int layer) => Apply(x, h => attn.Extend(h, cache, layer));

    private Tensor Apply(Tensor x, Func<Tensor, Tensor> attention)
    {
        using var scope = NewDisposeScope();
        var h = x + attention(TransformerOps.Norm(norm1, x));
        return (h + mlp.call(TransformerOps.Norm(norm2, h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// MDLM's optional time conditioning, here added to the token embeddings: sinusoidal features of 1000·t
/// (Vaswani et al. 2017, §3.5) through Linear → SiLU → Linear. t is [B] in [0, 1]; the output is [B, width].
/// </summary>
internal sealed class TimeConditioning : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly LayerContext _ctx;
    private readonly long _width;

    public TimeConditioning(LayerContext ctx, long width) : base(nameof(TimeConditioning))
    {
        _ctx = ctx;
        _width = width;
        fc1 = nn.Linear(width, width);
        fc2 = nn.Linear(width, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor t)
    {
        using var scope = NewDisposeScope();
        long half = _width / 2;
        var omega = exp(arange(0, half, dtype: ScalarType.Float64) * (-Math.Log(10000.0) / half));
        var arg = t.to(ScalarType.Float64).unsqueeze(1) * 1000.0 * omega.unsqueeze(0);
        var features = cat([sin(arg), cos(arg)], 1).to(fc1.weight.dtype);
        if (_width % 2 == 1)
            features = F.pad(features, [0, 1, 0, 0]);
        return Ops.Linear(_ctx, fc2, F.silu(Ops.Linear(_ctx, fc1, features))).MoveToOuterDisposeScope();
    }
}
