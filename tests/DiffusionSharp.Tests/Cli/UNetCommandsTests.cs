using System.Reflection;
using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using Spectre.Console;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Cli;

/// <summary>Tests that swap the process-wide console run one at a time.</summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;

/// <summary><c>diffuse inspect | verify | export</c>, run in-process through the CLI's real entry point on the fixtures.</summary>
[Collection("Console")]
public sealed class UNetCommandsTests : IDisposable
{
    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("unet-cli-");

    public void Dispose() => _tmp.Delete(recursive: true);

    private static string Fixture(string name) => Path.Combine(TestPaths.UNet2D, name);

    /// <summary>Runs <c>diffuse args…</c> as Program.cs does, capturing stdout and stderr.</summary>
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var entry = Assembly.Load("diffuse").EntryPoint!;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var savedConsole = AnsiConsole.Console;
        var savedError = Console.Error;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        AnsiConsole.Console.Profile.Width = 200;
        Console.SetError(stderr);
        try
        {
            int code = (int)entry.Invoke(null, [args])!;
            return (code, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            AnsiConsole.Console = savedConsole;
            Console.SetError(savedError);
        }
    }

    private static void AssertOneLineError(string err, params string[] mentions)
    {
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", err);
        foreach (var m in mentions)
            Assert.Contains(m, lines[0]);
    }

    [Fact]
    public void InspectShowsConfigParametersAndTensors()
    {
        var (code, output, err) = Run("inspect", Fixture("cifar10_like_small"));
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains("565,315 (config), 565,315 stored in 328 tensors", output);
        Assert.Contains("attention_head_dim", output);
        Assert.Contains("down_blocks.1.attentions.0.to_q.weight", output);
        Assert.Contains("[16, 3, 3, 3]", output);   // conv_in.weight
    }

    [Theory]
    [InlineData("tiny", "tiny")]
    [InlineData("tiny_class_cond", "tiny_class_cond")]
    [InlineData("tiny_legacy_attn_names", "tiny")]
    [InlineData("cifar10_like_small", "cifar10_like_small")]
    public void VerifyReproducesEveryFixture(string model, string io)
    {
        var (code, output, err) = Run("verify", "--model", Fixture(model), "--io", Path.Combine(Fixture(io), "io.safetensors"));
        Assert.True(code == 0, output + err);
        Assert.Contains("OK", output);
    }

    [Fact]
    public void VerifyFailsAboveTheTolerance()
    {
        var (code, output, _) = Run("verify", "--model", Fixture("tiny"), "--io", Path.Combine(Fixture("tiny"), "io.safetensors"), "--tol", "1e-12");
        Assert.Equal(2, code);
        Assert.Contains("FAILED", output);
    }

    [Fact]
    public void VerifyNamesAMissingTensor()
    {
        using var scope = NewDisposeScope();
        var io = SafeTensors.Load(Path.Combine(Fixture("tiny"), "io.safetensors"));
        io.Remove("output");
        string path = Path.Combine(_tmp.FullName, "io.safetensors");
        SafeTensors.Save(path, io);
        var (code, _, err) = Run("verify", "--model", Fixture("tiny"), "--io", path);
        Assert.Equal(1, code);
        AssertOneLineError(err, path, "'output'");
    }

