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
        if (!double.IsFinite(guidanceScale))
            throw new ArgumentOutOfRangeException(nameof(guidanceScale), guidanceScale, "The guidance scale must be finite.");
        ArgumentOutOfRangeException.ThrowIfNegative(nullClassId);
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
        ArgumentNullException.ThrowIfNull(classLabels, nameof(classLabels));
        long batch = x.shape[0];
        if (classLabels.dim() != 1 || classLabels.shape[0] != batch)
            throw new ArgumentException($"classLabels must be [{batch}]; got [{string.Join(", ", classLabels.shape)}].", nameof(classLabels));
        using var scope = NewDisposeScope();
        var s = sigma.dim() == 0 ? sigma.expand(batch) : sigma;
        if (s.dim() != 1 || s.shape[0] != batch)
            throw new ArgumentException($"sigma must be [{batch}] or a scalar; got [{string.Join(", ", sigma.shape)}].", nameof(sigma));
        var labels = classLabels.to(ScalarType.Int64);
        var denoised = _denoiser.Denoise(cat([x, x]), cat([s, s]), cat([labels, full_like(labels, NullClassId)]));
        var cond = denoised[..(int)batch];
        var uncond = denoised[(int)batch..];
        return (uncond + (cond - uncond) * GuidanceScale).MoveToOuterDisposeScope();
    }
}
