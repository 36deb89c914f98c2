using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Onnx.Proto;
using DiffusionSharp.Training;
using Google.Protobuf;

namespace DiffusionSharp.Onnx;

/// <summary>
/// Writes a <see cref="UNet2DModel"/> or <see cref="UNet1DModel"/> as an ONNX model (ONNX <b>opset 17</b>, IR version 8,
/// default domain only; GroupNorm is Reshape → InstanceNormalization → Reshape → Mul → Add, attention is
/// MatMul/Softmax, so ONNX Runtime's CPU provider runs it without contrib operators).
/// </summary>
/// <remarks>
/// <para>The graph is built from the model's config and its <c>state_dict()</c> (diffusers parameter names, which
/// become the float32 initializers' names), not from the layer classes: it replicates the forward pass of the
/// TorchSharp model operation for operation, and an exporter test checks the two agree on ONNX Runtime.</para>
/// <para>Inputs: <c>sample</c> float32 [batch, C, H, W] (or [batch, C, L]), <c>timestep</c> float32 [batch], and
/// <c>class_labels</c> int64 [batch] for class-conditional models; output <c>out_sample</c>, shaped as the sample
/// with out_channels. The batch (and spatial size) is dynamic.</para>
/// </remarks>
public static class OnnxExporter
{
    /// <summary>The ONNX operator set the exported graphs use.</summary>
    public const int Opset = 17;

    /// <summary>The ONNX IR version written (8 is the IR of opset 17).</summary>
    public const int IrVersion = 8;

    /// <summary>Name of the sample input.</summary>
    public const string SampleInput = "sample";

    /// <summary>Name of the timestep input.</summary>
    public const string TimestepInput = "timestep";

    /// <summary>Name of the class-label input (class-conditional models only).</summary>
    public const string ClassLabelsInput = "class_labels";

    /// <summary>Name of the output.</summary>
    public const string Output = "out_sample";

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> (atomically).</summary>
    /// <exception cref="NotSupportedException">A config option has no ONNX export; the message names the config key.</exception>
    public static void Export(ITrainableModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = ToBytes(model);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The ONNX model of <paramref name="model"/> as protobuf bytes.</summary>
    /// <exception cref="NotSupportedException">A config option or model kind has no ONNX export.</exception>
    public static byte[] ToBytes(ITrainableModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = new OnnxGraph();
        var stateDict = model.Module.state_dict();
        var weights = new OnnxWeights(stateDict, graph);
        var layers = new OnnxLayers(graph, weights);
        string doc;
        switch (model)
        {
            case UNet2DModel unet:
                UNet2DOnnxGraph.Build(unet.Config, layers);
                doc = "UNet2DModel (diffusers layout) exported by DiffusionSharp";
                break;
            case UNet1DModel unet:
                UNet1DOnnxGraph.Build(unet.Config, layers);
                doc = "UNet1DModel (diffusers layout) exported by DiffusionSharp";
                break;
            default:
                throw new NotSupportedException($"ONNX export: {model.GetType().Name} is not supported (UNet2DModel and UNet1DModel are)");
        }
        weights.CheckAllUsed();
        return graph.ToModel(Opset, IrVersion, doc).ToByteArray();
    }

    /// <summary>The graph inputs <paramref name="model"/>'s export has: sample, timestep, and class_labels when class-conditional.</summary>
    public static IReadOnlyList<string> InputNames(ITrainableModel model) => model switch
    {
        UNet2DModel { Config.HasClassEmbedding: true } or UNet1DModel { Config.HasClassEmbedding: true } => [SampleInput, TimestepInput, ClassLabelsInput],
        _ => [SampleInput, TimestepInput],
    };

    /// <summary>Checks without exporting whether <paramref name="model"/>'s config can be exported.</summary>
    /// <exception cref="NotSupportedException">Names the config key that cannot.</exception>
    public static void CheckSupported(ITrainableModel model)
    {
        switch (model)
        {
            case UNet2DModel unet:
                UNet2DOnnxGraph.CheckSupported(unet.Config);
                break;
            case UNet1DModel unet:
                UNet1DOnnxGraph.CheckSupported(unet.Config);
                break;
            default:
                throw new NotSupportedException($"ONNX export: {model?.GetType().Name} is not supported (UNet2DModel and UNet1DModel are)");
        }
    }
}
