using DiffusionSharp.Models;
using static DiffusionSharp.Onnx.OnnxGraph;

namespace DiffusionSharp.Onnx;

/// <summary>
/// The ONNX graph of a <see cref="UNet2DModel"/>, built from its <see cref="UNet2DConfig"/> and its diffusers-named
/// state dict, block by block as <see cref="UNet2DModel"/>'s forward runs: time_proj → time_embedding (+ class
/// embedding) = emb; conv_in → down blocks (skips) → mid block → up blocks (consuming skips last-first, [h, skip]
/// concatenated) → GroupNorm → SiLU → conv_out (÷ σ for Fourier features).
/// </summary>
internal sealed class UNet2DOnnxGraph
{
    private readonly UNet2DConfig _c;
    private readonly OnnxLayers _l;
    private readonly OnnxGraph _g;
    private string _emb = "";

    private UNet2DOnnxGraph(UNet2DConfig config, OnnxLayers layers)
    {
        _c = config;
        _l = layers;
        _g = layers.Graph;
    }

    /// <summary>Checks the config for options the exporter cannot express.</summary>
    /// <exception cref="NotSupportedException">Names the config key.</exception>
    public static void CheckSupported(UNet2DConfig config)
    {
        if (config.ClassEmbedType == ClassEmbedType.Identity)
            throw new NotSupportedException("ONNX export: class_embed_type \"identity\" (float class-embedding inputs) is not supported");
    }

    /// <summary>Adds inputs <c>sample</c>, <c>timestep</c> (and <c>class_labels</c>), the network and output <c>out_sample</c>.</summary>
    public static void Build(UNet2DConfig config, OnnxLayers layers)
    {
        CheckSupported(config);
        new UNet2DOnnxGraph(config, layers).Build();
    }

    private void Build()
    {
        var f32 = Proto.TensorProto.Types.DataType.Float;
        _g.Input("sample", f32, "batch", (long)_c.InChannels, "height", "width");
        _g.Input("timestep", f32, "batch");
        if (_c.HasClassEmbedding)
            _g.Input("class_labels", Proto.TensorProto.Types.DataType.Int64, "batch");

        string x = "sample";
        if (_c.CenterInputSample)
            x = _g.Node("Sub", [_g.Node("Mul", [x, _g.Scalar(2f)]), _g.Scalar(1f)]);
        var features = TimeFeatures("timestep");
        _emb = TimestepMlp("time_embedding", features);
        if (_c.HasClassEmbedding)
        {
            var classEmb = _c.ClassEmbedType == ClassEmbedType.Timestep
                ? TimestepMlp("class_embedding", TimeFeatures(_g.Node("Cast", ["class_labels"], Int("to", (long)Proto.TensorProto.Types.DataType.Float))))
                : _l.Lookup("class_embedding", "class_labels");
            _emb = _g.Node("Add", [_emb, classEmb]);
        }

        var h = _l.Conv2d("conv_in", x, 1, 1);
        var skips = new List<string> { h };
        var ch = _c.BlockOutChannels;
        for (int i = 0; i < ch.Length; i++)
            h = DownBlock($"down_blocks.{i}", i, h, skips);
        if (_c.MidBlockType is not null)
            h = MidBlock("mid_block", h);
        foreach (var up in _c.UpBlocks())
        {
            var block = skips.GetRange(skips.Count - up.Layers, up.Layers);
            skips.RemoveRange(skips.Count - up.Layers, up.Layers);
            h = UpBlock($"up_blocks.{up.Index}", up, h, block);
        }
        h = _l.GroupNorm("conv_norm_out", h, _c.NormNumGroups, _c.NormEps, 2);
        h = _l.Conv2d("conv_out", _l.Silu(h), 1, 1);
        if (_c.TimeEmbeddingType == TimeEmbeddingType.Fourier)
            h = _g.Node("Div", [h, _g.Node("Reshape", ["timestep", _g.Int64s(-1, 1, 1, 1)])]);   // the network predicts σ·ε
        _g.Output(h, "out_sample", f32, "batch", (long)_c.OutChannels, "height", "width");
    }

