using DiffusionSharp.Data;
using DiffusionSharp.Tensors;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Compare;

/// <summary>
/// The negative β-ELBO of a <see cref="VaeModel"/> (Kingma &amp; Welling 2014, eq. 10; β of Higgins et al. 2017, β = 1
/// by default), per pixel: [−log p(x | z) + β·KL(q(z | x) ‖ N(0, I))] / (H·W), with z = μ + σ·ε (the reparameterisation
/// trick, §2.4), a Bernoulli likelihood over intensities (x + 1)/2 ∈ [0, 1] (binary cross-entropy with logits) and the
/// closed-form KL −½ Σ (1 + log σ² − μ² − σ²) (Appendix B). ε is drawn for the whole batch before any chunk runs.
/// </summary>
public sealed class ElboLoss : ITrainingObjective
{
    /// <summary>An objective with KL weight <paramref name="beta"/>.</summary>
    public ElboLoss(double beta = 1.0)
    {
        if (!(beta > 0) || !double.IsFinite(beta))
            throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be finite and > 0");
        Beta = beta;
    }

    /// <summary>β, the KL weight.</summary>
    public double Beta { get; }

    /// <inheritdoc/>
    public string Description => $"negative ELBO per pixel, Bernoulli likelihood, beta {Beta}";

    /// <inheritdoc/>
    public IReadOnlyList<ObjectiveStage> Stages(ITrainableModel model) => ObjectiveSupport.SingleStage(model);

    /// <inheritdoc/>
    public double Backward(ITrainableModel model, Batch batch, int stage, Generator generator, int chunkSize, double scale)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentOutOfRangeException.ThrowIfNotEqual(stage, 0);
        var vae = model as VaeModel ?? throw new ArgumentException($"{model.ClassName} is not a VaeModel", nameof(model));
        using var scope = NewDisposeScope();
        var x = batch.Samples;
        var labels = vae.NumClasses > 0 ? batch.Labels.to(ScalarType.Int64, x.device) : null;
        var eps = randn([x.shape[0], vae.LatentDimension], dtype: x.dtype, device: x.device, generator: generator);
        return ChunkedBackward.Run(x.shape[0], chunkSize, scale,
            (start, length) => PerSample(vae, x.narrow(0, start, length), labels?.narrow(0, start, length), eps.narrow(0, start, length), Beta));
    }

    /// <summary>The per-sample negative β-ELBO per pixel [N] for noise <paramref name="eps"/> [N, latent].</summary>
    public static Tensor PerSample(VaeModel vae, Tensor x, Tensor? labels, Tensor eps, double beta)
    {
        var (mu, logVar) = vae.Encode(x, labels);
        var z = mu + (logVar * 0.5).exp() * eps;
        var target = (x.clamp(-1, 1) + 1) * 0.5;
        var nll = PerRow.Mean(F.binary_cross_entropy_with_logits(vae.DecoderLogits(z, labels), target, reduction: nn.Reduction.None));
        var kl = -0.5 * (1 + logVar - mu.square() - logVar.exp()).sum(1);
        return nll + beta * kl / x[0].numel();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}
