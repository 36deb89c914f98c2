using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Text;

/// <summary>
/// MDLM's continuous-time negative ELBO for absorbing-state ("masked") diffusion over tokens (Sahoo et al. 2024,
/// eq. 10–11; Austin et al. 2021 for the discrete absorbing process), with the log-linear schedule α_t = 1 − t.
/// Each token of x₀ is masked independently with probability 1 − α_t = t, and
/// <code>
///   NELBO(x₀) = E_{t~U(0,1]} E_{x_t} [ (−α′_t / (1 − α_t)) · Σ_{ℓ : x_t^ℓ = [MASK]} −log p_θ(x₀^ℓ | x_t) ],   −α′/(1 − α) = 1/t,
/// </code>
/// where p_θ is the SUBS parameterisation (§3.2.3): the [MASK] logit is −∞ (zero masking probability), and unmasked
/// tokens are copied through, so they contribute log 1 = 0 and only masked positions are scored.
/// </summary>
public static class MaskedDiffusion
{
    /// <summary>
    /// n times in (0, 1], stratified ("antithetic", MDLM's <c>antithetic_sampling</c>): with one u ~ U[0, 1) from
    /// <paramref name="generator"/>, t_i = 1 − ((u + i/n) mod 1), so every interval [i/n, (i+1)/n) gets one time;
    /// then t ← ε + (1 − ε)·t (MDLM's <c>sampling_eps</c>, which keeps 1/t bounded in training; ε = 0 gives the exact bound).
    /// Float64, shape [n].
    /// </summary>
    public static Tensor AntitheticTimes(long n, Generator generator, double eps, Device? device = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (!(eps >= 0 && eps < 1))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "sampling eps must be in [0, 1)");
        using var scope = NewDisposeScope();
        var u = rand(1, ScalarType.Float64, device: device, generator: generator);
        var strata = arange(0, n, dtype: ScalarType.Float64, device: device) / n;
        var t = 1.0 - torch.remainder(u + strata, 1.0);
        return (eps + (1 - eps) * t).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// log p_θ(x₀ | x_t) [B, L, V] under SUBS: the [MASK] logit set to −∞ and the rest normalised; at unmasked
    /// positions the distribution is the one-hot of x_t (log 1 at x_t, −∞ elsewhere). Float32.
    /// </summary>
    public static Tensor SubsLogProbabilities(Tensor logits, Tensor xt, long maskId)
    {
        using var scope = NewDisposeScope();
        var logp = MaskedLogSoftmax(logits, maskId);
        var unmasked = xt.ne(maskId).unsqueeze(2);
        var copy = F.one_hot(xt, logits.shape[2]).to(ScalarType.Bool);
        var carried = zeros_like(logp).masked_fill(copy.logical_not(), double.NegativeInfinity);
        return where(unmasked, carried, logp).MoveToOuterDisposeScope();
    }

