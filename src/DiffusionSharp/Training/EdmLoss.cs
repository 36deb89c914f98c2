using DiffusionSharp.Data;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>
/// EDM training (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models", Table 1 and
/// eq. 8): ln σ ~ N(P_mean, P_std²), n ~ N(0, I), x = x₀ + σ·n, and the loss λ(σ)·‖D(x; σ) − x₀‖² with the
/// preconditioned denoiser D(x; σ) = c_skip·x + c_out·F(c_in·x; ¼ ln σ) around the raw network F and
/// λ(σ) = (σ² + σ_d²)/(σ·σ_d)² (for <see cref="LossWeighting.Edm"/>; other weightings use their x₀-space weight at
/// SNR = 1/σ²). Samples may have any rank [B, C, …].
/// </summary>
public sealed class EdmLoss : ITrainingObjective
{
    /// <summary>Creates the objective; the defaults are the paper's (P_mean = −1.2, P_std = 1.2, σ_d = 0.5).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A non-positive P_std or σ_d, or a non-positive γ.</exception>
    public EdmLoss(double pMean = -1.2, double pStd = 1.2, double sigmaData = 0.5, LossWeighting weighting = LossWeighting.Edm,
        double snrGamma = 5.0, LabelConditioning? labels = null)
    {
        if (!double.IsFinite(pMean))
            throw new ArgumentOutOfRangeException(nameof(pMean), pMean, "P_mean must be finite");
        if (!(pStd > 0))
            throw new ArgumentOutOfRangeException(nameof(pStd), pStd, "P_std must be > 0");
        if (!(sigmaData > 0))
            throw new ArgumentOutOfRangeException(nameof(sigmaData), sigmaData, "sigma_data must be > 0");
        if (!(snrGamma > 0))
            throw new ArgumentOutOfRangeException(nameof(snrGamma), snrGamma, "snrGamma must be > 0");
        PMean = pMean;
        PStd = pStd;
        SigmaData = sigmaData;
        Weighting = weighting;
        SnrGamma = snrGamma;
        Labels = labels ?? LabelConditioning.None;
    }

    /// <summary>P_mean, the mean of ln σ.</summary>
    public double PMean { get; }

    /// <summary>P_std, the standard deviation of ln σ.</summary>
    public double PStd { get; }

    /// <summary>σ_d, the data standard deviation.</summary>
    public double SigmaData { get; }

    /// <summary>The weighting on ‖D − x₀‖² (λ(σ) of the paper for <see cref="LossWeighting.Edm"/>).</summary>
    public LossWeighting Weighting { get; }

    /// <summary>γ, for <see cref="LossWeighting.MinSnr"/>.</summary>
    public double SnrGamma { get; }

    /// <summary>How class labels are used.</summary>
    public LabelConditioning Labels { get; }

    /// <inheritdoc />
    public string Description => FormattableString.Invariant($"EDM preconditioning, ln σ ~ N({PMean}, {PStd}²), σ_d {SigmaData}, {Weighting} weighting");

    /// <inheritdoc />
    public IReadOnlyList<ObjectiveStage> Stages(ITrainableModel model) => ObjectiveSupport.SingleStage(model);

    /// <inheritdoc />
    public double Backward(ITrainableModel model, Batch batch, int stage, Generator generator, int chunkSize, double scale)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentOutOfRangeException.ThrowIfNotEqual(stage, 0);
        var network = ObjectiveSupport.Network(model);
        using var scope = torch.NewDisposeScope();
        var x0 = batch.Samples;
        long rows = x0.shape[0];
        // Every draw for the whole batch first (σ, n, label dropout), so chunking changes nothing.
        var sigma = (torch.randn([rows], dtype: ScalarType.Float64, device: x0.device, generator: generator) * PStd + PMean).exp();
        var noise = torch.randn(x0.shape, dtype: x0.dtype, device: x0.device, generator: generator);
        var labels = ObjectiveSupport.DropLabels(batch.Labels, Labels, model.NullClassLabel ?? -1, generator);
        var weights = LossWeights.OnSample(Weighting, sigma.square().reciprocal(), SnrGamma, SigmaData).to(ScalarType.Float32);
        return ChunkedBackward.Run(rows, chunkSize, scale, (start, length) =>
        {
            var s = sigma.narrow(0, start, length);
            var x0Part = x0.narrow(0, start, length);
            var x = x0Part + PerRow.Broadcast(s, x0Part) * noise.narrow(0, start, length);
            var denoised = Denoise(network, x, s, labels?.narrow(0, start, length));
            var error = PerRow.Mean((denoised.to(ScalarType.Float32) - x0Part.to(ScalarType.Float32)).square());
            return error * weights.narrow(0, start, length);
        });
    }

    // The one call into the preconditioning (D(x; σ) = c_skip·x + c_out·F(c_in·x; ¼ ln σ)); when EdmPreconditioning
    // becomes an IDenoiser this line becomes `new EdmPreconditioning(network, SigmaData).Denoise(x, sigma, labels)`.
    private Tensor Denoise(IDiffusionNetwork network, Tensor x, Tensor sigma, Tensor? labels) => new EdmPreconditioning(network, SigmaData).Denoise(x, sigma, labels);

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
