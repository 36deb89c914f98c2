using DiffusionSharp.Audio;
using DiffusionSharp.Data;
using DiffusionSharp.Tests.Cli;
using SkiaSharp;

namespace DiffusionSharp.Tests.Audio;

[Collection("Console")]
public sealed class DataCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SpokenDigitsAreWrittenAsWavInClassFoldersThatLoadBack()
    {
        string output = _dir.File("out");
        var (code, text) = CliRunner.Run("data", "spoken-digits", "--out", output, "--cache", TestCache.Root,
            "--train-per-class", "2", "--held-out-per-class", "1");
        Assert.True(code == 0, text);
        Assert.Contains("wrote 32 files", text);
        Assert.True(File.Exists(Path.Combine(output, "train", "seven", "0001.wav")));
        Assert.True(File.Exists(Path.Combine(output, "held-out", "zero", "0000.wav")));
        Assert.True(File.Exists(Path.Combine(output, SpokenDigits.ClipsFile)));
        // The written folder is a --data DIR: it loads with the digits as classes.
        using var clips = SpokenDigits.Load(output, SpokenDigitsSplit.HeldOut);
        Assert.Equal([10L, 1, 16000], clips.Samples.shape);
        Assert.Equal(16000, WavFile.ReadMono(Path.Combine(output, "train", "nine", "0000.wav")).SampleRate);
    }

    [Fact]
    public void MnistIsWrittenAsPngInClassFolders()
    {
        string output = _dir.File("mnist");
        var (code, text) = CliRunner.Run("data", "mnist", "--out", output, "--cache", TestCache.Root);
        Assert.True(code == 0, text);
        Assert.Equal(9000, Directory.GetFiles(Path.Combine(output, "train"), "*.png", SearchOption.AllDirectories).Length);
        Assert.Equal(100, Directory.GetFiles(Path.Combine(output, "held-out", "3"), "*.png").Length);
        using var png = SKBitmap.Decode(Path.Combine(output, "held-out", "3", "00000.png"));
        Assert.Equal((28, 28), (png.Width, png.Height));
    }

    [Fact]
    public void UnknownSetAndNonEmptyOutAreOneLineErrors()
    {
        var (code, text) = CliRunner.Run("data", "cifar-1000", "--out", _dir.File("x"));
        Assert.Equal(1, code);
        Assert.Contains("unknown data set 'cifar-1000'; built-in sets: mnist, spoken-digits", Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries)));

        File.WriteAllText(_dir.File("taken.txt"), "x");
        (code, text) = CliRunner.Run("data", "mnist", "--out", _dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("must be an empty or new folder", Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
