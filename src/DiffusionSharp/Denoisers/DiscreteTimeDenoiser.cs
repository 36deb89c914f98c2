using DiffusionSharp.Schedules;
using DiffusionSharp.Tensors;
using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// A σ-space denoiser around a discrete-time network (k-diffusion's <c>DiscreteEpsDDPMDenoiser</c> /
/// <c>DiscreteVDDPMDenoiser</c>; Karras et al. 2022, Table 1, "VP"): given x = x₀ + σ·n it feeds the network
/// x_t = c_in·x with c_in = 1/√(σ² + 1) (the VP sample whose σ_t/α_t is σ) at the training timestep t(σ), and turns its
/// ε, x₀ or v prediction into D(x; σ) = x̂₀ through <see cref="Parameterization"/> with α = 1/√(1 + σ²), σ_t = σ·α.
/// </summary>
/// <remarks>
/// t(σ) interpolates linearly in log σ between the two bracketing training σ_t = √((1 − ᾱ_t)/ᾱ_t)
/// (<see cref="SigmaGrid.SigmaToT"/>, diffusers' <c>_sigma_to_t</c>), clamped to [0, T−1]; with
/// <see cref="QuantizeTimesteps"/> it is rounded to the nearest integer timestep (the one nearest in log σ), for networks
/// that only saw integer t. Rows with σ = 0 return x itself (D(x; 0) = x); when every row has σ = 0 the network is not called.
/// Any rank works ([B, C, H, W] images, [B, C, L] sequences, [B, D] points). The network is borrowed, not owned.
/// </remarks>
public sealed class DiscreteTimeDenoiser : IDenoiser
{
    private readonly IDiffusionNetwork _network;
    private readonly float[] _sigmas;
    private readonly float[] _logSigmas;

    /// <summary>
    /// Wraps <paramref name="network"/>, trained on <paramref name="schedule"/> to predict <paramref name="prediction"/>
    /// from x_t at integer timesteps t.
    /// </summary>
    /// <exception cref="ArgumentException">An undefined prediction type.</exception>
    public DiscreteTimeDenoiser(IDiffusionNetwork network, NoiseSchedule schedule, PredictionType prediction, bool quantizeTimesteps = false)
    {
        _network = network ?? throw new ArgumentNullException(nameof(network));
        ArgumentNullException.ThrowIfNull(schedule);
        if (!Enum.IsDefined(prediction))
            throw new ArgumentException($"Unknown prediction_type {(int)prediction}; allowed values: {DiffusersNames.AllowedValues<PredictionType>()}.", nameof(prediction));
        Prediction = prediction;
        QuantizeTimesteps = quantizeTimesteps;
        _sigmas = schedule.TrainSigmas();
        _logSigmas = SigmaGrid.LogSigmas(_sigmas);
    }

    /// <summary>What the network predicts.</summary>
    public PredictionType Prediction { get; }

    /// <summary>Whether t(σ) is rounded to the nearest integer training timestep.</summary>
    public bool QuantizeTimesteps { get; }

    /// <summary>The training σ_t, t = 0..T−1 (increasing, float32 as diffusers computes them).</summary>
    public IReadOnlyList<float> Sigmas => _sigmas;

    /// <summary>σ_0, the smallest noise level the network was trained on.</summary>
    public double SigmaMin => _sigmas[0];

    /// <summary>σ_{T−1}, the largest noise level the network was trained on.</summary>
    public double SigmaMax => _sigmas[^1];

    /// <summary>The (fractional, or with <see cref="QuantizeTimesteps"/> integer) training timestep the network is given for σ.</summary>
    public double SigmaToTimestep(double sigma)
    {
        double t = SigmaGrid.SigmaToT(sigma, _logSigmas);
        return QuantizeTimesteps ? Math.Round(t, MidpointRounding.ToEven) : t;
    }

    /// <summary>σ(t) linearly interpolated in t between the training σ_t (the inverse of <see cref="SigmaToTimestep"/> at integer t).</summary>
    public double TimestepToSigma(double timestep) => SigmaGrid.InterpolateAtIndex(timestep, _sigmas);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">σ is negative, not finite, or not one per row.</exception>
    public Tensor Denoise(Tensor x, Tensor sigma, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(sigma);
        using var scope = NewDisposeScope();
        var rows = PerRowValues(sigma, x);
        if (rows.All(s => s == 0))
            return x.clone().MoveToOuterDisposeScope();
        var sigmaRows = tensor(rows).to(x.device);
        var scales = NoiseScales.FromSigma(sigmaRows, x);
        var xt = x * scales.Alpha; // c_in·x with c_in = 1/√(σ² + 1)
        var t = tensor(rows.Select(s => (float)SigmaToTimestep(s)).ToArray()).to(x.device);
        var prediction = _network.Predict(xt, t, classLabels);
        var denoised = Parameterization.ToSample(prediction.to(x.dtype), Prediction, xt, scales);
        if (rows.Any(s => s == 0))
            denoised = where(PerRow.Broadcast(sigmaRows.eq(0), x).to(ScalarType.Bool), x, denoised);
        return denoised.MoveToOuterDisposeScope();
    }

    /// <summary>σ per row as float64 on the CPU, checked: one per row (or a scalar for all), finite and ≥ 0.</summary>
    internal static double[] PerRowValues(Tensor sigma, Tensor x)
    {
        if (x.dim() < 1)
            throw new ArgumentException("The sample needs a batch dimension.", nameof(x));
        long batch = x.shape[0];
        using var flat = sigma.detach().to(ScalarType.Float64, CPU).flatten();
        var values = flat.data<double>().ToArray();
        if (sigma.dim() == 0)
            values = Enumerable.Repeat(values[0], (int)batch).ToArray();
        if (values.Length != batch)
            throw new ArgumentException($"sigma must be [{batch}] or a scalar; got [{string.Join(", ", sigma.shape)}].", nameof(sigma));
        foreach (var s in values)
        {
            if (!double.IsFinite(s) || s < 0)
                throw new ArgumentException($"sigma must be finite and ≥ 0; got {s}.", nameof(sigma));
        }
        return values;
    }
}
