using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers;

/// <summary>
/// A pre-norm residual MLP block conditioned on an embedding (the fully connected analogue of DDPM's residual block,
/// Ho et al. 2020, App. B; pre-activation ordering as He et al. 2016, "Identity Mappings in Deep Residual Networks"):
/// h = W₁·LN(x) + b₁ + W_e·SiLU(emb) + b_e;  y = x + W₂·SiLU(h) + b₂.
/// </summary>
/// <remarks>The linear products run at the context's precision (<see cref="Ops.Linear"/>); LayerNorm, SiLU and the
/// residual sum stay in the parameters' dtype.</remarks>
internal sealed class MlpResidualBlock : nn.Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "norm")] private readonly LayerNorm _norm;
    [ComponentName(Name = "linear_1")] private readonly Linear _linear1;
    [ComponentName(Name = "time_emb_proj")] private readonly Linear _timeEmbProj;
    [ComponentName(Name = "linear_2")] private readonly Linear _linear2;
    private readonly LayerContext _ctx;
    private readonly double _eps;

    public MlpResidualBlock(LayerContext ctx, long width, long embedDim, double eps) : base(nameof(MlpResidualBlock))
    {
        _ctx = ctx;
        _eps = eps;
        _norm = NewLayerNorm(width, eps);
        _linear1 = nn.Linear(width, width);
        _timeEmbProj = nn.Linear(embedDim, width);
        _linear2 = nn.Linear(width, width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var h = Ops.Linear(_ctx, _linear1, LayerNormOf(_norm, _eps, x));
        h = h + Ops.Linear(_ctx, _timeEmbProj, F.silu(emb));
        h = Ops.Linear(_ctx, _linear2, F.silu(h));
        return (x + h).MoveToOuterDisposeScope();
    }

    /// <summary>LayerNorm over the last dimension (Ba et al. 2016) in the input's dtype: its statistics need the full mantissa.</summary>
    public static Tensor LayerNormOf(LayerNorm norm, double eps, Tensor x) =>
        F.layer_norm(x, [x.shape[^1]], norm.weight, norm.bias, eps);

    /// <summary>A LayerNorm module with weight = 1 and bias = 0 set explicitly (as PyTorch initialises it).</summary>
    public static LayerNorm NewLayerNorm(long width, double eps)
    {
        var norm = nn.LayerNorm(width, eps);
        using (no_grad())
        {
            norm.weight!.fill_(1);
            norm.bias!.fill_(0);
        }
        return norm;
    }
}
