using System.Text.Json;
using System.Text.Json.Serialization;

namespace DiffusionSharp.Models;

/// <summary>The arithmetic of the U-Net's convolutions, linear layers and attention products.</summary>
/// <remarks>
/// TorchSharp has no <c>torch.autocast</c>, so <see cref="BFloat16"/> is done by hand: inputs and weights of each
/// conv / linear / matmul are cast to bfloat16, the product is computed there, and the result is cast back. Group
/// norms, softmax, the time sinusoid and every residual addition stay in the parameters' dtype (float32), and the
/// parameters themselves stay float32, so an optimizer updates full-precision weights.
/// Its names on the command line and in <c>run.json</c> are <c>fp32</c> and <c>bf16</c> (<see cref="ComputePrecisionNames"/>).
/// </remarks>
[JsonConverter(typeof(ComputePrecisionJsonConverter))]
public enum ComputePrecision
{
    /// <summary>Everything in the parameters' dtype (float32, or float64 for reference runs).</summary>
    Full,

    /// <summary>Conv, linear and attention matmuls in bfloat16; norms and the residual stream in float32.</summary>
    BFloat16,
}

/// <summary>The user-facing names of <see cref="ComputePrecision"/>: <c>fp32</c> and <c>bf16</c>.</summary>
public static class ComputePrecisionNames
{
    /// <summary>The names <see cref="Parse"/> accepts, in the order help texts list them.</summary>
    public static IReadOnlyList<string> All { get; } = ["fp32", "bf16"];

    /// <summary><c>fp32</c> or <c>bf16</c>.</summary>
    public static string Name(this ComputePrecision precision) => precision switch
    {
        ComputePrecision.Full => "fp32",
        ComputePrecision.BFloat16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, null),
    };

    /// <summary>Reads <c>fp32</c> / <c>bf16</c> (any case) or the enum's member names.</summary>
    public static bool TryParse(string? value, out ComputePrecision precision)
    {
        switch (value?.ToLowerInvariant())
        {
            case "fp32" or "full":
                precision = ComputePrecision.Full;
                return true;
            case "bf16" or "bfloat16":
                precision = ComputePrecision.BFloat16;
                return true;
            default:
                precision = default;
                return false;
        }
    }

    /// <summary>As <see cref="TryParse"/>; anything else is an <see cref="ArgumentException"/> that names the choices.</summary>
    /// <param name="value">The text to read.</param>
    /// <param name="what">What the value is called where it came from (an option or a JSON property), for the message.</param>
    public static ComputePrecision Parse(string? value, string what = "precision") =>
        TryParse(value, out var precision)
            ? precision
            : throw new ArgumentException($"{what} '{value}' is unknown; allowed: {string.Join(", ", All)}");
}

/// <summary>Writes <see cref="ComputePrecision"/> as <c>"fp32"</c> / <c>"bf16"</c>; reads those and the older <c>"Fp32"</c> / <c>"Bf16"</c>.</summary>
internal sealed class ComputePrecisionJsonConverter : JsonConverter<ComputePrecision>
{
    public override ComputePrecision Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
            throw new JsonException($"precision must be a string ({string.Join(" or ", ComputePrecisionNames.All)}), not {reader.TokenType}");
        string? value = reader.GetString();
        return ComputePrecisionNames.TryParse(value, out var precision)
            ? precision
            : throw new JsonException($"precision '{value}' is unknown; allowed: {string.Join(", ", ComputePrecisionNames.All)}");
    }

    public override void Write(Utf8JsonWriter writer, ComputePrecision value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Name());
}
