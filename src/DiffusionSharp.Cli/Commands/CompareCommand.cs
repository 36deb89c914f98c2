using System.ComponentModel;
using System.Runtime.InteropServices;
using DiffusionSharp.Compare;
using DiffusionSharp.Data;
using DiffusionSharp.Evaluation;
using DiffusionSharp.Schedulers;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse compare</c>: diffusion vs the VAE vs two GANs on the same MNIST digits, budget and evaluator. Parses,
/// calls <see cref="ComparisonRun"/> and prints its progress; a stop (Ctrl-C) checkpoints the running cell, and the same
/// command continues it.
/// </summary>
internal sealed class CompareCommand : Command<CompareCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("The comparison folder (report.md, figures, cells/…); an existing one is continued.")]
        public string? Out { get; init; }

        [CommandOption("--data <NAME>")]
        [Description("The digits: mnist (the only data set the evaluator knows).")]
        [DefaultValue("mnist")]
        public string Data { get; init; } = "mnist";

        [CommandOption("--budget-minutes <M>")]
        [Description("Training time per cell (step time; evaluation not counted).")]
        [DefaultValue(3.0)]
        public double BudgetMinutes { get; init; } = 3.0;

        [CommandOption("--fractions <LIST>")]
        [Description("Shares of the training digits, e.g. 0.01,0.1,1.")]
        [DefaultValue("0.01,0.1,1")]
        public string Fractions { get; init; } = "0.01,0.1,1";

        [CommandOption("--seeds <N>")]
        [Description("Seeds per cell (0 … N−1).")]
        [DefaultValue(3)]
        public int Seeds { get; init; } = 3;

        [CommandOption("--models <LIST>")]
        [Description("Any of diffusion, vae, dcgan, hinge-sn.")]
        [DefaultValue("diffusion,vae,dcgan,hinge-sn")]
        public string Models { get; init; } = "diffusion,vae,dcgan,hinge-sn";

        [CommandOption("--conditioning <LIST>")]
        [Description("conditional and/or unconditional.")]
        [DefaultValue("conditional,unconditional")]
        public string Conditioning { get; init; } = "conditional,unconditional";

        [CommandOption("--batch-size <N>")]
        [DefaultValue(64)]
        public int BatchSize { get; init; } = 64;

        [CommandOption("--samples <N>")]
        [Description("Samples per cell for the final figures.")]
        [DefaultValue(1000)]
        public int Samples { get; init; } = 1000;

        [CommandOption("--curve-points <N>")]
        [Description("Evaluations spread over the budget (FID vs time).")]
        [DefaultValue(4)]
        public int CurvePoints { get; init; } = 4;

        [CommandOption("--curve-samples <N>")]
        [DefaultValue(250)]
        public int CurveSamples { get; init; } = 250;

        [CommandOption("--sampler <NAME>")]
        [Description("The diffusion model's sampler for its evaluation samples: ddpm (ancestral; the default), ddim, dpm++, euler, euler-a, heun, unipc.")]
        [DefaultValue("ddpm")]
        public string Sampler { get; init; } = "ddpm";

        [CommandOption("--sampling-steps <N>")]
        [Description("Steps of --sampler for the diffusion model's evaluation samples.")]
        [DefaultValue(100)]
        public int SamplingSteps { get; init; } = 100;

        [CommandOption("--guidance <W>")]
        [Description("Classifier-free guidance of the conditional diffusion model.")]
        [DefaultValue(2.0)]
        public double Guidance { get; init; } = 2.0;

        [CommandOption("--target-fid <F>")]
        [Description("The FID 'time to reach' reports (default: twice the real-data floor).")]
        public double? TargetFid { get; init; }

        [CommandOption("--size <SIZE>")]
        [Description("default, or tiny (test-sized models).")]
        [DefaultValue("default")]
        public string Size { get; init; } = "default";

        [CommandOption("--cache <DIR>")]
        [Description("The data cache (MNIST, the evaluation classifier).")]
        public string? Cache { get; init; }

        public ComparisonOptions ToOptions() => new()
        {
            Models = [.. Models.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
            Conditioning = ComparisonOptions.ParseConditioning(Conditioning),
            Fractions = ComparisonOptions.ParseFractions(Fractions),
            Seeds = Seeds,
            BudgetSeconds = BudgetMinutes * 60,
            BatchSize = BatchSize,
            Samples = Samples,
            CurvePoints = CurvePoints,
            CurveSamples = CurveSamples,
            Sampler = SchedulerFactory.ParseKind(Sampler),
            SamplingSteps = SamplingSteps,
            Guidance = Guidance,
            TargetFid = TargetFid,
            Size = Size.ToLowerInvariant() switch
            {
                "default" => CompareSize.Default,
                "tiny" => CompareSize.Tiny,
                _ => throw new ArgumentException($"--size '{Size}' is unknown; allowed: default, tiny"),
            },
        };
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(settings.Out))
            throw new ArgumentException("--out is required: the comparison folder");
        if (!settings.Data.Equals("mnist", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--data '{settings.Data}': compare takes mnist (its evaluator is the MNIST classifier)");
        var options = settings.ToOptions();
        options.Validate();
        void Log(string m) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            cts.Cancel();
        }
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var train = Mnist.LoadCached(MnistSplit.Train, settings.Cache, Log);
        using var test = Mnist.LoadCached(MnistSplit.Test, settings.Cache, Log);
        using var evaluator = DigitEvaluator.Create(train, test, settings.Cache, log: Log, cancellationToken: cts.Token);
        try
        {
            var summary = ComparisonRun.Run(options, settings.Out, train, test, evaluator, Log, cts.Token);
            AnsiConsole.MarkupLine($"[green]done[/]: {summary.Cells.Count} cells; report in [bold]{Markup.Escape(summary.ReportPath)}[/]");
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            AnsiConsole.MarkupLine($"[yellow]stopped[/]; the running cell is checkpointed — the same command continues it");
        }
        return 0;
    }
}
