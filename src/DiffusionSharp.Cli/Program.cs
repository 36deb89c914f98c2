using DiffusionSharp.Cli.Commands;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("diffuse");
    config.AddCommand<InfoCommand>("info").WithDescription("Show the TorchSharp backend, threads and devices.");
    config.AddCommand<InspectCommand>("inspect").WithDescription("Show a diffusers UNet2DModel folder: config, parameter count, tensors.");
    config.AddCommand<VerifyCommand>("verify").WithDescription("Run a UNet2DModel on a safetensors file's inputs and compare with its output.");
    config.AddCommand<ExportCommand>("export").WithDescription("Write a UNet2DModel folder that diffusers' from_pretrained loads unchanged.");
});
return app.Run(args);
