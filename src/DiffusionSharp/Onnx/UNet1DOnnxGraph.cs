using DiffusionSharp.Models;
using static DiffusionSharp.Onnx.OnnxGraph;

namespace DiffusionSharp.Onnx;

/// <summary>
/// The ONNX graph of a <see cref="UNet1DModel"/>, built from its <see cref="UNet1DConfig"/> and diffusers-named state
/// dict as <see cref="UNet1DModel"/>'s forward runs: t → time_proj (→ time_mlp) (+ class embedding) = temb (repeated
/// along the length without the MLP); x → down blocks (one skip each) → mid block → up blocks ([h, skip]) → out block.
/// Both block families (Dance Diffusion's ResConv/attention/cubic FIR and Diffuser's residual temporal blocks).
/// </summary>
internal sealed class UNet1DOnnxGraph
{
    private readonly UNet1DConfig _c;
    private readonly OnnxLayers _l;
    private readonly OnnxGraph _g;
    private string _temb = "";

    private UNet1DOnnxGraph(UNet1DConfig config, OnnxLayers layers)
    {
        _c = config;
        _l = layers;
        _g = layers.Graph;
    }

    /// <summary>Checks the config for options the exporter cannot express.</summary>
    /// <exception cref="NotSupportedException">Names the config key.</exception>
    public static void CheckSupported(UNet1DConfig config)
    {
        if (config.OutBlockType == UNet1DOutBlockType.ValueFunction)
            throw new NotSupportedException("ONNX export: out_block_type \"ValueFunction\" (a value per sample, not a denoiser) is not supported");
        if (config.MidBlockType == UNet1DMidBlockType.ValueFunctionMidBlock1D)
            throw new NotSupportedException("ONNX export: mid_block_type \"ValueFunctionMidBlock1D\" is not supported");
    }

    /// <summary>Adds inputs <c>sample</c>, <c>timestep</c> (and <c>class_labels</c>), the network and output <c>out_sample</c>.</summary>
    public static void Build(UNet1DConfig config, OnnxLayers layers)
    {
        CheckSupported(config);
        new UNet1DOnnxGraph(config, layers).Build();
    }

    private void Build()
    {
        var f32 = Proto.TensorProto.Types.DataType.Float;
        _g.Input("sample", f32, "batch", (long)_c.InChannels, "length");
        _g.Input("timestep", f32, "batch");
        if (_c.HasClassEmbedding)
            _g.Input("class_labels", Proto.TensorProto.Types.DataType.Int64, "batch");

        var features = _c.TimeEmbeddingType == TimeEmbeddingType.Fourier
            ? _l.Fourier("time_proj", "timestep", log: false, _c.FlipSinToCos)
            : _l.Sinusoid("timestep", _c.BlockOutChannels[0], _c.FlipSinToCos, _c.FreqShift);
        string? classEmb = _c.HasClassEmbedding ? _l.Lookup("class_embedding", "class_labels") : null;
        if (_c.UseTimestepEmbedding)
        {
            var act = _c.ActFn!.Value;
            _temb = _l.Linear("time_mlp.linear_2", _l.Activation(act, _l.Linear("time_mlp.linear_1", features, rank2: true)), rank2: true);
            if (classEmb is not null)
                _temb = _g.Node("Add", [_temb, classEmb]);
        }
        else
        {
            if (classEmb is not null)
                features = _g.Node("Add", [features, classEmb]);
            // [B, D] → [B, D, L]: broadcast against [1, 1, L] taken from the sample's shape.
            var length = _g.Node("Slice", [_g.Node("Shape", ["sample"]), _g.Int64s(2), _g.Int64s(3)]);
            var shape = _g.Node("Concat", [_g.Int64s(1, 1), length], Int("axis", 0));
            _temb = _g.Node("Expand", [_g.Node("Unsqueeze", [features, _g.Int64s(2)]), shape]);
        }

        string h = "sample";
        var skips = new Stack<string>();
        foreach (var b in _c.DownBlocks())
        {
            (h, var skip) = DownBlock($"down_blocks.{b.Index}", _c.DownBlockTypes[b.Index], h);
            skips.Push(skip);
        }
        h = MidBlock("mid_block", h);
        foreach (var b in _c.UpBlocks())
            h = UpBlock($"up_blocks.{b.Index}", _c.UpBlockTypes[b.Index], _g.Node("Concat", [h, skips.Pop()], Int("axis", 1)));
        if (_c.OutBlockType == UNet1DOutBlockType.OutConv1DBlock)
        {
            h = _l.Conv1d("out_block.final_conv1d_1", h, 1, 2);
            h = _l.GroupNorm("out_block.final_conv1d_gn", h, _c.OutNormGroups, 1e-5, 1);
            h = _l.Conv1d("out_block.final_conv1d_2", _l.Activation(_c.ActFn!.Value, h), 1, 0);
        }
        _g.Output(h, "out_sample", f32, "batch", (long)_c.OutChannels, "length");
    }

