using System.Text.RegularExpressions;
using DiffusionSharp.IO;
using static TorchSharp.torch;

namespace DiffusionSharp.Models.Diffusers;

/// <summary>
/// Reads and writes diffusers' <c>UNet2DModel</c> folders: <c>config.json</c> plus the state dict in
/// <c>diffusion_pytorch_model.safetensors</c>. Legacy attention names (<c>query</c>/<c>key</c>/<c>value</c>/<c>proj_attn</c>,
/// as in checkpoints older than diffusers 0.14) are mapped to <c>to_q</c>/<c>to_k</c>/<c>to_v</c>/<c>to_out.0</c> here
/// and only here. Pickled checkpoints (<c>.bin</c>/<c>.ckpt</c>) are refused: loading one can run arbitrary code.
/// </summary>
public static partial class DiffusersUNet2DCheckpoint
{
    /// <summary>The weights file name diffusers uses.</summary>
    public const string WeightsFileName = "diffusion_pytorch_model.safetensors";

    /// <summary>A config may need this many parameters beyond twice the checkpoint's before it is refused unbuilt.</summary>
    private const long MaxUncheckedParameters = 1_000_000;

    /// <summary>The safetensors metadata diffusers (and <c>safetensors.torch</c>) write.</summary>
    public static IReadOnlyDictionary<string, string> Metadata { get; } = new Dictionary<string, string> { ["format"] = "pt" };

    private static readonly Dictionary<string, string> s_legacyAttentionNames = new(StringComparer.Ordinal)
    {
        ["query"] = "to_q",
        ["key"] = "to_k",
        ["value"] = "to_v",
        ["proj_attn"] = "to_out.0",
    };

