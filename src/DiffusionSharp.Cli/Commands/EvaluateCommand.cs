using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using DiffusionSharp.Data;
using DiffusionSharp.Evaluation;
using DiffusionSharp.IO;
using DiffusionSharp.Runtime;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using Spectre.Console.Cli;
using Spectre.Console;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse evaluate</c>: sample a digit model and score the samples with the project's MNIST classifier.</summary>
internal sealed class EvaluateCommand : Command<EvaluateCommand.Settings>
{
    public sealed class Settings : PipelineSettings
    {
        [CommandOption("--count <N>")]
        [DefaultValue(1000)]
        public int Count { get; init; } = 1000;

        [CommandOption("--sampler <NAME>")]
        [DefaultValue("dpm++")]
        public string Sampler { get; init; } = "dpm++";

        [CommandOption("--steps <N>")]
        [DefaultValue(20)]
        public int Steps { get; init; } = 20;

        [CommandOption("--seed <S>")]
        [DefaultValue(1_000_000L)]
        public long Seed { get; init; } = 1_000_000;

        [CommandOption("--report <FILE>")]
        [Description("Also write the figures as JSON.")]
        public string? Report { get; init; }

        [CommandOption("--cache <DIR>")]
        public string? Cache { get; init; }

        [CommandOption("--train-classifier")]
        [Description("Only train (or load from the cache) the spoken-digit classifier and report its held-out accuracy.")]
        public bool TrainClassifier { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.EnsureLoaded();
        if (settings.TrainClassifier)
            return AudioEvaluation.TrainClassifier(settings, cancellationToken);
        string modelDir = settings.ModelDirectory;
        using var pipeline = settings.LoadPipeline();
        if (pipeline.IsAudioModel)
            return AudioEvaluation.Evaluate(settings, pipeline, cancellationToken);
        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        using var train = Mnist.LoadCached(MnistSplit.Train, settings.Cache, Log);
        using var test = Mnist.LoadCached(MnistSplit.Test, settings.Cache, Log);
        using var evaluator = AnsiConsole.Status().Start("evaluation classifier…", _ => DigitEvaluator.Create(train, test, settings.Cache, log: Log, cancellationToken: cancellationToken));
        var options = new GenerationOptions(settings.Count, SchedulerFactory.ParseKind(settings.Sampler), settings.Steps, null, settings.Guidance, settings.Seed, settings.BatchSize);
        long[]? labels = pipeline.LabelsFor(options);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var samples = AnsiConsole.Status().Start($"sampling {settings.Count} digits…", _ => pipeline.Generate(options, cancellationToken: cancellationToken));
        double sampleSeconds = watch.Elapsed.TotalSeconds;
        using var requested = labels is null ? null : tensor(labels);
        var report = evaluator.Evaluate(samples, requested, settings.Seed);

        var table = new Table().AddColumns("figure", "value");
        var c = CultureInfo.InvariantCulture;
        table.AddRow("model", Markup.Escape(modelDir));
        table.AddRow("samples", string.Create(c, $"{settings.Count} with {settings.Sampler} {settings.Steps} steps, guidance {options.Guidance ?? pipeline.Metadata.DefaultGuidance}, {settings.Precision.ToLowerInvariant()}, {sampleSeconds:F1} s"));
        table.AddRow("classifier test accuracy", report.ClassifierTestAccuracy.ToString("P2", c));
        table.AddRow("classifier-FID samples vs test", report.FidSamplesVsTest.ToString("F3", c));
        table.AddRow("classifier-FID floor train vs test", report.FidFloorTrainVsTest.ToString("F3", c));
        table.AddRow("FID / floor", (report.FidSamplesVsTest / report.FidFloorTrainVsTest).ToString("F2", c));
        table.AddRow("class histogram", string.Join(" ", report.ClassNames.Zip(report.ClassHistogram, (n, k) => $"{n}:{k}")));
        table.AddRow("KL(classes ‖ uniform)", report.KlFromUniform.ToString("F4", c) + " nats");
        if (report.ConditionalAccuracy is double acc)
            table.AddRow("conditional accuracy", acc.ToString("P2", c));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(EvaluationReport.NotInceptionFid)}[/]");
        if (settings.Report is { } path)
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}
