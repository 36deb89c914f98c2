using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>
/// Spectral normalisation of a weight (Miyato et al., "Spectral Normalization for Generative Adversarial Networks",
/// ICLR 2018, Algorithm 1): W̄ = W / σ(W), with σ(W) estimated by one step of power iteration per training forward pass
/// on W reshaped to [C_out, rest]: ṽ = Wᵀũ / ‖Wᵀũ‖, ũ = Wṽ / ‖Wṽ‖, σ = ũᵀWṽ.
/// </summary>
/// <remarks>
/// ũ is a persistent buffer (<c>u</c>, saved with the checkpoint), updated without gradient only in training mode;
/// ṽ is recomputed from ũ on every call (as PyTorch's <c>spectral_norm</c> does in evaluation, without storing it). The
/// gradient flows through σ = ũᵀWṽ with ũ, ṽ held constant, the paper's eq. (12).
/// </remarks>
internal sealed class SpectralNorm : nn.Module
{
    private const double Epsilon = 1e-12;

    /// <summary>A normaliser for weights with <paramref name="rows"/> output rows; ũ starts as a seeded unit vector.</summary>
    public SpectralNorm(long rows, long seed) : base(nameof(SpectralNorm))
    {
        using var g = new Generator((ulong)seed);
        var u = F.normalize(randn([rows], generator: g), dim: 0, eps: Epsilon);
        register_buffer("u", u.DetachFromDisposeScope());
    }

    /// <summary>W / σ(W) for a weight of any rank whose first dimension is the output rows.</summary>
    public Tensor Normalize(Tensor weight)
    {
        var u = get_buffer("u")!;
        using var scope = NewDisposeScope();
        var w = weight.reshape(weight.shape[0], -1);
        Tensor v, uNow;
        using (no_grad())
        {
            var wd = w.detach();
            v = F.normalize(wd.T.matmul(u), dim: 0, eps: Epsilon);
            if (training)
            {
                u.copy_(F.normalize(wd.matmul(v), dim: 0, eps: Epsilon));
            }
            uNow = u.clone();   // the graph keeps this copy: a later call's in-place update of u must not touch it
        }
        var sigma = uNow.dot(w.matmul(v));
        return (weight / sigma).MoveToOuterDisposeScope();
    }

    private static class F
    {
        public static Tensor normalize(Tensor x, long dim, double eps) => x / x.norm((int)dim, keepdim: true).clamp_min(eps);
    }
}
