using DiffusionSharp.Denoisers;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

/// <summary>
/// The exact σ-space denoiser of data x₀ ~ N(μ, s²) independently per coordinate: x = x₀ + σn is N(μ, s² + σ²) and
/// E[x₀ | x] = (s²x + σ²μ)/(s² + σ²). Counts its calls. Computes in float64 and returns x's dtype.
/// </summary>
internal sealed class GaussianSigmaDenoiser(double mean, double std) : IDenoiser
{
    public double Mean { get; } = mean;
    public double Std { get; } = std;
    public int Calls { get; private set; }

    public Tensor Denoise(Tensor x, Tensor sigma, Tensor? classLabels)
    {
        Calls++;
        using var scope = NewDisposeScope();
        var s2 = Tensors.PerRow.Broadcast(sigma.to(ScalarType.Float64), x.to(ScalarType.Float64)).square();
        double v = Std * Std;
        var d = (x.to(ScalarType.Float64) * v + s2 * Mean) / (s2 + v);
        return d.to(x.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The probability-flow ODE solution from x at σ_from to σ_to: μ + (x − μ)·√(s² + σ_to²)/√(s² + σ_from²).</summary>
    public Tensor Flow(Tensor x, double sigmaFrom, double sigmaTo) =>
        Mean + (x.to(ScalarType.Float64) - Mean) * (Math.Sqrt(Std * Std + sigmaTo * sigmaTo) / Math.Sqrt(Std * Std + sigmaFrom * sigmaFrom));
}
