using System.Text.Json;
using System.Text.Json.Serialization;
using DiffusionSharp.IO;

namespace DiffusionSharp.Text;

/// <summary>
/// The shape of a <see cref="TextTransformer"/>, stored as its <c>config.json</c>. The vocabulary's characters are part
/// of it, so a saved model can encode a prompt and decode its samples.
/// </summary>
/// <param name="Characters">The vocabulary's characters in id order (<see cref="CharacterVocabulary.Characters"/>); [MASK] follows them.</param>
/// <param name="Length">The training sequence length (rotary positions work at any length; this is what the model saw).</param>
/// <param name="Width">The residual stream's width.</param>
/// <param name="Depth">The number of transformer blocks.</param>
/// <param name="Heads">Attention heads per block (Width / Heads must be even, for rotary pairs).</param>
/// <param name="MlpRatio">The MLP's hidden width over <paramref name="Width"/>.</param>
/// <param name="Causal">True for the autoregressive twin: causal attention, next-character prediction.</param>
/// <param name="TimeConditioning">Whether the denoiser sees t (MDLM trains without it by default; the sampler's cache then applies).</param>
/// <param name="RotaryBase">The rotary embedding's base (RoFormer's 10,000).</param>
public sealed record TextTransformerConfig(
    string Characters,
    int Length = 256,
    int Width = 256,
    int Depth = 6,
    int Heads = 4,
    int MlpRatio = 4,
    bool Causal = false,
    bool TimeConditioning = false,
    double RotaryBase = 10_000)
{
    /// <summary>The config file's name inside a model folder.</summary>
    public const string FileName = "config.json";

    /// <summary>The <c>_class_name</c> its <c>config.json</c> carries, under which <see cref="Training.TrainableModels"/> reopens the folder.</summary>
    public const string ModelClassName = "TextTransformer";

    /// <summary>The class name written into <c>config.json</c> (<see cref="ModelClassName"/>; read back and ignored).</summary>
    [JsonPropertyName("_class_name")]
    [JsonPropertyOrder(-1)]
    public string ClassName => ModelClassName;

    /// <summary>The named sizes <see cref="ForPreset"/> knows.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "small", "base"];

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>The vocabulary described by <see cref="Characters"/>.</summary>
    [JsonIgnore]
    public CharacterVocabulary Vocabulary => CharacterVocabulary.FromCharacters(Characters);

    /// <summary>The default model for <paramref name="vocabulary"/>: 256 wide, 6 blocks of 4 heads, windows of 256 (≈ 4.8 M parameters).</summary>
    public static TextTransformerConfig Default(CharacterVocabulary vocabulary, bool causal = false)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        return new TextTransformerConfig(vocabulary.Characters, Causal: causal);
    }

    /// <summary>
    /// The model of a named size over <paramref name="vocabulary"/> for windows of <paramref name="length"/>: <c>tiny</c>
    /// (128 wide, 4 blocks of 2 heads, ≈ 0.8 M parameters), <c>small</c> (160 wide, 4 blocks of 5 heads, ≈ 1.25 M: the
    /// embedded model, sized so one 2-core CPU trains it in about an hour) and <c>base</c> (<see cref="Default"/>, ≈ 4.8 M).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown preset.</exception>
    public static TextTransformerConfig ForPreset(string preset, CharacterVocabulary vocabulary, int length, bool causal)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        return preset switch
        {
            "tiny" => new TextTransformerConfig(vocabulary.Characters, length, Width: 128, Depth: 4, Heads: 2, Causal: causal),
            "small" => new TextTransformerConfig(vocabulary.Characters, length, Width: 160, Depth: 4, Heads: 5, Causal: causal),
            "base" => Default(vocabulary, causal) with { Length = length },
            _ => throw new ArgumentException($"unknown model preset '{preset}'; allowed: {string.Join(", ", PresetNames)}", nameof(preset)),
        };
    }

    /// <summary>The config as the JSON text <see cref="Save"/> writes.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first field out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Characters))
            throw new ArgumentException("characters: the vocabulary is empty");
        _ = Vocabulary;
        if (Length < 1)
            throw new ArgumentException($"length {Length} must be at least 1");
        if (Width < 2 || Depth < 1 || Heads < 1 || MlpRatio < 1)
            throw new ArgumentException($"width {Width}, depth {Depth}, heads {Heads} and mlpRatio {MlpRatio} must be positive (width ≥ 2)");
        if (Width % Heads != 0 || Width / Heads % 2 != 0)
            throw new ArgumentException($"width {Width} must split into {Heads} heads of an even size (rotary positions rotate channel pairs)");
        if (!(RotaryBase > 1) || double.IsInfinity(RotaryBase))
            throw new ArgumentException($"rotaryBase {RotaryBase} must be a finite number above 1");
    }

    /// <summary>The number of parameters this config builds.</summary>
    public long CountParameters()
    {
        long v = Vocabulary.Size, w = Width, h = (long)MlpRatio * Width;
        long block = 2 * 2 * w + (w * 3 * w + 3 * w) + (w * w + w) + (w * h + h) + (h * w + w);
        long time = TimeConditioning ? 2 * (w * w + w) : 0;
        return v * w + Depth * block + 2 * w + (w * v + v) + time;
    }

    /// <summary>Writes the config atomically as indented JSON.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    /// <summary>Reads and validates a config file.</summary>
    /// <exception cref="InvalidDataException">The file is missing, not JSON of this shape, or out of range; the message names it.</exception>
    public static TextTransformerConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: not found (a text model folder holds {FileName} and {TextTransformer.WeightsFileName})");
        TextTransformerConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<TextTransformerConfig>(File.ReadAllText(path), s_json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a text transformer config ({e.Message})", e);
        }
        if (config is null)
            throw new InvalidDataException($"{path}: empty config");
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        return config;
    }
}
