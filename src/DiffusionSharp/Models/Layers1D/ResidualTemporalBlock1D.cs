using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers1D;

/// <summary>diffusers' <c>Conv1dBlock</c> (Janner et al. 2022, Diffuser): conv (padding k/2) → GroupNorm(8) → Mish.</summary>
internal sealed class Conv1dBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv1d")] private readonly Conv1d _conv;
    [ComponentName(Name = "group_norm")] private readonly GroupNorm _norm;
    private readonly LayerContext _ctx;
    private readonly long _padding;

    public Conv1dBlock(LayerContext ctx, long inChannels, long outChannels, long kernelSize) : base(nameof(Conv1dBlock))
    {
        _ctx = ctx;
        _padding = kernelSize / 2;
        _conv = nn.Conv1d(inChannels, outChannels, kernelSize, padding: _padding);
        _norm = Ops.NewGroupNorm(8, outChannels, 1e-5);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return F.mish(Ops.GroupNorm(_norm, 8, 1e-5, Ops1D.Conv1d(_ctx, _conv, x, 1, _padding))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers' <c>ResidualTemporalBlock1D</c> (Diffuser, Janner et al. 2022, App. C): h = conv_in(x) + W·mish(t) (the
/// time embedding broadcast along the length), y = conv_out(h) + residual_conv(x), with a 1×1 <c>residual_conv</c>
/// where the channel counts differ. Kernel size 5; always Mish, whatever <c>act_fn</c> says (diffusers' blocks do not pass it).
/// </summary>
internal sealed class ResidualTemporalBlock1D : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "conv_in")] private readonly Conv1dBlock _convIn;
    [ComponentName(Name = "conv_out")] private readonly Conv1dBlock _convOut;
    [ComponentName(Name = "time_emb")] private readonly Linear _timeEmb;
    [ComponentName(Name = "residual_conv")] private readonly Conv1d? _residualConv;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public ResidualTemporalBlock1D(LayerContext ctx, string path, long inChannels, long outChannels, long embedDim) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _convIn = new Conv1dBlock(ctx, inChannels, outChannels, 5);
        _convOut = new Conv1dBlock(ctx, outChannels, outChannels, 5);
        _timeEmb = nn.Linear(embedDim, outChannels);
        if (inChannels != outChannels)
            _residualConv = nn.Conv1d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor temb)
    {
        using var scope = NewDisposeScope();
        var t = Ops.Linear(_ctx, _timeEmb, F.mish(temb)).unsqueeze(2);
        var h = _convOut.call(_convIn.call(x) + t);
        var y = h + (_residualConv is null ? x : Ops1D.Conv1d(_ctx, _residualConv, x, 1, 0));
        _ctx.Emit(_path, y);
        return y.MoveToOuterDisposeScope();
    }
}
