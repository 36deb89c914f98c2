using DiffusionSharp.Schedules;
using DiffusionSharp.Tensors;
using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// The coefficients of x_t = α_t·x₀ + σ_t·ε at one noise level per row (the notation of Kingma et al. 2021, "Variational
/// Diffusion Models", eq. 1, and of DPM-Solver, Lu et al. 2022). Variance-preserving schedules have α_t = √ᾱ_t and
/// σ_t = √(1 − ᾱ_t); the σ-space level of <see cref="IDenoiser"/> is σ = σ_t/α_t. Both tensors broadcast against x_t
/// ([B, 1, …, 1] or 0-dim) and belong to the caller's dispose scope.
/// </summary>
/// <param name="Alpha">α_t, the signal scale.</param>
/// <param name="Sigma">σ_t, the noise scale (VP: √(1 − ᾱ_t); not the σ-space level).</param>
public readonly record struct NoiseScales(Tensor Alpha, Tensor Sigma)
{
    /// <summary>VP scales from per-row ᾱ ([B] or 0-dim), broadcast against <paramref name="like"/>.</summary>
    public static NoiseScales FromAlphaBar(Tensor alphaBar, Tensor like)
    {
        var a = PerRow.Broadcast(alphaBar.to(ScalarType.Float64), like.to(ScalarType.Float64));
        return new NoiseScales(a.sqrt().to(like.dtype), (1.0 - a).sqrt().to(like.dtype));
    }

    /// <summary>VP scales from per-row σ-space levels σ ([B] or 0-dim): α = 1/√(1 + σ²), σ_t = σ/√(1 + σ²).</summary>
    public static NoiseScales FromSigma(Tensor sigma, Tensor like)
    {
        var s = PerRow.Broadcast(sigma.to(ScalarType.Float64), like.to(ScalarType.Float64));
        var alpha = (s.square() + 1.0).rsqrt();
        return new NoiseScales(alpha.to(like.dtype), (s * alpha).to(like.dtype));
    }

    /// <summary>Scalar scales (0-dim float32 tensors, as diffusers' schedulers hold them) for every row.</summary>
    public static NoiseScales FromScalars(double alpha, double sigma) =>
        new(tensor((float)alpha), tensor((float)sigma));
}

/// <summary>
/// The one conversion layer between what a network may predict from x_t = α·x₀ + σ·ε: the noise ε, the clean sample x₀,
/// or the velocity v = α·ε − σ·x₀ (Salimans &amp; Ho 2022, "Progressive Distillation", §4 and Appendix D). Every scheduler,
/// sampler adapter and loss converts through here:
/// x₀ = (x_t − σ·ε)/α, ε = (x_t − α·x₀)/σ, x₀ = α·x_t − σ·v, ε = α·v + σ·x_t (the last two need α² + σ² = 1).
/// </summary>
/// <remarks>ε from x₀ divides by σ and x₀ from ε by α: both are ill-conditioned at the ends of a schedule.</remarks>
public static class Parameterization
{
    /// <summary>x̂₀ from a prediction of <paramref name="type"/> at x_t. A fresh tensor.</summary>
    public static Tensor ToSample(Tensor prediction, PredictionType type, Tensor xt, NoiseScales scales) => type switch
    {
        PredictionType.Epsilon => (xt - scales.Sigma * prediction) / scales.Alpha,
        PredictionType.Sample => prediction.clone(),
        PredictionType.VPrediction => scales.Alpha * xt - scales.Sigma * prediction,
        _ => throw Undefined(type),
    };

    /// <summary>ε̂ from a prediction of <paramref name="type"/> at x_t. A fresh tensor.</summary>
    public static Tensor ToEpsilon(Tensor prediction, PredictionType type, Tensor xt, NoiseScales scales) => type switch
    {
        PredictionType.Epsilon => prediction.clone(),
        PredictionType.Sample => (xt - scales.Alpha * prediction) / scales.Sigma,
        PredictionType.VPrediction => scales.Alpha * prediction + scales.Sigma * xt,
        _ => throw Undefined(type),
    };

    /// <summary>Converts a prediction between parameterisations at x_t (through x̂₀ and ε̂, both linear in x_t and it).</summary>
    public static Tensor Convert(Tensor prediction, PredictionType from, PredictionType to, Tensor xt, NoiseScales scales)
    {
        if (from == to)
            return prediction.clone();
        using var scope = NewDisposeScope();
        var result = to switch
        {
            PredictionType.Sample => ToSample(prediction, from, xt, scales),
            PredictionType.Epsilon => ToEpsilon(prediction, from, xt, scales),
            PredictionType.VPrediction => Target(to, ToSample(prediction, from, xt, scales), ToEpsilon(prediction, from, xt, scales), scales),
            _ => throw Undefined(to),
        };
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The training target of <paramref name="type"/> for a draw x_t = α·x₀ + σ·ε: ε, x₀ or v = α·ε − σ·x₀.</summary>
    public static Tensor Target(PredictionType type, Tensor x0, Tensor epsilon, NoiseScales scales) => type switch
    {
        PredictionType.Epsilon => epsilon.clone(),
        PredictionType.Sample => x0.clone(),
        PredictionType.VPrediction => scales.Alpha * epsilon - scales.Sigma * x0,
        _ => throw Undefined(type),
    };

    /// <summary>x_t = α·x₀ + σ·ε.</summary>
    public static Tensor Noised(Tensor x0, Tensor epsilon, NoiseScales scales) => scales.Alpha * x0 + scales.Sigma * epsilon;

    private static ArgumentException Undefined(PredictionType type) =>
        new($"Unknown prediction_type {(int)type}; allowed values: {DiffusersNames.AllowedValues<PredictionType>()}.", nameof(type));
}
