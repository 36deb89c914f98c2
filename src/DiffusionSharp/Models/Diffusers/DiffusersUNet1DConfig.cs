using System.Collections.Immutable;
using System.Text.Json;
using DiffusionSharp.IO;

namespace DiffusionSharp.Models.Diffusers;

/// <summary>
/// Translates between diffusers' <c>UNet1DModel</c> <c>config.json</c> and <see cref="UNet1DConfig"/>: the one place
/// that knows the 1-D model's key names and value spellings. Missing keys take <c>UNet1DModel.__init__</c>'s defaults
/// (v0.38); unknown keys are kept and written back; output is formatted as diffusers writes it, so a diffusers
/// config round-trips byte for byte.
/// </summary>
/// <remarks>
/// The extension key <c>num_class_embeds</c> is written only when set; diffusers' <c>from_config</c> warns about it and
/// ignores it (such a checkpoint's <c>class_embedding.weight</c> is then reported unexpected by diffusers' loader).
/// </remarks>
public static class DiffusersUNet1DConfig
{
    /// <summary>The value of <c>_class_name</c>.</summary>
    public const string ClassName = "UNet1DModel";

    private static readonly string[] s_knownKeys =
    [
        "sample_size", "sample_rate", "in_channels", "out_channels", "extra_in_channels", "time_embedding_type",
        "time_embedding_dim", "flip_sin_to_cos", "use_timestep_embedding", "freq_shift", "down_block_types", "up_block_types",
        "mid_block_type", "out_block_type", "block_out_channels", "act_fn", "norm_num_groups", "layers_per_block",
        "downsample_each_block", "num_class_embeds",
    ];

    private static readonly (string, TimeEmbeddingType)[] s_timeEmbeddingTypes =
        [("fourier", TimeEmbeddingType.Fourier), ("positional", TimeEmbeddingType.Positional)];

    private static readonly (string, UNet1DDownBlockType)[] s_downBlockTypes =
        [.. Enum.GetValues<UNet1DDownBlockType>().Select(v => (v.ToString(), v))];

    private static readonly (string, UNet1DUpBlockType)[] s_upBlockTypes =
        [.. Enum.GetValues<UNet1DUpBlockType>().Select(v => (v.ToString(), v))];

    private static readonly (string, UNet1DMidBlockType)[] s_midBlockTypes =
        [.. Enum.GetValues<UNet1DMidBlockType>().Select(v => (v.ToString(), v))];

    private static readonly (string, UNet1DOutBlockType)[] s_outBlockTypes =
        [("OutConv1DBlock", UNet1DOutBlockType.OutConv1DBlock), ("ValueFunction", UNet1DOutBlockType.ValueFunction)];

    /// <summary>Every key this class interprets (the <c>UNet1DModel.__init__</c> arguments and <c>num_class_embeds</c>).</summary>
    public static IReadOnlyList<string> KnownKeys => s_knownKeys;