    private string TimeFeatures(string t) => _c.TimeEmbeddingType switch
    {
        TimeEmbeddingType.Fourier => _l.Fourier("time_proj", t, log: true, flipSinToCos: false),
        TimeEmbeddingType.Learned => _l.Lookup("time_proj", _g.Node("Cast", [t], Int("to", (long)Proto.TensorProto.Types.DataType.Int64))),
        _ => _l.Sinusoid(t, _c.BlockOutChannels[0], _c.FlipSinToCos, _c.FreqShift),
    };

    private string TimestepMlp(string prefix, string x) =>
        _l.Linear($"{prefix}.linear_2", _l.Silu(_l.Linear($"{prefix}.linear_1", x, rank2: true)), rank2: true);

    private string DownBlock(string path, int i, string h, List<string> skips)
    {
        bool attn = _c.DownBlockTypes[i] == UNetDownBlockType.AttnDownBlock2D;
        for (int j = 0; j < _c.LayersPerBlock; j++)
        {
            h = Resnet($"{path}.resnets.{j}", h, 1.0, Resample.None);
            if (attn)
                h = SelfAttention($"{path}.attentions.{j}", h, _c.BlockOutChannels[i], _c.NormNumGroups, 1.0);
            skips.Add(h);
        }
        if (i < _c.BlockOutChannels.Length - 1)
        {
            string down = $"{path}.downsamplers.0";
            if (attn && _c.DownsampleType == ResamplingType.Resnet)
                h = Resnet(down, h, 1.0, Resample.Down);
            else if (_c.DownsamplePadding == 0)
                h = _l.Conv($"{down}.conv", h, 2, [0, 0, 1, 1]);   // pad right and bottom by one
            else
                h = _l.Conv2d($"{down}.conv", h, 2, _c.DownsamplePadding);
            skips.Add(h);
        }
        return h;
    }

    private string MidBlock(string path, string h)
    {
        double scale = _c.MidBlockScaleFactor;
        long channels = _c.BlockOutChannels[^1];
        h = Resnet($"{path}.resnets.0", h, scale, Resample.None);
        for (int j = 1; _l.Weights.Has($"{path}.resnets.{j}.conv1.weight"); j++)
        {
            if (_c.AddAttention)
            {
                string attn = $"{path}.attentions.{j - 1}";
                long? groups = _l.Weights.Has($"{attn}.group_norm.weight") ? _c.AttnNormNumGroups ?? _c.NormNumGroups : null;
                h = SelfAttention(attn, h, channels, groups, scale);
            }
            h = Resnet($"{path}.resnets.{j}", h, scale, Resample.None);
        }
        return h;
    }

    private string UpBlock(string path, UpBlockWidths up, string h, List<string> skips)
    {
        bool attn = _c.UpBlockTypes[up.Index] == UNetUpBlockType.AttnUpBlock2D;
        for (int j = 0; j < up.Layers; j++)
        {
            h = _g.Node("Concat", [h, skips[skips.Count - 1 - j]], Int("axis", 1));
            h = Resnet($"{path}.resnets.{j}", h, 1.0, Resample.None);
            if (attn)
                h = SelfAttention($"{path}.attentions.{j}", h, up.Output, _c.NormNumGroups, 1.0);
        }
        if (up.Level > 0)
        {
            string upsampler = $"{path}.upsamplers.0";
            h = attn && _c.UpsampleType == ResamplingType.Resnet
                ? Resnet(upsampler, h, 1.0, Resample.Up)
                : _l.Conv2d($"{upsampler}.conv", Nearest2x(h), 1, 1);
        }
        return h;
    }

    private enum Resample
    {
        None,
        Up,
        Down,
    }

