using DiffusionSharp.Data;
using SkiaSharp;

namespace DiffusionSharp.Tests.Data;

public sealed class ImageFolderTests
{
    private static void WriteImage(string path, int w, int h, Func<int, int, SKColor> color, bool gray = false, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bmp.SetPixel(x, y, color(x, y));
        using var data = bmp.Encode(format, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void ClassesComeFromSortedSubFolders()
    {
        using var dir = new TempFolder();
        WriteImage(dir.File("zebra/a.png"), 4, 3, (x, y) => new SKColor(10, 20, 30));
        WriteImage(dir.File("apple/b.png"), 4, 3, (x, y) => new SKColor((byte)(x * 60), (byte)(y * 100), 200));
        WriteImage(dir.File("apple/nested/c.PNG"), 4, 3, (x, y) => SKColors.White);
        File.WriteAllText(dir.File("apple/readme.txt"), "not an image");
        using var ds = ImageFolder.Load(dir.Path);
        Assert.Equal(["apple", "zebra"], ds.ClassNames);
        Assert.Equal(new long[] { 3, 3, 3, 4 }, ds.Images.shape);
        Assert.Equal(new long[] { 0, 0, 1 }, ds.Labels.data<long>().ToArray());
        // apple/b.png (sorted before apple/nested/c.PNG): R = 60 x, G = 100 y, B = 200.
        Assert.Equal(120 / 127.5f - 1, ds.Images[0, 0, 1, 2].item<float>(), 1e-6f);
        Assert.Equal(200 / 127.5f - 1, ds.Images[0, 1, 2, 3].item<float>(), 1e-6f);
        Assert.Equal(200 / 127.5f - 1, ds.Images[0, 2, 0, 0].item<float>(), 1e-6f);
        Assert.Equal(1f, ds.Images[1].min().item<float>());
        Assert.Equal(30 / 127.5f - 1, ds.Images[2, 2, 2, 2].item<float>(), 1e-6f);
    }

    [Fact]
    public void GrayscaleFilesGiveOneChannelAndGrayscaleModeConvertsRgb()
    {
        using var dir = new TempFolder();
        WriteImage(dir.File("g.png"), 2, 2, (x, y) => new SKColor((byte)(x * 255), (byte)(x * 255), (byte)(x * 255)), gray: true);
        using (var ds = ImageFolder.Load(dir.Path))
        {
            Assert.Equal(1, ds.Channels);
            Assert.Equal([Path.GetFileName(dir.Path)], ds.ClassNames);
            Assert.Equal(new[] { -1f, 1f, -1f, 1f }, ds.Images.data<float>().ToArray());
        }
        WriteImage(dir.File("rgb.png"), 2, 2, (x, y) => new SKColor(255, 0, 0));
        using (var ds = ImageFolder.Load(dir.Path))
            Assert.Equal(3, ds.Channels);
        using (var ds = ImageFolder.Load(dir.Path, new ImageFolderOptions(Color: ImageColorMode.Grayscale)))
        {
            Assert.Equal(1, ds.Channels);
            // Pure red has luma 0.299 × 255 = 76.2 → 76.
            Assert.Equal(76 / 127.5f - 1, ds.Images[1, 0, 0, 0].item<float>(), 1e-6f);
        }
    }

    [Fact]
    public void ResizeScalesShorterSideAndCropsCentre()
    {
        using var dir = new TempFolder();
        // 12×4: left third red, middle third green, right third blue. The centred 4×4 square is the green third.
        WriteImage(dir.File("wide.png"), 12, 4, (x, y) => x < 4 ? SKColors.Red : x < 8 ? new SKColor(0, 255, 0) : SKColors.Blue);
        // 8×16 JPEG, uniform grey: any resize keeps the value (up to JPEG's rounding).
        WriteImage(dir.File("tall.jpg"), 8, 16, (x, y) => new SKColor(128, 128, 128), format: SKEncodedImageFormat.Jpeg);
        using var ds = ImageFolder.Load(dir.Path, new ImageFolderOptions(Size: 2, Color: ImageColorMode.Rgb));
        Assert.Equal(new long[] { 2, 3, 2, 2 }, ds.Images.shape);
        var tall = ds.Images[0];
        Assert.True((tall - (128 / 127.5f - 1)).abs().max().item<float>() < 0.05f);
        var wide = ds.Images[1];
        Assert.True(wide[0].max().item<float>() < -0.9f, "red leaked into the centre crop");
        Assert.True(wide[1].min().item<float>() > 0.9f, "centre crop is not green");
        Assert.True(wide[2].max().item<float>() < -0.9f, "blue leaked into the centre crop");
    }

    [Fact]
    public void MixedSizesWithoutResizeNameTheFile()
    {
        using var dir = new TempFolder();
        WriteImage(dir.File("a.png"), 4, 4, (x, y) => SKColors.Black);
        WriteImage(dir.File("b.png"), 5, 4, (x, y) => SKColors.Black);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));
        Assert.Contains("b.png", e.Message);
        Assert.Contains("5×4", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        using var ok = ImageFolder.Load(dir.Path, new ImageFolderOptions(Size: 4));
        Assert.Equal(2, ok.Count);
    }

    [Fact]
    public void CorruptAndTruncatedImagesNameTheFile()
    {
        using var dir = new TempFolder();
        WriteImage(dir.File("good.png"), 16, 16, (x, y) => new SKColor((byte)x, (byte)y, 0));
        File.WriteAllText(dir.File("junk.png"), "this is not a PNG");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));
        Assert.Contains("junk.png", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        File.Delete(dir.File("junk.png"));
        var bytes = File.ReadAllBytes(dir.File("good.png"));
        File.WriteAllBytes(dir.File("cut.png"), bytes[..(bytes.Length * 2 / 3)]);
        e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));
        Assert.Contains("cut.png", e.Message);
    }

    [Fact]
    public void EmptyFolderIsAnError()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir.File("class"));
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir.Path));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("no PNG or JPEG", e.Message);
    }
}