    /// <summary>The <c>_class_name</c> of a folder's <c>config.json</c>, or <c>null</c> when the key is absent or not a string.</summary>
    /// <exception cref="InvalidDataException">The file is missing, unreadable or not a JSON object.</exception>
    public static string? ReadClassName(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string path = Path.Combine(directory, DiffusersUNet2DConfig.FileName);
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: not found (a diffusers model folder holds {DiffusersUNet2DConfig.FileName} and {DiffusersUNet2DCheckpoint.WeightsFileName})");
        var values = DiffusersUNet2DConfig.ReadObject(DiffusersUNet2DConfig.ReadText(path), path);
        return values.TryGetValue("_class_name", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
    }

    /// <summary>Whether <paramref name="directory"/>'s <c>config.json</c> names <c>UNet1DModel</c>.</summary>
    public static bool IsUNet1DFolder(string directory) => ReadClassName(directory) == ClassName;

    /// <summary>Reads <paramref name="path"/>; a malformed file or value gives an <see cref="InvalidDataException"/> naming the file and key.</summary>
    public static UNet1DConfig Read(string path) => Parse(DiffusersUNet2DConfig.ReadText(path), path);

    /// <summary>Parses config JSON; <paramref name="source"/> names it in error messages.</summary>
    public static UNet1DConfig Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        {
            var values = DiffusersUNet2DConfig.ReadObject(json, source);
            if (values.TryGetValue("_class_name", out var cls) && !(cls.ValueKind == JsonValueKind.String && cls.GetString() == ClassName))
                throw new InvalidDataException($"{source}: key '_class_name': expected \"{ClassName}\", found {cls.GetRawText()}");
            if (values.TryGetValue("sample_size", out var size) && size.ValueKind == JsonValueKind.Null)
                values.Remove("sample_size");
            var r = new DiffusersUNet2DConfig.Reader(values, source);
            var d = new UNet1DConfig();
            var config = new UNet1DConfig
            {
                SampleSize = r.Int("sample_size", d.SampleSize),
                SampleRate = r.NullableInt("sample_rate", d.SampleRate),
                InChannels = r.Int("in_channels", d.InChannels),
                OutChannels = r.Int("out_channels", d.OutChannels),
                ExtraInChannels = r.Int("extra_in_channels", d.ExtraInChannels),
                TimeEmbeddingType = r.Enum("time_embedding_type", d.TimeEmbeddingType, s_timeEmbeddingTypes),
                TimeEmbeddingDim = r.NullableInt("time_embedding_dim", d.TimeEmbeddingDim),
                FlipSinToCos = r.Bool("flip_sin_to_cos", d.FlipSinToCos),
                UseTimestepEmbedding = r.Bool("use_timestep_embedding", d.UseTimestepEmbedding),
                FreqShift = r.Double("freq_shift", d.FreqShift),
                DownBlockTypes = r.EnumList("down_block_types", d.DownBlockTypes, s_downBlockTypes),
                UpBlockTypes = r.EnumList("up_block_types", d.UpBlockTypes, s_upBlockTypes),
                MidBlockType = r.Enum("mid_block_type", d.MidBlockType, s_midBlockTypes),
                OutBlockType = r.NullableEnum("out_block_type", d.OutBlockType, s_outBlockTypes),
                BlockOutChannels = r.IntList("block_out_channels", d.BlockOutChannels),
                ActFn = r.NullableEnum("act_fn", d.ActFn, DiffusersUNet2DConfig.s_activations, ignoreCase: true),
                NormNumGroups = r.NullableInt("norm_num_groups", d.NormNumGroups),
                LayersPerBlock = r.Int("layers_per_block", d.LayersPerBlock),
                DownsampleEachBlock = r.Bool("downsample_each_block", d.DownsampleEachBlock),
                NumClassEmbeds = r.NullableInt("num_class_embeds", d.NumClassEmbeds),
                ExtraKeys = values.Where(kv => !s_knownKeys.Contains(kv.Key))
                    .ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value.GetRawText(), StringComparer.Ordinal),
            };
            if (config.FindProblem() is { } problem)
                throw new InvalidDataException($"{source}: key '{problem.Key}': {problem.Reason}");
            return config;
        }
    }

    /// <summary>The config as diffusers writes it (sorted keys, two-space indent, trailing newline).</summary>
    public static string ToJson(UNet1DConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var m = DiffusersUNet2DConfig.ConfigHead(config.ExtraKeys, ClassName);
        m["sample_size"] = new PythonJson.Int(config.SampleSize);
        m["sample_rate"] = DiffusersUNet2DConfig.NullableInt(config.SampleRate);
        m["in_channels"] = new PythonJson.Int(config.InChannels);
        m["out_channels"] = new PythonJson.Int(config.OutChannels);
        m["extra_in_channels"] = new PythonJson.Int(config.ExtraInChannels);
        m["time_embedding_type"] = DiffusersUNet2DConfig.Name(s_timeEmbeddingTypes, config.TimeEmbeddingType);
        m["time_embedding_dim"] = DiffusersUNet2DConfig.NullableInt(config.TimeEmbeddingDim);
        m["flip_sin_to_cos"] = new PythonJson.Bool(config.FlipSinToCos);
        m["use_timestep_embedding"] = new PythonJson.Bool(config.UseTimestepEmbedding);
        m["freq_shift"] = new PythonJson.Float(config.FreqShift);
        m["down_block_types"] = new PythonJson.Arr([.. config.DownBlockTypes.Select(t => (PythonJson.Node)DiffusersUNet2DConfig.Name(s_downBlockTypes, t))]);
        m["up_block_types"] = new PythonJson.Arr([.. config.UpBlockTypes.Select(t => (PythonJson.Node)DiffusersUNet2DConfig.Name(s_upBlockTypes, t))]);
        m["mid_block_type"] = DiffusersUNet2DConfig.Name(s_midBlockTypes, config.MidBlockType);
        m["out_block_type"] = config.OutBlockType is { } o ? DiffusersUNet2DConfig.Name(s_outBlockTypes, o) : new PythonJson.Null();
        m["block_out_channels"] = DiffusersUNet2DConfig.Ints(config.BlockOutChannels);
        m["act_fn"] = config.ActFn is { } a ? DiffusersUNet2DConfig.Name(DiffusersUNet2DConfig.s_activations, a) : new PythonJson.Null();
        m["norm_num_groups"] = DiffusersUNet2DConfig.NullableInt(config.NormNumGroups);
        m["layers_per_block"] = new PythonJson.Int(config.LayersPerBlock);
        m["downsample_each_block"] = new PythonJson.Bool(config.DownsampleEachBlock);
        if (config.NumClassEmbeds is { } n)
            m["num_class_embeds"] = new PythonJson.Int(n);
        return PythonJson.Dumps(new PythonJson.Obj(m)) + "\n";
    }

    /// <summary>Writes <paramref name="config"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, UNet1DConfig config) => AtomicFile.WriteAllText(path, ToJson(config));
}
