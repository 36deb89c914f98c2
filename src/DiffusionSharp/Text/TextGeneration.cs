using System.Diagnostics;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>What to generate: how many samples, how long, from which template, with which sampler settings.</summary>
/// <param name="Count">Samples.</param>
/// <param name="Steps">Masked-diffusion steps (ignored by the autoregressive twin).</param>
/// <param name="Seed">Sample i uses seed <c>Seed + i</c>, so a sample does not depend on the batch size.</param>
/// <param name="BatchSize">Samples per sampler call.</param>
/// <param name="Length">Characters per unconditional sample (prompted: the whole sample, prompt included); null: the model's training length.</param>
/// <param name="Prompt">A prefix every sample keeps.</param>
/// <param name="Infill">Text with one run of <see cref="CharacterVocabulary.MaskText"/> (<c>_</c>) marking the span to infill.</param>
/// <param name="SpanLength">The infilled span's length (null: the number of <c>_</c> in <paramref name="Infill"/>).</param>
/// <param name="TopP">Nucleus sampling mass (<see cref="Nucleus"/>); 1 samples the model exactly.</param>
/// <param name="Order">Which masked positions each masked-diffusion step writes (<see cref="UnmaskingOrder"/>).</param>
/// <param name="ChoiceTemperature">The confidence order's choice temperature (<see cref="MaskedDiffusionSampler.ChoiceTemperature"/>).</param>
public sealed record TextGenerationOptions(int Count = 16, int Steps = 256, long Seed = 0, int BatchSize = 50, int? Length = null,
    string? Prompt = null, string? Infill = null, int? SpanLength = null, double TopP = 1.0, UnmaskingOrder Order = UnmaskingOrder.Random,
    double ChoiceTemperature = 0);

/// <summary>Generated text: the samples, the template they completed, the network calls and the time taken.</summary>
public sealed record TextSamples(IReadOnlyList<string> Texts, string Template, int NetworkCalls, double Seconds)
{
    /// <summary>Characters generated per second (the positions the template left open, over all samples).</summary>
    public double CharactersPerSecond => Texts.Count * Template.Count(c => c.ToString() == CharacterVocabulary.MaskText) / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// Samples text from a text model folder's network: the masked-diffusion model through <see cref="MaskedDiffusionSampler"/>,
/// the causal twin through <see cref="AutoregressiveSampler"/>; unconditional, from a prompt prefix, or infilling a span.
/// </summary>
public static class TextGeneration
{
    /// <summary>The template [1, L] the options describe (prompt, infill or all [MASK]) for <paramref name="model"/>.</summary>
    /// <exception cref="ArgumentException">Both a prompt and an infill, an infill without one run of '_', or a character the vocabulary lacks.</exception>
    public static Tensor Template(TextTransformer model, TextGenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var vocabulary = model.Vocabulary;
        int length = options.Length ?? model.Config.Length;
        if (options.Prompt is not null && options.Infill is not null)
            throw new ArgumentException("--prompt and --infill cannot be combined");
        if (options.Prompt is { } prompt)
            return TextPrompt.Prefix(vocabulary, prompt, length);
        if (options.Infill is { } infill)
        {
            int first = infill.IndexOf(CharacterVocabulary.MaskText, StringComparison.Ordinal);
            if (first < 0)
                throw new ArgumentException($"--infill needs a run of '{CharacterVocabulary.MaskText}' where the text is to be written, e.g. \"In the beginning ____ the earth.\"");
            int end = first;
            while (end < infill.Length && infill[end].ToString() == CharacterVocabulary.MaskText)
                end++;
            if (infill.IndexOf(CharacterVocabulary.MaskText, end, StringComparison.Ordinal) >= 0)
                throw new ArgumentException($"--infill has more than one run of '{CharacterVocabulary.MaskText}'; mark one span");
            int span = options.SpanLength ?? end - first;
            if (span < 1)
                throw new ArgumentException($"--span {span} must be at least 1");
            return TextPrompt.Infill(vocabulary, infill[..first], span, infill[end..]);
        }
        return TextPrompt.Unconditional(vocabulary, length);
    }

    /// <summary>
    /// Generates <see cref="TextGenerationOptions.Count"/> samples; <paramref name="onStep"/> (masked diffusion only) sees
    /// (batch start, step, z) after every step of every batch.
    /// </summary>
    public static TextSamples Generate(TextTransformer model, TextGenerationOptions options, Action<int, int, Tensor>? onStep = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        var device = model.parameters().First().device;
        using var template = Template(model, options);
        var texts = new List<string>(options.Count);
        int calls = 0;
        var watch = Stopwatch.StartNew();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            for (int start = 0; start < options.Count; start += options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                int n = Math.Min(options.BatchSize, options.Count - start);
                var seeds = Enumerable.Range(start, n).Select(i => options.Seed + i).ToArray();
                var batch = template.expand(n, -1).contiguous().to(device);
                Tensor tokens;
                if (model.Config.Causal)
                {
                    (tokens, int c) = AutoregressiveSampler.Sample(model, batch, seeds, options.TopP);
                    calls += c;
                }
                else
                {
                    var sampler = new MaskedDiffusionSampler(options.Steps, options.TopP, options.Order, options.ChoiceTemperature);
                    int batchStart = start;
                    tokens = sampler.Sample(model, batch, seeds, onStep is null ? null : (k, z) => onStep(batchStart, k, z));
                    calls += sampler.NetworkCalls;
                }
                var rows = tokens.cpu().data<long>().ToArray();
                int l = (int)tokens.shape[1];
                for (int i = 0; i < n; i++)
                    texts.Add(model.Vocabulary.Decode(new ArraySegment<long>(rows, i * l, l)));
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return new TextSamples(texts, model.Vocabulary.Decode(template.data<long>().ToArray()), calls, watch.Elapsed.TotalSeconds);
    }
}
