using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// Makes a discrete-time network that predicts one quantity (ε, x₀ or v) usable by a discrete-time scheduler configured
/// for another, by the exact conversions of <see cref="Parameterization.Convert"/> at each row's ᾱ(t). It stays in the
/// discrete-time contract (x_t and training timesteps t in, a prediction out); for σ-space samplers wrap the network in
/// a <see cref="DiscreteTimeDenoiser"/> instead, which accepts any parameterisation.
/// </summary>
/// <remarks>
/// The network input is the VP sample x_t (what every scheduler hands the network after scale_model_input). Integer
/// timesteps use ᾱ_t; fractional ones (Euler/Heun) use σ(t) interpolated linearly in t between training σ, as those
/// schedulers do, and ᾱ = 1/(1 + σ²). Converting to ε from x₀ divides by √(1 − ᾱ), which is ill-conditioned near t = 0.
/// </remarks>
public sealed class PredictionAdapter : IDiffusionNetwork
{
    private readonly IDiffusionNetwork _network;
    private readonly float[] _alphasCumprod;
    private readonly float[] _trainSigmas;

    /// <summary>Adapts <paramref name="network"/> (predicting <paramref name="networkPrediction"/>) to output <paramref name="targetPrediction"/>.</summary>
    /// <exception cref="ArgumentException">An undefined prediction type.</exception>
    public PredictionAdapter(IDiffusionNetwork network, PredictionType networkPrediction, PredictionType targetPrediction, NoiseSchedule schedule)
    {
        _network = network ?? throw new ArgumentNullException(nameof(network));
        ArgumentNullException.ThrowIfNull(schedule);
        if (!Enum.IsDefined(networkPrediction))
            throw new ArgumentException($"Unknown prediction_type {(int)networkPrediction}.", nameof(networkPrediction));
        if (!Enum.IsDefined(targetPrediction))
            throw new ArgumentException($"Unknown prediction_type {(int)targetPrediction}.", nameof(targetPrediction));
        NetworkPrediction = networkPrediction;
        TargetPrediction = targetPrediction;
        _alphasCumprod = schedule.AlphasCumprod;
        _trainSigmas = schedule.TrainSigmas();
    }

    /// <summary>What the wrapped network predicts.</summary>
    public PredictionType NetworkPrediction { get; }

    /// <summary>What this adapter outputs.</summary>
    public PredictionType TargetPrediction { get; }

    /// <summary>ᾱ at a (possibly fractional) training timestep, as the schedulers see it.</summary>
    public double AlphaBarAt(double timestep)
    {
        if (!(timestep >= 0 && timestep <= _alphasCumprod.Length - 1))
            throw new ArgumentOutOfRangeException(nameof(timestep), timestep, $"Timesteps must lie in [0, {_alphasCumprod.Length - 1}].");
        if (timestep == Math.Floor(timestep))
            return _alphasCumprod[(int)timestep];
        double sigma = SigmaGrid.InterpolateAtIndex(timestep, _trainSigmas);
        return SigmaGrid.AlphaBarFromSigma(sigma);
    }

    /// <inheritdoc/>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        using var scope = NewDisposeScope();
        var output = _network.Predict(sample, timesteps, classLabels);
        if (NetworkPrediction == TargetPrediction)
            return output.MoveToOuterDisposeScope();
        var rows = timesteps.detach().to(ScalarType.Float64, CPU).flatten().data<double>().ToArray();
        if (rows.Length == 1 && sample.shape[0] != 1)
            rows = Enumerable.Repeat(rows[0], (int)sample.shape[0]).ToArray();
        if (rows.Length != sample.shape[0])
            throw new ArgumentException($"{rows.Length} timesteps for a batch of {sample.shape[0]}.", nameof(timesteps));
        var alphaBar = tensor(rows.Select(AlphaBarAt).ToArray()).to(sample.device);
        var scales = NoiseScales.FromAlphaBar(alphaBar, output);
        return Parameterization.Convert(output, NetworkPrediction, TargetPrediction, sample, scales).MoveToOuterDisposeScope();
    }
}
