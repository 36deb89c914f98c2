using DiffusionSharp.Data;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>
/// The denoising training objective (Ho et al. 2020, Algorithm 1) for a discrete variance-preserving schedule:
/// t ~ U{0..T−1}, ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, and a weighted MSE between the network's output and its target
/// (ε, x₀, or v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀ from Salimans &amp; Ho 2022), through <see cref="Parameterization"/>. Weights are
/// defined on the x₀ error (<see cref="LossWeights"/>) and converted to the target in use, since
/// ‖x̂₀−x₀‖² = ‖ε̂−ε‖²/SNR = ‖v̂−v‖²/(SNR+1). Samples may have any rank [B, C, …].
/// </summary>
public sealed class DiffusionLoss : ITrainingObjective
{
    private readonly Tensor _alphasCumprod; // float64 [T], on the CPU
    private Tensor? _alphasOnDevice;

    /// <summary>Creates the objective over <paramref name="schedule"/>; <paramref name="labels"/> defaults to none.</summary>
    public DiffusionLoss(NoiseSchedule schedule, PredictionType prediction, LossWeighting weighting, double snrGamma = 5.0, double sigmaData = 0.5,
        LabelConditioning? labels = null)
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
        Labels = labels ?? LabelConditioning.None;
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

    /// <summary>How class labels are used when the objective is driven by the <see cref="Trainer"/>.</summary>
    public LabelConditioning Labels { get; }

    /// <inheritdoc />
    public string Description => $"{Prediction}, {Weighting} weighting";

    /// <inheritdoc />
    public IReadOnlyList<ObjectiveStage> Stages(ITrainableModel model) => ObjectiveSupport.SingleStage(model);

    /// <inheritdoc />
    public double Backward(ITrainableModel model, Batch batch, int stage, Generator generator, int chunkSize, double scale)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentOutOfRangeException.ThrowIfNotEqual(stage, 0);
        return Backward(ObjectiveSupport.Network(model), batch.Samples, Labels.Enabled ? batch.Labels : null, generator,
            Labels.Enabled ? Labels.Dropout : 0.0, model.NullClassLabel ?? -1, chunkSize, scale);
    }

    /// <summary>
    /// The scalar loss for a batch. <paramref name="generator"/> draws t, ε (and the label dropout), so the same generator
    /// state gives the same loss; <paramref name="nullClass"/> replaces a label with probability <paramref name="labelDropout"/>.
    /// </summary>
    public Tensor Compute(IDiffusionNetwork network, Tensor x0, Tensor? labels, Generator generator, double labelDropout = 0.0, long nullClass = -1)
    {
        var draw = Draw(x0, labels, generator, labelDropout, nullClass);
        return WeightedErrors(network, x0, draw).mean();
    }

    /// <summary>
    /// Back-propagates <paramref name="scale"/> × the batch loss of <see cref="Compute"/> in chunks of at most
    /// <paramref name="chunkSize"/> samples, and returns the loss value (unscaled). The random draws are made for the
    /// whole batch first, in <see cref="Compute"/>'s order, so the generator ends in the same state and the loss is the
    /// same; each chunk then runs forward and backward on its own share (its weighted errors summed and divided by the
    /// batch size), so only one chunk's activations are alive at a time and the accumulated gradient is the batch's up
    /// to float summation order. <see cref="Models.BatchChunking"/> explains why this is faster on the CPU.
    /// </summary>
    /// <returns>The batch loss; NaN or infinite when any chunk's is (the gradients are then not meaningful).</returns>
    public double Backward(IDiffusionNetwork network, Tensor x0, Tensor? labels, Generator generator, double labelDropout, long nullClass,
        int chunkSize, double scale = 1.0)
    {
        using var scope = torch.NewDisposeScope();
        var draw = Draw(x0, labels, generator, labelDropout, nullClass);
        return ChunkedBackward.Run(x0.shape[0], chunkSize, scale,
            (start, length) => WeightedErrors(network, x0.narrow(0, start, length), draw.Narrow(start, length)));
    }

    private readonly record struct Draws(Tensor Timesteps, Tensor Noise, Tensor? Labels, Tensor AlphaBar)
    {
        public Draws Narrow(long start, long length) => new(Timesteps.narrow(0, start, length), Noise.narrow(0, start, length),
            Labels?.narrow(0, start, length), AlphaBar.narrow(0, start, length));
    }

    private Draws Draw(Tensor x0, Tensor? labels, Generator generator, double labelDropout, long nullClass)
    {
        long batch = x0.shape[0];
        var t = torch.randint(0, NumTrainTimesteps, [batch], dtype: ScalarType.Int64, device: x0.device, generator: generator);
        var noise = torch.randn(x0.shape, dtype: x0.dtype, device: x0.device, generator: generator);
        if (labels is not null)
            labels = ObjectiveSupport.DropLabels(labels, new LabelConditioning(true, labelDropout), nullClass, generator);
        return new Draws(t, noise, labels, AlphasOn(x0.device).index_select(0, t)); // ᾱ in float64 [B]
    }

    private Tensor AlphasOn(Device device)
    {
        if (device.type == DeviceType.CPU)
            return _alphasCumprod;
        if (_alphasOnDevice is null || _alphasOnDevice.device != device)
        {
            _alphasOnDevice?.Dispose();
            _alphasOnDevice = _alphasCumprod.to(device).DetachFromDisposeScope();
        }
        return _alphasOnDevice;
    }

    /// <summary>Per-sample weighted MSE [B] of the network's output against the target, for drawn t and ε.</summary>
    private Tensor WeightedErrors(IDiffusionNetwork network, Tensor x0, Draws draw)
    {
        var scales = NoiseScales.FromAlphaBar(draw.AlphaBar, x0);
        var xt = Parameterization.Noised(x0, draw.Noise, scales);
        var target = Parameterization.Target(Prediction, x0, draw.Noise, scales);
        var output = network.Predict(xt, draw.Timesteps, draw.Labels);
        var perSample = PerRow.Mean((output.to(ScalarType.Float32) - target.to(ScalarType.Float32)).square());
        return perSample * TargetWeights(draw.AlphaBar).to(ScalarType.Float32);
    }

    /// <summary>Per-sample weights on the target's MSE for the given ᾱ_t (float64 in, float64 out).</summary>
    public Tensor TargetWeights(Tensor alphaBar)
    {
        var snr = alphaBar / (1.0 - alphaBar);
        if (Weighting == LossWeighting.Uniform)
            return torch.ones_like(snr);
        var xWeight = LossWeights.OnSample(Weighting, snr, SnrGamma, SigmaData);
        return Prediction switch
        {
            PredictionType.Epsilon => xWeight / snr,
            PredictionType.Sample => xWeight,
            PredictionType.VPrediction => xWeight / (snr + 1.0),
            _ => throw new ArgumentOutOfRangeException(nameof(Prediction)),
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _alphasCumprod.Dispose();
        _alphasOnDevice?.Dispose();
    }
}
