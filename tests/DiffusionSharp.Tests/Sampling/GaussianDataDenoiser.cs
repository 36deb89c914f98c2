using DiffusionSharp.Denoisers;
using DiffusionSharp.Schedules;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

/// <summary>
/// The exact optimal denoiser for data x₀ ~ N(μ, s²) independently per pixel under x_t = √ᾱ x₀ + √(1−ᾱ) ε:
/// x_t ~ N(√ᾱ μ, ᾱ s² + 1 − ᾱ), so E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱ μ)/(ᾱ s² + 1 − ᾱ) and
/// E[x₀ | x_t] = μ + √ᾱ s²(x_t − √ᾱ μ)/(ᾱ s² + 1 − ᾱ). Returns ε (or x₀). Counts its calls.
/// </summary>
internal sealed class GaussianDataDenoiser : IDiffusionNetwork
{
    private readonly float[] _alphasCumprod;
    private readonly double[] _sigmas;

    public GaussianDataDenoiser(NoiseSchedule schedule, double mean, double std, PredictionType output = PredictionType.Epsilon)
    {
        _alphasCumprod = schedule.AlphasCumprod;
        _sigmas = schedule.AlphasCumprod.Select(a => Math.Sqrt((1.0 - a) / a)).ToArray();
        Mean = mean;
        Std = std;
        Output = output;
    }

    public double Mean { get; }
    public double Std { get; }
    public PredictionType Output { get; }
    public int Calls { get; private set; }

    /// <summary>ᾱ at a fractional timestep: σ interpolated linearly in t (as the σ-space schedulers), ᾱ = 1/(1+σ²).</summary>
    public double AlphaBar(double t)
    {
        if (t == Math.Floor(t))
            return _alphasCumprod[(int)t];
        int lo = (int)Math.Floor(t);
        double sigma = _sigmas[lo] + (t - lo) * (_sigmas[lo + 1] - _sigmas[lo]);
        return 1 / (1 + sigma * sigma);
    }

    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        Calls++;
        using var scope = NewDisposeScope();
        var ts = timesteps.to(ScalarType.Float64).data<double>().ToArray();
        var shape = Enumerable.Repeat(1L, (int)sample.dim()).ToArray();
        shape[0] = ts.Length;
        var a = tensor(ts.Select(AlphaBar).ToArray()).reshape(shape);
        var x = sample.to(ScalarType.Float64);
        var variance = a * (Std * Std) + (1.0 - a);
        var centred = x - a.sqrt() * Mean;
        var result = Output == PredictionType.Epsilon
            ? (1.0 - a).sqrt() * centred / variance
            : Mean + a.sqrt() * (Std * Std) * centred / variance;
        return result.to(sample.dtype).MoveToOuterDisposeScope();
    }
}
