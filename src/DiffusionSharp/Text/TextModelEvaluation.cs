using System.Diagnostics;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>How to evaluate a text model (and its autoregressive twin) against a corpus.</summary>
/// <param name="Count">Samples per source (diffusion, twin, babbler, real held-out windows).</param>
/// <param name="Steps">Masked-diffusion sampling steps for the scored samples.</param>
/// <param name="Seed">Sample i uses seed Seed + i.</param>
/// <param name="BatchSize">Samples per sampler call.</param>
/// <param name="TimeSamples">t samples per held-out window for the diffusion bound.</param>
/// <param name="SpeedSteps">Step counts at which the diffusion sampler's speed is measured.</param>
/// <param name="SpeedCount">Samples per speed measurement.</param>
/// <param name="BabblerOrder">The character n-gram babbler's order.</param>
/// <param name="TopP">Nucleus mass for both models' samples (1: exact sampling).</param>
/// <param name="Order">The masked-diffusion sampler's unmasking order.</param>
/// <param name="ChoiceTemperature">The confidence order's choice temperature (<see cref="MaskedDiffusionSampler.ChoiceTemperature"/>).</param>
public sealed record TextEvaluationOptions(int Count = 100, int Steps = 256, long Seed = 1_000_000, int BatchSize = 50, int TimeSamples = 16,
    IReadOnlyList<int>? SpeedSteps = null, int SpeedCount = 20, int BabblerOrder = 6, double TopP = 1.0,
    UnmaskingOrder Order = UnmaskingOrder.Random, double ChoiceTemperature = 0)
{
    /// <summary>The speed grid (the 32/128/256 steps by default).</summary>
    public IReadOnlyList<int> SpeedStepsOrDefault => SpeedSteps ?? [32, 128, 256];
}

/// <summary>One source of texts in a report: its name, its texts, their statistics and their bits/char under the twin.</summary>
public sealed record TextSourceReport(string Name, IReadOnlyList<string> Texts, TextStatistics Statistics, double? TwinBitsPerCharacter);

/// <summary>The sampler's speed at one setting: characters generated per second and network calls per sample batch.</summary>
public sealed record TextSpeed(string Sampler, int Steps, int Samples, double Seconds, int NetworkCalls, double CharactersPerSecond);

/// <summary>Everything <see cref="TextModelEvaluation.Run"/> measured.</summary>
public sealed record TextEvaluationReport(TextEvaluationResult HeldOut, TextEvaluationResult? TwinHeldOut, IReadOnlyList<TextSourceReport> Sources,
    IReadOnlyList<TextSpeed> Speeds, int VocabularyWords);

