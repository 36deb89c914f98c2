using System.Globalization;
using System.Text.Json;
using DiffusionSharp.IO;

namespace DiffusionSharp.Text;

/// <summary>
/// The sampler settings a text model folder asks for, read from its <c>generation_config.json</c> (the role of
/// transformers' <c>GenerationConfig</c>): what <c>diffuse sample</c> and <c>diffuse evaluate</c> use for every option
/// the command line leaves out. A folder without the file samples with the built-in defaults (MDLM's ancestral sampler,
/// exact draws, one step per position).
/// </summary>
/// <param name="Order">Which masked positions a masked-diffusion step writes.</param>
/// <param name="ChoiceTemperature">The confidence order's choice temperature τ (<see cref="MaskedDiffusionSampler.ChoiceTemperature"/>).</param>
/// <param name="TopP">Nucleus mass (1: exact sampling).</param>
/// <param name="Steps">Masked-diffusion steps (null: the model's training length).</param>
public sealed record TextSamplingDefaults(UnmaskingOrder Order = UnmaskingOrder.Random, double ChoiceTemperature = 0, double TopP = 1.0, int? Steps = null)
{
    /// <summary>The file's name inside a model folder.</summary>
    public const string FileName = "generation_config.json";

    /// <summary>The built-in defaults.</summary>
    public static TextSamplingDefaults BuiltIn { get; } = new();

    /// <summary>The folder's settings, or <see cref="BuiltIn"/> when it has no <see cref="FileName"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a JSON object of the known keys with valid values; the message names the file and the key.</exception>
    public static TextSamplingDefaults Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        string path = Path.Combine(modelDirectory, FileName);
        if (!File.Exists(path))
            return BuiltIn;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: expected a JSON object");
            var settings = BuiltIn;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var value = property.Value;
                settings = property.Name switch
                {
                    "order" => settings with { Order = ParseOrder(value, path) },
                    "choice_temperature" => settings with { ChoiceTemperature = Number(value, path, property.Name, 0, 1e6) },
                    "top_p" => settings with { TopP = Number(value, path, property.Name, double.Epsilon, 1) },
                    "steps" => settings with { Steps = (int)Number(value, path, property.Name, 1, 1_000_000, integer: true) },
                    _ when property.Name.StartsWith('_') => settings,
                    _ => throw new InvalidDataException($"{path}: unknown key \"{property.Name}\" (known: order, choice_temperature, top_p, steps)"),
                };
            }
            return settings;
        }
    }

    /// <summary>Writes these settings as the folder's <see cref="FileName"/> (atomically).</summary>
    public void Save(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        var values = new Dictionary<string, object>
        {
            ["order"] = Order.Name(),
            ["choice_temperature"] = ChoiceTemperature,
            ["top_p"] = TopP,
        };
        if (Steps is { } steps)
            values["steps"] = steps;
        AtomicFile.WriteAllText(Path.Combine(modelDirectory, FileName), JsonSerializer.Serialize(values, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The settings in words, e.g. "confidence order, τ 3, top-p 1".</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        string order = Order == UnmaskingOrder.Confidence
            ? string.Create(c, $"confidence order, τ {ChoiceTemperature}")
            : "ancestral (random order)";
        return string.Create(c, $"{order}, top-p {TopP}") + (Steps is { } s ? string.Create(c, $", {s} steps") : "");
    }

    private static UnmaskingOrder ParseOrder(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{path}: \"order\" must be a string, \"random\" or \"confidence\"");
        string name = value.GetString()!;
        return UnmaskingOrderNames.TryParse(name, out var order)
            ? order
            : throw new InvalidDataException($"{path}: \"order\" is \"{name}\"; it takes \"random\" or \"confidence\"");
    }

    private static double Number(JsonElement value, string path, string key, double min, double max, bool integer = false)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double x))
            throw new InvalidDataException($"{path}: \"{key}\" must be a number");
        if (!(x >= min && x <= max) || (integer && x != Math.Floor(x)))
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: \"{key}\" is {value.GetRawText()}; it takes {(integer ? "an integer" : "a number")} in [{(min == double.Epsilon ? "0 (exclusive)" : min.ToString(CultureInfo.InvariantCulture))}, {max}]"));
        return x;
    }
}
