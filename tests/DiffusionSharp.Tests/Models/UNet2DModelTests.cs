using DiffusionSharp.Denoisers;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Models;

/// <summary>Construction, inputs, checkpoints and memory of <see cref="UNet2DModel"/>.</summary>
public sealed class UNet2DModelTests : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("unet-tests-");

    public void Dispose() => _tmp.Delete(recursive: true);

    private static string Fixture(string name) => Path.Combine(TestPaths.UNet2D, name);

    private static UNet2DConfig TinyConfig(Func<UNet2DConfig, UNet2DConfig>? edit = null)
    {
        var c = DiffusersUNet2DConfig.Read(Path.Combine(Fixture("tiny"), "config.json"));
        return edit is null ? c : edit(c);
    }

    [Fact]
    public void FreshModelHasFiniteParametersAndIdentityGroupNorms()
    {
        // TorchSharp 0.107's GroupNorm leaves weight/bias uninitialised; the model must set 1 and 0.
        using var model = new UNet2DModel(TinyConfig(c => c with { NumClassEmbeds = 10 }));
        int norms = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.True(p.isfinite().all().item<bool>(), $"{name} has non-finite values");
            bool isNorm = name.Contains("norm1.") || name.Contains("norm2.") || name.Contains("group_norm.") || name.StartsWith("conv_norm_out.", StringComparison.Ordinal);
            if (!isNorm)
                continue;
            norms++;
            float expected = name.EndsWith(".weight", StringComparison.Ordinal) ? 1f : 0f;
            Assert.True(p.eq(expected).all().item<bool>(), $"{name} is not {expected}");
        }
        // 8 residual blocks × 2 norms, 4 attentions, conv_norm_out, plus the class-conditional model's nothing: 21 GroupNorms.
        Assert.Equal(2 * 21, norms);
    }

    [Fact]
    public void TimestepsMayBeIntOrFloatAndBroadcastFromAScalar()
    {
        using var scope = NewDisposeScope();
        using var model = UNet2DModel.FromPretrained(Fixture("tiny"));
        using var _ = inference_mode();
        var x = randn(2, 1, 16, 16, generator: new Generator(3));
        var viaInt = model.call(x, tensor(new long[] { 250, 250 }), null);
        Assert.Equal(0, UNet2DParityTests.MaxAbs(viaInt, model.call(x, tensor(new float[] { 250, 250 }), null)));
        Assert.Equal(0, UNet2DParityTests.MaxAbs(viaInt, model.call(x, tensor(250L), null)));
        Assert.Equal(0, UNet2DParityTests.MaxAbs(viaInt, model.call(x, tensor(new float[] { 250 }), null)));
        Assert.Equal(0, UNet2DParityTests.MaxAbs(viaInt, ((IDiffusionNetwork)model).Predict(x, tensor(250.0f), null)));
        // Fractional timesteps (Karras-style samplers) are embedded, not truncated.
        Assert.True(UNet2DParityTests.MaxAbs(viaInt, model.call(x, tensor(250.5f), null)) > 0);
    }

    [Fact]
    public void BadInputsAreArgumentErrors()
    {
        using var scope = NewDisposeScope();
        using var plain = UNet2DModel.FromPretrained(Fixture("tiny"));
        using var conditional = UNet2DModel.FromPretrained(Fixture("tiny_class_cond"));
        var x = randn(2, 1, 16, 16);
        var t = tensor(new long[] { 1, 2 });
        Assert.Throws<ArgumentException>(() => plain.call(randn(2, 3, 16, 16), t, null));           // channels
        Assert.Throws<ArgumentException>(() => plain.call(randn(2, 1, 15, 16), t, null));           // not a multiple of 2
        Assert.Throws<ArgumentException>(() => plain.call(randn(1, 16, 16), t, null));              // rank
        Assert.Throws<ArgumentException>(() => plain.call(x, tensor(new long[] { 1, 2, 3 }), null)); // timesteps length
        Assert.Throws<ArgumentException>(() => plain.call(x, t, tensor(new long[] { 1, 2 })));      // labels without embedding
        Assert.Throws<ArgumentException>(() => conditional.call(x, t, null));                      // labels missing
        Assert.Throws<ArgumentException>(() => conditional.call(x, t, tensor(new long[] { 1, 10 }))); // out of range
        Assert.Throws<ArgumentException>(() => conditional.call(x, t, tensor(new float[] { 1, 2.5f }))); // not integral
        Assert.Throws<ArgumentException>(() => new UNet2DModel(TinyConfig(c => c with { NormNumGroups = 7 })));
        using var learned = new UNet2DModel(TinyConfig(c => c with { TimeEmbeddingType = TimeEmbeddingType.Learned, NumTrainTimesteps = 1000 }));
        Assert.Throws<ArgumentException>(() => learned.call(x, tensor(new long[] { 0, 1000 }), null));   // beyond the table
        Assert.Equal(x.shape, learned.call(x, tensor(new long[] { 0, 999 }), null).shape);
    }

    [Fact]
    public void SaveLoadRoundTripIsBitIdenticalAndKeepsTheConfig()
    {
        using var scope = NewDisposeScope();
        foreach (var name in new[] { "tiny", "tiny_class_cond", "tiny_legacy_attn_names", "cifar10_like_small" })
        {
            string src = Fixture(name);
            string dst = Path.Combine(_tmp.FullName, name);
            using var model = UNet2DModel.FromPretrained(src);
            model.SavePretrained(dst);
            Assert.Equal(File.ReadAllText(Path.Combine(src, "config.json")), File.ReadAllText(Path.Combine(dst, "config.json")));
            var (infos, metadata, _) = SafeTensors.ReadHeader(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName));
            Assert.Equal("pt", metadata["format"]);
            Assert.All(infos, i => Assert.Equal("F32", i.DType));
            using var back = UNet2DModel.FromPretrained(dst);
            var a = model.state_dict();
            var b = back.state_dict();
            Assert.Equal(a.Keys, b.Keys);
            foreach (var key in a.Keys)
                Assert.True(a[key].bytes.SequenceEqual(b[key].bytes), $"{name}: {key} changed in the round trip");
            if (name != "tiny_legacy_attn_names")
            {
                // Saved tensors are byte-identical to the diffusers file's (the legacy one is renamed on load).
                var original = SafeTensors.Load(Path.Combine(src, DiffusersUNet2DCheckpoint.WeightsFileName));
                var saved = SafeTensors.Load(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName));
                Assert.Equal(original.Keys.Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
                foreach (var key in original.Keys)
                    Assert.True(original[key].bytes.SequenceEqual(saved[key].bytes), $"{name}: {key} differs from the diffusers file");
            }
        }
        Assert.Empty(Directory.GetFiles(_tmp.FullName, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void HalfPrecisionCheckpointsAreWidened()
    {
        using var scope = NewDisposeScope();
        using var model = UNet2DModel.FromPretrained(Fixture("tiny"));
        var half = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float16));
        string dir = Path.Combine(_tmp.FullName, "fp16");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Fixture("tiny"), "config.json"), Path.Combine(dir, "config.json"));
        SafeTensors.Save(Path.Combine(dir, DiffusersUNet2DCheckpoint.WeightsFileName), half);
        using var loaded = UNet2DModel.FromPretrained(dir);
        var w = loaded.state_dict()["conv_in.weight"];
        Assert.Equal(ScalarType.Float32, w.dtype);
        Assert.Equal(0, UNet2DParityTests.MaxAbs(w, half["conv_in.weight"].to(ScalarType.Float32)));
    }

    public static TheoryData<string, string> BadCheckpoints => new()
    {
        { "missing", "missing tensor 'conv_out.bias'" },
        { "unexpected", "unexpected tensor 'extra.weight'" },
        { "shape", "tensor 'conv_in.weight' has shape [32, 1, 3, 4]" },
        { "dtype", "tensor 'conv_in.bias' has dtype I64" },
        { "duplicate", "duplicates" },
    };

    [Theory]
    [MemberData(nameof(BadCheckpoints))]
    public void BadCheckpointsNameTheFileAndTensor(string kind, string expected)
    {
        using var scope = NewDisposeScope();
        var tensors = SafeTensors.Load(Path.Combine(Fixture("tiny"), DiffusersUNet2DCheckpoint.WeightsFileName));
        switch (kind)
        {
            case "missing": tensors.Remove("conv_out.bias"); break;
            case "unexpected": tensors["extra.weight"] = zeros(3); break;
            case "shape": tensors["conv_in.weight"] = zeros(32, 1, 3, 4); break;
            case "dtype": tensors["conv_in.bias"] = zeros(32, ScalarType.Int64); break;
            case "duplicate": tensors["down_blocks.1.attentions.0.query.weight"] = tensors["down_blocks.1.attentions.0.to_q.weight"]; break;
        }
        string dir = Path.Combine(_tmp.FullName, kind);
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Fixture("tiny"), "config.json"), Path.Combine(dir, "config.json"));
        string weights = Path.Combine(dir, DiffusersUNet2DCheckpoint.WeightsFileName);
        SafeTensors.Save(weights, tensors);
        var e = Assert.Throws<InvalidDataException>(() => UNet2DModel.FromPretrained(dir));
        Assert.StartsWith(weights + ": ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void PickleCheckpointsAndMissingFilesAreRefused()
    {
        string dir = Path.Combine(_tmp.FullName, "pickle");
        Directory.CreateDirectory(dir);
        var e = Assert.Throws<InvalidDataException>(() => UNet2DModel.FromPretrained(dir));
        Assert.Contains("config.json: not found", e.Message);
        File.Copy(Path.Combine(Fixture("tiny"), "config.json"), Path.Combine(dir, "config.json"));
        File.WriteAllBytes(Path.Combine(dir, "diffusion_pytorch_model.bin"), [0x80, 0x02]);
        e = Assert.Throws<InvalidDataException>(() => UNet2DModel.FromPretrained(dir));
        Assert.Contains("diffusion_pytorch_model.bin: pickle checkpoints are refused", e.Message);
    }

    [Fact]
    public void VariantsDiffusersSupportsBuildAndRun()
    {
        using var scope = NewDisposeScope();
        var baseConfig = new UNet2DConfig
        {
            InChannels = 2, OutChannels = 2, BlockOutChannels = [16, 32], NormNumGroups = 4, LayersPerBlock = 1,
            DownBlockTypes = [UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.DownBlock2D],
            UpBlockTypes = [UNetUpBlockType.UpBlock2D, UNetUpBlockType.AttnUpBlock2D],
        };
        UNet2DConfig[] variants =
        [
            baseConfig with { TimeEmbeddingType = TimeEmbeddingType.Fourier, ClassEmbedType = ClassEmbedType.Timestep },
            baseConfig with { TimeEmbeddingType = TimeEmbeddingType.Learned, NumTrainTimesteps = 1000 },
            baseConfig with { ResnetTimeScaleShift = ResnetTimeScaleShift.ScaleShift, DownsampleType = ResamplingType.Resnet, UpsampleType = ResamplingType.Resnet },
            baseConfig with { MidBlockType = null, CenterInputSample = true, ActFn = ActivationFunction.Mish, TimeEmbeddingDim = 48 },
            baseConfig with { AddAttention = false, AttnNormNumGroups = 2, ClassEmbedType = ClassEmbedType.Identity, Dropout = 0.1, MidBlockScaleFactor = 2 },
            baseConfig with { LayersPerBlock = 3, AttentionHeadDim = 12, NumClassEmbeds = 4, ResnetTimeScaleShift = ResnetTimeScaleShift.ScaleShift },
        ];
        foreach (var config in variants)
        {
            using var model = new UNet2DModel(config);
            Assert.Equal(model.ParameterCount, config.CountParameters());
            model.eval();
            var x = randn(2, 2, 8, 8);
            var t = config.TimeEmbeddingType == TimeEmbeddingType.Fourier ? tensor(new float[] { 0.5f, 20f }) : tensor(new long[] { 3, 999 });
            Tensor? labels = config.ClassEmbedType switch
            {
                ClassEmbedType.Timestep => tensor(new long[] { 1, 2 }),
                ClassEmbedType.Identity => randn(2, config.TimeEmbedDim),
                _ when config.NumClassEmbeds is not null => tensor(new long[] { 0, 3 }),
                _ => null,
            };
            using var _ = inference_mode();
            var y = model.call(x, t, labels);
            Assert.Equal(new long[] { 2, 2, 8, 8 }, y.shape);
            Assert.True(y.isfinite().all().item<bool>());
            // Every variant writes a config that reads back to the same JSON.
            string json = DiffusersUNet2DConfig.ToJson(config);
            Assert.Equal(json, DiffusersUNet2DConfig.ToJson(DiffusersUNet2DConfig.Parse(json, "variant")));
        }
    }

    [Fact]
    public void TrainingStepsDoNotLeakTensors()
    {
        using var model = UNet2DModel.FromPretrained(Fixture("tiny"));
        var x = randn(2, 1, 16, 16);
        var t = tensor(new long[] { 5, 600 });
        void Step()
        {
            using var scope = NewDisposeScope();
            model.zero_grad();
            model.call(x, t, null).square().mean().backward();
        }
        Step();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++)
            Step();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
