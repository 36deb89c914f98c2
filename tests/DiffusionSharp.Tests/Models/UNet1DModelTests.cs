using DiffusionSharp.Denoisers;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Models;

/// <summary>UNet1DModel beyond the fixtures: diffusers options, rejected configs, the class-conditioning extension, chunking and the audio preset.</summary>
public sealed class UNet1DModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("unet1d-model-");

    public void Dispose() => _tmp.Delete(recursive: true);

    private static UNet1DConfig Dance => DiffusersUNet1DConfig.Read(Path.Combine(TestPaths.UNet1D, "dance_tiny", "config.json"));

    private static UNet1DConfig Resnet => DiffusersUNet1DConfig.Read(Path.Combine(TestPaths.UNet1D, "resnet_temporal_tiny", "config.json"));

    public static TheoryData<string> OtherConfigs => new()
    {
        // diffusers' own default config (Dance Diffusion: 32/32/64, Fourier of 64 features) with extra_in_channels matching it.
        """{"extra_in_channels": 64, "in_channels": 2, "out_channels": 2, "sample_size": 64}""",
        // ResNet layout with Fourier features through the MLP, more layers, norm groups from c0, silu.
        """{"down_block_types": ["DownResnetBlock1D", "DownResnetBlock1D"], "up_block_types": ["UpResnetBlock1D"], "mid_block_type": "MidResTemporalBlock1D", "out_block_type": "OutConv1DBlock", "block_out_channels": [16, 32], "use_timestep_embedding": true, "time_embedding_type": "fourier", "time_embedding_dim": 12, "act_fn": "silu", "layers_per_block": 2, "norm_num_groups": null, "in_channels": 3, "out_channels": 3}""",
        // Diffuser's value function: every block downsamples, no up path, a scalar head.
        """{"down_block_types": ["DownResnetBlock1D", "DownResnetBlock1D", "DownResnetBlock1D"], "up_block_types": [], "mid_block_type": "ValueFunctionMidBlock1D", "out_block_type": "ValueFunction", "block_out_channels": [16, 32, 64], "downsample_each_block": true, "use_timestep_embedding": true, "time_embedding_type": "positional", "flip_sin_to_cos": false, "freq_shift": 1, "act_fn": "mish", "in_channels": 4, "out_channels": 4}""",
    };

    [Theory]
    [MemberData(nameof(OtherConfigs))]
    public void OtherDiffusersConfigsBuildRunAndCountTheirParameters(string json)
    {
        using var scope = NewDisposeScope();
        var config = DiffusersUNet1DConfig.Parse(json, "test");
        using var model = new UNet1DModel(config);
        Assert.Equal(config.CountParameters(), model.ParameterCount);
        Assert.Equal(config.CountBufferElements(), model.buffers().Sum(b => b.numel()));
        long length = config.OutBlockType == UNet1DOutBlockType.ValueFunction ? 32 : 4 * config.MinimumLength;
        using var _ = inference_mode();
        var y = model.call(randn(2, config.InChannels, length), tensor(new float[] { 3, 700 }), null);
        long[] expected = config.OutBlockType == UNet1DOutBlockType.ValueFunction ? [2, 1] : [2, config.OutChannels, length];
        Assert.Equal(expected, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
    }

    [Theory]
    [InlineData("\"time_embedding_type\": \"learned\"", "time_embedding_type")]
    [InlineData("\"block_out_channels\": [16, 32, 20]", "block_out_channels")]   // attention with 20 // 32 = 0 heads
    [InlineData("\"extra_in_channels\": 0", "extra_in_channels")]
    [InlineData("\"mid_block_type\": \"UNetMidBlock2D\"", "mid_block_type")]
    [InlineData("\"use_timestep_embedding\": true, \"act_fn\": null", "act_fn")]
    [InlineData("\"time_embedding_dim\": 7", "time_embedding_dim")]
    public void ConfigsDiffusersCannotRunAreRejectedNamingTheKey(string change, string key)
    {
        string json = File.ReadAllText(Path.Combine(TestPaths.UNet1D, "dance_tiny", "config.json"));
        var doc = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        var patch = System.Text.Json.Nodes.JsonNode.Parse("{" + change + "}")!.AsObject();
        foreach (var (k, v) in patch.ToList())
            doc[k] = v?.DeepClone();
        var e = Assert.Throws<InvalidDataException>(() => DiffusersUNet1DConfig.Parse(doc.ToJsonString(), "cfg.json"));
        Assert.Contains($"key '{key}'", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void ResNetFamilyWithoutTheTimeMlpIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new UNet1DModel(Resnet with { UseTimestepEmbedding = false }));
        Assert.Contains("use_timestep_embedding", e.Message);
    }

    [Theory]
    [InlineData("dance_tiny")]
    [InlineData("resnet_temporal_tiny")]
    public void ClassConditionedOutputDiffersPerClassAndGuidanceRuns(string folder)
    {
        using var scope = NewDisposeScope();
        var baseConfig = DiffusersUNet1DConfig.Read(Path.Combine(TestPaths.UNet1D, folder, "config.json"));
        using var model = new UNet1DModel(baseConfig with { NumClassEmbeds = 4 });
        // The diffusers checkpoint loads into the conditioned model except for the extra table.
        var io = SafeTensors.Load(Path.Combine(TestPaths.UNet1D, folder, "io.safetensors"));
        var x = io["sample"];
        var t = io["timesteps"];
        using var _ = inference_mode();
        var a = model.Predict(x, t, tensor(new long[] { 0, 0 }));
        var b = model.Predict(x, t, tensor(new long[] { 1, 2 }));
        double d = UNet2DParityTests.MaxAbs(a, b);
        output.WriteLine($"{folder}: class 0 vs 1/2 max|Δ| = {d:E2}");
        Assert.True(d > 1e-4, "the class label must change the output");
        var guided = new ClassifierFreeGuidance(model, 3.0, nullClassId: 3).Predict(x, t, tensor(new long[] { 1, 2 }));
        var nul = model.Predict(x, t, tensor(new long[] { 3, 3 }));
        // output = uncond + w·(cond − uncond)
        Assert.True(UNet2DParityTests.MaxAbs(guided, nul + (b - nul) * 3.0) < 1e-4);
        Assert.Throws<ArgumentException>(() => model.Predict(x, t, null));
        Assert.Throws<ArgumentException>(() => model.Predict(x, t, tensor(new long[] { 0, 4 })));

        // Round trip keeps the extension key; diffusers' own folder still loads unchanged and takes no labels.
        string dir = Path.Combine(_tmp.FullName, folder);
        model.SavePretrained(dir);
        Assert.Contains("\"num_class_embeds\": 4", File.ReadAllText(Path.Combine(dir, "config.json")));
        using var reloaded = UNet1DModel.FromPretrained(dir);
        Assert.True(UNet2DParityTests.MaxAbs(reloaded.Predict(x, t, tensor(new long[] { 1, 2 })), b) == 0);
        using var plain = UNet1DModel.FromPretrained(Path.Combine(TestPaths.UNet1D, folder));
        Assert.False(plain.Config.HasClassEmbedding);
        Assert.Throws<ArgumentException>(() => plain.Predict(x, t, tensor(new long[] { 0, 0 })));
    }

    [Fact]
    public void ChunkedInferenceMatchesOnePass()
    {
        using var scope = NewDisposeScope();
        using var model = UNet1DModel.FromPretrained(Path.Combine(TestPaths.UNet1D, "dance_tiny"));
        var x = randn(5, 1, 64, generator: new Generator(3));
        var t = tensor(new float[] { 0.1f, 0.3f, 0.5f, 0.7f, 0.9f });
        using var _ = inference_mode();
        var whole = model.Predict(x, t, null);
        model.ChunkSize = 2;
        Assert.True(UNet2DParityTests.MaxAbs(model.Predict(x, t, null), whole) < 1e-5);
        Assert.Throws<ArgumentException>(() => model.Predict(randn(1, 1, 60), t.narrow(0, 0, 1), null));
    }

    [Fact]
    public void SpokenDigitsPresetRunsOnOneSecondClips()
    {
        using var scope = NewDisposeScope();
        var config = UNet1DConfig.SpokenDigits(10);
        using var model = new UNet1DModel(config);
        Assert.Equal(11, config.NumClassEmbeds);
        Assert.Equal(64, config.LengthMultiple);
        Assert.Equal(config.CountParameters(), model.ParameterCount);
        // Batch 2 keeps the test short; UNET1D_PRESET_BATCH=8 measures the figure quoted for the preset.
        int batch = int.TryParse(Environment.GetEnvironmentVariable("UNET1D_PRESET_BATCH"), out int b) ? b : 2;
        var x = randn(batch, 1, 16000, generator: new Generator(1));
        var t = randint(0, 1000, [batch], generator: new Generator(2));
        var labels = randint(0, 11, [batch], generator: new Generator(4));
        using var _ = inference_mode();
        model.Predict(x, t, labels);   // warm-up
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var y = model.Predict(x, t, labels);
        watch.Stop();
        output.WriteLine($"SpokenDigits(10): {model.ParameterCount:N0} parameters; forward of {batch} × 16000 in {watch.ElapsedMilliseconds} ms");
        Assert.Equal(x.shape, y.shape);
    }
}
