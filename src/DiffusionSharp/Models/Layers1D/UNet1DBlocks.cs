using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace DiffusionSharp.Models.Layers1D;

/// <summary>
/// <c>down_blocks.i</c> of diffusers' <c>UNet1DModel</c>, any of the four types (see <see cref="UNet1DDownBlockType"/>).
/// Returns the hidden state and the skip connection it leaves for the decoder.
/// </summary>
internal sealed class UNet1DDownBlock : nn.Module<Tensor, Tensor, (Tensor Hidden, Tensor Skip)>
{
    // diffusers' registration order: down, attentions, resnets (ResConv family); resnets, downsample (ResNet family).
    [ComponentName(Name = "down")] private readonly FirDownsample1d? _down;
    [ComponentName(Name = "attentions")] private readonly ModuleList<SelfAttention1d>? _attentions;
    [ComponentName(Name = "resnets")] private readonly ModuleList<nn.Module> _resnets;
    [ComponentName(Name = "downsample")] private readonly ConvDownsample1D? _downsample;
    private readonly UNet1DDownBlockType _type;
    private readonly bool _temporal;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public UNet1DDownBlock(LayerContext ctx, string path, UNet1DDownBlockType type, UNet1DBlockWidths widths, int layers, long embedDim) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _type = type;
        _temporal = type == UNet1DDownBlockType.DownResnetBlock1D;
        long i = widths.In, o = widths.Out;
        if (type == UNet1DDownBlockType.DownResnetBlock1D)
        {
            _resnets = [new ResidualTemporalBlock1D(ctx, $"{path}.resnets.0", i, o, embedDim)];
            for (int j = 1; j <= layers; j++)
                _resnets.Add(new ResidualTemporalBlock1D(ctx, $"{path}.resnets.{j}", o, o, embedDim));
            if (widths.AddResample)
                _downsample = new ConvDownsample1D(ctx, $"{path}.downsample", o);
        }
        else
        {
            if (type != UNet1DDownBlockType.DownBlock1DNoSkip)
                _down = new FirDownsample1d(ctx, $"{path}.down");
            _resnets = ResConvTriple(ctx, path, i, o, o);
            if (type == UNet1DDownBlockType.AttnDownBlock1D)
                _attentions = AttentionTriple(ctx, path, o, o);
        }
        RegisterComponents();
    }

    public override (Tensor Hidden, Tensor Skip) forward(Tensor h, Tensor temb)
    {
        using var scope = NewDisposeScope();
        if (_temporal)
        {
            foreach (var r in _resnets!.Cast<ResidualTemporalBlock1D>())
                h = r.call(h, temb);
            var skip = h;
            if (_downsample is not null)
                h = _downsample.call(h);
            _ctx.Emit(_path, h);
            return (h.MoveToOuterDisposeScope(), skip.MoveToOuterDisposeScope());
        }
        if (_type == UNet1DDownBlockType.DownBlock1DNoSkip)
            h = cat([h, temb], 1);
        if (_down is not null)
            h = _down.call(h);
        h = RunResConv(_resnets!, _attentions, h);
        _ctx.Emit(_path, h);
        h = h.MoveToOuterDisposeScope();
        return (h, h);
    }

    /// <summary>Three ResConvBlocks in → mid → mid → out, as every ResConv-family block has.</summary>
    internal static ModuleList<nn.Module> ResConvTriple(LayerContext ctx, string path, long first, long mid, long cout, bool lastIsLast = false) =>
    [
        new ResConvBlock1D(ctx, $"{path}.resnets.0", first, mid, mid),
        new ResConvBlock1D(ctx, $"{path}.resnets.1", mid, mid, mid),
        new ResConvBlock1D(ctx, $"{path}.resnets.2", mid, mid, cout, lastIsLast),
    ];

    /// <summary>Self-attention after each of the three ResConvBlocks: widths mid, mid, out.</summary>
    internal static ModuleList<SelfAttention1d> AttentionTriple(LayerContext ctx, string path, long mid, long cout) =>
    [
        new SelfAttention1d(ctx, $"{path}.attentions.0", mid),
        new SelfAttention1d(ctx, $"{path}.attentions.1", mid),
        new SelfAttention1d(ctx, $"{path}.attentions.2", cout),
    ];

    /// <summary>resnet → (attention) for each pair, as diffusers' ResConv-family blocks run them.</summary>
    internal static Tensor RunResConv(ModuleList<nn.Module> resnets, ModuleList<SelfAttention1d>? attentions, Tensor h)
    {
        for (int j = 0; j < resnets.Count; j++)
        {
            h = ((ResConvBlock1D)resnets[j]).call(h);
            if (attentions is not null)
                h = attentions[j].call(h);
        }
        return h;
    }
}

