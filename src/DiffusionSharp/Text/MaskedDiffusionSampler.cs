using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// Ancestral sampling of the masked-diffusion model (MDLM, Sahoo et al. 2024, §3.3 and App. B; the <c>ddpm_cache</c>
/// sampler) on the grid t_k = 1 − k/N, k = 0…N, for the log-linear schedule α_t = 1 − t. A step from t to s &lt; t
/// leaves unmasked tokens as they are (SUBS) and draws each masked one from
/// <code>
///   q(z_s | z_t = [MASK], x̂₀) = ((α_s − α_t)·x̂₀ + (1 − α_s)·[MASK]) / (1 − α_t) ∝ (t − s)·p_θ(· | z_t) + s·[MASK],
/// </code>
/// so the last step (s = 0) unmasks every remaining position. Positions that hold a token at the start (a prompt, the
/// text around an infilled span) are never masked, so they never change.
/// </summary>
/// <remarks>
/// Caching (MDLM's <c>p_x0_cache</c>): without time conditioning p_θ depends on z_t only, so when a step changes no
/// token the next step reuses the last p_θ instead of calling the network; with many steps most steps change nothing.
/// Categorical draws are Gumbel-max in float64 (argmax(log w + G), G = −log(−log U)): in float32 U is a multiple of 2⁻²⁴,
/// which truncates the Gumbel tail and lowers the effective temperature (Zheng et al. 2024, "Masked diffusion models
/// are secretly time-agnostic masked models and exploit inaccurate categorical sampling", §4). Each sample has its own
/// seeded generator, so a sample does not depend on the batch it was drawn in.
/// </remarks>
public sealed class MaskedDiffusionSampler
{
    /// <summary>A sampler of <paramref name="steps"/> steps.</summary>
    /// <param name="steps">The number of steps N.</param>
    /// <param name="topP">Nucleus sampling (Holtzman et al. 2020): each p_θ(x₀ | z_t) is cut to its smallest set of
    /// characters holding at least this much probability and renormalised; 1 (the default) samples the model exactly.</param>
    /// <param name="order">Which masked positions a step writes: <see cref="UnmaskingOrder.Random"/> (MDLM's ancestral
    /// step) or <see cref="UnmaskingOrder.Confidence"/>.</param>
    /// <param name="choiceTemperature">With <see cref="UnmaskingOrder.Confidence"/>: the scale τ of the Gumbel noise added
    /// to the confidences before they are ranked, annealed linearly to 0 over the steps (MaskGIT's choice temperature):
    /// 0 ranks by confidence alone, large values approach a random order.</param>
    public MaskedDiffusionSampler(int steps, double topP = 1.0, UnmaskingOrder order = UnmaskingOrder.Random, double choiceTemperature = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1, nameof(steps));
        if (!Enum.IsDefined(order))
            throw new ArgumentOutOfRangeException(nameof(order), order, "unknown unmasking order");
        if (!(choiceTemperature >= 0) || double.IsInfinity(choiceTemperature))
            throw new ArgumentOutOfRangeException(nameof(choiceTemperature), choiceTemperature, "the choice temperature must be finite and ≥ 0");
        Steps = steps;
        TopP = Nucleus.Check(topP);
        Order = order;
        ChoiceTemperature = choiceTemperature;
    }

    /// <summary>MaskGIT's choice temperature τ of the confidence order (0: by confidence alone).</summary>
    public double ChoiceTemperature { get; }

    /// <summary>Which masked positions each step writes.</summary>
    public UnmaskingOrder Order { get; }

    /// <summary>The number of steps N.</summary>
    public int Steps { get; }

    /// <summary>The nucleus mass (1: exact sampling).</summary>
    public double TopP { get; }

    /// <summary>How many times the last <see cref="Sample"/> called the network.</summary>
    public int NetworkCalls { get; private set; }

    /// <summary>
    /// Completes <paramref name="template"/> [B, L] (int64; [MASK] where text is to be generated, any other id is kept),
    /// sample b drawing from a generator seeded with <paramref name="seeds"/>[b]. Returns a fresh [B, L] tensor with no [MASK].
    /// <paramref name="onStep"/>, when given, sees z after each step k = 1…N (on the model's device; it must not keep the
    /// tensor past the call — clone it to keep it).
    /// </summary>
    public Tensor Sample(ITokenDenoiser model, Tensor template, IReadOnlyList<long> seeds, Action<int, Tensor>? onStep = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(seeds);
        if (template.dim() != 2 || template.dtype != ScalarType.Int64)
            throw new ArgumentException($"template must be an int64 tensor [B, L], not {template.dtype} [{string.Join(", ", template.shape)}]", nameof(template));
        long b = template.shape[0], l = template.shape[1], v = model.VocabularySize;
        if (seeds.Count != b)
            throw new ArgumentException($"{seeds.Count} seeds for {b} samples", nameof(seeds));
        using (NewDisposeScope())
        {
            if (template.numel() == 0 || template.min().item<long>() < 0 || template.max().item<long>() >= v)
                throw new ArgumentException($"template token ids must lie in [0, {v}) and there must be some", nameof(template));
        }

        var generators = seeds.Select(s => new Generator((ulong)s)).ToArray();
        NetworkCalls = 0;
        try
        {
            using var outer = NewDisposeScope();
            using var mode = inference_mode();
            var x = template.clone();
            Tensor? cache = null;
            var device = x.device;
            var maskColumn = arange(v, device: device).eq(model.MaskId);
            var initiallyMasked = x.eq(model.MaskId).sum(1);                    // [B]: positions the sampler writes
            for (int k = 0; k < Steps; k++)
            {
                using var scope = NewDisposeScope();
                double t = 1.0 - (double)k / Steps, s = 1.0 - (double)(k + 1) / Steps;
                if (cache is null)
                {
                    var logits = model.Logits(x, full(b, t, ScalarType.Float32, device: device));
                    cache = Nucleus.Filter(MaskedDiffusion.MaskedLogSoftmax(logits, model.MaskId).to(ScalarType.Float64), TopP).MoveToOuterDisposeScope();
                    NetworkCalls++;
                }
                var u = stack(generators.Select(g => rand(l, v, ScalarType.Float64, generator: g)).ToArray()).to(device);
                var gumbel = -log(-log(u));
                Tensor next;
                if (Order == UnmaskingOrder.Random)
                    next = AncestralStep(x, cache, gumbel, maskColumn, model.MaskId, t, s, v);
                else
                {
                    var choice = stack(generators.Select(g => rand(l, ScalarType.Float64, generator: g)).ToArray()).to(device);
                    var choiceNoise = (-log(-log(choice))).mul(ChoiceTemperature * (1.0 - (double)k / Steps));
                    next = ConfidenceStep(x, cache, gumbel, choiceNoise, initiallyMasked, model.MaskId, k);
                }
                bool changed = !next.eq(x).all().item<bool>();
                x.Dispose();
                x = next.MoveToOuterDisposeScope();
                onStep?.Invoke(k + 1, x);
                if (changed || model.IsTimeConditioned)
                {
                    cache.Dispose();
                    cache = null;
                }
            }
            return x.MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var g in generators)
                g.Dispose();
        }
    }

    // MDLM's step: each masked position draws from (t − s)·p_θ + s·[MASK], so it stays masked with probability s/t.
    private static Tensor AncestralStep(Tensor x, Tensor logProbs, Tensor gumbel, Tensor maskColumn, long maskId, double t, double s, long v)
    {
        var logWeights = where(maskColumn, full(1, 1, v, Math.Log(s), ScalarType.Float64, device: x.device), logProbs + Math.Log(t - s));
        var drawn = (logWeights + gumbel).argmax(2);
        return where(x.eq(maskId), drawn, x);
    }

    // Confidence order (MaskGIT, Chang et al. 2022, §3.2, with the linear schedule): every masked position draws a
    // character from p_θ, and the step keeps the n_k whose drawn character the model gave the highest probability (plus
    // the annealed choice noise), where n_k makes ⌊M·(k+1)/N⌋ of the M positions written after step k (as many as the
    // ancestral sampler writes on average).
    private Tensor ConfidenceStep(Tensor x, Tensor logProbs, Tensor gumbel, Tensor choiceNoise, Tensor initiallyMasked, long maskId, int k)
    {
        var masked = x.eq(maskId);
        var drawn = (logProbs + gumbel).argmax(2, keepdim: true);
        var confidence = logProbs.gather(2, drawn).squeeze(2).add(choiceNoise).masked_fill(masked.logical_not(), double.NegativeInfinity);
        var writtenAfter = initiallyMasked.mul(k + 1).div(Steps, rounding_mode: RoundingMode.floor);
        var stillMasked = masked.sum(1);
        var toWrite = writtenAfter.sub(initiallyMasked.sub(stillMasked)).clamp_min(0);          // [B]
        // Rank of each position by confidence (0 = most confident); masked positions rank before unmasked ones.
        var rank = confidence.argsort(1, descending: true).argsort(1);
        var write = rank.lt(toWrite.unsqueeze(1)).logical_and(masked);
        return where(write, drawn.squeeze(2), x);
    }
}

