using DiffusionSharp.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;

var app = new CommandApp();
app.SetDefaultCommand<SampleCommand>();
app.Configure(config =>
{
    config.SetApplicationName("diffuse");
    config.AddCommand<SampleCommand>("sample").WithDescription("Draw samples (and the denoising trajectory) from a model; the embedded MNIST model by default.");
    config.AddCommand<TrainCommand>("train").WithDescription("Train a diffusion U-Net on MNIST, an image folder or CIFAR-10.");
    config.AddCommand<EvaluateCommand>("evaluate").WithDescription("Score a digit model: classifier-FID, class coverage, conditional accuracy.");
    config.AddCommand<InfoCommand>("info").WithDescription("Show the TorchSharp backend, threads and devices.");
    // Bad input is a one-line message naming the file and the problem, never a stack trace.
    config.SetExceptionHandler((e, _) =>
    {
        var inner = e is CommandRuntimeException { InnerException: { } i } ? i : e;
        AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(inner.Message)}");
        return 1;
    });
});
return app.Run(args);
