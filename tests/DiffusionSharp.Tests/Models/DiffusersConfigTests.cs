using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Models;

/// <summary>config.json interop: defaults, null vs missing, unknown keys, byte-exact round trips, errors.</summary>
public sealed class DiffusersConfigTests
{
    public static TheoryData<string> Folders => new() { "tiny", "tiny_class_cond", "tiny_legacy_attn_names", "cifar10_like_small" };

    [Theory]
    [MemberData(nameof(Folders))]
    public void FixtureConfigRoundTripsByteForByte(string folder)
    {
        string path = Path.Combine(TestPaths.UNet2D, folder, "config.json");
        string original = File.ReadAllText(path);
        var config = DiffusersUNet2DConfig.Read(path);
        Assert.Equal(original, DiffusersUNet2DConfig.ToJson(config));
    }

    [Fact]
    public void ReadsEveryFixtureValue()
    {
        var c = DiffusersUNet2DConfig.Read(Path.Combine(TestPaths.UNet2D, "cifar10_like_small", "config.json"));
        Assert.Equal([16, 32, 32, 32], c.BlockOutChannels.ToArray());
        Assert.Equal([UNetDownBlockType.DownBlock2D, UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.DownBlock2D, UNetDownBlockType.DownBlock2D], c.DownBlockTypes.ToArray());
        Assert.Equal([UNetUpBlockType.UpBlock2D, UNetUpBlockType.UpBlock2D, UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.UpBlock2D], c.UpBlockTypes.ToArray());
        Assert.Null(c.AttentionHeadDim);
        Assert.False(c.FlipSinToCos);
        Assert.Equal(1, c.FreqShift);
        Assert.Equal(0, c.DownsamplePadding);
        Assert.Equal(1e-6, c.NormEps);
        Assert.Equal(8, c.NormNumGroups);
        Assert.Equal(3, c.InChannels);
        Assert.Equal([32], c.SampleSize!.Value.ToArray());
        Assert.Equal(2, c.LayersPerBlock);
        Assert.Equal(64, c.TimeEmbedDim);
        Assert.Equal("\"0.38.0\"", c.ExtraKeys["_diffusers_version"]);
    }

    /// <summary>The google/ddpm-cifar10-32 config as the fixtures' README gives it: many keys missing, diffusers 0.0.4.</summary>
    private const string OldCifarConfig = """
        {
          "_class_name": "UNet2DModel",
          "_diffusers_version": "0.0.4",
          "act_fn": "silu",
          "attention_head_dim": null,
          "block_out_channels": [128, 256, 256, 256],
          "center_input_sample": false,
          "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
          "downsample_padding": 0,
          "flip_sin_to_cos": false,
          "freq_shift": 1,
          "in_channels": 3,
          "layers_per_block": 2,
          "mid_block_scale_factor": 1,
          "norm_eps": 1e-06,
          "norm_num_groups": 32,
          "out_channels": 3,
          "sample_size": 32,
          "time_embedding_type": "positional",
          "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
        }
        """;

    [Fact]
    public void MissingKeysTakeDiffusersDefaults()
    {
        var c = DiffusersUNet2DConfig.Parse(OldCifarConfig, "old.json");
        Assert.True(c.AddAttention);
        Assert.Null(c.AttnNormNumGroups);
        Assert.Null(c.ClassEmbedType);
        Assert.Null(c.NumClassEmbeds);
        Assert.Equal(ResamplingType.Conv, c.DownsampleType);
        Assert.Equal(ResamplingType.Conv, c.UpsampleType);
        Assert.Equal(0.0, c.Dropout);
        Assert.Equal(UNetMidBlockType.UNetMidBlock2D, c.MidBlockType);
        Assert.Equal(ResnetTimeScaleShift.Default, c.ResnetTimeScaleShift);
        Assert.Null(c.TimeEmbeddingDim);
        Assert.Equal(512, c.TimeEmbedDim);
        Assert.Null(c.NumTrainTimesteps);
        // Written back: every key diffusers wrote, now with all __init__ arguments, the old version string kept.
        string json = DiffusersUNet2DConfig.ToJson(c);
        Assert.Contains("\"_diffusers_version\": \"0.0.4\"", json);
        Assert.Contains("\"mid_block_type\": \"UNetMidBlock2D\"", json);
        Assert.Contains("\"norm_eps\": 1e-06", json);
        Assert.Contains("\"mid_block_scale_factor\": 1,", json);
    }