/// <summary>
/// The honest comparison of a masked-diffusion text model with its autoregressive twin on one corpus: held-out bits/char
/// (the diffusion NELBO, an upper bound, beside the twin's exact NLL), samples of each with a character n-gram babbler and
/// real held-out windows as references (<see cref="TextSampleStatistics"/>, and bits/char of each under the twin), and
/// sampling speed (characters/s at several step counts against the twin's left-to-right sampling).
/// </summary>
public static class TextModelEvaluation
{
    /// <summary>Runs every measurement; <paramref name="twin"/> may be null (then no twin figures). <paramref name="log"/> hears progress.</summary>
    public static TextEvaluationReport Run(TextTransformer model, TextTransformer? twin, TextCorpus corpus, TextEvaluationOptions options,
        Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(options);
        if (model.Config.Causal)
            throw new ArgumentException("--model must be the masked-diffusion model; give the autoregressive twin as --twin");
        if (twin is { Config.Causal: false })
            throw new ArgumentException("--twin must be a causal (autoregressive) text model");
        log ??= _ => { };
        int length = model.Config.Length;
        var device = model.parameters().First().device;
        using var heldOut = TextWindows.Create(corpus.HeldOutText, model.Vocabulary, length).to(device);
        log($"held-out bound over {heldOut.shape[0]} windows × {options.TimeSamples} t samples…");
        var bound = TextEvaluation.DiffusionBitsPerCharacter(model, heldOut, options.TimeSamples, options.Seed, options.BatchSize * 2);
        TextEvaluationResult? twinBound = null;
        if (twin is not null)
        {
            using var twinHeldOut = TextWindows.Create(corpus.HeldOutText, twin.Vocabulary, length).to(device);
            twinBound = TextEvaluation.AutoregressiveBitsPerCharacter(twin, twinHeldOut, options.BatchSize);
        }

        log("indexing the training text…");
        var statistics = new TextSampleStatistics(corpus.TrainText);
        var sources = new List<(string Name, IReadOnlyList<string> Texts)>();
        log($"{options.Count} masked-diffusion samples, {options.Steps} steps…");
        var generation = new TextGenerationOptions(options.Count, options.Steps, options.Seed, options.BatchSize, TopP: options.TopP, Order: options.Order,
            ChoiceTemperature: options.ChoiceTemperature);
        string nucleus = options.TopP < 1 ? $", top-p {options.TopP.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "";
        string order = options.Order != UnmaskingOrder.Confidence ? ""
            : options.ChoiceTemperature > 0 ? $", confidence order, τ {options.ChoiceTemperature.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
            : ", confidence order";
        sources.Add(($"masked diffusion, {options.Steps} steps{order}{nucleus}", TextGeneration.Generate(model, generation, cancellationToken: cancellationToken).Texts));
        if (twin is not null)
        {
            log($"{options.Count} autoregressive samples…");
            sources.Add(($"autoregressive twin{nucleus}", TextGeneration.Generate(twin, generation, cancellationToken: cancellationToken).Texts));
        }
        log($"order-{options.BabblerOrder} character n-gram babbler…");
        var babbler = new CharacterNGramModel(corpus.TrainText, options.BabblerOrder);
        sources.Add(($"{options.BabblerOrder}-gram babbler", Enumerable.Range(0, options.Count).Select(i => babbler.Sample(length, options.Seed + i, corpus.Separator)).ToArray()));
        sources.Add(("real held-out windows", RealWindows(corpus, length, options.Count)));

        var reports = sources.Select(s => new TextSourceReport(s.Name, s.Texts, statistics.Measure(s.Texts),
            twin is null ? null : TwinBits(twin, s.Texts, options.BatchSize))).ToList();

        var speeds = new List<TextSpeed>();
        var speedOptions = generation with { Count = options.SpeedCount, BatchSize = options.SpeedCount };
        foreach (int steps in options.SpeedStepsOrDefault)
        {
            log($"speed at {steps} steps…");
            speeds.Add(Speed("masked diffusion", steps, TextGeneration.Generate(model, speedOptions with { Steps = steps }, cancellationToken: cancellationToken)));
        }
        if (twin is not null)
            speeds.Add(Speed("autoregressive twin", length, TextGeneration.Generate(twin, speedOptions, cancellationToken: cancellationToken)));
        return new TextEvaluationReport(bound, twinBound, reports, speeds, statistics.VocabularyWords);
    }

    /// <summary>
    /// <paramref name="count"/> real held-out windows, spread evenly over the held-out documents, each starting at a
    /// document start (as the model's training windows do).
    /// </summary>
    public static IReadOnlyList<string> RealWindows(TextCorpus corpus, int length, int count)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        string text = corpus.HeldOutText;
        var starts = new List<int>();
        int offset = 0;
        foreach (string document in corpus.HeldOut)
        {
            if (offset + length <= text.Length)
                starts.Add(offset);
            offset += document.Length + corpus.Separator.Length;
        }
        if (starts.Count == 0)
            throw new InvalidDataException($"{corpus.Name}: the held-out text is shorter than one window of {length}");
        return Enumerable.Range(0, count).Select(i => text.Substring(starts[(int)((long)i * starts.Count / count)], length)).ToArray();
    }

    private static double TwinBits(TextTransformer twin, IReadOnlyList<string> texts, int batchSize)
    {
        var device = twin.parameters().First().device;
        var ids = texts.Select(t => twin.Vocabulary.Encode(t, UnknownCharacterPolicy.ReplaceWithSpace)).ToArray();
        int length = ids.Min(i => i.Length);
        using var windows = tensor(ids.SelectMany(i => i.Take(length)).ToArray(), [ids.Length, length], ScalarType.Int64).to(device);
        return TextEvaluation.AutoregressiveBitsPerCharacter(twin, windows, batchSize).BitsPerCharacter;
    }

    private static TextSpeed Speed(string sampler, int steps, TextSamples samples) =>
        new(sampler, steps, samples.Texts.Count, samples.Seconds, samples.NetworkCalls, samples.CharactersPerSecond);
}
