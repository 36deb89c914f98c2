using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Onnx;

/// <summary>
/// The ONNX export of <see cref="UNet1DModel"/> on ONNX Runtime agrees with our forward pass (and so with diffusers)
/// to 1e-4: the two diffusers fixtures (Dance Diffusion and ResNet-temporal layouts) and a class-conditional
/// spoken-digit-style model, at the fixtures' batch of 2 and at batches 1 and 3.
/// </summary>
public sealed class OnnxUNet1DTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("dance_tiny")]
    [InlineData("resnet_temporal_tiny")]
    public void DiffusersFixturesMatchOursAndDiffusers(string folder)
    {
        using var scope = NewDisposeScope();
        string dir = Path.Combine(TestPaths.UNet1D, folder);
        using var model = UNet1DModel.FromPretrained(dir);
        using var ort = new OrtRunner(model);
        var io = SafeTensors.Load(Path.Combine(dir, "io.safetensors"));
        var theirs = ort.Run(io["sample"], io["timesteps"], null);
        double vsDiffusers = OrtRunner.MaxAbs(theirs, io["output"]);
        output.WriteLine($"{folder}: max|ORT − diffusers| = {vsDiffusers:E2}");
        Assert.True(vsDiffusers <= Tolerance, $"{folder}: ONNX Runtime differs from diffusers' output by {vsDiffusers:E3}");
        Compare($"{folder} fixture batch", model, ort, io["sample"], io["timesteps"], null);

        var generator = new TorchSharp.torch.Generator(5);
        long channels = io["sample"].shape[1], length = io["sample"].shape[2];
        foreach (int batch in new[] { 1, 3 })
        {
            var t = tensor(new[] { io["timesteps"][0].item<float>(), io["timesteps"][1].item<float>(), 0.5f }[..batch]);
            Compare($"{folder} batch {batch}", model, ort, randn([batch, channels, length], generator: generator), t, null);
        }
    }

    [Fact]
    public void ClassConditionalResnetLayoutMatches()
    {
        using var scope = NewDisposeScope();
        var config = UNet1DConfig.SpokenDigits(numClasses: 3) with { BlockOutChannels = [8, 16, 32], DownBlockTypes =
            [UNet1DDownBlockType.DownResnetBlock1D, UNet1DDownBlockType.DownResnetBlock1D, UNet1DDownBlockType.DownResnetBlock1D],
            UpBlockTypes = [UNet1DUpBlockType.UpResnetBlock1D, UNet1DUpBlockType.UpResnetBlock1D], SampleSize = 64, LayersPerBlock = 2 };
        manual_seed(2);
        using var model = new UNet1DModel(config);
        OnnxUNet2DTests.Perturb(model);
        model.eval();
        using var ort = new OrtRunner(model);
        Assert.Equal(["sample", "timestep", "class_labels"], ort.InputNames);
        var generator = new TorchSharp.torch.Generator(9);
        foreach (int batch in new[] { 1, 3 })
        {
            var t = tensor(new float[] { 999, 17, 400 }[..batch]);
            var labels = tensor(new long[] { 3, 0, 1 }[..batch]);
            Compare($"spoken-digits-like batch {batch}", model, ort, randn([batch, 1, 64], generator: generator), t, labels);
        }
    }

    [Fact]
    public void ValueFunctionHeadIsRefusedNamingTheConfigKey()
    {
        var config = new UNet1DConfig
        {
            InChannels = 2, OutChannels = 1, BlockOutChannels = [16, 32], TimeEmbeddingType = TimeEmbeddingType.Positional,
            UseTimestepEmbedding = true, ActFn = ActivationFunction.Mish,
            DownBlockTypes = [UNet1DDownBlockType.DownResnetBlock1D, UNet1DDownBlockType.DownResnetBlock1D], UpBlockTypes = [],
            MidBlockType = UNet1DMidBlockType.ValueFunctionMidBlock1D, OutBlockType = UNet1DOutBlockType.ValueFunction, DownsampleEachBlock = true,
        };
        if (config.FindProblem() is { } problem)
            Assert.Fail($"test config is invalid: {problem}");
        using var model = new UNet1DModel(config);
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.ToBytes(model));
        Assert.Contains("out_block_type", e.Message, StringComparison.Ordinal);
    }

    private void Compare(string label, UNet1DModel model, OrtRunner ort, Tensor sample, Tensor t, Tensor? labels)
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
