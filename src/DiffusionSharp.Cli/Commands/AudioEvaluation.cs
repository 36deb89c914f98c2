using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DiffusionSharp.Audio;
using DiffusionSharp.Data;
using DiffusionSharp.Evaluation;
using DiffusionSharp.IO;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using Spectre.Console;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse evaluate</c> for audio: the spoken-digit classifier (trained on the spoken-digit training split on first
/// use and cached), conditional accuracy, class histogram and classifier-FID against the held-out clips with its
/// real-data floor. <c>--train-classifier</c> only makes (or loads) the classifier and reports its held-out accuracy.
/// </summary>
internal static class AudioEvaluation
{
    public static int TrainClassifier(EvaluateCommand.Settings settings, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        using var train = SpokenDigits.LoadCached(SpokenDigitsSplit.Train, null, settings.Cache, Log);
        using var heldOut = SpokenDigits.LoadCached(SpokenDigitsSplit.HeldOut, null, settings.Cache, Log);
        using var classifier = SpokenDigitClassifier.LoadOrTrain(train, heldOut, settings.Cache, log: Log, cancellationToken: cancellationToken);
        var c = CultureInfo.InvariantCulture;
        var table = new Table().AddColumns("", "");
        table.AddRow("classifier", "spoken digits: log-mel CNN (SpokenDigitClassifier)");
        table.AddRow("trained on", Markup.Escape($"{train.Name}: {train.Count} clips"));
        table.AddRow("held-out accuracy", Markup.Escape($"{classifier.HeldOutAccuracy?.ToString("P2", c)} of {heldOut.Count} clips by voices not in training"));
        table.AddRow("training time", classifier.TrainingSeconds is { } s ? s.ToString("F0", c) + " s" : "unknown");
        table.AddRow("time", watch.Elapsed.TotalSeconds.ToString("F1", c) + " s");
        AnsiConsole.Write(table);
        return 0;
    }

    public static int Evaluate(EvaluateCommand.Settings settings, DiffusionPipeline pipeline, CancellationToken cancellationToken)
    {
        if (pipeline.NumClasses > 0 && !(pipeline.Metadata.ClassNames ?? []).SequenceEqual(SpokenDigits.ClassNames))
            throw new ArgumentException($"{settings.ModelDirectory}: the spoken-digit classifier scores models of the digits {string.Join(", ", SpokenDigits.ClassNames)}; this model's classes are {string.Join(", ", pipeline.Metadata.ClassNames ?? [])}");
        using var train = SpokenDigits.LoadCached(SpokenDigitsSplit.Train, null, settings.Cache, Log);
        using var heldOut = SpokenDigits.LoadCached(SpokenDigitsSplit.HeldOut, null, settings.Cache, Log);
        int count = settings.Count ?? 1000;
        if (count < 2 || count > train.Count)
            throw new ArgumentException($"--count must be 2 to {train.Count} (the training clips the real-data floor is drawn from), not {count}");
        using var evaluator = AnsiConsole.Status().Start("spoken-digit classifier…", _ => SpokenDigitEvaluator.Create(train, heldOut, settings.Cache, log: Log, cancellationToken: cancellationToken));
        var options = settings.GenerationOptions(count, settings.Steps ?? 20, null, settings.Seed);
        long[]? labels = pipeline.LabelsFor(options);
        var watch = Stopwatch.StartNew();
        using var samples = AnsiConsole.Status().Start($"sampling {count} clips…", _ =>
        {
            using var generated = pipeline.Generate(options, cancellationToken: cancellationToken);
            return pipeline.ToClips(generated);
        });
        double sampleSeconds = watch.Elapsed.TotalSeconds;
        using var requested = labels is null ? null : tensor(labels);
        var report = evaluator.Evaluate(samples, pipeline.SampleRate, requested, settings.Seed);

        var c = CultureInfo.InvariantCulture;
        double audioSeconds = (double)count * pipeline.ClipLength / pipeline.SampleRate;
        ClassifierReportTable.Write(report, settings.ModelDirectory,
            string.Create(c, $"{count} clips with {SamplerSettings.Describe(pipeline, options)} {options.Steps} steps, guidance {options.Guidance ?? pipeline.Metadata.DefaultGuidance}, {settings.Precision.ToLowerInvariant()}, {sampleSeconds:F1} s ({sampleSeconds / audioSeconds:F2} s per second of audio)"),
            "held-out", SpokenDigitEvaluator.NotPublishedFid, settings.Report);
        return 0;
    }

    private static void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
}
