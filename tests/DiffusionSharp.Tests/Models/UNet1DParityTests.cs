using System.Text.Json;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Models;

/// <summary>
/// diffusers v0.38 <c>UNet1DModel</c> parity on shared/fixtures/diffusers/unet1d (Dance Diffusion and ResNet-temporal
/// layouts): output, every recorded intermediate, parameter count, state-dict keys, and the save/reload round trip.
/// </summary>
public sealed class UNet1DParityTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("unet1d-");

    public void Dispose() => _tmp.Delete(recursive: true);

    private static string Fixture(string name) => Path.Combine(TestPaths.UNet1D, name);

    [Theory]
    [InlineData("dance_tiny")]
    [InlineData("resnet_temporal_tiny")]
    public void ReproducesDiffusersOutputAndEveryIntermediate(string folder)
    {
        using var scope = NewDisposeScope();
        using var model = UNet1DModel.FromPretrained(Fixture(folder));
        var io = SafeTensors.Load(Path.Combine(Fixture(folder), "io.safetensors"));
        var expected = SafeTensors.Load(Path.Combine(Fixture(folder), "intermediates.safetensors"));
        var captured = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        model.Trace = (name, t) => captured[name] = t.detach().clone().DetachFromDisposeScope();
        Tensor actual;
        using (inference_mode())
            actual = model.call(io["sample"], io["timesteps"], null);
        double diff = UNet2DParityTests.MaxAbs(actual, io["output"]);
        output.WriteLine($"{folder}: output max|Δ| = {diff:E2}");
        Assert.True(diff <= Tolerance, $"output differs by {diff:E3}");
        double worst = 0;
        foreach (var (name, e) in expected)
        {
            Assert.True(captured.ContainsKey(name), $"intermediate '{name}' was not traced");
            Assert.Equal(e.shape, captured[name].shape);
            double d = UNet2DParityTests.MaxAbs(captured[name], e);
            worst = Math.Max(worst, d);
            Assert.True(d <= Tolerance, $"intermediate '{name}' differs by {d:E3}");
        }
        output.WriteLine($"{folder}: {expected.Count} intermediates, worst max|Δ| = {worst:E2}");
        foreach (var t in captured.Values)
            t.Dispose();
    }

    [Theory]
    [InlineData("dance_tiny")]
    [InlineData("resnet_temporal_tiny")]
    public void StateDictKeysAndParameterCountMatchDiffusers(string folder)
    {
        using var fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture(folder), "fixture.json")));
        var keys = fixture.RootElement.GetProperty("state_dict_keys").EnumerateArray().Select(e => e.GetString()!).ToList();
        long parameters = fixture.RootElement.GetProperty("num_params").GetInt64();
        var config = DiffusersUNet1DConfig.Read(Path.Combine(Fixture(folder), "config.json"));
        using var model = new UNet1DModel(config);
        Assert.Equal(keys.Order(StringComparer.Ordinal), model.state_dict().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(parameters, model.ParameterCount);
        Assert.Equal(parameters, config.CountParameters());
    }

    [Theory]
    [InlineData("dance_tiny")]
    [InlineData("resnet_temporal_tiny")]
    public void SaveAndReloadKeepConfigAndTensors(string folder)
    {
        using var scope = NewDisposeScope();
        using var model = UNet1DModel.FromPretrained(Fixture(folder));
        string dst = Path.Combine(_tmp.FullName, folder);
        model.SavePretrained(dst);
        Assert.Equal(File.ReadAllText(Path.Combine(Fixture(folder), "config.json")), File.ReadAllText(Path.Combine(dst, "config.json")));
        var original = SafeTensors.Load(Path.Combine(Fixture(folder), DiffusersUNet2DCheckpoint.WeightsFileName));
        var saved = SafeTensors.Load(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName));
        Assert.Equal(original.Keys.Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in original)
            Assert.True(t.shape.SequenceEqual(saved[name].shape) && t.eq(saved[name]).all().item<bool>(), $"tensor '{name}' changed");
        Assert.Equal("pt", SafeTensors.ReadHeader(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName)).Metadata["format"]);
        using var reloaded = UNet1DModel.FromPretrained(dst);
        Assert.Equal(DiffusersUNet1DConfig.ToJson(model.Config), DiffusersUNet1DConfig.ToJson(reloaded.Config));
    }
}
