using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers;

/// <summary>
/// Multi-head self-attention over the H·W positions of a feature map, with a residual connection (DDPM's attention
/// block, Ho et al. 2020, App. B; scaled dot-product attention of Vaswani et al. 2017, eq. 1):
/// with h = norm(x) flattened to [B, HW, C], Q = h·W_qᵀ, K = h·W_kᵀ, V = h·W_vᵀ split into heads of dim d,
/// out = (softmax(Q·Kᵀ/√d)·V · W_oᵀ + x) / rescale_output_factor, through the fused kernel of
/// <see cref="Ops.Attention"/>. The softmax runs in float32 (diffusers' upcast_softmax).
/// Parameters as diffusers' <c>Attention</c> names them: group_norm, to_q, to_k, to_v, to_out.0.
/// </summary>
internal sealed class SpatialSelfAttention : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "group_norm")] private readonly GroupNorm? _groupNorm;
    [ComponentName(Name = "to_q")] private readonly Linear _toQ;
    [ComponentName(Name = "to_k")] private readonly Linear _toK;
    [ComponentName(Name = "to_v")] private readonly Linear _toV;
    [ComponentName(Name = "to_out")] private readonly ModuleList<nn.Module<Tensor, Tensor>> _toOut;

    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly long _heads;
    private readonly long _headDim;
    private readonly long? _groups;
    private readonly double _eps;
    private readonly double _rescaleOutputFactor;

    /// <param name="ctx">Shared layer state.</param>
    /// <param name="path">Module path for tracing.</param>
    /// <param name="channels">C, the query dimension.</param>
    /// <param name="headDim">d; heads = C / d (integer division, as diffusers), inner width = heads·d.</param>
    /// <param name="groups">GroupNorm groups, or <c>null</c> for no normalisation.</param>
    /// <param name="eps">GroupNorm ε.</param>
    /// <param name="rescaleOutputFactor">The output (residual included) is divided by this.</param>
    public SpatialSelfAttention(LayerContext ctx, string path, long channels, long headDim, long? groups, double eps, double rescaleOutputFactor)
        : base(nameof(SpatialSelfAttention))
    {
        _ctx = ctx;
        _path = path;
        _headDim = headDim;
        _heads = channels / headDim;
        if (_heads < 1)
            throw new ArgumentException($"attention head dim {headDim} exceeds {channels} channels", nameof(headDim));
        _groups = groups;
        _eps = eps;
        _rescaleOutputFactor = rescaleOutputFactor;
        long inner = _heads * headDim;
        if (groups is { } g)
            _groupNorm = Ops.NewGroupNorm(g, channels, eps);
        _toQ = nn.Linear(channels, inner);
        _toK = nn.Linear(channels, inner);
        _toV = nn.Linear(channels, inner);
        _toOut = nn.ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(inner, channels), nn.Dropout(0.0));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], hgt = x.shape[2], wid = x.shape[3], n = hgt * wid;
        var h = _groupNorm is null ? x : Ops.GroupNorm(_groupNorm, _groups!.Value, _eps, x);
        h = h.reshape(b, c, n).transpose(1, 2);                                   // [B, HW, C]
        var q = SplitHeads(Ops.Linear(_ctx, _toQ, h), b, n);                       // [B, heads, HW, d]
        var k = SplitHeads(Ops.Linear(_ctx, _toK, h), b, n);
        var v = SplitHeads(Ops.Linear(_ctx, _toV, h), b, n);
        var o = Ops.Attention(_ctx, q, k, v);                                      // [B, heads, HW, d]
        o = o.transpose(1, 2).reshape(b, n, _heads * _headDim);
        o = _toOut[1].call(Ops.Linear(_ctx, (Linear)_toOut[0], o));              // [B, HW, C]
        var output = o.transpose(1, 2).reshape(b, c, hgt, wid) + x;
        if (_rescaleOutputFactor != 1)
            output = output / _rescaleOutputFactor;
        _ctx.Emit(_path, output);
        return output.MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor t, long b, long n) => t.view(b, n, _heads, _headDim).transpose(1, 2);
}