    private (string Hidden, string Skip) DownBlock(string p, UNet1DDownBlockType type, string h)
    {
        if (type == UNet1DDownBlockType.DownResnetBlock1D)
        {
            h = TemporalResnets(p, h);
            var skip = h;
            if (_l.Weights.Has($"{p}.downsample.conv.weight"))
                h = _l.Conv1d($"{p}.downsample.conv", h, 2, 1);
            return (h, skip);
        }
        if (type == UNet1DDownBlockType.DownBlock1DNoSkip)
            h = _g.Node("Concat", [h, _temb], Int("axis", 1));
        else
            h = FirDown($"{p}.down", h);
        h = ResConvChain(p, h, attention: type == UNet1DDownBlockType.AttnDownBlock1D);
        return (h, h);
    }

    private string MidBlock(string p, string h)
    {
        if (_c.MidBlockType == UNet1DMidBlockType.UNetMidBlock1D)
            return FirUp($"{p}.up", ResConvChain(p, FirDown($"{p}.down", h), attention: true));
        h = TemporalResnets(p, h);
        return _l.Weights.Has($"{p}.downsample.conv.weight") ? _l.Conv1d($"{p}.downsample.conv", h, 2, 1) : h;
    }

    private string UpBlock(string p, UNet1DUpBlockType type, string h)
    {
        switch (type)
        {
            case UNet1DUpBlockType.UpResnetBlock1D:
                h = TemporalResnets(p, h);
                return _l.Weights.Has($"{p}.upsample.conv.weight") ? ConvTranspose($"{p}.upsample.conv", h, 4, 2, 1) : h;
            case UNet1DUpBlockType.UpBlock1DNoSkip:
                return ResConvChain(p, h, attention: false);
            default:
                return FirUp($"{p}.up", ResConvChain(p, h, attention: type == UNet1DUpBlockType.AttnUpBlock1D));
        }
    }

    /// <summary>resnets.0, resnets.1, … (as many as the state dict has) of ResidualTemporalBlock1D.</summary>
    private string TemporalResnets(string p, string h)
    {
        for (int j = 0; _l.Weights.Has($"{p}.resnets.{j}.time_emb.weight"); j++)
        {
            string r = $"{p}.resnets.{j}";
            var t = _g.Node("Unsqueeze", [_l.Linear($"{r}.time_emb", Mish(_temb), rank2: true), _g.Int64s(2)]);
            var inner = _g.Node("Add", [Conv1dBlock($"{r}.conv_in", h), t]);
            var y = Conv1dBlock($"{r}.conv_out", inner);
            var residual = _l.Weights.Has($"{r}.residual_conv.weight") ? _l.Conv1d($"{r}.residual_conv", h, 1, 0) : h;
            h = _g.Node("Add", [y, residual]);
        }
        return h;
    }

    /// <summary>Conv1dBlock: conv (padding k/2) → GroupNorm(8) → Mish.</summary>
    private string Conv1dBlock(string p, string x)
    {
        long k = _l.Weights.Shape($"{p}.conv1d.weight")[2];
        return Mish(_l.GroupNorm($"{p}.group_norm", _l.Conv1d($"{p}.conv1d", x, 1, k / 2), 8, 1e-5, 1));
    }

    private string Mish(string x) => _l.Activation(ActivationFunction.Mish, x);

    /// <summary>Three ResConvBlocks, each followed by SelfAttention1d in the attention blocks (six in the mid block).</summary>
    private string ResConvChain(string p, string h, bool attention)
    {
        for (int j = 0; _l.Weights.Has($"{p}.resnets.{j}.conv_1.weight"); j++)
        {
            h = ResConv($"{p}.resnets.{j}", h);
            if (attention)
                h = SelfAttention($"{p}.attentions.{j}", h);
        }
        return h;
    }