    [Fact]
    public void NullHeadDimIsOneHeadButAMissingKeyIsEight()
    {
        Assert.Null(DiffusersUNet2DConfig.Parse("""{"attention_head_dim": null}""", "a").AttentionHeadDim);
        Assert.Equal(8, DiffusersUNet2DConfig.Parse("{}", "b").AttentionHeadDim);
        Assert.Equal(32, DiffusersUNet2DConfig.Parse("""{"attention_head_dim": 32}""", "c").AttentionHeadDim);

        // The difference is numerical: with the cifar-like weights, dropping the key changes the output.
        string dir = Path.Combine(TestPaths.UNet2D, "cifar10_like_small");
        string withoutKey = File.ReadAllText(Path.Combine(dir, "config.json")).Replace("\"attention_head_dim\": null,", "");
        var tmp = Directory.CreateTempSubdirectory();
        try
        {
            File.WriteAllText(Path.Combine(tmp.FullName, "config.json"), withoutKey);
            File.Copy(Path.Combine(dir, DiffusersUNet2DCheckpoint.WeightsFileName), Path.Combine(tmp.FullName, DiffusersUNet2DCheckpoint.WeightsFileName));
            using var scope = NewDisposeScope();
            using var oneHead = UNet2DModel.FromPretrained(dir);
            using var eightDim = UNet2DModel.FromPretrained(tmp.FullName);
            Assert.Equal(8, eightDim.Config.AttentionHeadDim);
            var x = randn(1, 3, 32, 32, generator: new Generator(1));
            var t = tensor(new long[] { 500 });
            using var _ = inference_mode();
            double diff = UNet2DParityTests.MaxAbs(oneHead.call(x, t, null), eightDim.call(x, t, null));
            Assert.True(diff > 1e-4, $"4 heads of 8 and 1 head of 32 gave the same output (max|Δ| {diff:E2})");
        }
        finally
        {
            tmp.Delete(true);
        }
    }

    [Fact]
    public void UnknownKeysAreKeptAndWrittenBackUnchanged()
    {
        const string json = """
            {"_class_name": "UNet2DModel", "_name_or_path": "google/ddpm-cifar10-32", "some_future_option": {"b": [1, 2.50, "é"], "a": null},
             "block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "AttnDownBlock2D"], "up_block_types": ["AttnUpBlock2D", "UpBlock2D"]}
            """;
        var c = DiffusersUNet2DConfig.Parse(json, "x.json");
        Assert.Equal(["_class_name", "_name_or_path", "some_future_option"], c.ExtraKeys.Keys);
        string written = DiffusersUNet2DConfig.ToJson(c);
        Assert.Contains("\"_name_or_path\": \"google/ddpm-cifar10-32\"", written);
        // Nested keys sorted, numbers verbatim, non-ASCII escaped: as Python's json.dumps(indent=2, sort_keys=True).
        Assert.Contains("\"some_future_option\": {\n    \"a\": null,\n    \"b\": [\n      1,\n      2.50,\n      \"\\u00e9\"\n    ]\n  }", written);
        var again = DiffusersUNet2DConfig.Parse(written, "y.json");
        Assert.Equal(written, DiffusersUNet2DConfig.ToJson(again));
    }

