using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using DiffusionSharp.Onnx;
using DiffusionSharp.Runtime;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Cli.Commands;

/// <summary>
/// <c>diffuse export --model DIR --out DIR</c>: loads a model folder (checking it fully, mapping legacy attention names)
/// and writes a folder that diffusers loads unchanged both ways:
/// <c>UNet2DModel.from_pretrained(DIR)</c> reads <c>config.json</c> + weights at the top (with the source's
/// <c>scheduler_config.json</c> and <c>diffusionsharp.json</c> beside them), and <c>DDPMPipeline.from_pretrained(DIR)</c>
/// reads <c>model_index.json</c>, <c>unet/</c> and <c>scheduler/</c> (a DDPMScheduler over the model's training schedule).
/// <c>--format onnx --out FILE</c> writes the U-Net (2-D or 1-D) as one ONNX file instead (<see cref="OnnxExporter"/>).
/// </summary>
internal sealed class ExportCommand : Command<ExportCommand.Settings>
{
    public const string SchedulerConfigFileName = DiffusionPipeline.SchedulerConfigFile;

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <DIR>")]
        [Description("Source folder (config.json + diffusion_pytorch_model.safetensors).")]
        public string Model { get; init; } = "";

        [CommandOption("--out <PATH>")]
        [Description("Destination folder (created if needed); with --format onnx, the .onnx file.")]
        public string Out { get; init; } = "";

        [CommandOption("--format <FORMAT>")]
        [Description("diffusers (a from_pretrained folder, the default) or onnx (one ONNX opset-17 file).")]
        public string Format { get; init; } = "diffusers";

        [CommandOption("--dtype <TYPE>")]
        [Description("--format diffusers: store the weights as float32 (the default), float16 or bfloat16 (half the size; loading converts them back to float32).")]
        public string Dtype { get; init; } = "float32";

        /// <summary>The <see cref="Dtype"/> as a tensor type.</summary>
        public ScalarType WeightType => Dtype switch
        {
            "float16" => ScalarType.Float16,
            "bfloat16" => ScalarType.BFloat16,
            _ => ScalarType.Float32,
        };

        public override ValidationResult Validate()
        {
            if (string.IsNullOrEmpty(Model) || string.IsNullOrEmpty(Out))
                return ValidationResult.Error("--model and --out are required");
            if (Format is not ("diffusers" or "onnx"))
                return ValidationResult.Error($"--format: '{Format}' is not a format; use diffusers or onnx");
            if (Dtype is not ("float32" or "float16" or "bfloat16"))
                return ValidationResult.Error($"--dtype: '{Dtype}' is not a weight type; use float32, float16 or bfloat16");
            if (Format == "onnx" && Dtype != "float32")
                return ValidationResult.Error("--dtype applies to --format diffusers; an ONNX file is written in float32");
            if (Format == "onnx" && Directory.Exists(Out))
                return ValidationResult.Error($"--out: {Out} is a folder; --format onnx writes one file (e.g. {Path.Combine(Out, "model.onnx")})");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.EnsureLoaded();
        if (settings.Format == "onnx")
            return ExportOnnx(settings);
        if (DiffusersUNet1DConfig.IsUNet1DFolder(settings.Model))
            return ExportUNet1D(settings);
        using var source = DiffusionPipeline.Load(settings.Model);
        var model = source.UNet;
        ((ITrainableModel)model).Module.to(settings.WeightType);
        model.SavePretrained(settings.Out);
        foreach (var sidecar in new[] { SchedulerConfigFileName, PipelineMetadata.FileName })
        {
            string from = Path.Combine(settings.Model, sidecar);
            if (File.Exists(from))
                AtomicFile.WriteAllText(Path.Combine(settings.Out, sidecar), File.ReadAllText(from));
        }

        // The DDPMPipeline layout: model_index.json naming the components, each in its own sub-folder.
        model.SavePretrained(Path.Combine(settings.Out, "unet"));
        var scheduler = SchedulerFactory.ToDiffusersConfig(SamplerKind.Ddpm, source.Schedule, source.Prediction);
        var indented = new JsonSerializerOptions { WriteIndented = true };
        AtomicFile.WriteAllText(Path.Combine(settings.Out, "scheduler", SchedulerConfigFileName), scheduler.ToJsonString(indented));
        var index = new JsonObject
        {
            ["_class_name"] = "DDPMPipeline",
            ["_diffusers_version"] = "0.38.0",
            ["scheduler"] = new JsonArray("diffusers", "DDPMScheduler"),
            ["unet"] = new JsonArray("diffusers", "UNet2DModel"),
        };
        AtomicFile.WriteAllText(Path.Combine(settings.Out, "model_index.json"), index.ToJsonString(indented));
        AnsiConsole.Console.WriteLine($"wrote {Path.Combine(settings.Out, DiffusersUNet2DConfig.FileName)}, "
            + $"{Path.Combine(settings.Out, DiffusersUNet2DCheckpoint.WeightsFileName)} ({model.ParameterCount} parameters), "
            + $"and the DDPMPipeline layout (model_index.json, unet/, scheduler/)");
        return 0;
    }

