using DiffusionSharp.IO;
using DiffusionSharp.Models;
using static TorchSharp.torch;

namespace DiffusionSharp.Compare;

/// <summary>
/// The model-folder format shared by the GAN and the VAE, the same as the project's other models: <c>config.json</c>
/// (with <c>_class_name</c>) and <c>model.safetensors</c> (every parameter and persistent buffer under its state-dict
/// key, metadata <c>{"format": "pt"}</c>), each written atomically.
/// </summary>
internal static class ModelFolder
{
    public const string ConfigFileName = "config.json";
    public const string WeightsFileName = "model.safetensors";

    /// <summary>
    /// <paramref name="precision"/> when it is <see cref="ComputePrecision.Full"/>; bf16 is refused for the comparison's
    /// GAN and VAE: each layer passes the float64 gradient check in bf16, but the whole networks, which chain four or
    /// five bf16 products through ReLU/LeakyReLU gates into a few outputs, measured 0.1–0.2 (max-normalised) off
    /// float64, beyond any tolerance we would call a check; the comparison trains every model in float32.
    /// </summary>
    public static ComputePrecision Fp32Only(ComputePrecision precision, string models) => precision == ComputePrecision.Full ? precision
        : throw new NotSupportedException($"precision bf16 is not supported for the {models} models (their bf16 gradients are 10-20 % off float64); use fp32");

    /// <summary>Writes <paramref name="module"/>'s state dict and <paramref name="configJson"/> into <paramref name="directory"/>.</summary>
    public static void Save(nn.Module module, string configJson, string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        using (var scope = NewDisposeScope())
        {
            var tensors = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float32), StringComparer.Ordinal);
            SafeTensors.Save(Path.Combine(directory, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFileName), configJson);
    }

    /// <summary>The text of a folder's <c>config.json</c>, or a one-line error naming the file.</summary>
    public static string ReadConfig(string directory)
    {
        string path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: not found (a model folder holds {ConfigFileName} and {WeightsFileName})");
        if (new FileInfo(path).Length > 1 << 20)
            throw new InvalidDataException($"{path}: too large for a config (limit 1 MiB)");
        return File.ReadAllText(path);
    }

    /// <summary>Copies the folder's weights into <paramref name="module"/>, checking every name, dtype and shape first (<see cref="SafeTensors.LoadInto"/>).</summary>
    /// <exception cref="InvalidDataException">A tensor is missing, unexpected, misshapen or not floating; the message names the file and key.</exception>
    public static void LoadInto(nn.Module module, string directory)
    {
        string path = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: not found");
        SafeTensors.LoadInto(module, path);
    }
}