    [Fact]
    public void ConfigsBuiltInCodeGetClassNameAndVersion()
    {
        string json = DiffusersUNet2DConfig.ToJson(new UNet2DConfig { BlockOutChannels = [32, 64], DownBlockTypes = [UNetDownBlockType.DownBlock2D, UNetDownBlockType.DownBlock2D], UpBlockTypes = [UNetUpBlockType.UpBlock2D, UNetUpBlockType.UpBlock2D] });
        Assert.StartsWith("{\n  \"_class_name\": \"UNet2DModel\",\n  \"_diffusers_version\": \"0.38.0\",\n  \"act_fn\": \"silu\",", json);
        Assert.Contains("\"attention_head_dim\": 8,", json);
        Assert.Contains("\"sample_size\": null,", json);
        Assert.Contains("\"dropout\": 0.0,", json);
        Assert.EndsWith("}\n", json);
    }

    [Theory]
    [InlineData("{\"in_channels\": ", "malformed JSON")]
    [InlineData("[1, 2]", "not a JSON object")]
    [InlineData("{\"in_channels\": \"three\"}", "'in_channels'")]
    [InlineData("{\"in_channels\": 1.5}", "'in_channels'")]
    [InlineData("{\"in_channels\": null}", "'in_channels'")]
    [InlineData("{\"norm_eps\": \"small\"}", "'norm_eps'")]
    [InlineData("{\"flip_sin_to_cos\": 1}", "'flip_sin_to_cos'")]
    [InlineData("{\"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\", \"DownBlock2D\", \"DownBlock2D\"]}", "'down_block_types'")]
    [InlineData("{\"up_block_types\": \"UpBlock2D\"}", "'up_block_types'")]
    [InlineData("{\"block_out_channels\": [32, 64]}", "'down_block_types'")]
    [InlineData("{\"norm_num_groups\": 5}", "'norm_num_groups'")]
    [InlineData("{\"attention_head_dim\": 0}", "'attention_head_dim'")]
    [InlineData("{\"resnet_time_scale_shift\": \"spatial\"}", "'resnet_time_scale_shift'")]
    [InlineData("{\"time_embedding_type\": \"learned\"}", "'num_train_timesteps'")]
    [InlineData("{\"_class_name\": \"UNet2DConditionModel\"}", "'_class_name'")]
    [InlineData("{\"sample_size\": [1, 2, 3]}", "'sample_size'")]
    [InlineData("{\"dropout\": -0.1}", "'dropout'")]
    [InlineData("{\"class_embed_type\": \"projection\"}", "'class_embed_type'")]
    public void BadConfigNamesTheFileAndKey(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => DiffusersUNet2DConfig.Parse(json, "/some/dir/config.json"));
        Assert.StartsWith("/some/dir/config.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AcceptsDiffusersAliases()
    {
        var c = DiffusersUNet2DConfig.Parse("""
            {"act_fn": "SiLU", "block_out_channels": [32, 64], "down_block_types": ["UNetResDownBlock2D", "UNetResAttnDownBlock2D"],
             "up_block_types": ["UNetResAttnUpBlock2D", "UNetResUpBlock2D"], "sample_size": [16, 24]}
            """, "alias.json");
        Assert.Equal(ActivationFunction.Silu, c.ActFn);
        Assert.Equal([UNetDownBlockType.DownBlock2D, UNetDownBlockType.AttnDownBlock2D], c.DownBlockTypes.ToArray());
        Assert.Equal([UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.UpBlock2D], c.UpBlockTypes.ToArray());
        Assert.Contains("\"sample_size\": [\n    16,\n    24\n  ]", DiffusersUNet2DConfig.ToJson(c));
    }

    [Theory]
    [InlineData(1e-5, "1e-05")]
    [InlineData(1e-6, "1e-06")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.1, "0.1")]
    [InlineData(1.0, "1.0")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(0.0, "0.0")]
    [InlineData(123456.789, "123456.789")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(1.2345e-5, "1.2345e-05")]
    [InlineData(2.5e22, "2.5e+22")]
    public void FloatsAreWrittenAsPythonRepr(double value, string expected) =>
        Assert.Equal(expected, PythonJson.FloatRepr(value));
}
