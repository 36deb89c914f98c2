using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Tests.Cli;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Onnx;

/// <summary><c>diffuse export --format onnx</c>: the file it writes runs on ONNX Runtime, and bad input is one line naming the option.</summary>
[Collection("Console")]
public sealed class OnnxExportCliTests : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("onnx-cli-");

    public void Dispose() => _tmp.Delete(recursive: true);

    [Fact]
    public void WritesAFileOnnxRuntimeRuns()
    {
        using var scope = NewDisposeScope();
        string dir = Path.Combine(TestPaths.UNet1D, "dance_tiny");
        string file = Path.Combine(_tmp.FullName, "sub", "dance.onnx");
        var (code, text) = CliRunner.Run("export", "--format", "onnx", "--model", dir, "--out", file);
        Assert.True(code == 0, text);
        Assert.Contains("opset 17", text, StringComparison.Ordinal);
        using var ort = new OrtRunner(File.ReadAllBytes(file), classConditional: false);
        var io = SafeTensors.Load(Path.Combine(dir, "io.safetensors"));
        Assert.True(OrtRunner.MaxAbs(ort.Run(io["sample"], io["timesteps"], null), io["output"]) <= 1e-4);
    }

    [Theory]
    [InlineData("--format", "tflite", "--format")]
    [InlineData("--model", "/nonexistent/model", "--model")]
    [InlineData("--out", "", "--out")]
    public void BadInputIsOneLineNamingTheOption(string option, string value, string named)
    {
        string model = Path.Combine(TestPaths.UNet1D, "dance_tiny");
        var args = new Dictionary<string, string> { ["--format"] = "onnx", ["--model"] = model, ["--out"] = Path.Combine(_tmp.FullName, "x.onnx") };
        args[option] = value == "" ? _tmp.FullName : value;   // --out "": an existing folder where a file belongs
        var (code, text) = CliRunner.Run(["export", .. args.SelectMany(kv => new[] { kv.Key, kv.Value })]);
        Assert.NotEqual(0, code);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Single(lines);
        Assert.Contains(named, lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void UnsupportedConfigIsOneLineNamingTheKey()
    {
        using var model = new UNet2DModel(new UNet2DConfig
        {
            BlockOutChannels = [8], NormNumGroups = 4, DownBlockTypes = [UNetDownBlockType.DownBlock2D], UpBlockTypes = [UNetUpBlockType.UpBlock2D],
            ClassEmbedType = ClassEmbedType.Identity,
        });
        string dir = Path.Combine(_tmp.FullName, "identity");
        model.SavePretrained(dir);
        var (code, text) = CliRunner.Run("export", "--format", "onnx", "--model", dir, "--out", Path.Combine(_tmp.FullName, "identity.onnx"));
        Assert.NotEqual(0, code);
        Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("class_embed_type", text, StringComparison.Ordinal);
    }
}
