using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Compare;

/// <summary>
/// The layers the GAN and the VAE are built of: a 3×3 (or 1×1) convolution and a linear layer, each optionally
/// spectrally normalised (<see cref="SpectralNorm"/>), computed at the network's <see cref="ComputePrecision"/> and,
/// for the convolution, through <see cref="CpuConvolution.Conv2d"/> (libtorch's oneDNN convolution is wrong on this CPU
/// for channel counts that are not multiples of 32).
/// </summary>
/// <remarks>Checkpoint keys: <c>conv.weight</c>/<c>conv.bias</c> (or <c>linear.…</c>) and, when normalised, <c>sn.u</c>.</remarks>
internal sealed class ConvLayer : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly SpectralNorm? sn;
    private readonly LayerContext _ctx;
    private readonly long _stride, _padding;

    /// <summary>A k×k convolution <paramref name="cin"/> → <paramref name="cout"/> (PyTorch's default init).</summary>
    public ConvLayer(LayerContext ctx, long cin, long cout, long kernel, long stride, bool spectralNorm, long seed) : base(nameof(ConvLayer))
    {
        _ctx = ctx;
        _stride = stride;
        _padding = kernel / 2;
        conv = nn.Conv2d(cin, cout, kernel);
        if (spectralNorm)
            sn = new SpectralNorm(cout, seed);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var w = sn is null ? (Tensor)conv.weight : sn.Normalize(conv.weight);
        Tensor y = _ctx.Precision == ComputePrecision.Full
            ? CpuConvolution.Conv2d(x, w, conv.bias, _stride, _padding)
            : CpuConvolution.Conv2d(x.to(ScalarType.BFloat16), w.to(ScalarType.BFloat16), conv.bias?.to(ScalarType.BFloat16), _stride, _padding).to(x.dtype);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>y = x·W̄ᵀ + b, W̄ = W or W/σ(W) (<see cref="SpectralNorm"/>), at the network's precision.</summary>
internal sealed class LinearLayer : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear;
    private readonly SpectralNorm? sn;
    private readonly LayerContext _ctx;

    /// <summary>A linear layer <paramref name="inFeatures"/> → <paramref name="outFeatures"/> (PyTorch's default init).</summary>
    public LinearLayer(LayerContext ctx, long inFeatures, long outFeatures, bool spectralNorm, long seed) : base(nameof(LinearLayer))
    {
        _ctx = ctx;
        linear = nn.Linear(inFeatures, outFeatures);
        if (spectralNorm)
            sn = new SpectralNorm(outFeatures, seed);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var w = sn is null ? (Tensor)linear.weight : sn.Normalize(linear.weight);
        Tensor y = _ctx.Precision == ComputePrecision.Full
            ? F.linear(x, w, linear.bias)
            : F.linear(x.to(ScalarType.BFloat16), w.to(ScalarType.BFloat16), linear.bias?.to(ScalarType.BFloat16)).to(x.dtype);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Nearest-neighbour 2× upsampling followed by a 3×3 convolution, GroupNorm and ReLU: the generator's (and the VAE
/// decoder's) up step, used in place of DCGAN's fractionally-strided convolution (Odena et al. 2016 show the
/// resize-convolution avoids its checkerboard artefacts; no conv_transpose2d is needed on this CPU).
/// GroupNorm (weight 1, bias 0, <see cref="Ops.NewGroupNorm"/>) stands in for DCGAN's BatchNorm so that a sample does
/// not depend on its batch and chunked back-propagation gives the batch gradient.
/// </summary>
internal sealed class UpBlock : nn.Module<Tensor, Tensor>
{
    private readonly ConvLayer conv;
    private readonly GroupNorm norm;
    private readonly long _groups;

    /// <summary>An up step <paramref name="cin"/> → <paramref name="cout"/> channels at twice the resolution.</summary>
    public UpBlock(LayerContext ctx, long cin, long cout, long groups) : base(nameof(UpBlock))
    {
        _groups = groups;
        conv = new ConvLayer(ctx, cin, cout, 3, 1, spectralNorm: false, seed: 0);
        norm = Ops.NewGroupNorm(groups, cout, 1e-5);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var up = F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return F.relu(Ops.GroupNorm(norm, _groups, 1e-5, conv.call(up))).MoveToOuterDisposeScope();
    }
}
