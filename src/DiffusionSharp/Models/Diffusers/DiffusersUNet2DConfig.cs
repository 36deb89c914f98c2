using System.Collections.Immutable;
using System.Text.Json;
using DiffusionSharp.IO;

namespace DiffusionSharp.Models.Diffusers;

/// <summary>
/// Translates between diffusers' <c>UNet2DModel</c> <c>config.json</c> and <see cref="UNet2DConfig"/>: the one place
/// that knows diffusers' key names and value spellings.
/// </summary>
/// <remarks>
/// Missing keys take <c>UNet2DModel.__init__</c>'s defaults (v0.38). JSON <c>null</c> and a missing key differ where
/// diffusers makes them differ: <c>"attention_head_dim": null</c> means one head per block, a missing key means 8.
/// Keys not interpreted here are kept as raw JSON and written back unchanged; the output is formatted like Python's
/// <c>json.dumps(indent=2, sort_keys=True)</c>, so a diffusers-written config round-trips byte for byte.
/// </remarks>
public static class DiffusersUNet2DConfig
{
    /// <summary>The config file name diffusers uses.</summary>
    public const string FileName = "config.json";

    /// <summary>The value of <c>_class_name</c>.</summary>
    public const string ClassName = "UNet2DModel";

    /// <summary>Written as <c>_diffusers_version</c> when the config did not come with one: the version whose semantics this port follows.</summary>
    public const string DiffusersVersion = "0.38.0";

    /// <summary>Config files larger than this are refused unread (diffusers writes about 1 KB).</summary>
    public const long MaxConfigBytes = 1 << 20;

    private static readonly string[] s_knownKeys =
    [
        "sample_size", "in_channels", "out_channels", "center_input_sample", "time_embedding_type", "time_embedding_dim",
        "freq_shift", "flip_sin_to_cos", "down_block_types", "mid_block_type", "up_block_types", "block_out_channels",
        "layers_per_block", "mid_block_scale_factor", "downsample_padding", "downsample_type", "upsample_type", "dropout",
        "act_fn", "attention_head_dim", "norm_num_groups", "attn_norm_num_groups", "norm_eps", "resnet_time_scale_shift",
        "add_attention", "class_embed_type", "num_class_embeds", "num_train_timesteps",
    ];

    /// <summary>Every key this class interprets (the <c>UNet2DModel.__init__</c> arguments).</summary>
    public static IReadOnlyList<string> KnownKeys => s_knownKeys;

    /// <summary>Reads <paramref name="path"/>; a malformed file or value gives an <see cref="InvalidDataException"/> naming the file and key.</summary>
    public static UNet2DConfig Read(string path) => Parse(ReadText(path), path);

    /// <summary>A config file's text, refusing files over <see cref="MaxConfigBytes"/>; failures name the file.</summary>
    internal static string ReadText(string path)
    {
        string text;
        try
        {
            long length = new FileInfo(path).Length;
            if (length > MaxConfigBytes)
                throw new InvalidDataException($"{path}: {length} bytes is too large for a config (limit {MaxConfigBytes})");
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read ({e.Message})", e);
        }
        return text;
    }

