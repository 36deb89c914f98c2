using DiffusionSharp.Cli.Commands;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli;

/// <summary>The <c>diffuse</c> command tree (built here so tests can run it in-process).</summary>
internal static class CliApp
{
    public static CommandApp Create()
    {
        var app = new CommandApp();
        app.SetDefaultCommand<SampleCommand>();
        app.Configure(config =>
        {
            config.SetApplicationName("diffuse");
            config.AddCommand<SampleCommand>("sample").WithDescription("Draw samples (and the denoising trajectory) from a model; the embedded MNIST model by default.");
            config.AddCommand<TrainCommand>("train").WithDescription("Train a diffusion U-Net on MNIST, an image folder or CIFAR-10.");
            config.AddCommand<CompareCommand>("compare").WithDescription("Diffusion vs VAE vs GANs on MNIST: same digits, budget and evaluator; writes report.md, figures and samples.");
            config.AddCommand<EvaluateCommand>("evaluate").WithDescription("Score a digit model: classifier-FID, class coverage, conditional accuracy.");
            config.AddCommand<InspectCommand>("inspect").WithDescription("Show a diffusers UNet2DModel folder: config, parameter count, tensors.");
            config.AddCommand<VerifyCommand>("verify").WithDescription("Run a UNet2DModel on a safetensors file's inputs and compare with its output.");
            config.AddCommand<ExportCommand>("export").WithDescription("Write a UNet2DModel folder that diffusers' from_pretrained loads unchanged, or (--format onnx) an ONNX file.");
            config.AddBranch("edit", edit =>
            {
                edit.SetDescription("Edit with the σ-space sampler: img2img (SDEdit), inpaint (RePaint), invert (DDIM inversion), interpolate (slerp).");
                edit.AddCommand<EditCommand.Img2ImgCommand>("img2img").WithDescription("SDEdit: noise an image to --strength and denoise it again.");
                edit.AddCommand<EditCommand.InpaintCommand>("inpaint").WithDescription("Regenerate the white region of --mask (RePaint or per-step replacement).");
                edit.AddCommand<EditCommand.InvertCommand>("invert").WithDescription("DDIM inversion: image → x_T → image, with the reconstruction error.");
                edit.AddCommand<EditCommand.InterpolateCommand>("interpolate").WithDescription("Samples along the slerp between two seeds' noises, as a strip.");
            });
            config.AddCommand<DataCommand>("data").WithDescription("Write a built-in data set (mnist, spoken-digits) as plain PNG/WAV files in class folders.");
            config.AddCommand<InfoCommand>("info").WithDescription("Show the TorchSharp backend, threads and devices.");
            // Bad input is a one-line message naming the file and the problem, never a stack trace.
            config.SetExceptionHandler((e, _) =>
            {
                var inner = e is CommandRuntimeException { InnerException: { } i } ? i : e;
                string message = inner is ArgumentException { ParamName: { } p } a ? a.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal) : inner.Message;
                return CliErrors.Report(message);
            });
        });
        return app;
    }
}
