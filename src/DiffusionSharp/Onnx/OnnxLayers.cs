using DiffusionSharp.Models;
using static DiffusionSharp.Onnx.OnnxGraph;
using static TorchSharp.torch;

namespace DiffusionSharp.Onnx;

/// <summary>
/// The U-Nets' layers as ONNX opset-17 subgraphs, each reading its parameters by diffusers name from
/// <see cref="OnnxWeights"/>. Every helper mirrors one operation of the TorchSharp forward pass, in the same order of
/// floating-point operations where that order is visible (e.g. the sinusoid's argument, the Fourier 2π product).
/// </summary>
internal sealed class OnnxLayers(OnnxGraph g, OnnxWeights w)
{
    /// <summary>The graph being built.</summary>
    public OnnxGraph Graph => g;

    /// <summary>The parameters.</summary>
    public OnnxWeights Weights => w;

    /// <summary>Conv over 1 or 2 spatial axes: zero padding <paramref name="pads"/> (ONNX order: all begins, then all ends).</summary>
    public string Conv(string prefix, string x, long stride, long[] pads, long groups = 1)
    {
        var shape = w.Shape($"{prefix}.weight");
        var kernel = shape[2..];
        var inputs = new List<string> { x, w.Use($"{prefix}.weight") };
        if (w.Has($"{prefix}.bias"))
            inputs.Add(w.Use($"{prefix}.bias"));
        return g.Node("Conv", inputs, Ints("kernel_shape", kernel), Ints("strides", [.. kernel.Select(_ => stride)]),
            Ints("pads", pads), Int("group", groups));
    }

    /// <summary>A 2-D convolution with the same zero padding on every side.</summary>
    public string Conv2d(string prefix, string x, long stride, long padding) => Conv(prefix, x, stride, [padding, padding, padding, padding]);

    /// <summary>A 1-D convolution with the same zero padding at both ends.</summary>
    public string Conv1d(string prefix, string x, long stride, long padding) => Conv(prefix, x, stride, [padding, padding]);

    /// <summary>y = x·Wᵀ + b over the last axis: Gemm for [B, in], Transpose + MatMul + Add for higher ranks.</summary>
    public string Linear(string prefix, string x, bool rank2)
    {
        string weight = w.Use($"{prefix}.weight");
        bool bias = w.Has($"{prefix}.bias");
        if (rank2)
        {
            var inputs = new List<string> { x, weight };
            if (bias)
                inputs.Add(w.Use($"{prefix}.bias"));
            return g.Node("Gemm", inputs, Int("transB", 1));
        }
        var y = g.Node("MatMul", [x, g.Node("Transpose", [weight], Ints("perm", 1, 0))]);
        return bias ? g.Node("Add", [y, w.Use($"{prefix}.bias")]) : y;
    }

    /// <summary>
    /// GroupNorm of [B, C, …] as Reshape [B, G, −1] → InstanceNormalization (scale 1, bias 0) → Reshape back →
    /// ·γ + β per channel (opset 17 has no GroupNormalization; ORT fuses this pattern).
    /// </summary>
    public string GroupNorm(string prefix, string x, long groups, double eps, int spatialRank)
    {
        long channels = w.Shape($"{prefix}.weight")[0];
        var grouped = g.Node("Reshape", [x, g.Int64s(0, groups, -1)]);
        var ones = g.Floats([.. Enumerable.Repeat(1f, (int)groups)], groups);
        var zeros = g.Floats(new float[groups], groups);
        var normed = g.Node("InstanceNormalization", [grouped, ones, zeros], Float("epsilon", (float)eps));
        var back = g.Node("Reshape", [normed, g.Node("Shape", [x])]);
        var perChannel = g.Int64s([channels, .. Enumerable.Repeat(1L, spatialRank)]);
        var gamma = g.Node("Reshape", [w.Use($"{prefix}.weight"), perChannel]);
        var beta = g.Node("Reshape", [w.Use($"{prefix}.bias"), perChannel]);
        return g.Node("Add", [g.Node("Mul", [back, gamma]), beta]);
    }

    /// <summary>The activations of <see cref="ActivationFunction"/>: x·σ(x), x·tanh(softplus(x)), exact (erf) GELU, max(0, x).</summary>
    public string Activation(ActivationFunction fn, string x) => fn switch
    {
        ActivationFunction.Silu or ActivationFunction.Swish => Silu(x),
        ActivationFunction.Mish => g.Node("Mul", [x, g.Node("Tanh", [g.Node("Softplus", [x])])]),
        ActivationFunction.Gelu => Gelu(x),
        ActivationFunction.Relu => g.Node("Relu", [x]),
        _ => throw new NotSupportedException($"act_fn {fn} has no ONNX export"),
    };

