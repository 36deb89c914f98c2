using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>
/// Replays given noise tensors in order (e.g. the draws diffusers made in a reference rollout), so a stochastic
/// sampler can be checked step for step. Each draw must match the requested shape.
/// </summary>
public sealed class RecordedNoise : INoiseSource
{
    private readonly IReadOnlyList<Tensor> _draws;

    /// <summary>Replays <paramref name="draws"/>; the tensors stay owned by the caller (each <see cref="Next"/> returns a copy).</summary>
    public RecordedNoise(IReadOnlyList<Tensor> draws)
    {
        ArgumentNullException.ThrowIfNull(draws);
        _draws = draws;
    }

    /// <summary>How many draws were taken so far.</summary>
    public int Consumed { get; private set; }

    /// <summary>How many draws remain.</summary>
    public int Remaining => _draws.Count - Consumed;

    /// <summary>The next recorded draw, converted to <paramref name="like"/>'s dtype and device.</summary>
    /// <exception cref="InvalidOperationException">All draws were used, or the next one has another shape.</exception>
    public Tensor Next(Tensor like)
    {
        ArgumentNullException.ThrowIfNull(like);
        if (Consumed >= _draws.Count)
            throw new InvalidOperationException($"All {_draws.Count} recorded noise draws were used; the sampler asked for one more.");
        var draw = _draws[Consumed];
        if (!draw.shape.SequenceEqual(like.shape))
            throw new InvalidOperationException(
                $"Recorded draw {Consumed} has shape [{string.Join(", ", draw.shape)}], the sampler asked for [{string.Join(", ", like.shape)}].");
        Consumed++;
        return draw.to(like.dtype, like.device, copy: true);
    }
}
