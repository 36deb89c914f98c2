using DiffusionSharp.Cli.Commands;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("diffuse");
    config.AddCommand<InfoCommand>("info").WithDescription("Show the TorchSharp backend, threads and devices.");
});
return app.Run(args);
