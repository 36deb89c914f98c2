using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using DiffusionSharp.Imaging;
using DiffusionSharp.Runtime;
using DiffusionSharp.Sampling;
using DiffusionSharp.Sampling.Samplers;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using Spectre.Console.Cli;
using Spectre.Console;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse sample</c>: draw samples from a model folder (the embedded MNIST model by default).</summary>
internal sealed class SampleCommand : Command<SampleCommand.Settings>
{
    public sealed class Settings : SamplerSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("Output folder: grid.png and one NNNNN.png per sample (audio models: NNNNN.wav and spectrograms.png; point models: samples.csv and samples.png).")]
        [DefaultValue("samples")]
        public string Out { get; init; } = "samples";

        [CommandOption("--count <N>")]
        [Description("Samples (default 100; text models: 10).")]
        public int? Count { get; init; }

        [CommandOption("--steps <N>")]
        public int? Steps { get; init; }

        [CommandOption("--class <K|all>")]
        [Description("A class index, or 'all' to cycle through every class.")]
        [DefaultValue("all")]
        public string Class { get; init; } = "all";

        [CommandOption("--seed <S>")]
        [DefaultValue(0L)]
        public long Seed { get; init; }

        [CommandOption("--trajectory")]
        [Description("Also write the denoising trajectory x_T → x_0 as trajectory.png and trajectory.gif (point models: trajectory.png, point clouds of the first batch; text models: the unmasking, trajectory.png and trajectory.txt).")]
        public bool Trajectory { get; init; }

        [CommandOption("--prompt <TEXT>")]
        [Description("Text models: a prefix every sample starts with.")]
        public string? Prompt { get; init; }

        [CommandOption("--infill <TEXT>")]
        [Description("Text models: text with one run of '_' marking the span to write, e.g. \"In the beginning ____ the earth.\"")]
        public string? Infill { get; init; }

        [CommandOption("--span <N>")]
        [Description("Text models: the infilled span's length (default: the number of '_').")]
        public int? Span { get; init; }

        [CommandOption("--top-p <P>")]
        [Description("Text models: nucleus sampling, keeping the smallest set of characters with this much probability (default 1 = exact, or the model folder's generation_config.json).")]
        public double? TopP { get; init; }

        [CommandOption("--order <ORDER>")]
        [Description("Masked-diffusion text models: which masked characters a step writes: random (MDLM's ancestral sampler) or confidence (MaskGIT: the ones the model is surest of first); default: the model folder's generation_config.json, else random.")]
        public string? Order { get; init; }

        [CommandOption("--choice-temperature <TAU>")]
        [Description("With --order confidence: Gumbel noise of this scale on the confidences, annealed to 0 (MaskGIT's choice temperature; 0 = confidence alone; default: generation_config.json, else 0).")]
        public double? ChoiceTemperature { get; init; }

        [CommandOption("--length <N>")]
        [Description("Text models: characters per sample, prompt included (default: the model's training length).")]
        public int? Length { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (TextSamples.IsTextModel(settings.ModelDirectory))
            return TextSamples.Run(settings, cancellationToken);
        if (Compare.OnePassSampling.IsOnePassModel(settings.ModelDirectory))
            return OnePassSamples.Run(settings);
        var watch = Stopwatch.StartNew();
        using var pipeline = settings.LoadPipeline();
        int count = settings.Count ?? 100;
        int? classLabel = settings.Class.Equals("all", StringComparison.OrdinalIgnoreCase)
            ? null
            : int.TryParse(settings.Class, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k)
                ? k
                : throw new ArgumentException($"--class must be a class index or 'all', not '{settings.Class}'");
        var options = settings.GenerationOptions(count, settings.Steps, classLabel, settings.Seed);
        if (pipeline.IsAudioModel)
            return AudioSamples.Sample(settings, pipeline, options, watch, cancellationToken);
        if (!pipeline.IsImageModel)
            return SamplePoints(settings, pipeline, options, watch, cancellationToken);
        int trajectoryRows = settings.Trajectory ? Math.Min(count, 10) : 0;
        var frames = new List<Tensor>();
        Tensor samples = AnsiConsole.Status().Start("sampling…", _ => pipeline.Generate(options, (batchStart, i, x, _) =>
            {
            if (batchStart != 0 || trajectoryRows == 0)
                return;
            if (i == 0)
                frames.Add(PerSampleNoise.InitialNoise(Enumerable.Range(0, trajectoryRows).Select(j => settings.Seed + j).ToArray(), x.shape[1..]).DetachFromDisposeScope());
            frames.Add(x.narrow(0, 0, trajectoryRows).clone().DetachFromDisposeScope());
        }, cancellationToken));
        using (samples = samples.cpu())
        {
            Directory.CreateDirectory(settings.Out);
            int columns = pipeline.NumClasses is > 0 and <= 16 && classLabel is null ? pipeline.NumClasses : (int)Math.Ceiling(Math.Sqrt(count));
            ImageWriter.SaveGrid(samples, Path.Combine(settings.Out, "grid.png"), new GridOptions(Columns: columns));
            for (int i = 0; i < count; i++)
            {
                using var one = samples[i];
                ImageWriter.SavePng(one, Path.Combine(settings.Out, $"{i:D5}.png"));
            }
        }
        if (frames.Count > 0)
        {
            // σ-space samplers carry x at scale √(σ²+1); show every frame at unit scale, as the network sees it.
            var shown = frames.Select(f => f / f.std().clamp_min(1.0)).ToList();
            ImageWriter.SaveTrajectoryStrip(shown, Path.Combine(settings.Out, "trajectory.png"));
            GifWriter.SaveTrajectory(shown, Path.Combine(settings.Out, "trajectory.gif"));
            foreach (var t in shown.Concat(frames))
                t.Dispose();
        }
        Summarize(settings, pipeline, options, Path.Combine(settings.Out, "grid.png"), "trajectory.png, trajectory.gif", watch);
        return 0;
    }

    /// <summary>A model over points [D]: samples.csv, samples.png (2-D only) and, with --trajectory, the reverse process as point clouds.</summary>
    private static int SamplePoints(Settings settings, DiffusionPipeline pipeline, GenerationOptions options, Stopwatch watch, CancellationToken cancellationToken)
    {
        long[] shape = pipeline.SampleShape;
        bool planar = shape is [2];
        if (settings.Trajectory && !planar)
            throw new ArgumentException($"--trajectory draws 2-D points; this model's samples are [{string.Join(", ", shape)}]");
        int steps = options.Steps ?? pipeline.Metadata.DefaultSteps;
        using var recorder = new TrajectoryRecorder();
        var keep = settings.Trajectory ? PointSamples.KeptSteps(steps) : [];
        double[] sigmas = settings.Trajectory ? PointSamples.Sigmas(pipeline, options.Sampler, steps) : [];
        if (keep.Contains(0))
        {
            var seeds = Enumerable.Range(0, Math.Min(options.Count, options.BatchSize)).Select(j => options.Seed + j).ToArray();
            using var xT = PerSampleNoise.InitialNoise(seeds, shape);
            recorder.Add(0, sigmas[0], xT);
        }
        var labels = pipeline.LabelsFor(options);
        Tensor samples = AnsiConsole.Status().Start("sampling…", _ => pipeline.Generate(options, (batchStart, i, x, _) =>
        {
            if (batchStart == 0 && keep.Contains(i + 1))
                recorder.Add(i + 1, sigmas[i + 1], x);
        }, cancellationToken));
        Directory.CreateDirectory(settings.Out);
        using (samples = samples.cpu())
        {
            PointSamples.WriteCsv(samples, labels, Path.Combine(settings.Out, "samples.csv"));
            using var labelTensor = labels is null ? null : tensor(labels);
            if (planar)
            {
                PointCloudPlot.Save([PointCloudPanel.FromTensor($"{options.Count} samples", samples, labelTensor)], Path.Combine(settings.Out, "samples.png"),
                    new PointCloudPlotOptions(Extent: 3.0));
            }
            if (settings.Trajectory)
            {
                using var firstLabels = labelTensor?.narrow(0, 0, recorder.Frames[0].Sample.shape[0]);
                string sampler = SchedulerFactory.CliName(options.Sampler ?? pipeline.DefaultSampler);
                PointSamples.SaveTrajectory(recorder, firstLabels,
                    $"{recorder.Frames[0].Sample.shape[0]} samples of a {pipeline.Model.ParameterCount / 1000}k-parameter {pipeline.Model.ClassName}, {steps} {sampler} steps from N(0, I)",
                    Path.Combine(settings.Out, "trajectory.png"));
            }
        }
        Summarize(settings, pipeline, options, Path.Combine(settings.Out, "samples.csv"), "trajectory.png", watch);
        return 0;
    }

    internal static void Summarize(Settings settings, DiffusionPipeline pipeline, GenerationOptions options, string samplesPath, string trajectoryFiles, Stopwatch watch)
    {
        var table = new Table().AddColumns("", "");
        table.AddRow("model", Markup.Escape(settings.ModelDirectory));
        table.AddRow("sampler", SamplerSettings.Describe(pipeline, options));
        table.AddRow("steps", (options.Steps ?? pipeline.Metadata.DefaultSteps).ToString(CultureInfo.InvariantCulture));
        table.AddRow("guidance", (options.Guidance ?? pipeline.Metadata.DefaultGuidance).ToString(CultureInfo.InvariantCulture));
        table.AddRow("precision", settings.Precision.ToLowerInvariant());
        table.AddRow("samples", $"{settings.Count ?? 100} → {Markup.Escape(samplesPath)}");
        if (settings.Trajectory)
            table.AddRow("trajectory", Markup.Escape(Path.Combine(settings.Out, trajectoryFiles)));
        table.AddRow("time", $"{watch.Elapsed.TotalSeconds:F1} s");
        AnsiConsole.Write(table);
    }
}
