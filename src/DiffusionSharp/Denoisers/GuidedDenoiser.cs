using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// Classifier-free guidance in σ-space (Ho &amp; Salimans 2022, eq. 6, applied to x̂₀): D_w(x; σ, y) =
/// D(x; σ, ∅) + w·(D(x; σ, y) − D(x; σ, ∅)), so guidance works with every σ-space sampler. Since x̂₀ and ε̂ are
/// affine in each other at fixed (x, σ) with the same coefficients for both branches, this equals guiding ε̂ (as
/// <see cref="ClassifierFreeGuidance"/> does for discrete-time networks). Both branches are one denoiser call on the
/// doubled batch [x; x] with labels [y; ∅].
/// </summary>
/// <remarks>w = 1 is the conditional denoiser, w = 0 the unconditional one. The inner denoiser is borrowed.</remarks>
public sealed class GuidedDenoiser : IDenoiser
{
    private readonly IDenoiser _denoiser;

    /// <summary>Wraps <paramref name="denoiser"/>, whose label <paramref name="nullClassId"/> means "no class".</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="guidanceScale"/> is not finite, or the id is negative.</exception>
    public GuidedDenoiser(IDenoiser denoiser, double guidanceScale, long nullClassId)
    {
        _denoiser = denoiser ?? throw new ArgumentNullException(nameof(denoiser));
        ClassifierFreeGuidance.CheckScaleAndNullClass(guidanceScale, nullClassId);
        GuidanceScale = guidanceScale;
        NullClassId = nullClassId;
    }

    /// <summary>w.</summary>
    public double GuidanceScale { get; }

    /// <summary>The class id the network was trained with as "no class" (label dropout).</summary>
    public long NullClassId { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentNullException">No class labels (guidance needs a condition).</exception>
    /// <exception cref="ArgumentException">Labels or σ do not have one entry per row.</exception>
    public Tensor Denoise(Tensor x, Tensor sigma, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(sigma);
        using var scope = NewDisposeScope();
        var (s, labels) = ClassifierFreeGuidance.Doubled(x, sigma, classLabels, NullClassId, nameof(sigma));
        var denoised = _denoiser.Denoise(cat([x, x]), s, labels);
        return ClassifierFreeGuidance.Combine(denoised, GuidanceScale).MoveToOuterDisposeScope();
    }
}
