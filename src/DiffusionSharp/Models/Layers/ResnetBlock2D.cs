using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers;

/// <summary>Whether a residual block also changes resolution (diffusers' <c>up=True</c> / <c>down=True</c>).</summary>
internal enum ResnetResample
{
    None,
    Up,
    Down,
}

/// <summary>
/// The residual block of DDPM's U-Net (Ho et al. 2020, App. B, after Zagoruyko &amp; Komodakis' wide ResNet):
/// h = conv₁(act(norm₁(x))); h ← h + W·act(emb) (or norm₂(h)·(1+s)+b with scale-shift); h = conv₂(dropout(act(norm₂(h))));
/// out = (shortcut(x) + h) / output_scale_factor, with a 1×1 conv shortcut when the channel count changes.
/// Parameters as diffusers names them: norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut.
/// </summary>
internal sealed class ResnetBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
    // Field order is registration order is state_dict order: it matches diffusers'.
    [ComponentName(Name = "norm1")] private readonly GroupNorm _norm1;
    [ComponentName(Name = "conv1")] private readonly Conv2d _conv1;
    [ComponentName(Name = "time_emb_proj")] private readonly Linear? _timeEmbProj;
    [ComponentName(Name = "norm2")] private readonly GroupNorm _norm2;
    [ComponentName(Name = "dropout")] private readonly Dropout _dropout;
    [ComponentName(Name = "conv2")] private readonly Conv2d _conv2;
    [ComponentName(Name = "conv_shortcut")] private readonly Conv2d? _convShortcut;

    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly long _groups;
    private readonly double _eps;
    private readonly ActivationFunction _act;
    private readonly ResnetTimeScaleShift _timeScaleShift;
    private readonly double _outputScaleFactor;
    private readonly ResnetResample _resample;

    public ResnetBlock2D(LayerContext ctx, string path, long inChannels, long outChannels, long? tembChannels, long groups, double eps,
        double dropoutP, ActivationFunction act, ResnetTimeScaleShift timeScaleShift, double outputScaleFactor, ResnetResample resample = ResnetResample.None)
        : base(nameof(ResnetBlock2D))
    {
        _ctx = ctx;
        _path = path;
        _groups = groups;
        _eps = eps;
        _act = act;
        _timeScaleShift = timeScaleShift;
        _outputScaleFactor = outputScaleFactor;
        _resample = resample;
        _norm1 = Ops.NewGroupNorm(groups, inChannels, eps);
        _conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        if (tembChannels is { } temb)
            _timeEmbProj = nn.Linear(temb, timeScaleShift == ResnetTimeScaleShift.ScaleShift ? 2 * outChannels : outChannels);
        _norm2 = Ops.NewGroupNorm(groups, outChannels, eps);
        _dropout = nn.Dropout(dropoutP);
        _conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels)
            _convShortcut = nn.Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = Ops.Activation(_act, Ops.GroupNorm(_norm1, _groups, _eps, x));
        var input = x;
        if (_resample == ResnetResample.Up)
        {
            input = Upsample2D.Nearest2x(input);
            h = Upsample2D.Nearest2x(h);
        }
        else if (_resample == ResnetResample.Down)
        {
            input = F.avg_pool2d(input, 2, 2);
            h = F.avg_pool2d(h, 2, 2);
        }
        h = Ops.Conv2d(_ctx, _conv1, h, 1, 1);

        Tensor? t = null;
        if (_timeEmbProj is not null && temb is not null)
            t = Ops.Linear(_ctx, _timeEmbProj, Ops.Activation(_act, temb)).to(h.dtype).unsqueeze(-1).unsqueeze(-1);   // the stream's dtype (bf16 in the bf16 stream)
        if (_timeScaleShift == ResnetTimeScaleShift.ScaleShift)
        {
            if (t is null)
                throw new ArgumentException("a scale-shift residual block needs the time embedding", nameof(temb));
            var parts = t.chunk(2, 1);
            h = Ops.GroupNorm(_norm2, _groups, _eps, h) * (parts[0] + 1) + parts[1];
        }
        else
        {
            if (t is not null)
                h = h + t;
            h = Ops.GroupNorm(_norm2, _groups, _eps, h);
        }
        h = _dropout.call(Ops.Activation(_act, h));
        h = Ops.Conv2d(_ctx, _conv2, h, 1, 1);
        if (_convShortcut is not null)
            input = Ops.Conv2d(_ctx, _convShortcut, input, 1, 0);
        var output = input + h;
        if (_outputScaleFactor != 1)
            output = output / _outputScaleFactor;
        _ctx.Emit(_path, output);
        return output.MoveToOuterDisposeScope();
    }
}
