using System.Globalization;
using System.Text.Json;
using DiffusionSharp.IO;
using DiffusionSharp.Text;
using Spectre.Console;
using TorchSharp;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse evaluate</c> on a text model folder: held-out bits/char, sample statistics beside the twin, a babbler and real text, and sampling speed.</summary>
internal static class TextEvaluate
{
    public static int Run(EvaluateCommand.Settings settings, CancellationToken cancellationToken)
    {
        using var model = TextSamples.Load(settings);
        using var twin = settings.Twin is { } twinDir ? LoadTwin(settings, twinDir) : null;
        var corpus = TextCorpora.Load(settings.Data, settings.Cache);
        var sampling = TextSamples.Sampling(settings.ModelDirectory, settings.Order, settings.ChoiceTemperature, settings.TopP, settings.Steps);
        var options = new TextEvaluationOptions(settings.Count ?? 100, sampling.Steps ?? model.Config.Length, settings.Seed,
            settings.BatchSize, settings.TimeSamples, ParseSteps(settings.SpeedSteps), settings.SpeedCount, TopP: sampling.TopP, Order: sampling.Order,
            ChoiceTemperature: sampling.ChoiceTemperature);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var report = TextModelEvaluation.Run(model, twin, corpus, options,
            m => AnsiConsole.MarkupLine($"[grey]{watch.Elapsed.TotalSeconds,6:F1} s  {Markup.Escape(m)}[/]"), cancellationToken);
        var c = CultureInfo.InvariantCulture;
        var table = new Table().AddColumns("figure", "value");
        table.AddRow("model", Markup.Escape($"{settings.ModelDirectory}: masked diffusion, {model.ParameterCount:N0} parameters"));
        table.AddRow("held-out bits/char", Markup.Escape(report.HeldOut.ToString()));
        if (twin is not null && report.TwinHeldOut is { } exact)
        {
            table.AddRow("twin", Markup.Escape($"{settings.Twin}: autoregressive, {twin.ParameterCount:N0} parameters"));
            table.AddRow("twin held-out bits/char", Markup.Escape(exact.ToString()));
        }
        AnsiConsole.Write(table);

        var samples = new Table().AddColumns("source", "char entropy", "repeated 4-grams", "corpus words", $"{TextSampleStatistics.DefaultCopySpan}-char copies", "bits/char under twin");
        foreach (var s in report.Sources)
        {
            var st = s.Statistics;
            samples.AddRow(Markup.Escape(s.Name), st.CharacterEntropyBits.ToString("F3", c), st.RepeatedFourGramRate.ToString("P1", c),
                st.CorpusWordShare.ToString("P1", c), st.CopiedSpanShare.ToString("P1", c), s.TwinBitsPerCharacter?.ToString("F3", c) ?? "–");
        }
        AnsiConsole.Write(samples.Caption(string.Create(c, $"{options.Count} texts of {model.Config.Length} characters per source; words: {report.VocabularyWords:N0} distinct in the training text, first and last word of each text left out")));

        var speed = new Table().AddColumns("sampler", "steps", "network calls", "seconds", "characters/s");
        foreach (var s in report.Speeds)
            speed.AddRow(Markup.Escape(s.Sampler), s.Sampler.StartsWith("auto", StringComparison.Ordinal) ? "1 per character" : s.Steps.ToString(c),
                s.NetworkCalls.ToString(c), s.Seconds.ToString("F2", c), s.CharactersPerSecond.ToString("F0", c));
        AnsiConsole.Write(speed.Caption(string.Create(c, $"{options.SpeedCount} samples per row, one batch, {TorchSharp.torch.get_num_threads()} threads")));

        if (settings.Out is { } outDir)
        {
            Directory.CreateDirectory(outDir);
            foreach (var s in report.Sources)
            {
                string name = new string(s.Name.Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray()).Trim('-');
                AtomicFile.WriteAllText(Path.Combine(outDir, $"{name}.jsonl"),
                    string.Concat(s.Texts.Select((t, i) => JsonSerializer.Serialize(new { index = i, text = t }) + "\n")));
            }
        }
        if (settings.Report is { } path)
        {
            var json = new
            {
                heldOut = report.HeldOut,
                twinHeldOut = report.TwinHeldOut,
                sources = report.Sources.Select(s => new { s.Name, s.Statistics, s.TwinBitsPerCharacter }),
                speeds = report.Speeds,
                vocabularyWords = report.VocabularyWords,
            };
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;
    }

    private static int[] ParseSteps(string list)
    {
        var parts = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var steps = parts.Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : -1).ToArray();
        return parts.Length > 0 && steps.All(n => n > 0)
            ? steps
            : throw new ArgumentException($"--speed-steps '{list}' must be positive step counts separated by commas, e.g. 32,128,256");
    }

    private static TextTransformer LoadTwin(EvaluateCommand.Settings settings, string directory)
    {
        var twin = TextTransformer.Load(directory);
        twin.Precision = CliPrecision.Parse(settings.Precision);
        twin.to(Runtime.TorchRuntime.ResolveDevice(settings.Device));
        twin.eval();
        return twin;
    }
}
