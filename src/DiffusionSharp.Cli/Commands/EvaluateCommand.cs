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
    public sealed class Settings : SamplerSettings
    {
        [CommandOption("--count <N>")]
        [Description("Samples to score (default 1000; text models: 100 per source).")]
        public int? Count { get; init; }

        [CommandOption("--steps <N>")]
        [Description("Sampling steps (default 20; text models: the folder's generation_config.json, else the window length, 256).")]
        public int? Steps { get; init; }

        [CommandOption("--twin <DIR>")]
        [Description("Text models: the autoregressive twin's folder, measured beside the diffusion model.")]
        public string? Twin { get; init; }

        [CommandOption("--data <SPEC>")]
        [Description("Text models: the corpus the model was trained on (kjv, fortunes, a file or folder).")]
        [DefaultValue("kjv")]
        public string Data { get; init; } = "kjv";

        [CommandOption("--time-samples <K>")]
        [Description("Text models: t samples per held-out window for the bits/char bound.")]
        [DefaultValue(16)]
        public int TimeSamples { get; init; } = 16;

        [CommandOption("--top-p <P>")]
        [Description("Text models: nucleus sampling for both models' samples (default 1 = exact, or the model folder's generation_config.json).")]
        public double? TopP { get; init; }

        [CommandOption("--order <ORDER>")]
        [Description("Masked-diffusion text models: which masked characters a step writes: random (MDLM's ancestral sampler) or confidence (MaskGIT: the ones the model is surest of first); default: the model folder's generation_config.json, else random.")]
        public string? Order { get; init; }

        [CommandOption("--choice-temperature <TAU>")]
        [Description("With --order confidence: Gumbel noise of this scale on the confidences, annealed to 0 (MaskGIT's choice temperature; 0 = confidence alone; default: generation_config.json, else 0).")]
        public double? ChoiceTemperature { get; init; }

        [CommandOption("--speed-steps <LIST>")]
        [Description("Text models: the step counts at which sampling speed is measured, comma-separated.")]
        [DefaultValue("32,128,256")]
        public string SpeedSteps { get; init; } = "32,128,256";

        [CommandOption("--speed-count <N>")]
        [Description("Text models: samples per speed measurement.")]
        [DefaultValue(20)]
        public int SpeedCount { get; init; } = 20;

        [CommandOption("--out <DIR>")]
        [Description("Text models: write every source's samples here (JSONL), for an outside judge.")]
        public string? Out { get; init; }

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
        if (TextSamples.IsTextModel(settings.ModelDirectory))
            return TextEvaluate.Run(settings, cancellationToken);
        string modelDir = settings.ModelDirectory;
        using var pipeline = settings.LoadPipeline();
        if (pipeline.IsAudioModel)
            return AudioEvaluation.Evaluate(settings, pipeline, cancellationToken);
        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        using var train = Mnist.LoadCached(MnistSplit.Train, settings.Cache, Log);
        using var test = Mnist.LoadCached(MnistSplit.Test, settings.Cache, Log);
        using var evaluator = AnsiConsole.Status().Start("evaluation classifier…", _ => DigitEvaluator.Create(train, test, settings.Cache, log: Log, cancellationToken: cancellationToken));
        var options = settings.GenerationOptions(settings.Count ?? 1000, settings.Steps ?? 20, null, settings.Seed);
        long[]? labels = pipeline.LabelsFor(options);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var samples = AnsiConsole.Status().Start($"sampling {options.Count} digits…", _ => pipeline.Generate(options, cancellationToken: cancellationToken));
        double sampleSeconds = watch.Elapsed.TotalSeconds;
        using var requested = labels is null ? null : tensor(labels);
        var report = evaluator.Evaluate(samples, requested, settings.Seed);

        ClassifierReportTable.Write(report, modelDir,
            string.Create(CultureInfo.InvariantCulture, $"{options.Count} with {SamplerSettings.Describe(pipeline, options)} {options.Steps} steps, guidance {options.Guidance ?? pipeline.Metadata.DefaultGuidance}, {settings.Precision.ToLowerInvariant()}, {sampleSeconds:F1} s"),
            "test", EvaluationReport.NotInceptionFid, settings.Report);
        return 0;
    }
}