    /// <summary>log_softmax over the vocabulary with the [MASK] logit at −∞ (float32).</summary>
    public static Tensor MaskedLogSoftmax(Tensor logits, long maskId)
    {
        using var scope = NewDisposeScope();
        var mask = tensor(new[] { maskId }, device: logits.device);
        var l = logits.to(ScalarType.Float32).index_fill(2, mask, double.NegativeInfinity);
        return F.log_softmax(l, 2).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One-sample NELBO of each sequence at its time (nats, summed over positions, shape [B], float32): x_t is drawn from
    /// <paramref name="generator"/> (each token masked with probability t), and the masked positions' −log p_θ(x₀ | x_t)
    /// are summed and weighted by 1/t. Differentiable in the model's parameters.
    /// </summary>
    /// <param name="model">The denoiser.</param>
    /// <param name="x0">Clean tokens [B, L] (int64, no [MASK]).</param>
    /// <param name="t">Times [B] in (0, 1].</param>
    /// <param name="generator">The source of the masking draws.</param>
    public static Tensor SequenceNelbo(ITokenDenoiser model, Tensor x0, Tensor t, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(model);
        CheckTokens(x0, model.VocabularySize, model.MaskId);
        if (t.dim() != 1 || t.shape[0] != x0.shape[0])
            throw new ArgumentException($"t must be [B] = [{x0.shape[0]}], not [{string.Join(", ", t.shape)}]", nameof(t));
        using var scope = NewDisposeScope();
        return SequenceNelbo(model, x0, t, DrawMasks(x0, t, generator)).MoveToOuterDisposeScope();
    }

    /// <summary>Which tokens x_t hides: each of x₀ [B, L] independently with probability t of its row (one float64 uniform per token).</summary>
    public static Tensor DrawMasks(Tensor x0, Tensor t, Generator generator)
    {
        using var scope = NewDisposeScope();
        return rand(x0.shape, ScalarType.Float64, generator: generator, device: x0.device).lt(t.to(ScalarType.Float64).unsqueeze(1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="SequenceNelbo(ITokenDenoiser, Tensor, Tensor, Generator)"/> with the masks given (bool [B, L], true =
    /// hidden), so a batch's draws can be made once and its chunks scored separately.
    /// </summary>
    public static Tensor SequenceNelbo(ITokenDenoiser model, Tensor x0, Tensor t, Tensor masked)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var scope = NewDisposeScope();
        var t64 = t.to(ScalarType.Float64);
        var xt = where(masked, full_like(x0, model.MaskId), x0);
        var logp = MaskedLogSoftmax(model.Logits(xt, t64.to(ScalarType.Float32)), model.MaskId);
        var nll = -logp.gather(2, x0.unsqueeze(2)).squeeze(2);
        var weight = (1.0 / t64).to(ScalarType.Float32);
        var perSequence = (nll * masked.to(ScalarType.Float32)).sum(1) * weight;
        return perSequence.MoveToOuterDisposeScope();
    }

    /// <summary>Checks that tokens are an int64 [B, L] tensor of ids in [0, V − 1) (no [MASK]); one-line messages.</summary>
    internal static void CheckTokens(Tensor x0, int vocabularySize, long maskId)
    {
        if (x0.dim() != 2 || x0.dtype != ScalarType.Int64)
            throw new ArgumentException($"tokens must be an int64 tensor [B, L], not {x0.dtype} [{string.Join(", ", x0.shape)}]", nameof(x0));
        if (x0.numel() == 0)
            throw new ArgumentException("tokens are empty", nameof(x0));
        using var scope = NewDisposeScope();
        long min = x0.min().item<long>(), max = x0.max().item<long>();
        if (min < 0 || max >= vocabularySize)
            throw new ArgumentException($"token ids must lie in [0, {vocabularySize}), found {min}…{max}", nameof(x0));
        if (x0.eq(maskId).any().item<bool>())
            throw new ArgumentException($"clean tokens contain [MASK] (id {maskId})", nameof(x0));
    }
}

/// <summary>
/// The training objective of the masked-diffusion model: the mean over a batch of <see cref="MaskedDiffusion.SequenceNelbo(ITokenDenoiser, Tensor, Tensor, Generator)"/>
/// per token, in nats, with the batch's times drawn antithetically (<see cref="MaskedDiffusion.AntitheticTimes"/>, ε =
/// <paramref name="SamplingEps"/>). Every random draw (u, then the masks) comes from the caller's generator, so a resumed
/// run that restores the generator's state repeats the same draws.
/// </summary>
/// <param name="SamplingEps">The smallest time, MDLM's <c>sampling_eps</c> (10⁻³).</param>
public sealed record MaskedDiffusionLoss(double SamplingEps = 1e-3)
{
    /// <summary>The loss tensor (a differentiable float32 scalar): NELBO nats per token of <paramref name="x0"/> [B, L].</summary>
    public Tensor Compute(ITokenDenoiser model, Tensor x0, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(generator);
        using var scope = NewDisposeScope();
        var t = MaskedDiffusion.AntitheticTimes(x0.shape[0], generator, SamplingEps);
        var nelbo = MaskedDiffusion.SequenceNelbo(model, x0, t, generator);
        return (nelbo.sum() / x0.numel()).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The autoregressive twin's objective: next-character cross-entropy, nats per token. The input is x₀ shifted right by
/// one with [MASK] as the start token, so every character of the window, the first included, is predicted from the
/// ones before it and the mean is the model's exact NLL of the window. The [MASK] logit is −∞ (it is never a target).
/// </summary>
public sealed record AutoregressiveLoss
{
    /// <summary>Per-sequence NLL in nats, summed over positions ([B], float32), for clean tokens <paramref name="x0"/> [B, L].</summary>
    public static Tensor SequenceNll(ITokenDenoiser model, Tensor x0)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model is TextTransformer { Config.Causal: false })
            throw new ArgumentException("the autoregressive loss needs a causal model (config causal: true); a bidirectional one would see the character it predicts", nameof(model));
        MaskedDiffusion.CheckTokens(x0, model.VocabularySize, model.MaskId);
        using var scope = NewDisposeScope();
        long b = x0.shape[0], l = x0.shape[1];
        var input = cat([full(b, 1, model.MaskId, ScalarType.Int64, device: x0.device), x0.narrow(1, 0, l - 1)], 1);
        var logp = MaskedDiffusion.MaskedLogSoftmax(model.Logits(input, zeros(b, device: x0.device)), model.MaskId);
        return (-logp.gather(2, x0.unsqueeze(2)).squeeze(2).sum(1)).MoveToOuterDisposeScope();
    }

    /// <summary>The loss tensor: mean NLL per token (nats). Draws nothing, so the generator is untouched.</summary>
    public Tensor Compute(ITokenDenoiser model, Tensor x0, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(x0);
        using var scope = NewDisposeScope();
        return (SequenceNll(model, x0).sum() / x0.numel()).MoveToOuterDisposeScope();
    }
}
