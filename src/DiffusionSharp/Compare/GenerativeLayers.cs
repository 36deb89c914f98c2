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
/// GroupNorm whose gain and bias also depend on the class: y = GN(x)·(1 + γ(e)) + β(e), where e is the generator's
/// shared class embedding and [γ, β] = W·e + b a linear map that starts at zero (so an untrained layer is the plain
/// GroupNorm). This is conditional batch normalisation (de Vries et al. 2017; Dumoulin et al. 2017), the way the
/// projection-discriminator cGAN (Miyato &amp; Koyama 2018, §5) conditions its generator, with BigGAN's shared
/// embedding and linear gains (Brock et al. 2019, §4 and App. B) and GroupNorm in place of BatchNorm.
/// </summary>
/// <remarks>
/// <para>Why the shared embedding: Adam moves every parameter by about its learning rate per step, so per-class gains held
/// directly in a table (zero at the start) change by at most ~2e-4 a step — measured here, a 945-step run left the
/// classes all but unused (conditional accuracy 15.6 %). Through W·e with e ~ N(0, I) of dimension d, a step moves a
/// gain by about lr·Σ|e_i|, d times faster.</para>
/// <para>Checkpoint keys: <c>norm.weight</c>, <c>norm.bias</c> and, conditional, <c>class_affine.weight</c> [2C, d] and
/// <c>class_affine.bias</c> [2C] (γ rows then β rows).</para>
/// </remarks>
internal sealed class ClassConditionalNorm : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNorm norm;
    private readonly Linear? class_affine;
    private readonly long _groups, _channels;

    /// <summary>GroupNorm over <paramref name="channels"/>; <paramref name="embedDim"/> &gt; 0 adds the class-dependent gains.</summary>
    public ClassConditionalNorm(long groups, long channels, long embedDim) : base(nameof(ClassConditionalNorm))
    {
        _groups = groups;
        _channels = channels;
        norm = Ops.NewGroupNorm(groups, channels, 1e-5);
        if (embedDim > 0)
        {
            class_affine = nn.Linear(embedDim, 2 * channels);
            using (no_grad())
            {
                class_affine.weight.zero_();
                class_affine.bias!.zero_();
            }
        }
        RegisterComponents();
    }

    /// <summary>The normalised <paramref name="x"/> [N, C, …]; <paramref name="classEmbedding"/> [N, d] when conditional.</summary>
    public override Tensor forward(Tensor x, Tensor? classEmbedding)
    {
        using var scope = NewDisposeScope();
        var y = Ops.GroupNorm(norm, _groups, 1e-5, x);
        if (class_affine is not null)
        {
            if (classEmbedding is null)
                throw new ArgumentException("a class-conditional norm needs the class embedding", nameof(classEmbedding));
            var affine = class_affine.call(classEmbedding).to(y.dtype);
            var shape = new long[x.dim()];
            Array.Fill(shape, 1L);
            shape[0] = x.shape[0];
            shape[1] = _channels;
            y = y * (affine.narrow(1, 0, _channels).reshape(shape) + 1) + affine.narrow(1, _channels, _channels).reshape(shape);
        }
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Nearest-neighbour 2× upsampling followed by a 3×3 convolution, GroupNorm (class-conditional in a conditional
/// generator, <see cref="ClassConditionalNorm"/>) and ReLU: the generator's up step, used in place of DCGAN's
/// fractionally-strided convolution (Odena et al. 2016 show the resize-convolution avoids its checkerboard artefacts;
/// no conv_transpose2d is needed on this CPU). GroupNorm (weight 1, bias 0, <see cref="Ops.NewGroupNorm"/>) stands in
/// for DCGAN's BatchNorm so that a sample does not depend on its batch and chunked back-propagation gives the batch
/// gradient.
/// </summary>
internal sealed class UpBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ConvLayer conv;
    private readonly ClassConditionalNorm norm;

    /// <summary>An up step <paramref name="cin"/> → <paramref name="cout"/> channels at twice the resolution; <paramref name="classEmbedDim"/> &gt; 0 conditions its norm.</summary>
    public UpBlock(LayerContext ctx, long cin, long cout, long groups, long classEmbedDim = 0) : base(nameof(UpBlock))
    {
        conv = new ConvLayer(ctx, cin, cout, 3, 1, spectralNorm: false, seed: 0);
        norm = new ClassConditionalNorm(groups, cout, classEmbedDim);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x, Tensor? classEmbedding)
    {
        using var scope = NewDisposeScope();
        var up = F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return F.relu(norm.call(conv.call(up), classEmbedding)).MoveToOuterDisposeScope();
    }
}