    /// <summary>Any U-Net folder (2-D or 1-D) as one ONNX file; an option the exporter cannot express is a one-line error.</summary>
    private static int ExportOnnx(Settings settings)
    {
        if (!Directory.Exists(settings.Model))
            return CliErrors.Report($"--model: {settings.Model}: model folder not found");
        using var source = DiffusionPipeline.Load(settings.Model);
        try
        {
            OnnxExporter.Export(source.Model, settings.Out);
        }
        catch (NotSupportedException e)
        {
            return CliErrors.Report($"{settings.Model}: {e.Message}");
        }
        AnsiConsole.Console.WriteLine($"wrote {settings.Out} (ONNX opset {OnnxExporter.Opset}, {source.Model.ClassName}, "
            + $"inputs {string.Join(", ", OnnxExporter.InputNames(source.Model))}; output {OnnxExporter.Output})");
        return 0;
    }

    /// <summary>
    /// A UNet1DModel folder: the model (checked fully by loading it) and its sidecars at the top; when the source has a
    /// scheduler config, also <c>DanceDiffusionPipeline.from_pretrained</c>'s layout (model_index.json, unet/, scheduler/
    /// holding the source's scheduler config unchanged).
    /// </summary>
    private static int ExportUNet1D(Settings settings)
    {
        using var model = UNet1DModel.FromPretrained(settings.Model);
        ((ITrainableModel)model).Module.to(settings.WeightType);
        model.SavePretrained(settings.Out);
        foreach (var sidecar in new[] { SchedulerConfigFileName, PipelineMetadata.FileName })
        {
            string from = Path.Combine(settings.Model, sidecar);
            if (File.Exists(from))
                AtomicFile.WriteAllText(Path.Combine(settings.Out, sidecar), File.ReadAllText(from));
        }
        string schedulerPath = Path.Combine(settings.Model, SchedulerConfigFileName);
        string layout = "";
        if (File.Exists(schedulerPath))
        {
            string schedulerJson = File.ReadAllText(schedulerPath);
            string schedulerClass;
            using (var doc = JsonDocument.Parse(schedulerJson))
            {
                schedulerClass = doc.RootElement.TryGetProperty("_class_name", out var c) && c.ValueKind == JsonValueKind.String
                    ? c.GetString()! : throw new InvalidDataException($"{schedulerPath}: key '_class_name' is missing");
            }
            model.SavePretrained(Path.Combine(settings.Out, "unet"));
            AtomicFile.WriteAllText(Path.Combine(settings.Out, "scheduler", SchedulerConfigFileName), schedulerJson);
            var index = new JsonObject
            {
                ["_class_name"] = "DanceDiffusionPipeline",
                ["_diffusers_version"] = DiffusersUNet2DConfig.DiffusersVersion,
                ["scheduler"] = new JsonArray("diffusers", schedulerClass),
                ["unet"] = new JsonArray("diffusers", DiffusersUNet1DConfig.ClassName),
            };
            AtomicFile.WriteAllText(Path.Combine(settings.Out, "model_index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            layout = " and the DanceDiffusionPipeline layout (model_index.json, unet/, scheduler/)";
        }
        AnsiConsole.Console.WriteLine($"wrote {Path.Combine(settings.Out, DiffusersUNet2DConfig.FileName)}, "
            + $"{Path.Combine(settings.Out, DiffusersUNet2DCheckpoint.WeightsFileName)} ({model.ParameterCount} parameters){layout}");
        return 0;
    }
}