/// <summary><c>mid_block</c> of diffusers' <c>UNet1DModel</c>, any of the three types (see <see cref="UNet1DMidBlockType"/>).</summary>
internal sealed class UNet1DMidBlock : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "down")] private readonly FirDownsample1d? _down;
    [ComponentName(Name = "resnets")] private readonly ModuleList<nn.Module>? _resnets;
    [ComponentName(Name = "attentions")] private readonly ModuleList<SelfAttention1d>? _attentions;
    [ComponentName(Name = "up")] private readonly FirUpsample1d? _up;
    [ComponentName(Name = "downsample")] private readonly ConvDownsample1D? _downsample;
    [ComponentName(Name = "res1")] private readonly ResidualTemporalBlock1D? _res1;
    [ComponentName(Name = "down1")] private readonly ConvDownsample1D? _down1;
    [ComponentName(Name = "res2")] private readonly ResidualTemporalBlock1D? _res2;
    [ComponentName(Name = "down2")] private readonly ConvDownsample1D? _down2;
    private readonly LayerContext _ctx;
    private readonly string _path;

    public UNet1DMidBlock(LayerContext ctx, string path, UNet1DMidBlockType type, long channels, int layers, long embedDim, bool addDownsample) : base(path)
    {
        _ctx = ctx;
        _path = path;
        switch (type)
        {
            case UNet1DMidBlockType.UNetMidBlock1D:
                _down = new FirDownsample1d(ctx, $"{path}.down");
                _resnets = [.. Enumerable.Range(0, 6).Select(j => new ResConvBlock1D(ctx, $"{path}.resnets.{j}", channels, channels, channels))];
                _attentions = [.. Enumerable.Range(0, 6).Select(j => new SelfAttention1d(ctx, $"{path}.attentions.{j}", channels))];
                _up = new FirUpsample1d(ctx, $"{path}.up");
                break;
            case UNet1DMidBlockType.MidResTemporalBlock1D:
                _resnets = [.. Enumerable.Range(0, layers + 1).Select(j => new ResidualTemporalBlock1D(ctx, $"{path}.resnets.{j}", channels, channels, embedDim))];
                if (addDownsample)
                    _downsample = new ConvDownsample1D(ctx, $"{path}.downsample", channels);
                break;
            default:
                _res1 = new ResidualTemporalBlock1D(ctx, $"{path}.res1", channels, channels / 2, embedDim);
                _down1 = new ConvDownsample1D(ctx, $"{path}.down1", channels / 2);
                _res2 = new ResidualTemporalBlock1D(ctx, $"{path}.res2", channels / 2, channels / 4, embedDim);
                _down2 = new ConvDownsample1D(ctx, $"{path}.down2", channels / 4);
                break;
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor h, Tensor temb)
    {
        using var scope = NewDisposeScope();
        if (_down is not null)
        {
            h = _up!.call(UNet1DDownBlock.RunResConv(_resnets!, _attentions, _down!.call(h)));
        }
        else if (_resnets is not null)
        {
            foreach (var r in _resnets!.Cast<ResidualTemporalBlock1D>())
                h = r.call(h, temb);
            if (_downsample is not null)
                h = _downsample.call(h);
        }
        else
        {
            h = _down2!.call(_res2!.call(_down1!.call(_res1!.call(h, temb)), temb));
        }
        _ctx.Emit(_path, h);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary><c>up_blocks.i</c> of diffusers' <c>UNet1DModel</c>, any of the four types (see <see cref="UNet1DUpBlockType"/>).</summary>
internal sealed class UNet1DUpBlock : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "resnets")] private readonly ModuleList<nn.Module> _resnets;
    [ComponentName(Name = "upsample")] private readonly ConvTransposeUpsample1D? _upsample;
    [ComponentName(Name = "attentions")] private readonly ModuleList<SelfAttention1d>? _attentions;
    [ComponentName(Name = "up")] private readonly FirUpsample1d? _up;
    private readonly LayerContext _ctx;
    private readonly string _path;
    private readonly bool _temporal;

    public UNet1DUpBlock(LayerContext ctx, string path, UNet1DUpBlockType type, UNet1DBlockWidths widths, int layers, long embedDim) : base(path)
    {
        _ctx = ctx;
        _path = path;
        _temporal = type == UNet1DUpBlockType.UpResnetBlock1D;
        long i = widths.In, o = widths.Out;
        switch (type)
        {
            case UNet1DUpBlockType.UpResnetBlock1D:
                _resnets = [new ResidualTemporalBlock1D(ctx, $"{path}.resnets.0", 2 * i, o, embedDim)];
                for (int j = 1; j <= layers; j++)
                    _resnets.Add(new ResidualTemporalBlock1D(ctx, $"{path}.resnets.{j}", o, o, embedDim));
                if (widths.AddResample)
                    _upsample = new ConvTransposeUpsample1D(ctx, $"{path}.upsample", o);
                break;
            case UNet1DUpBlockType.AttnUpBlock1D:
                _resnets = UNet1DDownBlock.ResConvTriple(ctx, path, 2 * i, o, o);
                _attentions = UNet1DDownBlock.AttentionTriple(ctx, path, o, o);
                _up = new FirUpsample1d(ctx, $"{path}.up");
                break;
            case UNet1DUpBlockType.UpBlock1D:
                _resnets = UNet1DDownBlock.ResConvTriple(ctx, path, 2 * i, i, o);
                _up = new FirUpsample1d(ctx, $"{path}.up");
                break;
            default:
                _resnets = UNet1DDownBlock.ResConvTriple(ctx, path, 2 * i, i, o, lastIsLast: true);
                break;
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor h, Tensor skip, Tensor temb)
    {
        using var scope = NewDisposeScope();
        if (h.shape[2] != skip.shape[2])
            throw new ArgumentException($"{_path}: hidden length {h.shape[2]} and skip length {skip.shape[2]} differ; the sample length does not survive the resampling");
        h = cat([h, skip], 1);
        if (_temporal)
        {
            foreach (var r in _resnets!.Cast<ResidualTemporalBlock1D>())
                h = r.call(h, temb);
            if (_upsample is not null)
                h = _upsample.call(h);
        }
        else
        {
            h = UNet1DDownBlock.RunResConv(_resnets!, _attentions, h);
            if (_up is not null)
                h = _up.call(h);
        }
        _ctx.Emit(_path, h);
        return h.MoveToOuterDisposeScope();
    }
}