    /// <summary>Parses config JSON; <paramref name="source"/> names it in error messages.</summary>
    public static UNet2DConfig Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        {
            var values = ReadObject(json, source);
            var r = new Reader(values, source);

            if (values.TryGetValue("_class_name", out var cls) && !(cls.ValueKind == JsonValueKind.String && cls.GetString() == ClassName))
                throw new InvalidDataException($"{source}: key '_class_name': expected \"{ClassName}\", found {cls.GetRawText()}");

            var defaults = new UNet2DConfig();
            var config = new UNet2DConfig
            {
                SampleSize = r.SampleSize("sample_size"),
                InChannels = r.Int("in_channels", defaults.InChannels),
                OutChannels = r.Int("out_channels", defaults.OutChannels),
                CenterInputSample = r.Bool("center_input_sample", defaults.CenterInputSample),
                TimeEmbeddingType = r.Enum("time_embedding_type", defaults.TimeEmbeddingType, s_timeEmbeddingTypes),
                TimeEmbeddingDim = r.NullableInt("time_embedding_dim", defaults.TimeEmbeddingDim),
                FreqShift = r.Int("freq_shift", defaults.FreqShift),
                FlipSinToCos = r.Bool("flip_sin_to_cos", defaults.FlipSinToCos),
                DownBlockTypes = r.EnumList("down_block_types", defaults.DownBlockTypes, s_downBlockTypes),
                MidBlockType = r.NullableEnum("mid_block_type", defaults.MidBlockType, s_midBlockTypes),
                UpBlockTypes = r.EnumList("up_block_types", defaults.UpBlockTypes, s_upBlockTypes),
                BlockOutChannels = r.IntList("block_out_channels", defaults.BlockOutChannels),
                LayersPerBlock = r.Int("layers_per_block", defaults.LayersPerBlock),
                MidBlockScaleFactor = r.Double("mid_block_scale_factor", defaults.MidBlockScaleFactor),
                DownsamplePadding = r.Int("downsample_padding", defaults.DownsamplePadding),
                DownsampleType = r.Enum("downsample_type", defaults.DownsampleType, s_resamplingTypes),
                UpsampleType = r.Enum("upsample_type", defaults.UpsampleType, s_resamplingTypes),
                Dropout = r.Double("dropout", defaults.Dropout),
                ActFn = r.Enum("act_fn", defaults.ActFn, s_activations, ignoreCase: true),
                AttentionHeadDim = r.NullableInt("attention_head_dim", defaults.AttentionHeadDim),
                NormNumGroups = r.Int("norm_num_groups", defaults.NormNumGroups),
                AttnNormNumGroups = r.NullableInt("attn_norm_num_groups", defaults.AttnNormNumGroups),
                NormEps = r.Double("norm_eps", defaults.NormEps),
                ResnetTimeScaleShift = r.Enum("resnet_time_scale_shift", defaults.ResnetTimeScaleShift, s_timeScaleShifts),
                AddAttention = r.Bool("add_attention", defaults.AddAttention),
                ClassEmbedType = r.NullableEnum("class_embed_type", defaults.ClassEmbedType, s_classEmbedTypes),
                NumClassEmbeds = r.NullableInt("num_class_embeds", defaults.NumClassEmbeds),
                NumTrainTimesteps = r.NullableInt("num_train_timesteps", defaults.NumTrainTimesteps),
                ExtraKeys = values.Where(kv => !s_knownKeys.Contains(kv.Key))
                    .ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value.GetRawText(), StringComparer.Ordinal),
            };
            if (config.FindProblem() is { } problem)
                throw new InvalidDataException($"{source}: key '{problem.Key}': {problem.Reason}");
            return config;
        }
    }

    /// <summary>A config's top-level members (the last of duplicate keys wins, as in Python's json); failures name <paramref name="source"/>.</summary>
    internal static Dictionary<string, JsonElement> ReadObject(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: malformed JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: the config is not a JSON object");
            var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
                values[p.Name] = p.Value.Clone();
            return values;
        }
    }

    /// <summary>
    /// The start of a config.json written as diffusers does: the keys this library does not model (kept verbatim, so a
    /// round trip loses nothing), then <c>_class_name</c> and <c>_diffusers_version</c> where those are not among them.
    /// </summary>
    internal static Dictionary<string, PythonJson.Node> ConfigHead(IReadOnlyDictionary<string, string> extraKeys, string className)
    {
        var m = new Dictionary<string, PythonJson.Node>(StringComparer.Ordinal);
        foreach (var (key, raw) in extraKeys)
        {
            using var doc = JsonDocument.Parse(raw);
            m[key] = new PythonJson.Raw(doc.RootElement.Clone());
        }
        m.TryAdd("_class_name", new PythonJson.Str(className));
        m.TryAdd("_diffusers_version", new PythonJson.Str(DiffusersVersion));
        return m;
    }

    /// <summary>The config as diffusers writes it (sorted keys, two-space indent, trailing newline).</summary>
    public static string ToJson(UNet2DConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var m = ConfigHead(config.ExtraKeys, ClassName);

        m["sample_size"] = config.SampleSize switch
        {
            null => new PythonJson.Null(),
            { Length: 1 } s => new PythonJson.Int(s[0]),
            { } s => Ints(s),
        };
        m["in_channels"] = new PythonJson.Int(config.InChannels);
        m["out_channels"] = new PythonJson.Int(config.OutChannels);
        m["center_input_sample"] = new PythonJson.Bool(config.CenterInputSample);
        m["time_embedding_type"] = Name(s_timeEmbeddingTypes, config.TimeEmbeddingType);
        m["time_embedding_dim"] = NullableInt(config.TimeEmbeddingDim);
        m["freq_shift"] = new PythonJson.Int(config.FreqShift);
        m["flip_sin_to_cos"] = new PythonJson.Bool(config.FlipSinToCos);
        m["down_block_types"] = new PythonJson.Arr(config.DownBlockTypes.Select(t => Name(s_downBlockTypes, t)).ToList());
        m["mid_block_type"] = config.MidBlockType is { } mid ? Name(s_midBlockTypes, mid) : new PythonJson.Null();
        m["up_block_types"] = new PythonJson.Arr(config.UpBlockTypes.Select(t => Name(s_upBlockTypes, t)).ToList());
        m["block_out_channels"] = Ints(config.BlockOutChannels);
        m["layers_per_block"] = new PythonJson.Int(config.LayersPerBlock);
        // diffusers' default is the int 1 and it writes it so; other values are floats.
        m["mid_block_scale_factor"] = IsSmallInteger(config.MidBlockScaleFactor)
            ? new PythonJson.Int((long)config.MidBlockScaleFactor) : new PythonJson.Float(config.MidBlockScaleFactor);
        m["downsample_padding"] = new PythonJson.Int(config.DownsamplePadding);
        m["downsample_type"] = Name(s_resamplingTypes, config.DownsampleType);
        m["upsample_type"] = Name(s_resamplingTypes, config.UpsampleType);
        m["dropout"] = new PythonJson.Float(config.Dropout);
        m["act_fn"] = Name(s_activations, config.ActFn);
        m["attention_head_dim"] = NullableInt(config.AttentionHeadDim);
        m["norm_num_groups"] = new PythonJson.Int(config.NormNumGroups);
        m["attn_norm_num_groups"] = NullableInt(config.AttnNormNumGroups);
        m["norm_eps"] = new PythonJson.Float(config.NormEps);
        m["resnet_time_scale_shift"] = Name(s_timeScaleShifts, config.ResnetTimeScaleShift);
        m["add_attention"] = new PythonJson.Bool(config.AddAttention);
        m["class_embed_type"] = config.ClassEmbedType is { } ce ? Name(s_classEmbedTypes, ce) : new PythonJson.Null();
        m["num_class_embeds"] = NullableInt(config.NumClassEmbeds);
        m["num_train_timesteps"] = NullableInt(config.NumTrainTimesteps);
        return PythonJson.Dumps(new PythonJson.Obj(m)) + "\n";
    }

    /// <summary>Writes <paramref name="config"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, UNet2DConfig config) => AtomicFile.WriteAllText(path, ToJson(config));

    private static bool IsSmallInteger(double v) => Math.Abs(v) < 1e15 && v == Math.Floor(v);

    internal static PythonJson.Node NullableInt(int? v) => v is { } x ? new PythonJson.Int(x) : new PythonJson.Null();

    internal static PythonJson.Arr Ints(IEnumerable<int> v) => new(v.Select(x => (PythonJson.Node)new PythonJson.Int(x)).ToList());

    internal static PythonJson.Str Name<T>(IReadOnlyList<(string Name, T Value)> table, T value) where T : struct, Enum =>
        new(table.First(e => EqualityComparer<T>.Default.Equals(e.Value, value)).Name);

    // Spellings as diffusers writes them; the first entry for a value is the one written. Aliases diffusers accepts follow.
    private static readonly (string, TimeEmbeddingType)[] s_timeEmbeddingTypes =
        [("positional", TimeEmbeddingType.Positional), ("fourier", TimeEmbeddingType.Fourier), ("learned", TimeEmbeddingType.Learned)];

    private static readonly (string, UNetDownBlockType)[] s_downBlockTypes =
    [
        ("DownBlock2D", UNetDownBlockType.DownBlock2D), ("AttnDownBlock2D", UNetDownBlockType.AttnDownBlock2D),
        ("UNetResDownBlock2D", UNetDownBlockType.DownBlock2D), ("UNetResAttnDownBlock2D", UNetDownBlockType.AttnDownBlock2D),
    ];

    private static readonly (string, UNetUpBlockType)[] s_upBlockTypes =
    [
        ("UpBlock2D", UNetUpBlockType.UpBlock2D), ("AttnUpBlock2D", UNetUpBlockType.AttnUpBlock2D),
        ("UNetResUpBlock2D", UNetUpBlockType.UpBlock2D), ("UNetResAttnUpBlock2D", UNetUpBlockType.AttnUpBlock2D),
    ];

    private static readonly (string, UNetMidBlockType)[] s_midBlockTypes = [("UNetMidBlock2D", UNetMidBlockType.UNetMidBlock2D)];

    private static readonly (string, ResamplingType)[] s_resamplingTypes = [("conv", ResamplingType.Conv), ("resnet", ResamplingType.Resnet)];

    internal static readonly (string, ActivationFunction)[] s_activations =
    [
        ("silu", ActivationFunction.Silu), ("swish", ActivationFunction.Swish), ("mish", ActivationFunction.Mish),
        ("gelu", ActivationFunction.Gelu), ("relu", ActivationFunction.Relu),
    ];

    private static readonly (string, ResnetTimeScaleShift)[] s_timeScaleShifts =
        [("default", ResnetTimeScaleShift.Default), ("scale_shift", ResnetTimeScaleShift.ScaleShift)];

    private static readonly (string, ClassEmbedType)[] s_classEmbedTypes =
        [("timestep", ClassEmbedType.Timestep), ("identity", ClassEmbedType.Identity)];

    /// <summary>Typed access to the config's values, each failure naming the source and key.</summary>
    internal sealed class Reader(Dictionary<string, JsonElement> values, string source)
    {
        private InvalidDataException Bad(string key, string expected, JsonElement found)
        {
            string text = found.GetRawText();
            if (text.Length > 80)
                text = text[..80] + "…";
            return new InvalidDataException($"{source}: key '{key}': expected {expected}, found {text}");
        }

        public int Int(string key, int fallback) =>
            !values.TryGetValue(key, out var e) ? fallback : AsInt(key, e);

        public int? NullableInt(string key, int? fallback) =>
            !values.TryGetValue(key, out var e) ? fallback : e.ValueKind == JsonValueKind.Null ? null : AsInt(key, e);

        public bool Bool(string key, bool fallback)
        {
            if (!values.TryGetValue(key, out var e))
                return fallback;
            return e.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Bad(key, "true or false", e),
            };
        }

        public double Double(string key, double fallback)
        {
            if (!values.TryGetValue(key, out var e))
                return fallback;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double d) || !double.IsFinite(d))
                throw Bad(key, "a finite number", e);
            return d;
        }

        public T Enum<T>(string key, T fallback, IReadOnlyList<(string Name, T Value)> table, bool ignoreCase = false) where T : struct, Enum =>
            !values.TryGetValue(key, out var e) ? fallback : AsEnum(key, e, table, ignoreCase);

        public T? NullableEnum<T>(string key, T? fallback, IReadOnlyList<(string Name, T Value)> table, bool ignoreCase = false) where T : struct, Enum =>
            !values.TryGetValue(key, out var e) ? fallback : e.ValueKind == JsonValueKind.Null ? null : AsEnum(key, e, table, ignoreCase);

        public ImmutableArray<T> EnumList<T>(string key, ImmutableArray<T> fallback, IReadOnlyList<(string Name, T Value)> table) where T : struct, Enum
        {
            if (!values.TryGetValue(key, out var e))
                return fallback;
            if (e.ValueKind != JsonValueKind.Array)
                throw Bad(key, "a list of block names", e);
            return [.. e.EnumerateArray().Select(x => AsEnum(key, x, table, false))];
        }

        public ImmutableArray<int> IntList(string key, ImmutableArray<int> fallback)
        {
            if (!values.TryGetValue(key, out var e))
                return fallback;
            if (e.ValueKind != JsonValueKind.Array)
                throw Bad(key, "a list of integers", e);
            return [.. e.EnumerateArray().Select(x => AsInt(key, x))];
        }

        public ImmutableArray<int>? SampleSize(string key)
        {
            if (!values.TryGetValue(key, out var e) || e.ValueKind == JsonValueKind.Null)
                return null;
            if (e.ValueKind == JsonValueKind.Number)
                return [AsInt(key, e)];
            if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2)
                return [.. e.EnumerateArray().Select(x => AsInt(key, x))];
            throw Bad(key, "null, an integer or [height, width]", e);
        }

        private int AsInt(string key, JsonElement e) =>
            e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw Bad(key, "an integer", e);

        private T AsEnum<T>(string key, JsonElement e, IReadOnlyList<(string Name, T Value)> table, bool ignoreCase) where T : struct, Enum
        {
            if (e.ValueKind == JsonValueKind.String)
            {
                string s = e.GetString()!;
                var cmp = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                foreach (var (name, value) in table)
                {
                    if (string.Equals(name, s, cmp))
                        return value;
                }
            }
            throw Bad(key, "one of " + string.Join(", ", table.Select(t => $"\"{t.Name}\"").Distinct()), e);
        }
    }
}