    /// <summary>ResConvBlock: conv k5 → GN(1) → GELU → conv k5 (→ GN(1) → GELU unless last) + skip.</summary>
    private string ResConv(string p, string x)
    {
        var residual = _l.Weights.Has($"{p}.conv_skip.weight") ? _l.Conv1d($"{p}.conv_skip", x, 1, 0) : x;
        var h = _l.Gelu(_l.GroupNorm($"{p}.group_norm_1", _l.Conv1d($"{p}.conv_1", x, 1, 2), 1, 1e-5, 1));
        h = _l.Conv1d($"{p}.conv_2", h, 1, 2);
        if (_l.Weights.Has($"{p}.group_norm_2.weight"))
            h = _l.Gelu(_l.GroupNorm($"{p}.group_norm_2", h, 1, 1e-5, 1));
        return _g.Node("Add", [h, residual]);
    }

    /// <summary>SelfAttention1d: GN(1), C // 32 heads of d = C / heads over the length, proj_attn, + x.</summary>
    private string SelfAttention(string p, string x)
    {
        long c = _l.Weights.Shape($"{p}.query.weight")[0], heads = c / 32;
        var h = _g.Node("Transpose", [_l.GroupNorm($"{p}.group_norm", x, 1, 1e-5, 1)], Ints("perm", 0, 2, 1));   // [B, L, C]
        var o = _l.Linear($"{p}.proj_attn", _l.Attention(h, $"{p}.query", $"{p}.key", $"{p}.value", heads, c / heads), rank2: false);
        return _g.Node("Add", [_g.Node("Transpose", [o], Ints("perm", 0, 2, 1)), x]);
    }

    /// <summary>Cubic FIR ↓2: reflect-pad taps/2 − 1, depthwise stride-2 conv with the buffer <c>kernel</c>.</summary>
    private string FirDown(string p, string x)
    {
        long taps = _l.Weights.Shape($"{p}.kernel")[0], pad = taps / 2 - 1;
        var padded = _g.Node("Pad", [x, _g.Int64s(0, 0, pad, 0, 0, pad)], String("mode", "reflect"));
        return DepthwiseFir(p, padded, taps, transpose: false, padding: 0);
    }

    /// <summary>Cubic FIR ↑2: reflect-pad (p + 1)/2, depthwise stride-2 transposed conv with padding 2p + 1.</summary>
    private string FirUp(string p, string x)
    {
        long taps = _l.Weights.Shape($"{p}.kernel")[0], pad = taps / 2 - 1, reflect = (pad + 1) / 2;
        var padded = _g.Node("Pad", [x, _g.Int64s(0, 0, reflect, 0, 0, reflect)], String("mode", "reflect"));
        return DepthwiseFir(p, padded, taps, transpose: true, padding: 2 * pad + 1);
    }

    private string DepthwiseFir(string p, string x, long taps, bool transpose, long padding)
    {
        // The channel count is static: the width of whatever feeds the resampler, read from the block's conv weights.
        long c = FirChannels(p);
        var kernel = _g.Node("Expand", [_g.Node("Reshape", [_l.Weights.Use($"{p}.kernel"), _g.Int64s(1, 1, taps)]), _g.Int64s(c, 1, taps)]);
        return _g.Node(transpose ? "ConvTranspose" : "Conv", [x, kernel], Ints("kernel_shape", taps), Ints("strides", 2),
            Ints("pads", padding, padding), Int("group", c));
    }

    /// <summary>Channels at a FIR resampler: the input width of the block's first ResConv (↓) or the last one's output (↑).</summary>
    private long FirChannels(string p)
    {
        string block = p[..p.LastIndexOf('.')];
        if (p.EndsWith(".down", StringComparison.Ordinal))
            return _l.Weights.Shape($"{block}.resnets.0.conv_1.weight")[1];
        int last = 0;
        while (_l.Weights.Has($"{block}.resnets.{last + 1}.conv_1.weight"))
            last++;
        return _l.Weights.Shape($"{block}.resnets.{last}.conv_2.weight")[0];
    }

    private string ConvTranspose(string p, string x, long k, long stride, long padding) =>
        _g.Node("ConvTranspose", [x, _l.Weights.Use($"{p}.weight"), _l.Weights.Use($"{p}.bias")], Ints("kernel_shape", k),
            Ints("strides", stride), Ints("pads", padding, padding));
}
