using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace DiffusionSharp.Models.Layers;

/// <summary>Settings every residual block of one U-Net shares.</summary>
internal sealed record ResnetSettings(long TembChannels, long Groups, double Eps, double Dropout, ActivationFunction Act,
    ResnetTimeScaleShift TimeScaleShift);

/// <summary>
/// An encoder level: <c>numLayers</c> residual blocks (each followed by self-attention in <c>AttnDownBlock2D</c>), then an
/// optional downsampler. Returns the output and every intermediate state the decoder's skip connections consume
/// (after each residual/attention pair, and after the downsampler).
/// </summary>
internal sealed class UNetDownBlock2D : nn.Module<Tensor, Tensor?, (Tensor Output, Tensor[] Skips)>
{
    // diffusers' AttnDownBlock2D registers _attentions before _resnets.
    [ComponentName(Name = "attentions")] private readonly ModuleList<SpatialSelfAttention>? _attentions;
    [ComponentName(Name = "resnets")] private readonly ModuleList<ResnetBlock2D> _resnets;
    [ComponentName(Name = "downsamplers")] private readonly ModuleList<nn.Module>? _downsamplers;

    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly bool _resnetDownsampler;

    public UNetDownBlock2D(LayerContext ctx, string path, UNetDownBlockType type, int numLayers, long inChannels, long outChannels,
        ResnetSettings rs, bool addDownsample, ResamplingType downsampleType, long downsamplePadding, long headDim)
        : base(nameof(UNetDownBlock2D))
    {
        _ctx = ctx;
        _path = path;
        _resnets = new ModuleList<ResnetBlock2D>();
        if (type == UNetDownBlockType.AttnDownBlock2D)
            _attentions = new ModuleList<SpatialSelfAttention>();
        for (int i = 0; i < numLayers; i++)
        {
            _resnets.Add(new ResnetBlock2D(ctx, $"{path}.resnets.{i}", i == 0 ? inChannels : outChannels, outChannels, rs.TembChannels,
                rs.Groups, rs.Eps, rs.Dropout, rs.Act, rs.TimeScaleShift, 1.0));
            _attentions?.Add(new SpatialSelfAttention(ctx, $"{path}.attentions.{i}", outChannels, headDim, rs.Groups, rs.Eps, 1.0));
        }
        if (addDownsample)
        {
            // Plain DownBlock2D always downsamples with a conv; only AttnDownBlock2D honours downsample_type.
            _resnetDownsampler = type == UNetDownBlockType.AttnDownBlock2D && downsampleType == ResamplingType.Resnet;
            nn.Module down = _resnetDownsampler
                ? new ResnetBlock2D(ctx, $"{path}.downsamplers.0", outChannels, outChannels, rs.TembChannels, rs.Groups, rs.Eps,
                    rs.Dropout, rs.Act, rs.TimeScaleShift, 1.0, ResnetResample.Down)
                : new Downsample2D(ctx, $"{path}.downsamplers.0", outChannels, downsamplePadding);
            _downsamplers = new ModuleList<nn.Module>(down);
        }
        RegisterComponents();
    }

    public override (Tensor Output, Tensor[] Skips) forward(Tensor x, Tensor? temb)
    {
        var skips = new List<Tensor>();
        var h = x;
        for (int i = 0; i < _resnets.Count; i++)
        {
            h = _resnets[i].call(h, temb);
            if (_attentions is not null)
                h = _attentions[i].call(h);
            skips.Add(h);
        }
        if (_downsamplers is not null)
        {
            h = _resnetDownsampler ? ((ResnetBlock2D)_downsamplers[0]).call(h, temb) : ((Downsample2D)_downsamplers[0]).call(h);
            skips.Add(h);
        }
        _ctx.Emit(_path, h);
        return (h, skips.ToArray());
    }
}

/// <summary>
/// The bottleneck: a residual block, then (self-attention, residual block) × numLayers. Residual and attention outputs
/// are divided by <c>mid_block_scale_factor</c>.
/// </summary>
internal sealed class UNetMidBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
    [ComponentName(Name = "attentions")] private readonly ModuleList<SpatialSelfAttention>? _attentions;
    [ComponentName(Name = "resnets")] private readonly ModuleList<ResnetBlock2D> _resnets;

    private readonly LayerContext _ctx;
    private readonly string _path;

    public UNetMidBlock2D(LayerContext ctx, string path, long channels, ResnetSettings rs, double outputScaleFactor, bool addAttention,
        long headDim, long? attnGroups, int numLayers = 1)
        : base(nameof(UNetMidBlock2D))
    {
        _ctx = ctx;
        _path = path;
        // diffusers: attn_groups defaults to the resnet groups with the default time conditioning, to none with scale-shift.
        long? groups = attnGroups ?? (rs.TimeScaleShift == ResnetTimeScaleShift.Default ? rs.Groups : null);
        _resnets = new ModuleList<ResnetBlock2D>(new ResnetBlock2D(ctx, $"{path}.resnets.0", channels, channels, rs.TembChannels,
            rs.Groups, rs.Eps, rs.Dropout, rs.Act, rs.TimeScaleShift, outputScaleFactor));
        if (addAttention)
            _attentions = new ModuleList<SpatialSelfAttention>();
        for (int i = 0; i < numLayers; i++)
        {
            _attentions?.Add(new SpatialSelfAttention(ctx, $"{path}.attentions.{i}", channels, headDim, groups, rs.Eps, outputScaleFactor));
            _resnets.Add(new ResnetBlock2D(ctx, $"{path}.resnets.{i + 1}", channels, channels, rs.TembChannels, rs.Groups, rs.Eps,
                rs.Dropout, rs.Act, rs.TimeScaleShift, outputScaleFactor));
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? temb)
    {
        var h = _resnets[0].call(x, temb);
        for (int i = 1; i < _resnets.Count; i++)
        {
            if (_attentions is not null)
                h = _attentions[i - 1].call(h);
            h = _resnets[i].call(h, temb);
        }
        _ctx.Emit(_path, h);
        return h;
    }
}

