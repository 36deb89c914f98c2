using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Schedules;

namespace DiffusionSharp.Schedulers;

/// <summary>
/// Reads and writes diffusers' <c>scheduler_config.json</c> keys: the one place where diffusers' snake_case names are
/// translated. A missing key or a JSON <c>null</c> where diffusers allows one takes the default given by the caller
/// (diffusers' <c>__init__</c> default); a value of the wrong JSON kind is an <see cref="ArgumentException"/> naming
/// the key.
/// </summary>
public static class DiffusersConfig
{
    /// <summary>Parses a config document and checks that it is a JSON object.</summary>
    /// <exception cref="ArgumentException">Not valid JSON, or not an object.</exception>
    public static JsonElement ParseObject(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            // diffusers writes NaN/Infinity bare (Python's json), which System.Text.Json rejects; replace them by strings.
            var patched = System.Text.RegularExpressions.Regex.Replace(json, @"(?<=[:\[,]\s*)(-?Infinity|NaN)(?=\s*[,\]}])", "\"$1\"");
            if (patched == json)
                throw new ArgumentException($"The scheduler config is not valid JSON: {e.Message}", nameof(json), e);
            try
            {
                doc = JsonDocument.Parse(patched);
            }
            catch (JsonException e2)
            {
                throw new ArgumentException($"The scheduler config is not valid JSON: {e2.Message}", nameof(json), e2);
            }
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ArgumentException($"The scheduler config must be a JSON object, not {doc.RootElement.ValueKind}.", nameof(json));
            return doc.RootElement.Clone();
        }
    }

    /// <summary>The <c>_class_name</c> of a config, or null when absent.</summary>
    public static string? ClassName(JsonElement config) =>
        config.TryGetProperty("_class_name", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>An integer key (integral JSON numbers only).</summary>
    public static int GetInt(JsonElement config, string key, int fallback)
    {
        if (!TryGet(config, key, out var v))
            return fallback;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue)
            return (int)d;
        throw Bad(key, v, "an integer");
    }

    /// <summary>A number key; the strings "Infinity", "-Infinity" and "NaN" (Python's spellings) are accepted.</summary>
    public static double GetDouble(JsonElement config, string key, double fallback) =>
        GetNullableDouble(config, key) ?? fallback;

    /// <summary>A number key that may be null/absent (diffusers' <c>Optional[float]</c>).</summary>
    public static double? GetNullableDouble(JsonElement config, string key)
    {
        if (!TryGet(config, key, out var v))
            return null;
        if (v.ValueKind == JsonValueKind.Number)
            return v.GetDouble();
        if (v.ValueKind == JsonValueKind.String)
        {
            switch (v.GetString())
            {
                case "Infinity": return double.PositiveInfinity;
                case "-Infinity": return double.NegativeInfinity;
                case "NaN": return double.NaN;
            }
        }
        throw Bad(key, v, "a number");
    }

    /// <summary>A boolean key.</summary>
    public static bool GetBool(JsonElement config, string key, bool fallback)
    {
        if (!TryGet(config, key, out var v))
            return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad(key, v, "true or false"),
        };
    }

    /// <summary>A string key.</summary>
    public static string? GetString(JsonElement config, string key, string? fallback)
    {
        if (!TryGet(config, key, out var v))
            return fallback;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(key, v, "a string");
    }

    /// <summary>An enum key spelled as diffusers spells it (see <see cref="DiffusersNames"/>).</summary>
    /// <exception cref="ArgumentException">Unknown name: the message names the key and the allowed values.</exception>
    public static TEnum GetEnum<TEnum>(JsonElement config, string key, TEnum fallback) where TEnum : struct, Enum
    {
        var s = GetString(config, key, null);
        return s is null ? fallback : DiffusersNames.Parse<TEnum>(s, key);
    }

    /// <summary>A list of numbers key (e.g. <c>trained_betas</c>), or null.</summary>
    public static double[]? GetDoubleArray(JsonElement config, string key)
    {
        if (!TryGet(config, key, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Array)
            throw Bad(key, v, "a list of numbers");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw Bad(key, e, "a number")).ToArray();
    }

    /// <summary>A list of integers key (e.g. UniPC's <c>disable_corrector</c>), or null.</summary>
    public static int[]? GetIntArray(JsonElement config, string key)
    {
        if (!TryGet(config, key, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Array)
            throw Bad(key, v, "a list of integers");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i) ? i : throw Bad(key, e, "an integer")).ToArray();
    }

    /// <summary>
    /// The training schedule keys (<c>num_train_timesteps</c>, <c>beta_start</c>, <c>beta_end</c>, <c>beta_schedule</c>,
    /// <c>rescale_betas_zero_snr</c>, <c>trained_betas</c>); missing keys take <paramref name="defaults"/>' values.
    /// </summary>
    public static NoiseScheduleOptions ReadSchedule(JsonElement config, NoiseScheduleOptions defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        return new NoiseScheduleOptions
        {
            NumTrainTimesteps = GetInt(config, "num_train_timesteps", defaults.NumTrainTimesteps),
            BetaStart = GetDouble(config, "beta_start", defaults.BetaStart),
            BetaEnd = GetDouble(config, "beta_end", defaults.BetaEnd),
            BetaSchedule = GetEnum(config, "beta_schedule", defaults.BetaSchedule),
            RescaleBetasZeroSnr = GetBool(config, "rescale_betas_zero_snr", defaults.RescaleBetasZeroSnr),
            TrainedBetas = GetDoubleArray(config, "trained_betas") ?? defaults.TrainedBetas,
        };
    }

    /// <summary>Writes the training schedule keys into <paramref name="config"/> (diffusers names).</summary>
    public static void WriteSchedule(JsonObject config, NoiseScheduleOptions schedule)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(schedule);
        config["num_train_timesteps"] = schedule.NumTrainTimesteps;
        config["beta_start"] = schedule.BetaStart;
        config["beta_end"] = schedule.BetaEnd;
        config["beta_schedule"] = DiffusersNames.ToName(schedule.BetaSchedule);
        config["rescale_betas_zero_snr"] = schedule.RescaleBetasZeroSnr;
        config["trained_betas"] = schedule.TrainedBetas is { } tb ? new JsonArray(tb.Select(b => (JsonNode?)JsonValue.Create(b)).ToArray()) : null;
    }

    private static bool TryGet(JsonElement config, string key, out JsonElement value)
    {
        if (config.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"The scheduler config must be a JSON object, not {config.ValueKind}.", nameof(config));
        if (config.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null)
            return true;
        return false;
    }

    private static ArgumentException Bad(string key, JsonElement v, string expected) =>
        new($"Scheduler config key '{key}' must be {expected}, not {v.ValueKind} {v.GetRawText()}.", key);
}