    /// <summary>diffusers' ResnetBlock2D; see <c>Models/Layers/ResnetBlock2D.cs</c> for the formula.</summary>
    private string Resnet(string p, string x, double outputScale, Resample resample)
    {
        var act = _c.ActFn;
        var h = _l.Activation(act, _l.GroupNorm($"{p}.norm1", x, _c.NormNumGroups, _c.NormEps, 2));
        var input = x;
        if (resample == Resample.Up)
        {
            input = Nearest2x(input);
            h = Nearest2x(h);
        }
        else if (resample == Resample.Down)
        {
            input = AvgPool2x(input);
            h = AvgPool2x(h);
        }
        h = _l.Conv2d($"{p}.conv1", h, 1, 1);
        string? t = null;
        if (_l.Weights.Has($"{p}.time_emb_proj.weight"))
            t = _g.Node("Unsqueeze", [_l.Linear($"{p}.time_emb_proj", _l.Activation(act, _emb), rank2: true), _g.Int64s(2, 3)]);
        if (_c.ResnetTimeScaleShift == ResnetTimeScaleShift.ScaleShift)
        {
            long c = _l.Weights.Shape($"{p}.conv1.weight")[0];
            var parts = _g.Nodes("Split", [t!, _g.Int64s(c, c)], 2, Int("axis", 1));
            var normed = _l.GroupNorm($"{p}.norm2", h, _c.NormNumGroups, _c.NormEps, 2);
            h = _g.Node("Add", [_g.Node("Mul", [normed, _g.Node("Add", [parts[0], _g.Scalar(1f)])]), parts[1]]);
        }
        else
        {
            if (t is not null)
                h = _g.Node("Add", [h, t]);
            h = _l.GroupNorm($"{p}.norm2", h, _c.NormNumGroups, _c.NormEps, 2);
        }
        h = _l.Conv2d($"{p}.conv2", _l.Activation(act, h), 1, 1);
        if (_l.Weights.Has($"{p}.conv_shortcut.weight"))
            input = _l.Conv2d($"{p}.conv_shortcut", input, 1, 0);
        var output = _g.Node("Add", [input, h]);
        return outputScale != 1 ? _g.Node("Div", [output, _g.Scalar((float)outputScale)]) : output;
    }

    /// <summary>diffusers' Attention over the H·W positions; see <c>Models/Layers/SpatialSelfAttention.cs</c>.</summary>
    private string SelfAttention(string p, string x, long channels, long? groups, double rescale)
    {
        long headDim = _c.HeadDimFor((int)channels), heads = channels / headDim;
        var h = groups is { } gr ? _l.GroupNorm($"{p}.group_norm", x, gr, _c.NormEps, 2) : x;
        h = _g.Node("Transpose", [_g.Node("Reshape", [h, _g.Int64s(0, channels, -1)])], Ints("perm", 0, 2, 1));   // [B, HW, C]
        var o = _l.Linear($"{p}.to_out.0", _l.Attention(h, $"{p}.to_q", $"{p}.to_k", $"{p}.to_v", heads, headDim), rank2: false);
        var back = _g.Node("Reshape", [_g.Node("Transpose", [o], Ints("perm", 0, 2, 1)), _g.Node("Shape", [x])]);
        var output = _g.Node("Add", [back, x]);
        return rescale != 1 ? _g.Node("Div", [output, _g.Scalar((float)rescale)]) : output;
    }

    /// <summary>Nearest-neighbour ×2 (PyTorch's "nearest": floor of the asymmetric source coordinate).</summary>
    private string Nearest2x(string x) =>
        _g.Node("Resize", [x, "", _g.Floats([1f, 1f, 2f, 2f], 4)], String("mode", "nearest"),
            String("coordinate_transformation_mode", "asymmetric"), String("nearest_mode", "floor"));

    private string AvgPool2x(string x) => _g.Node("AveragePool", [x], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
}
