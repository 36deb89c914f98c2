using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>
/// The denoising training objective (Ho et al. 2020, Algorithm 1) for a discrete variance-preserving schedule:
/// t ~ U{0..T−1}, ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, and a weighted MSE between the network's output and its target
/// (ε, x₀, or v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀ from Salimans &amp; Ho 2022). Weights are defined on the x₀ error and converted to the
/// target in use, since ‖x̂₀−x₀‖² = ‖ε̂−ε‖²/SNR = ‖v̂−v‖²/(SNR+1).
/// </summary>
public sealed class DiffusionLoss : IDisposable
{
    private readonly Tensor _alphasCumprod; // float64 [T]

    /// <summary>Creates the objective over <paramref name="schedule"/>.</summary>
    public DiffusionLoss(NoiseSchedule schedule, PredictionType prediction, LossWeighting weighting, double snrGamma = 5.0, double sigmaData = 0.5)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (snrGamma <= 0)
            throw new ArgumentOutOfRangeException(nameof(snrGamma), snrGamma, "snrGamma must be > 0");
        _alphasCumprod = torch.tensor(schedule.AlphasCumprod.Select(a => (double)a).ToArray(), dtype: ScalarType.Float64);
        NumTrainTimesteps = schedule.NumTrainTimesteps;
        Prediction = prediction;
        Weighting = weighting;
        SnrGamma = snrGamma;
        SigmaData = sigmaData;
    }

    /// <summary>T, the number of training timesteps.</summary>
    public int NumTrainTimesteps { get; }

    /// <summary>What the network predicts.</summary>
    public PredictionType Prediction { get; }

    /// <summary>The loss weighting.</summary>
    public LossWeighting Weighting { get; }

    /// <summary>γ of min-SNR-γ.</summary>
    public double SnrGamma { get; }

    /// <summary>σ_data of the EDM weighting.</summary>
    public double SigmaData { get; }

    /// <summary>
    /// The scalar loss for a batch. <paramref name="generator"/> draws t, ε (and the label dropout), so the same generator
    /// state gives the same loss; <paramref name="nullClass"/> replaces a label with probability <paramref name="labelDropout"/>.
    /// </summary>
    public Tensor Compute(IDiffusionNetwork network, Tensor x0, Tensor? labels, Generator generator, double labelDropout = 0.0, long nullClass = -1)
    {
        long batch = x0.shape[0];
        var t = torch.randint(0, NumTrainTimesteps, [batch], dtype: ScalarType.Int64, generator: generator);
        var noise = torch.randn(x0.shape, dtype: x0.dtype, generator: generator);
        if (labels is not null && labelDropout > 0)
        {
            var drop = torch.rand([batch], generator: generator).lt(labelDropout);
            labels = torch.where(drop, torch.full_like(labels, nullClass), labels);
        }
        var abar = _alphasCumprod.index_select(0, t); // float64 [B]
        var sqrtA = abar.sqrt().to(x0.dtype).view(-1, 1, 1, 1);
        var sqrtOneMinusA = (1.0 - abar).sqrt().to(x0.dtype).view(-1, 1, 1, 1);
        var xt = sqrtA * x0 + sqrtOneMinusA * noise;
        var target = Prediction switch
        {
            PredictionType.Epsilon => noise,
            PredictionType.Sample => x0,
            PredictionType.VPrediction => sqrtA * noise - sqrtOneMinusA * x0,
            _ => throw new ArgumentOutOfRangeException(nameof(Prediction)),
        };
        var output = network.Predict(xt, t, labels);
        var perSample = (output.to(ScalarType.Float32) - target.to(ScalarType.Float32)).square().mean([1, 2, 3]);
        var weights = TargetWeights(abar).to(ScalarType.Float32);
        return (perSample * weights).mean();
    }

    /// <summary>Per-sample weights on the target's MSE for the given ᾱ_t (float64 in, float64 out).</summary>
    public Tensor TargetWeights(Tensor alphaBar)
    {
        var snr = alphaBar / (1.0 - alphaBar);
        if (Weighting == LossWeighting.Uniform)
            return torch.ones_like(snr);
        var xWeight = Weighting switch
        {
            LossWeighting.MinSnr => snr.clamp(max: SnrGamma),
            // λ(σ) = (σ² + σ_d²)/(σ·σ_d)², σ² = 1/SNR.
            LossWeighting.Edm => (snr.reciprocal() + SigmaData * SigmaData) * snr / (SigmaData * SigmaData),
            _ => throw new ArgumentOutOfRangeException(nameof(Weighting)),
        };
        return Prediction switch
        {
            PredictionType.Epsilon => xWeight / snr,
            PredictionType.Sample => xWeight,
            PredictionType.VPrediction => xWeight / (snr + 1.0),
            _ => throw new ArgumentOutOfRangeException(nameof(Prediction)),
        };
    }

    /// <inheritdoc />
    public void Dispose() => _alphasCumprod.Dispose();
}
