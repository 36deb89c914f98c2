using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// Nucleus ("top-p") truncation of a categorical distribution (Holtzman et al. 2020, "The curious case of neural text
/// degeneration", §3.1): keep the smallest set of outcomes, most probable first, whose probability reaches p, and
/// renormalise. It trades diversity for fidelity; p = 1 leaves the distribution as it is.
/// </summary>
public static class Nucleus
{
    /// <summary>Returns <paramref name="topP"/>, or throws when it is not in (0, 1].</summary>
    public static double Check(double topP) =>
        topP > 0 && topP <= 1 ? topP : throw new ArgumentOutOfRangeException(nameof(topP), topP, $"top-p {topP} must be in (0, 1]");

    /// <summary>
    /// Log-probabilities over the last dimension (float64) cut to their top-<paramref name="topP"/> nucleus and
    /// renormalised; −∞ outside it. The most probable outcome is always kept.
    /// </summary>
    public static Tensor Filter(Tensor logProbabilities, double topP)
    {
        Check(topP);
        if (topP >= 1)
            return logProbabilities.alias();
        using var scope = NewDisposeScope();
        var (sorted, order) = logProbabilities.sort(-1, descending: true);
        var before = sorted.exp().cumsum(-1) - sorted.exp();   // mass of the outcomes ranked above each one
        var dropSorted = before.ge(topP);
        var drop = zeros_like(dropSorted).scatter(-1, order, dropSorted);
        var kept = logProbabilities.masked_fill(drop, double.NegativeInfinity);
        return kept.log_softmax(-1).MoveToOuterDisposeScope();
    }
}