    /// <summary>x·σ(x).</summary>
    public string Silu(string x) => g.Node("Mul", [x, g.Node("Sigmoid", [x])]);

    /// <summary>Exact GELU, x·½·(1 + erf(x/√2)).</summary>
    public string Gelu(string x)
    {
        var erf = g.Node("Erf", [g.Node("Div", [x, g.Scalar(MathF.Sqrt(2f))])]);
        return g.Node("Mul", [g.Node("Mul", [x, g.Scalar(0.5f)]), g.Node("Add", [erf, g.Scalar(1f)])]);
    }

    /// <summary>
    /// Multi-head softmax(q·kᵀ/√d)·v over a sequence: <paramref name="x"/> is [B, N, C]; q, k, v are the linears
    /// <paramref name="q"/>, <paramref name="k"/>, <paramref name="v"/>, split into <paramref name="heads"/> heads of
    /// <paramref name="headDim"/>; returns the concatenated heads [B, N, heads·d] (before the output projection).
    /// </summary>
    public string Attention(string x, string q, string k, string v, long heads, long headDim)
    {
        string Heads(string prefix, long[] perm) =>
            g.Node("Transpose", [g.Node("Reshape", [Linear(prefix, x, rank2: false), g.Int64s(0, -1, heads, headDim)])], Ints("perm", perm));
        var query = Heads(q, [0, 2, 1, 3]);                                  // [B, h, N, d]
        var keyT = Heads(k, [0, 2, 3, 1]);                                   // [B, h, d, N]
        var value = Heads(v, [0, 2, 1, 3]);
        var scores = g.Node("Mul", [g.Node("MatMul", [query, keyT]), g.Scalar((float)(1 / Math.Sqrt(headDim)))]);
        var probs = g.Node("Softmax", [scores], Int("axis", -1));
        var o = g.Node("Transpose", [g.Node("MatMul", [probs, value])], Ints("perm", 0, 2, 1, 3));   // [B, N, h, d]
        return g.Node("Reshape", [o, g.Int64s(0, 0, heads * headDim)]);
    }

    /// <summary>
    /// Sinusoidal features of t [B] (float32): ωᵢ = exp(−ln 10⁴·i/(half − s)) computed in float32 as the TorchSharp
    /// layer does (by libtorch itself), arg = t·ω, [sin, cos] or [cos, sin], zero-padded to an odd <paramref name="dim"/>.
    /// </summary>
    public string Sinusoid(string t, long dim, bool flipSinToCos, double freqShift)
    {
        long half = dim / 2;
        float[] omega;
        using (var scope = NewDisposeScope())   // libtorch's own float32 kernels, so ω is bit-identical to the layer's
        {
            var exponent = arange(0, half, dtype: ScalarType.Float32) * (-Math.Log(10000.0));
            omega = exp(exponent / (half - freqShift)).data<float>().ToArray();
        }
        var arg = g.Node("Mul", [g.Node("Unsqueeze", [t, g.Int64s(1)]), g.Floats(omega, 1, half)]);
        var emb = SinCos(arg, flipSinToCos);
        return dim % 2 == 1 ? g.Node("Pad", [emb, g.Int64s(0, 0, 0, 1)]) : emb;
    }

    /// <summary>Gaussian Fourier features: proj = x·W·2·π (in that order) of x = log t or t, then [sin, cos] or [cos, sin].</summary>
    public string Fourier(string prefix, string t, bool log, bool flipSinToCos)
    {
        var x = log ? g.Node("Log", [t]) : t;
        long n = w.Shape($"{prefix}.weight")[0];
        var weight = g.Node("Reshape", [w.Use($"{prefix}.weight"), g.Int64s(1, n)]);
        var proj = g.Node("Mul", [g.Node("Mul", [g.Node("Mul", [g.Node("Unsqueeze", [x, g.Int64s(1)]), weight]), g.Scalar(2f)]), g.Scalar(MathF.PI)]);
        return SinCos(proj, flipSinToCos);
    }

    /// <summary>Rows of table <paramref name="prefix"/>.weight at integer <paramref name="indices"/> [B] (int64).</summary>
    public string Lookup(string prefix, string indices) => g.Node("Gather", [w.Use($"{prefix}.weight"), indices], Int("axis", 0));

    private string SinCos(string arg, bool flipSinToCos)
    {
        var sin = g.Node("Sin", [arg]);
        var cos = g.Node("Cos", [arg]);
        return g.Node("Concat", flipSinToCos ? [cos, sin] : [sin, cos], Int("axis", 1));
    }
}
