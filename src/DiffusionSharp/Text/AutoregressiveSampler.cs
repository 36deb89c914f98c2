using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// Ancestral sampling of the autoregressive twin: each position left to right is drawn from p_θ(x_ℓ | x_&lt;ℓ) (the
/// causal model reads x shifted right by one, [MASK] as the start token, as in <see cref="AutoregressiveLoss"/>), with
/// float64 Gumbel-max draws like <see cref="MaskedDiffusionSampler"/>, so both samplers draw at temperature 1. Positions
/// the template fixes (a prompt) are kept; the model is called once per position to generate, on the prefix up to it
/// (no key/value cache yet: each call recomputes the prefix).
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
    public static (Tensor Tokens, int NetworkCalls) Sample(ITokenDenoiser model, Tensor template, IReadOnlyList<long> seeds, double topP = 1.0)
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
            for (long position = 0; position < l; position++)
            {
                using var scope = NewDisposeScope();
                var open = x.select(1, position).eq(model.MaskId);
                if (!open.any().item<bool>())
                    continue;
                // Only the first position + 1 inputs matter to a causal model at this position.
                var input = cat([start, x.narrow(1, 0, position)], 1);
                var logp = MaskedDiffusion.MaskedLogSoftmax(model.Logits(input, zero), model.MaskId).select(1, position).to(ScalarType.Float64);
                logp = Nucleus.Filter(logp, topP);
                calls++;
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
