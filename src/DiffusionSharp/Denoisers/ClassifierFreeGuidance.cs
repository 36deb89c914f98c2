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
        CheckScaleAndNullClass(guidanceScale, nullClassId);
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
        using var scope = NewDisposeScope();
        var (t, labels) = Doubled(sample, timesteps, classLabels, NullClassId, nameof(timesteps));
        var output = _network.Predict(cat([sample, sample]), t, labels);
        return Combine(output, GuidanceScale).MoveToOuterDisposeScope();
    }

    /// <summary>Checks w (finite) and the null class id (≥ 0).</summary>
    internal static void CheckScaleAndNullClass(double guidanceScale, long nullClassId)
    {
        if (!double.IsFinite(guidanceScale))
            throw new ArgumentOutOfRangeException(nameof(guidanceScale), guidanceScale, "The guidance scale must be finite.");
        ArgumentOutOfRangeException.ThrowIfNegative(nullClassId);
    }

    /// <summary>The doubled batch's per-row noise input [t; t] (t [B] or a scalar) and labels [y; ∅], checked.</summary>
    internal static (Tensor PerRow, Tensor Labels) Doubled(Tensor sample, Tensor perRow, Tensor? classLabels, long nullClassId, string perRowName)
    {
        ArgumentNullException.ThrowIfNull(classLabels, nameof(classLabels));
        long batch = sample.shape[0];
        if (classLabels.dim() != 1 || classLabels.shape[0] != batch)
            throw new ArgumentException($"classLabels must be [{batch}]; got [{string.Join(", ", classLabels.shape)}].", nameof(classLabels));
        var t = perRow.dim() == 0 ? perRow.expand(batch) : perRow;
        if (t.dim() != 1 || t.shape[0] != batch)
            throw new ArgumentException($"{perRowName} must be [{batch}] or a scalar; got [{string.Join(", ", perRow.shape)}].", perRowName);
        var labels = classLabels.to(ScalarType.Int64);
        return (cat([t, t]), cat([labels, full_like(labels, nullClassId)]));
    }

    /// <summary>uncond + w·(cond − uncond) from the output on the doubled batch [cond; uncond].</summary>
    internal static Tensor Combine(Tensor output, double guidanceScale)
    {
        int batch = (int)output.shape[0] / 2;
        var cond = output[..batch];
        var uncond = output[batch..];
        return uncond + (cond - uncond) * guidanceScale;
    }
}
