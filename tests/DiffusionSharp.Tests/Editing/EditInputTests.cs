using DiffusionSharp.Editing;
using DiffusionSharp.Imaging;
using DiffusionSharp.Tests.Cli;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Editing;

/// <summary>Reading edit inputs, and the CLI's one-line errors for bad ones.</summary>
[Collection("Console")]
public sealed class EditInputTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string SingleLine(string output) =>
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private string Gray(string name, int w, int h, Func<int, int, byte> pixel)
    {
        var pixels = new byte[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                pixels[y * w + x] = pixel(x, y);
        string path = _temp.File(name);
        ImageWriter.SavePng(new Raster(w, h, 1, pixels), path);
        return path;
    }

    [Fact]
    public void AnImageWrittenBySampleReadsBackExactly()
    {
        using var scope = NewDisposeScope();
        var image = (randint(0, 256, [1, 1, 6, 5], generator: new Generator(1)).to(ScalarType.Float32) / 127.5f) - 1;
        string path = _temp.File("x.png");
        ImageWriter.SavePng(image[0], path);
        var read = EditImages.LoadImage(path, 1, 6, 5);
        Assert.True((read - image).abs().max().item<float>() < 1e-6f);
    }

    [Fact]
    public void MasksAreThresholdedAtHalfGray()
    {
        using var scope = NewDisposeScope();
        string path = Gray("m.png", 4, 1, (x, _) => new byte[] { 0, 127, 128, 255 }[x]);
        var mask = EditImages.LoadMask(path, 1, 4);
        Assert.Equal(new[] { 0f, 0f, 1f, 1f }, mask.data<float>().ToArray());
    }

    [Fact]
    public void MissingFilesAndWrongSizesNameTheFile()
    {
        string missing = _temp.File("nope.png");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => EditImages.LoadImage(missing, 1, 28, 28)).Message);
        string small = Gray("small.png", 27, 27, (_, _) => 0);
        Assert.Contains(small, Assert.Throws<InvalidDataException>(() => EditImages.LoadImage(small, 1, 28, 28)).Message);
        var e = Assert.Throws<InvalidDataException>(() => EditImages.LoadMask(small, 28, 28));
        Assert.Contains(small, e.Message);
        Assert.Contains("27×27", e.Message);
        string text = _temp.File("text.png");
        File.WriteAllText(text, "not a png");
        Assert.Contains(text, Assert.Throws<InvalidDataException>(() => EditImages.LoadImage(text, 1, 28, 28)).Message);
    }

    [Fact]
    public void CliBadInputIsOneLineNamingTheFileOrOption()
    {
        string digit = Gray("digit.png", 28, 28, (x, y) => (byte)(x is > 10 and < 16 ? 255 : 0));
        string small = Gray("mask27.png", 27, 27, (_, _) => 255);
        string missing = _temp.File("missing.png");
        (string[] Args, string Named)[] cases =
        [
            (["edit", "img2img", "--input", missing], missing),
            (["edit", "img2img", "--input", digit, "--strength", "1.5"], "--strength"),
            (["edit", "img2img", "--input", digit, "--strength=-0.1"], "--strength"),
            (["edit", "inpaint", "--input", digit, "--mask", small], small),
            (["edit", "inpaint", "--input", digit, "--mask", missing], missing),
            (["edit", "inpaint", "--input", digit, "--mask", digit, "--method", "blur"], "--method"),
            (["edit", "invert", "--input", small], small),
            (["edit", "interpolate", "--seeds", "3"], "--seeds"),
        ];
        foreach (var (args, named) in cases)
        {
            var (code, output) = CliRunner.Run([.. args, "--out", _temp.File("out")]);
            Assert.Equal(1, code);
            Assert.Contains(named, SingleLine(output));
        }
    }

    [Fact]
    public void CliEditsWriteTheirStripsWithTheEmbeddedModel()
    {
        string digit = Path.Combine(EditPaths.Inputs, "seven.png");
        string mask = Path.Combine(EditPaths.Inputs, "mask-lower-half.png");
        string[][] runs =
        [
            ["edit", "img2img", "--input", digit, "--strength", "0,0.5", "--steps", "2", "--class", "3"],
            ["edit", "inpaint", "--input", digit, "--mask", mask, "--method", "replace,repaint", "--steps", "3", "--jump", "1", "--resample", "2"],
            ["edit", "invert", "--input", digit, "--steps", "2"],
            ["edit", "interpolate", "--seeds", "0,1", "--frames", "3", "--steps", "2", "--class", "5"],
        ];
        foreach (var args in runs)
        {
            string outDir = _temp.File(args[1]);
            var (code, output) = CliRunner.Run([.. args, "--out", outDir]);
            Assert.True(code == 0, output);
            Assert.True(File.Exists(Path.Combine(outDir, args[1] + ".png")), output);
        }
        // Strength 0 is the input: the img2img result.png (first strength) reads back as the digit.
        using var scope = NewDisposeScope();
        var input = EditImages.LoadImage(digit, 1, 28, 28);
        var result = EditImages.LoadImage(Path.Combine(_temp.File("img2img"), "result.png"), 1, 28, 28);
        Assert.True(result.BitEqual(input));
    }
}