    /// <summary>Builds the model from <paramref name="directory"/>'s config and loads its weights.</summary>
    /// <exception cref="InvalidDataException">Missing/malformed files, or tensors that do not fit; the message names the file and tensor.</exception>
    public static UNet2DModel Load(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string configPath = Path.Combine(directory, DiffusersUNet2DConfig.FileName);
        if (!File.Exists(configPath))
            throw new InvalidDataException($"{configPath}: not found (a diffusers UNet2DModel folder holds {DiffusersUNet2DConfig.FileName} and {WeightsFileName})");
        var config = DiffusersUNet2DConfig.Read(configPath);
        string weightsPath = FindWeights(directory);
        CheckSize(configPath, weightsPath, config.CountParameters);
        var model = new UNet2DModel(config);
        try
        {
            LoadWeights(model, weightsPath);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>
    /// Compare sizes before building: a config can ask for any number of parameters, a checkpoint's are bounded by
    /// its file size. Building only configs within a small multiple of the stored count bounds allocation by the
    /// file size, and still lets near misses reach the weight loader, which names the missing or misshapen tensor.
    /// </summary>
    internal static void CheckSize(string configPath, string weightsPath, Func<long> countParameters)
    {
        var (infos, _, _) = SafeTensors.ReadHeader(weightsPath);
        long stored = infos.Sum(i => i.Shape.Aggregate(1L, (a, d) => a * d));
        long needed;
        try
        {
            needed = countParameters();
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{configPath}: the config describes more than 2⁶³ parameters");
        }
        if (needed > 2 * stored + MaxUncheckedParameters)
            throw new InvalidDataException($"{weightsPath}: holds {stored} parameters, the config ({configPath}) needs {needed}");
    }

    /// <summary>
    /// Copies a diffusers state dict from <paramref name="path"/> into <paramref name="model"/>. Floating tensors of any
    /// width are converted to the parameter dtype (as diffusers does); keys, shapes and dtype kinds must match exactly.
    /// </summary>
    public static void LoadWeights(UNet2DModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        var attentionPaths = AttentionPaths(model.state_dict().Keys);
        LoadStateDict(model, path, name => MapLegacyName(name, attentionPaths));
    }

    /// <summary>
    /// Copies a safetensors state dict into <paramref name="model"/>'s parameters and buffers, checking the header
    /// (names after <paramref name="mapName"/>, shapes, floating dtypes) against the model before reading any data.
    /// </summary>
    internal static void LoadStateDict(TorchSharp.torch.nn.Module model, string path, Func<string, string> mapName)
    {
        // Check the header against the model before reading any tensor data.
        var (infos, _, _) = SafeTensors.ReadHeader(path);
        var target = model.state_dict();
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);   // checkpoint name → model name
        foreach (var info in infos)
        {
            string name = mapName(info.Name);
            if (renamed.ContainsValue(name))
                throw new InvalidDataException($"{path}: tensor '{info.Name}' duplicates '{renamed.First(kv => kv.Value == name).Key}' (both map to '{name}')");
            renamed[info.Name] = name;
        }
        var unexpected = renamed.Where(kv => !target.ContainsKey(kv.Value)).Select(kv => kv.Key).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{path}: unexpected tensor '{unexpected[0]}'{More(unexpected)} for this config");
        var present = renamed.Values.ToHashSet(StringComparer.Ordinal);
        var missing = target.Keys.Where(k => !present.Contains(k)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{path}: missing tensor '{missing[0]}'{More(missing)}");
        foreach (var info in infos)
        {
            var param = target[renamed[info.Name]];
            if (info.DType is not ("F32" or "F16" or "BF16" or "F64"))
                throw new InvalidDataException($"{path}: tensor '{info.Name}' has dtype {info.DType}; a floating dtype (F32, F16, BF16, F64) is required");
            if (!info.Shape.SequenceEqual(param.shape))
                throw new InvalidDataException($"{path}: tensor '{info.Name}' has shape [{string.Join(", ", info.Shape)}], the config needs [{string.Join(", ", param.shape)}]");
        }

        var loaded = SafeTensors.Load(path);
        try
        {
            using var noGrad = no_grad();
            foreach (var (name, tensor) in loaded)
                target[renamed[name]].copy_(tensor);
        }
        finally
        {
            foreach (var t in loaded.Values)
                t.Dispose();
        }
    }

    /// <summary>Writes <paramref name="model"/>'s config and weights to <paramref name="directory"/> (created if needed), each file atomically.</summary>
    public static void Save(UNet2DModel model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        SaveStateDict(model, directory);
        DiffusersUNet2DConfig.Write(Path.Combine(directory, DiffusersUNet2DConfig.FileName), model.Config);
    }

    /// <summary>Writes <paramref name="model"/>'s state dict (parameters and persistent buffers) as <see cref="WeightsFileName"/> in <paramref name="directory"/>.</summary>
    internal static void SaveStateDict(TorchSharp.torch.nn.Module model, string directory)
    {
        using var scope = NewDisposeScope();
        var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach(), StringComparer.Ordinal);
        SafeTensors.Save(Path.Combine(directory, WeightsFileName), tensors, Metadata);
    }

    /// <summary>The model's name for a checkpoint tensor name (legacy attention names renamed; others unchanged).</summary>
    internal static string MapLegacyName(string name, IReadOnlySet<string> attentionPaths)
    {
        var m = LegacyAttentionName().Match(name);
        if (m.Success && attentionPaths.Contains(m.Groups["module"].Value))
            return $"{m.Groups["module"].Value}.{s_legacyAttentionNames[m.Groups["legacy"].Value]}.{m.Groups["param"].Value}";
        return name;
    }

    private static HashSet<string> AttentionPaths(IEnumerable<string> keys) =>
        keys.Select(k => AttentionKey().Match(k)).Where(m => m.Success).Select(m => m.Groups["module"].Value).ToHashSet(StringComparer.Ordinal);

    internal static string FindWeights(string directory)
    {
        string path = Path.Combine(directory, WeightsFileName);
        if (File.Exists(path))
            return path;
        if (File.Exists(path + ".index.json"))
            throw new InvalidDataException($"{path}.index.json: sharded checkpoints are not supported; save the model unsharded");
        foreach (string pickled in new[] { "diffusion_pytorch_model.bin", "diffusion_pytorch_model.ckpt", "pytorch_model.bin" })
        {
            if (File.Exists(Path.Combine(directory, pickled)))
                throw new InvalidDataException($"{Path.Combine(directory, pickled)}: pickle checkpoints are refused (loading one can run arbitrary code); convert it to {WeightsFileName}");
        }
        throw new InvalidDataException($"{path}: not found");
    }

    private static string More(List<string> names) => names.Count > 1 ? $" (and {names.Count - 1} more)" : "";

    [GeneratedRegex(@"^(?<module>.+\.attentions\.\d+)\.(?<legacy>query|key|value|proj_attn)\.(?<param>weight|bias)$")]
    private static partial Regex LegacyAttentionName();

    [GeneratedRegex(@"^(?<module>.+\.attentions\.\d+)\.to_q\.weight$")]
    private static partial Regex AttentionKey();
}
