using static TorchSharp.torch;

namespace DiffusionSharp.Denoisers;

/// <summary>
/// Classifier-free guidance (Ho &amp; Salimans 2022, "Classifier-Free Diffusion Guidance", eq. 6, in diffusers' form):
/// output = uncond + w·(cond − uncond), where "uncond" is the same network given a reserved null class id. Both halves
/// are computed in ONE network call on a doubled batch [x; x] with labels [y; ∅].
/// </summary>
/// <remarks>w = 1 returns the conditional prediction, w = 0 the unconditional one, w &gt; 1 extrapolates.</remarks>
public sealed class ClassifierFreeGuidance : IDiffusionNetwork
{
    private readonly IDiffusionNetwork _network;

    /// <summary>Wraps <paramref name="network"/>, whose label <paramref name="nullClassId"/> means "no class".</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="guidanceScale"/> is not finite, or the id is negative.</exception>
    public ClassifierFreeGuidance(IDiffusionNetwork network, double guidanceScale, long nullClassId)
    {
        _network = network ?? throw new ArgumentNullException(nameof(network));
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
    /// <exception cref="ArgumentException">Labels or timesteps do not have one entry per row.</exception>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(timesteps);
        ArgumentNullException.ThrowIfNull(classLabels, nameof(classLabels));
        long batch = sample.shape[0];
        if (classLabels.dim() != 1 || classLabels.shape[0] != batch)
            throw new ArgumentException($"classLabels must be [{batch}]; got [{string.Join(", ", classLabels.shape)}].", nameof(classLabels));
        using var scope = NewDisposeScope();
        var t = timesteps.dim() == 0 ? timesteps.expand(batch) : timesteps;
        if (t.dim() != 1 || t.shape[0] != batch)
            throw new ArgumentException($"timesteps must be [{batch}] or a scalar; got [{string.Join(", ", timesteps.shape)}].", nameof(timesteps));
        var labels = classLabels.to(ScalarType.Int64);
        var nullLabels = full_like(labels, NullClassId);
        var output = _network.Predict(cat([sample, sample]), cat([t, t]), cat([labels, nullLabels]));
        var cond = output[..(int)batch];
        var uncond = output[(int)batch..];
        return (uncond + (cond - uncond) * GuidanceScale).MoveToOuterDisposeScope();
    }
}
