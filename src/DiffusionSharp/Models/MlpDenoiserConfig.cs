using System.Text.Json;
using System.Text.Json.Nodes;

namespace DiffusionSharp.Models;

/// <summary>
/// The architecture of <see cref="MlpDenoiser"/>: a residual MLP over D-dimensional points. Written to and read from
/// <c>config.json</c> (snake_case keys, <c>"_class_name": "MlpDenoiser"</c>) by <see cref="ToJson"/> / <see cref="Parse"/>.
/// </summary>
public sealed record MlpDenoiserConfig
{
    /// <summary>The value of <c>_class_name</c> in <c>config.json</c>.</summary>
    public const string ClassName = "MlpDenoiser";

    /// <summary>D, the dimension of a point (2 for the toy distributions); input and output width.</summary>
    public int Dimensions { get; init; } = 2;

    /// <summary>Width of the residual stream and of the sinusoidal timestep features.</summary>
    public int Width { get; init; } = 128;

    /// <summary>Number of residual blocks.</summary>
    public int NumBlocks { get; init; } = 4;

    /// <summary>Width of the time (and class) embedding that every block receives.</summary>
    public int TimeEmbedDim { get; init; } = 128;

    /// <summary>Number of classes; 0 for an unconditional network. A conditional one has one more row, the null class (see <see cref="NullClassId"/>).</summary>
    public int NumClasses { get; init; }

    /// <summary>ε of every LayerNorm.</summary>
    public double NormEps { get; init; } = 1e-5;

    /// <summary>The label meaning "no class" (classifier-free guidance, Ho &amp; Salimans 2022): <see cref="NumClasses"/>; null when unconditional.</summary>
    public long? NullClassId => NumClasses > 0 ? NumClasses : null;

    /// <summary>Checks every value; the message names the key.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        Check(Dimensions is >= 1 and <= 4096, "dimensions", Dimensions, "must lie in [1, 4096]");
        Check(Width is >= 2 and <= 16384 && Width % 2 == 0, "width", Width, "must be even and lie in [2, 16384]");
        Check(NumBlocks is >= 0 and <= 256, "num_blocks", NumBlocks, "must lie in [0, 256]");
        Check(TimeEmbedDim is >= 1 and <= 16384, "time_embed_dim", TimeEmbedDim, "must lie in [1, 16384]");
        Check(NumClasses is >= 0 and <= 1_000_000, "num_classes", NumClasses, "must lie in [0, 1000000]");
        Check(double.IsFinite(NormEps) && NormEps > 0, "norm_eps", NormEps, "must be finite and positive");
    }

    /// <summary>The number of parameters this architecture has, without building it.</summary>
    public long CountParameters()
    {
        long w = Width, e = TimeEmbedDim, d = Dimensions;
        long time = (w * e + e) + (e * e + e);
        long classes = NumClasses > 0 ? (NumClasses + 1L) * e : 0;
        long block = 2 * w + 2 * (w * w + w) + (e * w + w);
        return time + classes + (d * w + w) + NumBlocks * block + (w * d + d);
    }

    /// <summary>The config as JSON (indented, keys as <see cref="Parse"/> reads them).</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["_class_name"] = ClassName,
            ["dimensions"] = Dimensions,
            ["width"] = Width,
            ["num_blocks"] = NumBlocks,
            ["time_embed_dim"] = TimeEmbedDim,
            ["num_classes"] = NumClasses,
            ["norm_eps"] = NormEps,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Reads <see cref="ToJson"/>'s output; missing keys take the defaults.</summary>
    /// <param name="json">The text.</param>
    /// <param name="source">Names the text in error messages (a file path).</param>
    /// <exception cref="InvalidDataException">Malformed JSON, a wrong <c>_class_name</c>, an unknown key or a bad value; the message names source and key.</exception>
    public static MlpDenoiserConfig Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: malformed JSON ({e.Message})", e);
        }
        if (root is not JsonObject o)
            throw new InvalidDataException($"{source}: the config is not a JSON object");
        string? className = o["_class_name"]?.GetValueKind() == JsonValueKind.String ? o["_class_name"]!.GetValue<string>() : null;
        if (className != ClassName)
            throw new InvalidDataException($"{source}: _class_name is '{className}', expected '{ClassName}'");
        var config = new MlpDenoiserConfig();
        foreach (var (key, value) in o)
        {
            config = key switch
            {
                "_class_name" => config,
                "dimensions" => config with { Dimensions = Int(value, key, source) },
                "width" => config with { Width = Int(value, key, source) },
                "num_blocks" => config with { NumBlocks = Int(value, key, source) },
                "time_embed_dim" => config with { TimeEmbedDim = Int(value, key, source) },
                "num_classes" => config with { NumClasses = Int(value, key, source) },
                "norm_eps" => config with { NormEps = Number(value, key, source) },
                _ => throw new InvalidDataException($"{source}: unknown key '{key}'"),
            };
        }
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
        return config;
    }

    private static int Int(JsonNode? value, string key, string source) =>
        value is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int i) ? i
            : value is JsonValue d && d.GetValueKind() == JsonValueKind.Number && d.TryGetValue(out double x) && x == Math.Floor(x) && Math.Abs(x) <= int.MaxValue ? (int)x
            : throw new InvalidDataException($"{source}: {key} must be an integer, got {value?.ToJsonString() ?? "null"}");

    private static double Number(JsonNode? value, string key, string source) =>
        value is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out double x) ? x
            : throw new InvalidDataException($"{source}: {key} must be a number, got {value?.ToJsonString() ?? "null"}");

    private static void Check(bool ok, string key, object value, string rule)
    {
        if (!ok)
            throw new ArgumentException($"{key} = {value} {rule}");
    }
}
