using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers1D;

/// <summary>
/// diffusers' <c>ResConvBlock</c> (Dance Diffusion, after k-diffusion's audio U-Net): conv k5 → GroupNorm(1) → GELU
/// (exact erf) → conv k5 → GroupNorm(1) → GELU, plus the input (through a bias-free 1×1 <c>conv_skip</c> where the
/// channel counts differ). The last block of <c>UpBlock1DNoSkip</c> (<c>is_last</c>) ends at the second conv.
/// </summary>
internal sealed class ResConvBlock1D : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv_skip")] private readonly Conv1d? _convSkip;
    [ComponentName(Name = "conv_1")] private readonly Conv1d _conv1;
    [ComponentName(Name = "group_norm_1")] private readonly GroupNorm _norm1;
    [ComponentName(Name = "conv_2")] private readonly Conv1d _conv2;
    [ComponentName(Name = "group_norm_2")] private readonly GroupNorm? _norm2;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public ResConvBlock1D(LayerContext ctx, string path, long inChannels, long midChannels, long outChannels, bool isLast = false) : base(path)
    {
        _ctx = ctx;
        _path = path;
        if (inChannels != outChannels)
            _convSkip = nn.Conv1d(inChannels, outChannels, 1, bias: false);
        _conv1 = nn.Conv1d(inChannels, midChannels, 5, padding: 2);
        _norm1 = Ops.NewGroupNorm(1, midChannels, 1e-5);
        _conv2 = nn.Conv1d(midChannels, outChannels, 5, padding: 2);
        if (!isLast)
            _norm2 = Ops.NewGroupNorm(1, outChannels, 1e-5);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var residual = _convSkip is null ? x : Ops1D.Conv1d(_ctx, _convSkip, x, 1, 0);
        var h = F.gelu(Ops.GroupNorm(_norm1, 1, 1e-5, Ops1D.Conv1d(_ctx, _conv1, x, 1, 2)));
        h = Ops1D.Conv1d(_ctx, _conv2, h, 1, 2);
        if (_norm2 is not null)
            h = F.gelu(Ops.GroupNorm(_norm2, 1, 1e-5, h));
        var y = h + residual;
        _ctx.Emit(_path, y);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers' <c>SelfAttention1d</c>: GroupNorm(1) → per-position <c>query</c>/<c>key</c>/<c>value</c> linears →
/// softmax(q·kᵀ/√d)·v over the length with C // 32 heads of d = C / heads (diffusers scales q and k by d^−¼ each, the
/// same product) → <c>proj_attn</c>, plus the input. Runs through the fused attention kernel of <see cref="Ops.Attention"/>.
/// </summary>
internal sealed class SelfAttention1d : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "group_norm")] private readonly GroupNorm _norm;
    [ComponentName(Name = "query")] private readonly Linear _query;
    [ComponentName(Name = "key")] private readonly Linear _key;
    [ComponentName(Name = "value")] private readonly Linear _value;
    [ComponentName(Name = "proj_attn")] private readonly Linear _projAttn;
    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly long _heads;

    public SelfAttention1d(LayerContext ctx, string path, long channels) : base(path)
    {
        if (channels < 32 || channels % (channels / 32) != 0)
            throw new ArgumentException($"{path}: self-attention needs ≥ 32 channels divisible by C // 32 heads, got {channels}", nameof(channels));
        _ctx = ctx;
        _path = path;
        _heads = channels / 32;
        _norm = Ops.NewGroupNorm(1, channels, 1e-5);
        _query = nn.Linear(channels, channels);
        _key = nn.Linear(channels, channels);
        _value = nn.Linear(channels, channels);
        _projAttn = nn.Linear(channels, channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], n = x.shape[2];
        var h = Ops.GroupNorm(_norm, 1, 1e-5, x).transpose(1, 2);            // [B, L, C]
        Tensor Heads(Linear proj) => Ops.Linear(_ctx, proj, h).view(b, n, _heads, c / _heads).permute(0, 2, 1, 3);
        var o = Ops.Attention(_ctx, Heads(_query), Heads(_key), Heads(_value));   // [B, heads, L, d]
        o = o.permute(0, 2, 1, 3).reshape(b, n, c);
        var y = Ops.Linear(_ctx, _projAttn, o).transpose(1, 2) + x;
        _ctx.Emit(_path, y);
        return y.MoveToOuterDisposeScope();
    }
}
