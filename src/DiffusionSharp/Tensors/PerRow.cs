using static TorchSharp.torch;

namespace DiffusionSharp.Tensors;

/// <summary>
/// Per-sample values broadcast against a batch of any rank: samples are [B, C, …] (images [B, C, H, W], audio
/// [B, C, L], points [B, D]), and every per-row coefficient (ᾱ, σ, a loss weight) is reshaped to [B, 1, …, 1] here,
/// so no caller assumes a rank.
/// </summary>
public static class PerRow
{
    /// <summary>
    /// <paramref name="values"/> ([B], or a scalar broadcast to every row) reshaped to [B, 1, …, 1] with the rank of
    /// <paramref name="like"/>, in its dtype and on its device. Returns a fresh tensor.
    /// </summary>
    /// <exception cref="ArgumentException">Not one value per row of <paramref name="like"/>.</exception>
    public static Tensor Broadcast(Tensor values, Tensor like)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(like);
        if (like.dim() < 1)
            throw new ArgumentException("The sample needs a batch dimension.", nameof(like));
        long batch = like.shape[0];
        using var scope = NewDisposeScope();
        var flat = values.dim() == 0 ? values.expand(batch) : values.flatten();
        if (flat.shape[0] != batch)
            throw new ArgumentException($"{flat.shape[0]} per-row values for a batch of {batch}; give one per row.", nameof(values));
        return flat.to(like.dtype, like.device).reshape(Shape(batch, like.dim())).MoveToOuterDisposeScope();
    }

    /// <summary>[B, 1, …, 1] of the given rank.</summary>
    public static long[] Shape(long batch, long rank)
    {
        var shape = new long[rank];
        Array.Fill(shape, 1L);
        shape[0] = batch;
        return shape;
    }

    /// <summary>The mean over every dimension but the first: [B, …] → [B].</summary>
    public static Tensor Mean(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x.dim() == 1 ? x.clone() : x.flatten(1).mean([1]);
    }
}
