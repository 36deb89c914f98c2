using System.Text.Json;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Models;

/// <summary>
/// diffusers v0.38 parity on the fixtures in shared/fixtures/diffusers/unet2d: outputs, per-module intermediates,
/// parameter counts and the exact state_dict key list.
/// </summary>
public sealed class UNet2DParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string, string> Cases => new()
    {
        { "tiny", "tiny" },
        { "tiny_class_cond", "tiny_class_cond" },
        { "tiny_legacy_attn_names", "tiny" },
        { "cifar10_like_small", "cifar10_like_small" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReproducesDiffusersOutputAndIntermediates(string folder, string ioFolder)
    {
        using var scope = NewDisposeScope();
        using var model = UNet2DModel.FromPretrained(Path.Combine(TestPaths.UNet2D, folder));
        var io = SafeTensors.Load(Path.Combine(TestPaths.UNet2D, ioFolder, "io.safetensors"));
        var expectedIntermediates = SafeTensors.Load(Path.Combine(TestPaths.UNet2D, ioFolder, "intermediates.safetensors"));
        var captured = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        model.Trace = (name, t) => captured[name] = t.detach().clone().DetachFromDisposeScope();
        Tensor actual;
        using (inference_mode())
            actual = model.call(io["sample"], io["timesteps"].to(ScalarType.Int64), io.TryGetValue("class_labels", out var cl) ? cl.to(ScalarType.Int64) : null);
        double diff = MaxAbs(actual, io["output"]);
        output.WriteLine($"{folder}: output max|Δ| = {diff:E2}");
        Assert.True(diff <= Tolerance, $"output differs by {diff:E3}");

        foreach (var (name, expected) in expectedIntermediates)
        {
            Assert.True(captured.ContainsKey(name), $"intermediate '{name}' was not traced");
            Assert.Equal(expected.shape, captured[name].shape);
            double d = MaxAbs(captured[name], expected);
            Assert.True(d <= Tolerance, $"intermediate '{name}' differs by {d:E3}");
        }
        Assert.Equal(expectedIntermediates.Keys.Order(StringComparer.Ordinal), captured.Keys.Order(StringComparer.Ordinal));
        foreach (var t in captured.Values)
            t.Dispose();
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("tiny_class_cond")]
    [InlineData("cifar10_like_small")]
    public void StateDictKeysAndParameterCountMatchDiffusers(string folder)
    {
        using var fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.UNet2D, folder, "fixture.json")));
        var expectedKeys = fixture.RootElement.GetProperty("state_dict_keys").EnumerateArray().Select(e => e.GetString()!).ToList();
        long expectedParams = fixture.RootElement.GetProperty("num_params").GetInt64();
        using var model = new UNet2DModel(DiffusersUNet2DConfig.Read(Path.Combine(TestPaths.UNet2D, folder, "config.json")));
        Assert.Equal(expectedKeys, model.state_dict().Keys.ToList());
        Assert.Equal(expectedParams, model.ParameterCount);
        Assert.Equal(expectedParams, model.Config.CountParameters());
    }

    internal static double MaxAbs(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
}
