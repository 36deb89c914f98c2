using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace DiffusionSharp.Models.Layers;

/// <summary>
/// Sinusoidal timestep features (Vaswani et al. 2017, §3.5, as used by DDPM, Ho et al. 2020, App. B):
/// with half = dim/2 and frequencies ωᵢ = exp(−ln(10⁴)·i / (half − s)), i = 0…half−1,
/// emb(t) = [sin(t·ω), cos(t·ω)] (or [cos, sin] with <c>flip_sin_to_cos</c>), zero-padded to an odd dim.
/// Computed in float32 whatever the timesteps' dtype, as diffusers does. No parameters.
/// </summary>
internal sealed class Timesteps : nn.Module<Tensor, Tensor>
{
    private readonly long _dim;
    private readonly bool _flipSinToCos;
    private readonly double _freqShift;

    public Timesteps(long dim, bool flipSinToCos, double freqShift) : base("time_proj")
    {
        _dim = dim;
        _flipSinToCos = flipSinToCos;
        _freqShift = freqShift;
        RegisterComponents();
    }

    public override Tensor forward(Tensor t)
    {
        using var scope = NewDisposeScope();
        long half = _dim / 2;
        var exponent = arange(0, half, dtype: ScalarType.Float32, device: t.device) * (-Math.Log(10000.0));
        exponent = exponent / (half - _freqShift);
        var omega = exp(exponent);
        var arg = t.unsqueeze(1).to(ScalarType.Float32) * omega.unsqueeze(0);
        var emb = _flipSinToCos ? cat([cos(arg), sin(arg)], 1) : cat([sin(arg), cos(arg)], 1);
        if (_dim % 2 == 1)
            emb = nn.functional.pad(emb, [0, 1, 0, 0]);
        return emb.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Gaussian random Fourier features of log σ (Tancik et al. 2020; Song et al. 2021, App. C.1): with fixed
/// W ~ N(0, scale²), emb(σ) = [sin(2π·log σ·W), cos(2π·log σ·W)]. W is a non-trainable parameter named <c>weight</c>.
/// </summary>
internal sealed class GaussianFourierProjection : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter _weight;

    private readonly bool _log = true;
    private readonly bool _flipSinToCos;

    public GaussianFourierProjection(long embeddingSize, double scale) : base("time_proj")
    {
        _weight = new Parameter(randn(embeddingSize) * scale, requires_grad: false);
        RegisterComponents();
    }

    /// <summary>
    /// diffusers' other spellings of the same features: <paramref name="log"/> = false projects t itself
    /// (UNet1DModel's Dance Diffusion layout feeds continuous t), and <paramref name="flipSinToCos"/> puts cos first.
    /// </summary>
    public GaussianFourierProjection(long embeddingSize, double scale, bool log, bool flipSinToCos) : this(embeddingSize, scale)
    {
        _log = log;
        _flipSinToCos = flipSinToCos;
    }

    public override Tensor forward(Tensor sigma)
    {
        using var scope = NewDisposeScope();
        var x = sigma.to(_weight.dtype);
        if (_log)
            x = log(x);
        var proj = x.unsqueeze(1) * _weight.unsqueeze(0) * 2 * Math.PI;
        var emb = _flipSinToCos ? cat([cos(proj), sin(proj)], 1) : cat([sin(proj), cos(proj)], 1);
        return emb.MoveToOuterDisposeScope();
    }
}

/// <summary>A learned table of timestep features, one row per training timestep (<c>time_embedding_type="learned"</c>).</summary>
internal sealed class LearnedTimesteps : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter _weight;

    public LearnedTimesteps(long numTimesteps, long dim) : base("time_proj")
    {
        _weight = new Parameter(randn(numTimesteps, dim));   // nn.Embedding's N(0, 1) init
        RegisterComponents();
    }

    public override Tensor forward(Tensor t) => _weight.index_select(0, t.to(ScalarType.Int64));
}

/// <summary>The two-layer MLP that widens timestep features: linear_1 → SiLU → linear_2.</summary>
internal sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "linear_1")] private readonly Linear _linear1;
    [ComponentName(Name = "linear_2")] private readonly Linear _linear2;
    private readonly LayerContext _ctx;
    private readonly ActivationFunction _activation = ActivationFunction.Silu;

    public TimestepEmbedding(LayerContext ctx, long inChannels, long embedDim, string name) : this(ctx, inChannels, embedDim, name, ActivationFunction.Silu, embedDim)
    {
    }

    /// <summary>diffusers' general form: linear_1 (in → embedDim) → <paramref name="activation"/> → linear_2 (embedDim → <paramref name="outDim"/>).</summary>
    public TimestepEmbedding(LayerContext ctx, long inChannels, long embedDim, string name, ActivationFunction activation, long outDim) : base(name)
    {
        _ctx = ctx;
        _activation = activation;
        _linear1 = nn.Linear(inChannels, embedDim);
        _linear2 = nn.Linear(embedDim, outDim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = Ops.Activation(_activation, Ops.Linear(_ctx, _linear1, x));
        return Ops.Linear(_ctx, _linear2, h).MoveToOuterDisposeScope();
    }
}

/// <summary>The class-label lookup table added to the time embedding (<c>num_class_embeds</c>); parameter <c>weight</c>.</summary>
internal sealed class ClassEmbeddingTable : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter _weight;

    public ClassEmbeddingTable(long numClasses, long dim) : base("class_embedding")
    {
        _weight = new Parameter(randn(numClasses, dim));   // nn.Embedding's N(0, 1) init
        RegisterComponents();
    }

    public long NumClasses => _weight.shape[0];

    public override Tensor forward(Tensor labels) => _weight.index_select(0, labels.to(ScalarType.Int64));
}
