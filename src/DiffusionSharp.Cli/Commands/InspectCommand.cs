using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using DiffusionSharp.IO;
using DiffusionSharp.Models.Diffusers;
using DiffusionSharp.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DiffusionSharp.Cli.Commands;

/// <summary><c>diffuse inspect DIR</c>: a diffusers UNet2DModel or UNet1DModel folder's config, parameter count and tensors, without building the model (dispatch on <c>_class_name</c>).</summary>
internal sealed class InspectCommand : Command<InspectCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<DIR>")]
        [Description("Folder with config.json (UNet2DModel or UNet1DModel) and diffusion_pytorch_model.safetensors.")]
        public string Directory { get; init; } = "";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.EnsureLoaded();
        var console = AnsiConsole.Console;
        string configPath = Path.Combine(settings.Directory, DiffusersUNet2DConfig.FileName);
        string configJson;
        long needed, buffers = 0;
        if (DiffusersUNet1DConfig.IsUNet1DFolder(settings.Directory))
        {
            var config1D = DiffusersUNet1DConfig.Read(configPath);
            configJson = DiffusersUNet1DConfig.ToJson(config1D);
            needed = config1D.CountParameters();
            buffers = config1D.CountBufferElements();
        }
        else
        {
            var config = DiffusersUNet2DConfig.Read(configPath);
            configJson = DiffusersUNet2DConfig.ToJson(config);
            needed = config.CountParameters();
        }
        string weightsPath = Path.Combine(settings.Directory, DiffusersUNet2DCheckpoint.WeightsFileName);
        var (tensors, metadata, _) = SafeTensors.ReadHeader(weightsPath);

        var configTable = new Table().Title(Markup.Escape(configPath)).AddColumns("key", "value");
        using (var doc = JsonDocument.Parse(configJson))
        {
            foreach (var p in doc.RootElement.EnumerateObject())
                configTable.AddRow(Markup.Escape(p.Name), Markup.Escape(JsonSerializer.Serialize(p.Value)));
        }
        console.Write(configTable);

        long stored = tensors.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d));
        console.WriteLine($"parameters: {needed.ToString("N0", CultureInfo.InvariantCulture)} (config)"
            + (buffers > 0 ? $" + {buffers.ToString("N0", CultureInfo.InvariantCulture)} buffer elements" : "") + ", "
            + $"{stored.ToString("N0", CultureInfo.InvariantCulture)} stored in {tensors.Count} tensors"
            + (needed + buffers == stored ? "" : "  MISMATCH"));
        if (metadata.Count > 0)
            console.WriteLine("metadata: " + string.Join(", ", metadata.Select(kv => $"{kv.Key}={kv.Value}")));

        var tensorTable = new Table().Title(Markup.Escape(weightsPath)).AddColumns("tensor", "dtype", "shape", "elements");
        foreach (var t in tensors)
        {
            long n = t.Shape.Aggregate(1L, (a, d) => a * d);
            tensorTable.AddRow(Markup.Escape(t.Name), t.DType, Markup.Escape($"[{string.Join(", ", t.Shape)}]"), n.ToString(CultureInfo.InvariantCulture));
        }
        console.Write(tensorTable);
        return 0;
    }
}