    [Fact]
    public void ExportInHalfPrecisionHalvesTheWeightsAndLoadsWithinRounding()
    {
        string src = Fixture("tiny"), dst = Path.Combine(_tmp.FullName, "half");
        var (code, output, err) = Run("export", "--model", src, "--out", dst, "--dtype", "float16");
        Assert.True(code == 0, output + err);
        string weights = Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName);
        Assert.All(SafeTensors.ReadHeader(weights).Tensors, t => Assert.Equal("F16", t.DType));
        string source = Path.Combine(src, DiffusersUNet2DCheckpoint.WeightsFileName);
        long fullData = new FileInfo(source).Length - SafeTensors.ReadHeader(source).DataStart;
        Assert.Equal(fullData / 2, new FileInfo(weights).Length - SafeTensors.ReadHeader(weights).DataStart);
        using var original = UNet2DModel.FromPretrained(src);
        using var half = UNet2DModel.FromPretrained(dst);
        var a = original.state_dict();
        foreach (var (name, value) in half.state_dict())
        {
            Assert.Equal(TorchSharp.torch.ScalarType.Float32, value.dtype);
            double scale = a[name].abs().max().item<float>() + 1e-8, diff = (value - a[name]).abs().max().item<float>();
            Assert.True(diff <= scale / 1000, $"{name}: {diff} off after the float16 round trip");
        }
        var (bad, badOut, badErr) = Run("export", "--model", src, "--out", Path.Combine(_tmp.FullName, "bad"), "--dtype", "fp8");
        Assert.NotEqual(0, bad);
        Assert.Contains("--dtype", badOut + badErr);
    }

    [Fact]
    public void ExportWritesAFolderThatLoadsUnchanged()
    {
        // A legacy-named source with a scheduler config: the export has current names and carries the scheduler along.
        string src = Path.Combine(_tmp.FullName, "src");
        Directory.CreateDirectory(src);
        foreach (var f in new[] { "config.json", DiffusersUNet2DCheckpoint.WeightsFileName })
            File.Copy(Path.Combine(Fixture("tiny_legacy_attn_names"), f), Path.Combine(src, f));
        const string scheduler = "{\"_class_name\": \"DDPMScheduler\", \"beta_schedule\": \"linear\", \"variance_type\": \"fixed_large\"}";
        File.WriteAllText(Path.Combine(src, "scheduler_config.json"), scheduler);
        string dst = Path.Combine(_tmp.FullName, "out");

        var (code, output, err) = Run("export", "--model", src, "--out", dst);
        Assert.True(code == 0, output + err);
        Assert.Equal(File.ReadAllText(Path.Combine(src, "config.json")), File.ReadAllText(Path.Combine(dst, "config.json")));
        Assert.Equal(scheduler, File.ReadAllText(Path.Combine(dst, "scheduler_config.json")));
        var (tensors, metadata, _) = SafeTensors.ReadHeader(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName));
        Assert.Equal("pt", metadata["format"]);
        Assert.Contains(tensors, t => t.Name == "down_blocks.1.attentions.0.to_out.0.weight");
        Assert.DoesNotContain(tensors, t => t.Name.Contains("proj_attn", StringComparison.Ordinal));
        // Same tensors as the current-named fixture, byte for byte.
        var expected = SafeTensors.ReadHeader(Path.Combine(Fixture("tiny"), DiffusersUNet2DCheckpoint.WeightsFileName)).Tensors;
        Assert.Equal(expected.Select(t => (t.Name, t.Begin, t.End)), tensors.Select(t => (t.Name, t.Begin, t.End)));
        Assert.True(File.ReadAllBytes(Path.Combine(Fixture("tiny"), DiffusersUNet2DCheckpoint.WeightsFileName))
            .AsSpan((int)SafeTensors.ReadHeader(Path.Combine(Fixture("tiny"), DiffusersUNet2DCheckpoint.WeightsFileName)).DataStart)
            .SequenceEqual(File.ReadAllBytes(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName))
                .AsSpan((int)SafeTensors.ReadHeader(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName)).DataStart)));
        using var reloaded = UNet2DModel.FromPretrained(dst);
        Assert.Equal(701345, reloaded.ParameterCount);

        // DDPMPipeline.from_pretrained's layout: model_index.json, unet/ and a DDPMScheduler over the same schedule.
        using (var index = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dst, "model_index.json"))))
        {
            Assert.Equal("DDPMPipeline", index.RootElement.GetProperty("_class_name").GetString());
            Assert.Equal("UNet2DModel", index.RootElement.GetProperty("unet")[1].GetString());
            Assert.Equal("DDPMScheduler", index.RootElement.GetProperty("scheduler")[1].GetString());
        }
        Assert.Equal(File.ReadAllText(Path.Combine(dst, "config.json")), File.ReadAllText(Path.Combine(dst, "unet", "config.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName)),
            File.ReadAllBytes(Path.Combine(dst, "unet", DiffusersUNet2DCheckpoint.WeightsFileName)));
        using (var sched = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dst, "scheduler", "scheduler_config.json"))))
        {
            Assert.Equal("DDPMScheduler", sched.RootElement.GetProperty("_class_name").GetString());
            Assert.Equal("linear", sched.RootElement.GetProperty("beta_schedule").GetString());
            Assert.Equal(1000, sched.RootElement.GetProperty("num_train_timesteps").GetInt32());
        }

        // Without a scheduler config, none is written.
        string dst2 = Path.Combine(_tmp.FullName, "out2");
        Assert.Equal(0, Run("export", "--model", Fixture("tiny"), "--out", dst2).Code);
        Assert.False(File.Exists(Path.Combine(dst2, "scheduler_config.json")));
    }

    [Fact]
    public void BadInputIsOneLineNamingTheFileAndExitCodeOne()
    {
        string missing = Path.Combine(_tmp.FullName, "nothing-here");
        var (code, _, err) = Run("inspect", missing);
        Assert.Equal(1, code);
        AssertOneLineError(err, Path.Combine(missing, "config.json"));

        string broken = Path.Combine(_tmp.FullName, "broken");
        Directory.CreateDirectory(broken);
        File.Copy(Path.Combine(Fixture("tiny"), "config.json"), Path.Combine(broken, "config.json"));
        byte[] weights = File.ReadAllBytes(Path.Combine(Fixture("tiny"), DiffusersUNet2DCheckpoint.WeightsFileName));
        string weightsPath = Path.Combine(broken, DiffusersUNet2DCheckpoint.WeightsFileName);
        File.WriteAllBytes(weightsPath, weights[..(weights.Length - 100)]);
        (code, _, err) = Run("verify", "--model", broken, "--io", Path.Combine(Fixture("tiny"), "io.safetensors"));
        Assert.Equal(1, code);
        AssertOneLineError(err, weightsPath, "beyond the end of the file");

        File.WriteAllText(Path.Combine(broken, "config.json"), "{\"block_out_channels\": [32, \"64\"]}");
        (code, _, err) = Run("export", "--model", broken, "--out", Path.Combine(_tmp.FullName, "never"));
        Assert.Equal(1, code);
        AssertOneLineError(err, Path.Combine(broken, "config.json"), "'block_out_channels'");
        Assert.False(Directory.Exists(Path.Combine(_tmp.FullName, "never")));
    }

    private static string Fixture1D(string name) => Path.Combine(TestPaths.UNet1D, name);

    [Fact]
    public void InspectShowsAUNet1DFolder()
    {
        var (code, output, err) = Run("inspect", Fixture1D("dance_tiny"));
        Assert.True(code == 0, output + err);
        Assert.Contains("660,133 (config) + 48 buffer elements, 660,181 stored in 325 tensors", output);
        Assert.DoesNotContain("MISMATCH", output);
        Assert.Contains("UNet1DModel", output);
        Assert.Contains("mid_block.down.kernel", output);
    }

    [Theory]
    [InlineData("dance_tiny")]
    [InlineData("resnet_temporal_tiny")]
    public void VerifyReproducesTheUNet1DFixturesAndFailsAboveTheTolerance(string name)
    {
        string io = Path.Combine(Fixture1D(name), "io.safetensors");
        var (code, output, err) = Run("verify", "--model", Fixture1D(name), "--io", io);
        Assert.True(code == 0, output + err);
        Assert.Contains("OK", output);
        (code, output, _) = Run("verify", "--model", Fixture1D(name), "--io", io, "--tol", "1e-12");
        Assert.Equal(2, code);
        Assert.Contains("FAILED", output);
    }

    [Fact]
    public void ExportWritesAUNet1DFolderThatLoadsUnchanged()
    {
        string src = Path.Combine(_tmp.FullName, "src1d");
        Directory.CreateDirectory(src);
        foreach (var f in new[] { "config.json", DiffusersUNet2DCheckpoint.WeightsFileName })
            File.Copy(Path.Combine(Fixture1D("resnet_temporal_tiny"), f), Path.Combine(src, f));
        const string scheduler = "{\"_class_name\": \"IPNDMScheduler\", \"num_train_timesteps\": 1000}";
        File.WriteAllText(Path.Combine(src, "scheduler_config.json"), scheduler);
        string dst = Path.Combine(_tmp.FullName, "out1d");
        var (code, output, err) = Run("export", "--model", src, "--out", dst);
        Assert.True(code == 0, output + err);
        Assert.Equal(File.ReadAllText(Path.Combine(src, "config.json")), File.ReadAllText(Path.Combine(dst, "config.json")));
        Assert.Equal(File.ReadAllText(Path.Combine(dst, "config.json")), File.ReadAllText(Path.Combine(dst, "unet", "config.json")));
        Assert.Equal(scheduler, File.ReadAllText(Path.Combine(dst, "scheduler", "scheduler_config.json")));
        using (var index = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dst, "model_index.json"))))
        {
            Assert.Equal("DanceDiffusionPipeline", index.RootElement.GetProperty("_class_name").GetString());
            Assert.Equal("UNet1DModel", index.RootElement.GetProperty("unet")[1].GetString());
            Assert.Equal("IPNDMScheduler", index.RootElement.GetProperty("scheduler")[1].GetString());
        }
        var expected = SafeTensors.ReadHeader(Path.Combine(src, DiffusersUNet2DCheckpoint.WeightsFileName)).Tensors;
        var written = SafeTensors.ReadHeader(Path.Combine(dst, DiffusersUNet2DCheckpoint.WeightsFileName)).Tensors;
        Assert.Equal(expected.Select(t => (t.Name, t.Begin, t.End)), written.Select(t => (t.Name, t.Begin, t.End)));
        using var reloaded = UNet1DModel.FromPretrained(dst);
        Assert.Equal(251042, reloaded.ParameterCount);
        Assert.Equal(0, Run("verify", "--model", dst, "--io", Path.Combine(Fixture1D("resnet_temporal_tiny"), "io.safetensors")).Code);
    }

    [Fact]
    public void ABadUNet1DConfigIsOneLineNamingTheKey()
    {
        string broken = Path.Combine(_tmp.FullName, "broken1d");
        Directory.CreateDirectory(broken);
        File.Copy(Path.Combine(Fixture1D("dance_tiny"), DiffusersUNet2DCheckpoint.WeightsFileName), Path.Combine(broken, DiffusersUNet2DCheckpoint.WeightsFileName));
        string config = File.ReadAllText(Path.Combine(Fixture1D("dance_tiny"), "config.json")).Replace("\"extra_in_channels\": 8", "\"extra_in_channels\": 3");
        File.WriteAllText(Path.Combine(broken, "config.json"), config);
        var (code, _, err) = Run("verify", "--model", broken, "--io", Path.Combine(Fixture1D("dance_tiny"), "io.safetensors"));
        Assert.Equal(1, code);
        AssertOneLineError(err, Path.Combine(broken, "config.json"), "'extra_in_channels'");
    }
}