/// <summary>
/// A decoder level: numLayers residual blocks, each over [h, skip] concatenated on channels (the skips are consumed
/// last-first), each followed by self-attention in <c>AttnUpBlock2D</c>; then an optional upsampler.
/// </summary>
internal sealed class UNetUpBlock2D : nn.Module<Tensor, Tensor[], Tensor?, Tensor>
{
    [ComponentName(Name = "attentions")] private readonly ModuleList<SpatialSelfAttention>? _attentions;
    [ComponentName(Name = "resnets")] private readonly ModuleList<ResnetBlock2D> _resnets;
    [ComponentName(Name = "upsamplers")] private readonly ModuleList<nn.Module>? _upsamplers;

    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly bool _resnetUpsampler;

    /// <param name="ctx">Shared layer state.</param>
    /// <param name="path">Module path.</param>
    /// <param name="type">Block kind.</param>
    /// <param name="widths">The block's widths and residual-block count (<see cref="UNet2DConfig.UpBlocks"/>).</param>
    /// <param name="rs">Residual block settings.</param>
    /// <param name="addUpsample">Whether to upsample at the end.</param>
    /// <param name="upsampleType">Upsampler of attention blocks.</param>
    /// <param name="headDim">Attention head dim.</param>
    public UNetUpBlock2D(LayerContext ctx, string path, UNetUpBlockType type, UpBlockWidths widths, ResnetSettings rs, bool addUpsample,
        ResamplingType upsampleType, long headDim)
        : base(nameof(UNetUpBlock2D))
    {
        _ctx = ctx;
        _path = path;
        _resnets = new ModuleList<ResnetBlock2D>();
        if (type == UNetUpBlockType.AttnUpBlock2D)
            _attentions = new ModuleList<SpatialSelfAttention>();
        long outChannels = widths.Output;
        for (int i = 0; i < widths.Layers; i++)
        {
            var (hidden, skip) = widths.ResnetInput(i);
            _resnets.Add(new ResnetBlock2D(ctx, $"{path}.resnets.{i}", hidden + skip, outChannels, rs.TembChannels, rs.Groups,
                rs.Eps, rs.Dropout, rs.Act, rs.TimeScaleShift, 1.0));
            _attentions?.Add(new SpatialSelfAttention(ctx, $"{path}.attentions.{i}", outChannels, headDim, rs.Groups, rs.Eps, 1.0));
        }
        if (addUpsample)
        {
            _resnetUpsampler = type == UNetUpBlockType.AttnUpBlock2D && upsampleType == ResamplingType.Resnet;
            nn.Module up = _resnetUpsampler
                ? new ResnetBlock2D(ctx, $"{path}.upsamplers.0", outChannels, outChannels, rs.TembChannels, rs.Groups, rs.Eps,
                    rs.Dropout, rs.Act, rs.TimeScaleShift, 1.0, ResnetResample.Up)
                : new Upsample2D(ctx, $"{path}.upsamplers.0", outChannels);
            _upsamplers = new ModuleList<nn.Module>(up);
        }
        RegisterComponents();
    }

    /// <summary>Number of skip states this block consumes.</summary>
    public int NumSkips => _resnets.Count;

    /// <param name="x">Incoming hidden state.</param>
    /// <param name="skips">This block's skip states in encoder order; the last is consumed first.</param>
    /// <param name="temb">Time embedding.</param>
    public override Tensor forward(Tensor x, Tensor[] skips, Tensor? temb)
    {
        if (skips.Length != _resnets.Count)
            throw new ArgumentException($"{_path} needs {_resnets.Count} skip states, got {skips.Length}", nameof(skips));
        var h = x;
        for (int i = 0; i < _resnets.Count; i++)
        {
            h = cat([h, skips[skips.Length - 1 - i]], 1);
            h = _resnets[i].call(h, temb);
            if (_attentions is not null)
                h = _attentions[i].call(h);
        }
        if (_upsamplers is not null)
            h = _resnetUpsampler ? ((ResnetBlock2D)_upsamplers[0]).call(h, temb) : ((Upsample2D)_upsamplers[0]).call(h);
        _ctx.Emit(_path, h);
        return h;
    }
}
