using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace DiffusionSharp.Models.Layers1D;

/// <summary>A parameter-free activation as a module (diffusers keeps them in module lists, which fixes the indices of the layers around them).</summary>
internal sealed class Activation1D : nn.Module<Tensor, Tensor>
{
    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly ActivationFunction _fn;

    public Activation1D(LayerContext ctx, string path, ActivationFunction fn) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _fn = fn;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = Ops.Activation(_fn, x);
        _ctx.Emit(_path, y);
        return y;
    }
}

/// <summary>diffusers' <c>OutConv1DBlock</c>: conv k5 → GroupNorm → act_fn → conv 1×1 to the output channels.</summary>
internal sealed class OutConv1DBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "final_conv1d_1")] private readonly Conv1d _conv1;
    [ComponentName(Name = "final_conv1d_gn")] private readonly GroupNorm _norm;
    [ComponentName(Name = "final_conv1d_act")] private readonly Activation1D _act;
    [ComponentName(Name = "final_conv1d_2")] private readonly Conv1d _conv2;
    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly long _groups;

    public OutConv1DBlock(LayerContext ctx, string path, long groups, long channels, long outChannels, ActivationFunction act) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _groups = groups;
        _conv1 = nn.Conv1d(channels, channels, 5, padding: 2);
        _norm = Ops.NewGroupNorm(groups, channels, 1e-5);
        _act = new Activation1D(ctx, $"{path}.final_conv1d_act", act);
        _conv2 = nn.Conv1d(channels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = Ops1D.Conv1d(_ctx, _conv1, x, 1, 2);
        _ctx.Emit($"{_path}.final_conv1d_1", h);
        h = Ops.GroupNorm(_norm, _groups, 1e-5, h);
        _ctx.Emit($"{_path}.final_conv1d_gn", h.unsqueeze(2));   // diffusers normalises a [B, C, 1, L] view (rearrange_dims)
        h = Ops1D.Conv1d(_ctx, _conv2, _act.call(h), 1, 0);
        _ctx.Emit($"{_path}.final_conv1d_2", h);
        _ctx.Emit(_path, h);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers' <c>OutValueFunctionBlock</c> (Diffuser's value function): flatten [B, C·L], concatenate the time
/// embedding, then <c>final_block</c> = [Linear → act_fn → Linear] to one value per sample, [B, 1].
/// </summary>
internal sealed class OutValueFunctionBlock : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "final_block")] private readonly ModuleList<nn.Module> _finalBlock;
    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly long _features;

    public OutValueFunctionBlock(LayerContext ctx, string path, long fcDim, long embedDim, ActivationFunction act) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _features = fcDim;
        _finalBlock = [nn.Linear(fcDim + embedDim, fcDim / 2), new Activation1D(ctx, $"{path}.final_block.1", act), nn.Linear(fcDim / 2, 1)];
        RegisterComponents();
    }

    public override Tensor forward(Tensor h, Tensor temb)
    {
        using var scope = NewDisposeScope();
        var flat = h.reshape(h.shape[0], -1);
        if (flat.shape[1] != _features)
            throw new ArgumentException($"{_path}: expects {_features} features per sample, the network gives {flat.shape[1]}; the sample length must shrink to 1 at the bottleneck");
        var y = Ops.Linear(_ctx, (Linear)_finalBlock[0], cat([flat, temb], 1));
        y = ((Activation1D)_finalBlock[1]).call(y);
        y = Ops.Linear(_ctx, (Linear)_finalBlock[2], y);
        _ctx.Emit(_path, y);
        return y.MoveToOuterDisposeScope();
    }
}
