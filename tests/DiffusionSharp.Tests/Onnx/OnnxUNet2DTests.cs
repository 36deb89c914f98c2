using DiffusionSharp.Models;
using DiffusionSharp.Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Onnx;

/// <summary>
/// The ONNX export of <see cref="UNet2DModel"/> run on ONNX Runtime agrees with our forward pass to 1e-4 (max abs):
/// the embedded MNIST model and small random U-Nets that between them use every option the exporter supports.
/// </summary>
public sealed class OnnxUNet2DTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    /// <summary>Configs named by what they exercise; each is a few thousand parameters at 8×8 or 16×16.</summary>
    public static TheoryData<string> Configs => [.. s_configs.Keys];

    private static readonly Dictionary<string, UNet2DConfig> s_configs = new(StringComparer.Ordinal)
    {
        ["attention+scale-shift+resnet-resampling+mish+class-table"] = new()
        {
            InChannels = 2, OutChannels = 3, BlockOutChannels = [16, 32], NormNumGroups = 8, LayersPerBlock = 1,
            DownBlockTypes = [UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.AttnDownBlock2D],
            UpBlockTypes = [UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.AttnUpBlock2D],
            AttentionHeadDim = 8, ResnetTimeScaleShift = ResnetTimeScaleShift.ScaleShift, AttnNormNumGroups = 4,
            DownsampleType = ResamplingType.Resnet, UpsampleType = ResamplingType.Resnet, ActFn = ActivationFunction.Mish,
            FlipSinToCos = false, FreqShift = 1, NumClassEmbeds = 4, MidBlockScaleFactor = 1.5,
        },
        ["conv-pad0+gelu+timestep-class+center-input+one-head"] = new()
        {
            InChannels = 1, OutChannels = 1, BlockOutChannels = [8, 16, 16], NormNumGroups = 4, LayersPerBlock = 2,
            DownBlockTypes = [UNetDownBlockType.DownBlock2D, UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.DownBlock2D],
            UpBlockTypes = [UNetUpBlockType.UpBlock2D, UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.UpBlock2D],
            AttentionHeadDim = null, DownsamplePadding = 0, ActFn = ActivationFunction.Gelu, ClassEmbedType = ClassEmbedType.Timestep,
            CenterInputSample = true, MidBlockScaleFactor = 2, TimeEmbeddingDim = 24, NormEps = 1e-6,
        },
        ["fourier+relu+scale-shift-mid-attention-without-norm"] = new()
        {
            InChannels = 3, OutChannels = 3, BlockOutChannels = [8, 16], NormNumGroups = 4, LayersPerBlock = 1,
            DownBlockTypes = [UNetDownBlockType.DownBlock2D, UNetDownBlockType.AttnDownBlock2D],
            UpBlockTypes = [UNetUpBlockType.AttnUpBlock2D, UNetUpBlockType.UpBlock2D],
            TimeEmbeddingType = TimeEmbeddingType.Fourier, ActFn = ActivationFunction.Relu,
            ResnetTimeScaleShift = ResnetTimeScaleShift.ScaleShift, AttentionHeadDim = 4,
        },
        ["learned-time+no-mid-block+swish+three-levels"] = new()
        {
            InChannels = 1, OutChannels = 2, BlockOutChannels = [8, 8, 16], NormNumGroups = 2, LayersPerBlock = 1,
            DownBlockTypes = [UNetDownBlockType.AttnDownBlock2D, UNetDownBlockType.DownBlock2D, UNetDownBlockType.DownBlock2D],
            UpBlockTypes = [UNetUpBlockType.UpBlock2D, UNetUpBlockType.UpBlock2D, UNetUpBlockType.AttnUpBlock2D],
            MidBlockType = null, TimeEmbeddingType = TimeEmbeddingType.Learned, NumTrainTimesteps = 100, ActFn = ActivationFunction.Swish,
            AttentionHeadDim = 4,
        },
        ["odd-sinusoid-width+mid-without-attention"] = new()
        {
            InChannels = 1, OutChannels = 1, BlockOutChannels = [9, 18], NormNumGroups = 3, LayersPerBlock = 1,
            DownBlockTypes = [UNetDownBlockType.DownBlock2D, UNetDownBlockType.DownBlock2D],
            UpBlockTypes = [UNetUpBlockType.UpBlock2D, UNetUpBlockType.UpBlock2D], AddAttention = false, FreqShift = 2,
        },
    };

    [Fact]
    public void EmbeddedMnistModelMatchesAtBatchOneAndThree()
    {
        using var scope = NewDisposeScope();
        using var model = UNet2DModel.FromPretrained(Path.Combine(AppContext.BaseDirectory, "models", "mnist"));
        using var ort = new OrtRunner(model);
        Assert.Equal(["sample", "timestep", "class_labels"], ort.InputNames);
        var generator = new TorchSharp.torch.Generator(7);
        foreach (int batch in new[] { 1, 3 })
        {
            var sample = randn([batch, 1, 28, 28], generator: generator);
            var t = tensor(new float[] { 999, 500, 3 }[..batch]);
            var labels = tensor(new long[] { 10, 3, 7 }[..batch]);
            Compare($"mnist batch {batch}", model, ort, sample, t, labels);
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void RandomUNetMatchesAtBatchOneAndThree(string name)
    {
        using var scope = NewDisposeScope();
        var config = s_configs[name];
        manual_seed(11);
        using var model = new UNet2DModel(config);
        Perturb(model);
        model.eval();
        using var ort = new OrtRunner(model);
        int size = 1 << (config.BlockOutChannels.Length + 1);
        var generator = new TorchSharp.torch.Generator(3);
        foreach (int batch in new[] { 1, 3 })
        {
            var sample = randn([batch, config.InChannels, size, size], generator: generator);
            var t = config.TimeEmbeddingType switch
            {
                TimeEmbeddingType.Fourier => tensor(new float[] { 0.2f, 1.5f, 60f }[..batch]),   // σ > 0; the output is divided by σ
                TimeEmbeddingType.Learned => tensor(new float[] { 0, 42, 99 }[..batch]),
                _ => tensor(new float[] { 999, 250.5f, 0 }[..batch]),
            };
            var labels = config.HasClassEmbedding ? tensor(new long[] { 3, 0, 2 }[..batch]) : null;
            Compare($"{name} batch {batch}", model, ort, sample, t, labels);
        }
    }

    [Fact]
    public void IdentityClassEmbeddingIsRefusedNamingTheConfigKey()
    {
        using var model = new UNet2DModel(new UNet2DConfig
        {
            BlockOutChannels = [8], NormNumGroups = 4, DownBlockTypes = [UNetDownBlockType.DownBlock2D], UpBlockTypes = [UNetUpBlockType.UpBlock2D],
            ClassEmbedType = ClassEmbedType.Identity,
        });
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.ToBytes(model));
        Assert.Contains("class_embed_type", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Moves every parameter off its init (GroupNorm γ = 1, β = 0 would hide a wrong per-channel affine).</summary>
    internal static void Perturb(TorchSharp.torch.nn.Module model)
    {
        using var noGrad = no_grad();
        foreach (var p in model.parameters())
            p.add_(randn_like(p) * 0.1);
    }

    private void Compare(string label, UNet2DModel model, OrtRunner ort, Tensor sample, Tensor t, Tensor? labels)
    {
        Tensor ours;
        using (inference_mode())
            ours = model.call(sample, t, labels);
        var theirs = ort.Run(sample, t, labels);
        double diff = OrtRunner.MaxAbs(ours, theirs);
        output.WriteLine($"{label}: max|ours − ORT| = {diff:E2} (output scale {ours.abs().max().item<float>():F2})");
        Assert.True(diff <= Tolerance, $"{label}: ONNX Runtime differs from our forward pass by {diff:E3}");
    }
}
