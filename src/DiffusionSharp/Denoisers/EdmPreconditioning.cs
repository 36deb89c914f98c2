using DiffusionSharp.Tensors;
using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// The per-row EDM preconditioning coefficients at noise levels σ (Karras et al. 2022, Table 1), each a fresh tensor in
/// the caller's dispose scope.
/// </summary>
/// <param name="CSkip">c_skip = σ_d²/(σ² + σ_d²), [B, 1, …, 1] in the sample's dtype.</param>
/// <param name="COut">c_out = σ·σ_d/√(σ² + σ_d²), [B, 1, …, 1] in the sample's dtype.</param>
/// <param name="CIn">c_in = 1/√(σ² + σ_d²), [B, 1, …, 1] in the sample's dtype.</param>
/// <param name="CNoise">c_noise = ¼ ln σ, [B] float32: the time input of the raw network F.</param>
/// <param name="LossWeight">λ(σ) = (σ² + σ_d²)/(σ·σ_d)² = 1/c_out² (eq. 8 and Table 1), [B, 1, …, 1] in the sample's dtype.</param>
public readonly record struct EdmCoefficients(Tensor CSkip, Tensor COut, Tensor CIn, Tensor CNoise, Tensor LossWeight);

/// <summary>
/// EDM preconditioning (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models",
/// Table 1 and eq. 7): the σ-space denoiser D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)) built around a
/// raw network F, with c_skip = σ_d²/(σ² + σ_d²), c_out = σ·σ_d/√(σ² + σ_d²), c_in = 1/√(σ² + σ_d²), c_noise = ¼ ln σ.
/// </summary>
/// <remarks>
/// F is an <see cref="IDiffusionNetwork"/> whose time input is c_noise, not a training timestep: it is trained through
/// this wrapper (the loss λ(σ)·‖D(x₀ + σn; σ) − x₀‖², eq. 8, can use <see cref="Coefficients"/>), never run by a
/// discrete-time scheduler. c_in makes F's input unit variance and c_out its target unit variance for data of standard
/// deviation σ_d. Rows with σ = 0 return x (the σ → 0 limit: c_skip = 1, c_out = 0); when every row has σ = 0, F is not
/// called. F is borrowed, not owned.
/// </remarks>
public sealed class EdmPreconditioning : IDenoiser
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

    /// <summary>
    /// The coefficients for per-row σ ([B] or a scalar, σ &gt; 0) against a sample <paramref name="like"/> [B, …] of any
    /// rank; computed in float64 and then cast. The tensors belong to the caller's dispose scope.
    /// </summary>
    /// <exception cref="ArgumentException">σ is not one per row.</exception>
    public EdmCoefficients Coefficients(Tensor sigma, Tensor like)
    {
        ArgumentNullException.ThrowIfNull(sigma);
        ArgumentNullException.ThrowIfNull(like);
        double sd2 = SigmaData * SigmaData;
        Tensor cSkip, cOut, cIn, cNoise, weight;
        using (var scope = NewDisposeScope())
        {
            var s = PerRow.Broadcast(sigma.to(ScalarType.Float64), like.to(ScalarType.Float64, like.device)); // [B, 1, …, 1] float64
            var s2 = s.square() + sd2;
            cSkip = (sd2 / s2).to(like.dtype).MoveToOuterDisposeScope();
            cOut = (s * SigmaData * s2.rsqrt()).to(like.dtype).MoveToOuterDisposeScope();
            cIn = s2.rsqrt().to(like.dtype).MoveToOuterDisposeScope();
            weight = (s2 / (s * SigmaData).square()).to(like.dtype).MoveToOuterDisposeScope();
            cNoise = (s.flatten().log() * 0.25).to(ScalarType.Float32).MoveToOuterDisposeScope();
        }
        return new EdmCoefficients(cSkip, cOut, cIn, cNoise, weight);
    }

    /// <summary>D(x; σ) = c_skip·x + c_out·F(c_in·x; c_noise) for per-row σ ([B] or a scalar, σ ≥ 0).</summary>
    /// <exception cref="ArgumentException">σ is negative, not finite, or not one per row.</exception>
    public Tensor Denoise(Tensor x, Tensor sigma, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(sigma);
        using var scope = NewDisposeScope();
        var rows = DiscreteTimeDenoiser.PerRowValues(sigma, x);
        if (rows.All(s => s == 0))
            return x.clone().MoveToOuterDisposeScope();
        bool anyZero = rows.Any(s => s == 0);
        // σ = 0 rows are evaluated at σ = 1 (finite c_noise) and then replaced by x.
        var sigmaRows = tensor(anyZero ? rows.Select(s => s == 0 ? 1.0 : s).ToArray() : rows).to(x.device);
        var c = Coefficients(sigmaRows, x);
        var f = _network.Predict(x * c.CIn, c.CNoise, classLabels);
        var denoised = c.CSkip * x + c.COut * f.to(x.dtype);
        if (anyZero)
            denoised = where(PerRow.Broadcast(tensor(rows).to(x.device).eq(0), x).to(ScalarType.Bool), x, denoised);
        return denoised.MoveToOuterDisposeScope();
    }
}
