using System.Text.Json;
using DiffusionSharp.Tests.Text;

namespace DiffusionSharp.Tests.Cli;

/// <summary>Issue 11's commands: train a text model of either family, sample it (prompt, infill, trajectory) and evaluate it beside its twin.</summary>
[Collection("Console")]
public sealed class TextCliTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-textcli-");

    public void Dispose() => _dir.Delete(true);

    private string Temp(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void TrainSampleAndEvaluateATextModelAndItsTwin()
    {
        string data = Temp("genesis.txt");
        var corpus = TextFixtures.Genesis();
        File.WriteAllText(data, string.Join("\n\n", corpus.Train.Concat(corpus.HeldOut)) + "\n");
        foreach (string family in new[] { "text", "text-ar" })
        {
            var (code, output) = CliRunner.Run("train", "--data", data, "--model", family, "--preset", "tiny", "--steps", "2", "--batch-size", "4",
                "--warmup", "1", "--out", Temp(family));
            Assert.True(code == 0, output);
            Assert.Contains(family == "text" ? "masked diffusion (MDLM)" : "autoregressive", output);
        }
        string model = Path.Combine(Temp("text"), "model"), twin = Path.Combine(Temp("text-ar"), "model");

        var (sc, so) = CliRunner.Run("sample", "--model", model, "--count", "3", "--steps", "6", "--trajectory", "--out", Temp("s"));
        Assert.True(sc == 0, so);
        string samples = File.ReadAllText(Path.Combine(Temp("s"), "samples.txt"));
        Assert.Equal(3, samples.Split("===== sample ").Length - 1);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(Temp("s"), "samples.jsonl")).Length);
        Assert.True(new FileInfo(Path.Combine(Temp("s"), "trajectory.png")).Length > 1000);
        Assert.Contains("step 6/6", File.ReadAllText(Path.Combine(Temp("s"), "trajectory.txt")));

        var (ic, io) = CliRunner.Run("sample", "--model", model, "--count", "2", "--infill", "And God ____ light", "--span", "5", "--out", Temp("i"));
        Assert.True(ic == 0, io);
        foreach (string line in File.ReadAllLines(Path.Combine(Temp("i"), "samples.jsonl")))
            Assert.Matches("(?s)^And God .{5} light$", JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!);

        var (pc, po) = CliRunner.Run("sample", "--model", twin, "--count", "1", "--prompt", "In the", "--length", "12", "--out", Temp("p"));
        Assert.True(pc == 0, po);
        Assert.StartsWith("In the", JsonDocument.Parse(File.ReadAllText(Path.Combine(Temp("p"), "samples.jsonl"))).RootElement.GetProperty("text").GetString());

        var (bc, bo) = CliRunner.Run("sample", "--model", model, "--guidance", "2", "--out", Temp("g"));
        Assert.Equal(1, bc);
        Assert.Contains("--guidance applies to class-conditional models", bo);

        // The folder's generation_config.json fills in what the command line leaves out, and the command line wins.
        string config = Path.Combine(model, DiffusionSharp.Text.TextSamplingDefaults.FileName);
        File.WriteAllText(config, """{ "order": "confidence", "choice_temperature": 3, "steps": 5 }""");
        var (dc, dout) = CliRunner.Run("sample", "--model", model, "--count", "2", "--seed", "7", "--out", Temp("d1"));
        Assert.True(dc == 0, dout);
        Assert.Contains("confidence order, τ 3", dout);
        File.Delete(config);
        var (ec2, eo2) = CliRunner.Run("sample", "--model", model, "--count", "2", "--seed", "7", "--order", "confidence", "--choice-temperature", "3",
            "--steps", "5", "--out", Temp("d2"));
        Assert.True(ec2 == 0, eo2);
        var (ac, ao) = CliRunner.Run("sample", "--model", model, "--count", "2", "--seed", "7", "--steps", "5", "--out", Temp("d3"));
        Assert.True(ac == 0, ao);
        string Texts(string dir) => File.ReadAllText(Path.Combine(Temp(dir), "samples.jsonl"));
        Assert.Equal(Texts("d2"), Texts("d1"));
        Assert.NotEqual(Texts("d3"), Texts("d1"));
        Assert.Contains("ancestral (random order)", ao);
        File.WriteAllText(config, """{ "order": "sideways" }""");
        var (fc, fo) = CliRunner.Run("sample", "--model", model, "--out", Temp("d4"));
        Assert.Equal(1, fc);
        Assert.Contains($"{config}: \"order\" is \"sideways\"; it takes \"random\" or \"confidence\"", fo.ReplaceLineEndings(""));
        File.Delete(config);

        string report = Temp("report.json");
        var (ec, eo) = CliRunner.Run("evaluate", "--model", model, "--twin", twin, "--data", data, "--count", "3", "--steps", "4", "--time-samples", "1",
            "--speed-steps", "2,4", "--speed-count", "2", "--report", report, "--out", Temp("e"));
        Assert.True(ec == 0, eo);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var root = json.RootElement;
        Assert.True(root.GetProperty("heldOut").GetProperty("IsUpperBound").GetBoolean());
        Assert.False(root.GetProperty("twinHeldOut").GetProperty("IsUpperBound").GetBoolean());
        Assert.Equal(4, root.GetProperty("sources").GetArrayLength());
        Assert.Equal(3, root.GetProperty("speeds").GetArrayLength());
        Assert.Equal(4, Directory.GetFiles(Temp("e"), "*.jsonl").Length);

        var (xc, xo) = CliRunner.Run("evaluate", "--model", model, "--data", data, "--speed-steps", "2,x");
        Assert.Equal(1, xc);
        Assert.Contains("--speed-steps", xo);
    }
}

/// <summary><c>diffuse data kjv</c> writes the corpus exactly as training reads it.</summary>
[Collection("Console")]
public sealed class TextDataCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-textdata-");

    public void Dispose() => _dir.Delete(true);

    [Fact]
    public void KjvIsWrittenAsTrainAndHeldOutText()
    {
        string output = Path.Combine(_dir.FullName, "kjv");
        var (code, text) = CliRunner.Run("data", "kjv", "--out", output);
        Assert.True(code == 0, text);
        var corpus = DiffusionSharp.Text.TextCorpora.Kjv();
        Assert.Equal(corpus.TrainText, File.ReadAllText(Path.Combine(output, "train.txt")));
        string[] heldOut = File.ReadAllLines(Path.Combine(output, "held-out.txt"));
        Assert.Equal(1555, heldOut.Length);
        Assert.Equal(29547, File.ReadAllLines(Path.Combine(output, "train.txt")).Length);
    }
}