/// <summary>Which masked positions a step of <see cref="MaskedDiffusionSampler"/> writes.</summary>
public enum UnmaskingOrder
{
    /// <summary>MDLM's ancestral step: each masked position is written with probability (t − s)/t, in no order.</summary>
    Random,

    /// <summary>MaskGIT's order: the positions whose drawn character the model is most sure of first, a fixed number per step.</summary>
    Confidence,
}

/// <summary>Sampling templates: the tokens a sample must keep, [MASK] where the sampler writes.</summary>
public static class TextPrompt
{
    /// <summary>[1, length] of [MASK]: unconditional text.</summary>
    public static Tensor Unconditional(CharacterVocabulary vocabulary, int length)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(length));
        return full(1, length, vocabulary.MaskId, ScalarType.Int64);
    }

    /// <summary>[1, length]: <paramref name="prompt"/> at the start, [MASK] after it.</summary>
    /// <exception cref="ArgumentException">The prompt is longer than <paramref name="length"/>, or has a character the vocabulary lacks (per <paramref name="policy"/>).</exception>
    public static Tensor Prefix(CharacterVocabulary vocabulary, string prompt, int length, UnknownCharacterPolicy policy = UnknownCharacterPolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        long[] ids = vocabulary.Encode(prompt, policy);
        if (ids.Length > length)
            throw new ArgumentException($"the prompt has {ids.Length} characters, more than the sample length {length}", nameof(prompt));
        return Build(vocabulary, ids, length - ids.Length, []);
    }

    /// <summary>[1, |before| + span + |after|]: <paramref name="before"/>, <paramref name="span"/> [MASK]s to infill, <paramref name="after"/>.</summary>
    public static Tensor Infill(CharacterVocabulary vocabulary, string before, int span, string after, UnknownCharacterPolicy policy = UnknownCharacterPolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(span, 1, nameof(span));
        return Build(vocabulary, vocabulary.Encode(before, policy), span, vocabulary.Encode(after, policy));
    }

    private static Tensor Build(CharacterVocabulary vocabulary, long[] before, int span, long[] after)
    {
        var ids = new long[before.Length + span + after.Length];
        before.CopyTo(ids, 0);
        ids.AsSpan(before.Length, span).Fill(vocabulary.MaskId);
        after.CopyTo(ids, before.Length + span);
        return tensor(ids, [1, ids.Length], ScalarType.Int64);
    }
}

/// <summary>The names of the <see cref="UnmaskingOrder"/>s, as the command line and <c>generation_config.json</c> write them.</summary>
public static class UnmaskingOrderNames
{
    /// <summary><c>random</c> or <c>confidence</c>.</summary>
    public static string Name(this UnmaskingOrder order) => order == UnmaskingOrder.Confidence ? "confidence" : "random";

    /// <summary>The order named <paramref name="name"/> (case-insensitive), if it is one.</summary>
    public static bool TryParse(string name, out UnmaskingOrder order)
    {
        ArgumentNullException.ThrowIfNull(name);
        (bool known, order) = name.ToLowerInvariant() switch
        {
            "random" => (true, UnmaskingOrder.Random),
            "confidence" => (true, UnmaskingOrder.Confidence),
            _ => (false, UnmaskingOrder.Random),
        };
        return known;
    }
}
