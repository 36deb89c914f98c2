using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// EDM preconditioning (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models",
/// Table 1 and eq. 7): the denoiser D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)) built around a raw
/// network F, with c_skip = σ_d²/(σ² + σ_d²), c_out = σ·σ_d/√(σ² + σ_d²), c_in = 1/√(σ² + σ_d²), c_noise = ¼ ln σ.
/// </summary>
/// <remarks>
/// As an <see cref="IDiffusionNetwork"/> it takes x = x₀ + σ·n (σ-space, not VP-scaled) and per-row σ in place of
/// timesteps, passes c_noise to F as its time input, and returns D(x; σ), an x₀ prediction. c_in makes F's input unit
/// variance and c_out its target unit variance for data of standard deviation σ_d.
/// </remarks>
public sealed class EdmPreconditioning : IDiffusionNetwork
{
    private readonly IDiffusionNetwork _network;

    /// <summary>Wraps the raw network F; <paramref name="sigmaData"/> is σ_d (0.5 in the paper, for data in [−1, 1]).</summary>
    /// <exception cref="ArgumentOutOfRangeException">σ_d is not finite and positive.</exception>
    public EdmPreconditioning(IDiffusionNetwork network, double sigmaData = 0.5)
    {
        _network = network ?? throw new ArgumentNullException(nameof(network));
        if (!double.IsFinite(sigmaData) || sigmaData <= 0)
            throw new ArgumentOutOfRangeException(nameof(sigmaData), sigmaData, "sigma_data must be finite and positive.");
        SigmaData = sigmaData;
    }

    /// <summary>σ_d, the data standard deviation.</summary>
    public double SigmaData { get; }

    /// <summary>c_skip(σ) = σ_d²/(σ² + σ_d²).</summary>
    public double CSkip(double sigma) => SigmaData * SigmaData / (sigma * sigma + SigmaData * SigmaData);

    /// <summary>c_out(σ) = σ·σ_d/√(σ² + σ_d²).</summary>
    public double COut(double sigma) => sigma * SigmaData / Math.Sqrt(sigma * sigma + SigmaData * SigmaData);

    /// <summary>c_in(σ) = 1/√(σ² + σ_d²).</summary>
    public double CIn(double sigma) => 1 / Math.Sqrt(sigma * sigma + SigmaData * SigmaData);

    /// <summary>c_noise(σ) = ¼ ln σ.</summary>
    public static double CNoise(double sigma) => 0.25 * Math.Log(sigma);

    /// <summary>D(x; σ) for per-row σ ([B] or a scalar) — <paramref name="timesteps"/> holds σ, not a training timestep.</summary>
    /// <exception cref="ArgumentException">σ is not positive, or not one per row.</exception>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        using var scope = NewDisposeScope();
        long batch = sample.shape[0];
        var sigma = (timesteps.dim() == 0 ? timesteps.expand(batch) : timesteps).to(ScalarType.Float64);
        if (sigma.dim() != 1 || sigma.shape[0] != batch)
            throw new ArgumentException($"sigma must be [{batch}] or a scalar; got [{string.Join(", ", timesteps.shape)}].", nameof(timesteps));
        using (var positive = (sigma > 0).all())
        {
            if (!positive.item<bool>())
                throw new ArgumentException("EDM preconditioning needs σ > 0.", nameof(timesteps));
        }
        double sd2 = SigmaData * SigmaData;
        var shape = Enumerable.Repeat(1L, (int)sample.dim()).ToArray();
        shape[0] = batch;
        var s2 = sigma.square() + sd2;
        var cSkip = (sd2 / s2).reshape(shape).to(sample.dtype);
        var cOut = (sigma * SigmaData / s2.sqrt()).reshape(shape).to(sample.dtype);
        var cIn = s2.rsqrt().reshape(shape).to(sample.dtype);
        var cNoise = (sigma.log() * 0.25).to(ScalarType.Float32);
        var f = _network.Predict(sample * cIn, cNoise, classLabels);
        return (cSkip * sample + cOut * f).MoveToOuterDisposeScope();
    }
}
