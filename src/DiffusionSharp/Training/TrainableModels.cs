using System.Collections.Concurrent;
using System.Text.Json;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;

namespace DiffusionSharp.Training;

/// <summary>
/// Reopens a saved model folder as an <see cref="ITrainableModel"/> by the <c>_class_name</c> of its <c>config.json</c>:
/// the one place that maps class names to model types, so checkpoints, EMA and resume work for every registered model.
/// <c>UNet2DModel</c>, <c>UNet1DModel</c>, <c>MlpDenoiser</c>, <c>TextTransformer</c>, <c>GanModel</c> and <c>VaeModel</c> are registered; other models call <see cref="Register"/> once (e.g. in a static constructor).
/// </summary>
public static class TrainableModels
{
    private static readonly ConcurrentDictionary<string, Func<string, ITrainableModel>> s_loaders = new(StringComparer.Ordinal)
    {
        [DiffusersUNet2DConfig.ClassName] = dir => UNet2DModel.FromPretrained(dir),
        [DiffusersUNet1DConfig.ClassName] = dir => UNet1DModel.FromPretrained(dir),
        [MlpDenoiserConfig.ClassName] = dir => MlpDenoiser.FromPretrained(dir),
        [Text.TextTransformerConfig.ModelClassName] = dir => Text.TextTransformer.Load(dir),
        [Compare.GanConfig.ClassName] = dir => Compare.GanModel.FromPretrained(dir),
        [Compare.VaeConfig.ClassName] = dir => Compare.VaeModel.FromPretrained(dir),
    };

    /// <summary>The registered class names.</summary>
    public static IReadOnlyCollection<string> ClassNames => s_loaders.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Registers (or replaces) the loader of folders whose config names <paramref name="className"/>.</summary>
    public static void Register(string className, Func<string, ITrainableModel> load)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(className);
        ArgumentNullException.ThrowIfNull(load);
        s_loaders[className] = load;
    }

    /// <summary>The <c>_class_name</c> of a folder's <c>config.json</c>.</summary>
    /// <exception cref="InvalidDataException">No config, malformed, or no class name; the message names the file.</exception>
    public static string ClassNameOf(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: not found");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.TryGetProperty("_class_name", out var name) && name.ValueKind == JsonValueKind.String
                ? name.GetString()!
                : throw new InvalidDataException($"{path}: has no _class_name");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: malformed ({e.Message})", e);
        }
    }

    /// <summary>Loads the model folder <paramref name="directory"/> with the loader registered for its class name.</summary>
    /// <exception cref="InvalidDataException">No loader for the class, or the folder does not load.</exception>
    public static ITrainableModel Load(string directory)
    {
        string name = ClassNameOf(directory);
        return s_loaders.TryGetValue(name, out var load)
            ? load(directory)
            : throw new InvalidDataException($"{Path.Combine(directory, "config.json")}: model class '{name}' is not registered; known: {string.Join(", ", ClassNames)}");
    }
}
