using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// Ancestral sampling of the autoregressive twin: each position left to right is drawn from p_θ(x_ℓ | x_&lt;ℓ) (the
/// causal model reads x shifted right by one, [MASK] as the start token, as in <see cref="AutoregressiveLoss"/>), with
/// float64 Gumbel-max draws like <see cref="MaskedDiffusionSampler"/>, so both samplers draw at temperature 1. Positions
/// the template fixes (a prompt) are kept. A <see cref="TextTransformer"/> reads the text through a
/// <see cref="KeyValueCache"/>: the fixed prefix in one call, then one token per call, each call costing one
/// position's work. Any other <see cref="ITokenDenoiser"/> (or <c>useCache: false</c>) is called on the whole prefix
/// for every position it generates, which gives the same draws at quadratic cost.
/// </summary>
public static class AutoregressiveSampler
{
    /// <summary>
    /// Completes <paramref name="template"/> [B, L] ([MASK] where text is to be generated) left to right, sample b drawing
    /// from a generator seeded with <paramref name="seeds"/>[b]. Returns a fresh [B, L] tensor with no [MASK] and the
    /// number of network calls made.
    /// </summary>
    /// <exception cref="ArgumentException">The model is not causal, or the template is not int64 [B, L] of valid ids.</exception>
    /// <param name="model">The causal model.</param>
    /// <param name="template">[B, L] int64; [MASK] where text is to be written.</param>
    /// <param name="seeds">One seed per sample.</param>
    /// <param name="topP">Nucleus mass (<see cref="Nucleus"/>; 1 samples the model exactly).</param>
    /// <param name="useCache">Read through a key/value cache where the model has one.</param>
    public static (Tensor Tokens, int NetworkCalls) Sample(ITokenDenoiser model, Tensor template, IReadOnlyList<long> seeds, double topP = 1.0, bool useCache = true)
    {
        Nucleus.Check(topP);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(seeds);
        if (model is TextTransformer { Config.Causal: false })
            throw new ArgumentException("autoregressive sampling needs a causal model (config causal: true)", nameof(model));
        if (template.dim() != 2 || template.dtype != ScalarType.Int64)
            throw new ArgumentException($"template must be an int64 tensor [B, L], not {template.dtype} [{string.Join(", ", template.shape)}]", nameof(template));
        long b = template.shape[0], l = template.shape[1], v = model.VocabularySize;
        if (seeds.Count != b)
            throw new ArgumentException($"{seeds.Count} seeds for {b} samples", nameof(seeds));
        var generators = seeds.Select(s => new Generator((ulong)s)).ToArray();
        try
        {
            using var outer = NewDisposeScope();
            using var mode = inference_mode();
            var device = template.device;
            var x = template.clone();
            var start = full(b, 1, model.MaskId, ScalarType.Int64, device: device);
            var zero = zeros(b, device: device);
            int calls = 0;
            var cached = useCache ? model as TextTransformer : null;
            using var cache = cached?.NewCache(b, l);
            // The longest prefix every sample fixes: a cache reads it in one call.
            long prefix = 0;
            while (prefix < l && !x.select(1, prefix).eq(model.MaskId).any().item<bool>())
                prefix++;
            for (long position = 0; position < l; position++)
            {
                using var scope = NewDisposeScope();
                Tensor? logits = null;
                if (cached is not null && position >= prefix)
                {
                    // Feed the token before this position (the whole fixed prefix the first time): the cache then holds
                    // every position the model needs, whether or not this one is drawn.
                    var input = position == prefix ? cat([start, x.narrow(1, 0, prefix)], 1) : x.narrow(1, position - 1, 1);
                    logits = cached.ExtendLogits(input, zero, cache!).select(1, -1);
                    calls++;
                }
                var open = x.select(1, position).eq(model.MaskId);
                if (!open.any().item<bool>())
                    continue;
                if (logits is null)
                {
                    // Only the first position + 1 inputs matter to a causal model at this position.
                    var input = cat([start, x.narrow(1, 0, position)], 1);
                    logits = model.Logits(input, zero).select(1, position);
                    calls++;
                }
                var logp = MaskedDiffusion.MaskedLogSoftmax(logits.unsqueeze(1), model.MaskId).squeeze(1).to(ScalarType.Float64);
                logp = Nucleus.Filter(logp, topP);
                var u = stack(generators.Select(g => rand(v, ScalarType.Float64, generator: g)).ToArray()).to(device);
                var drawn = (logp - log(-log(u))).argmax(1);
                x.select(1, position).copy_(where(open, drawn, x.select(1, position)));
            }
            return (x.MoveToOuterDisposeScope(), calls);
        }
        finally
        {
            foreach (var g in generators)
                g.Dispose();
        }
    }
}
