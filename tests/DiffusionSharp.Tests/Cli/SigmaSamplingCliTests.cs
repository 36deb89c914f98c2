using DiffusionSharp.Cli.Commands;

namespace DiffusionSharp.Tests.Cli;

/// <summary>
/// <c>diffuse sample --sigma-sampler</c> (the network as a σ-space denoiser) and EDM-preconditioned models end to end:
/// <c>diffuse train --preconditioning edm</c> writes a folder that <c>diffuse sample</c> draws through EDM's Heun sampler.
/// </summary>
[Collection("Console")]
public sealed class SigmaSamplingCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-sigma-cli-");

    public void Dispose() => _dir.Delete(true);

    private string Temp(string name) => Path.Combine(_dir.FullName, name);

    [Theory]
    [InlineData("dpm++2m", "karras")]
    [InlineData("heun", "exponential")]
    [InlineData("dpm++2m-sde", "schedule")]
    public void SigmaSamplerDrawsFromADiffusersFolder(string sampler, string grid)
    {
        string model = Path.Combine(TestPaths.UNet2D, "cifar10_like_small");
        var (code, output) = CliRunner.Run("sample", "--model", model, "--out", Temp("out"), "--count", "2", "--steps", "3",
            "--sigma-sampler", sampler, "--sigmas", grid);
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(Temp("out"), "grid.png")), output);
        Assert.Contains($"{sampler} over a {grid} σ grid", output);
    }

    [Fact]
    public void UnknownSigmaSamplerIsOneLineNamingTheOption()
    {
        var (code, output) = CliRunner.Run("sample", "--model", Path.Combine(TestPaths.UNet2D, "tiny"), "--sigma-sampler", "rk4", "--out", Temp("x"));
        Assert.NotEqual(0, code);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("--sigma-sampler", line);
        Assert.Contains("dpm++2m", line);
    }

    [Fact]
    public void EdmTrainedModelSamplesThroughHeunAndRefusesASchedulers()
    {
        string data = CliTests.WriteDigits(Temp("digits"), 32);
        string run = Temp("run");
        var (code, output) = CliRunner.Run("train", "--data", data, "--out", run, "--preset", "tiny", "--steps", "2", "--batch-size", "8",
            "--weighting", "edm", "--preconditioning", "edm", "--sample-every", "0", "--warmup", "1");
        Assert.True(code == 0, output);
        string model = Path.Combine(run, "model");
        Assert.Contains("\"preconditioning\": \"edm\"", File.ReadAllText(Path.Combine(model, "diffusionsharp.json")));

        (code, output) = CliRunner.Run("sample", "--model", model, "--count", "2", "--steps", "2", "--out", Temp("s"));
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(Temp("s"), "grid.png")), output);
        Assert.Contains("heun over a karras σ grid", output);

        (code, output) = CliRunner.Run("sample", "--model", model, "--count", "2", "--steps", "2", "--sampler", "ddim", "--out", Temp("d"));
        Assert.NotEqual(0, code);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("EDM-preconditioned", line);

        // diffuse evaluate builds its options the same way: on an EDM model it draws with Heun instead of refusing a
        // scheduler it was never asked for.
        var evaluate = new EvaluateCommand.Settings { Model = model };
        var options = evaluate.GenerationOptions(2, 2, null, 0);
        Assert.Null(options.Sampler);
        using var pipeline = evaluate.LoadPipeline();
        using (var x = pipeline.Generate(options))
            Assert.Equal(2, x.shape[0]);
        Assert.Equal("heun over a karras σ grid", SamplerSettings.Describe(pipeline, options));
    }
}
