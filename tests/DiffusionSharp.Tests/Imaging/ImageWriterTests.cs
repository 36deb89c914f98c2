using DiffusionSharp.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SkiaSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Imaging;

public sealed class ImageWriterTests
{
    private static SKBitmap Decode(string path)
    {
        using var codec = SKCodec.Create(path);
        Assert.NotNull(codec);
        Assert.Equal(SKEncodedImageFormat.Png, codec.EncodedFormat);
        var bmp = new SKBitmap(new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        Assert.Equal(SKCodecResult.Success, codec.GetPixels(bmp.Info, bmp.GetPixels()));
        return bmp;
    }

    [Fact]
    public void ConvertsMinusOneOneToBytesWithClampAndRounding()
    {
        using var scope = NewDisposeScope();
        var t = tensor(new[] { -1f, 1f, 0f, -2f, 5f, float.NaN, 0.5f, -0.999f }, [1, 1, 2, 4]);
        var r = Raster.FromTensor(t).Single();
        Assert.Equal(new byte[] { 0, 255, 128, 0, 255, 0, 191, 0 }, r.Pixels);
        Assert.Equal((4, 2, 1), (r.Width, r.Height, r.Channels));
    }

    [Fact]
    public void SinglePngRoundTripsRgbPixels()
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        // 3×2×5 image: channel c at (y, x) = (c·40 + y·20 + x) / 127.5 − 1, exactly representable bytes.
        var bytes = new float[3 * 2 * 5];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 5; x++)
                    bytes[(c * 2 + y) * 5 + x] = (c * 40 + y * 20 + x) / 127.5f - 1;
        var path = dir.File("one.png");
        ImageWriter.SavePng(tensor(bytes, [3, 2, 5]), path, scale: 2);
        using var bmp = Decode(path);
        Assert.Equal((10, 4), (bmp.Width, bmp.Height));
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 10; x++)
            {
                var p = bmp.GetPixel(x, y);
                int y0 = y / 2, x0 = x / 2;
                Assert.Equal((y0 * 20 + x0, 40 + y0 * 20 + x0, 80 + y0 * 20 + x0, 255), (p.Red, p.Green, p.Blue, p.Alpha));
            }
    }

    [Fact]
    public void GridPlacesTilesWithPaddingAndScale()
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        // Five 1×3×4 tiles, tile i uniformly gray 40·i.
        var images = stack(Enumerable.Range(0, 5).Select(i => full(1, 3, 4, 40 * i / 127.5f - 1)).ToArray());
        var path = dir.File("grid.png");
        ImageWriter.SaveGrid(images, path, new GridOptions(Columns: 3, Padding: 1, Scale: 2, PaddingValue: 200));
        using var bmp = Decode(path);
        // 3 columns of 8 px + 4 paddings; 2 rows of 6 px + 3 paddings.
        Assert.Equal((3 * 8 + 4, 2 * 6 + 3), (bmp.Width, bmp.Height));
        Assert.Equal(200, bmp.GetPixel(0, 0).Red);
        for (int i = 0; i < 5; i++)
        {
            int x0 = 1 + i % 3 * 9, y0 = 1 + i / 3 * 7;
            Assert.Equal(40 * i, bmp.GetPixel(x0, y0).Red);
            Assert.Equal(40 * i, bmp.GetPixel(x0 + 7, y0 + 5).Green);
            Assert.Equal(200, bmp.GetPixel(x0 + 8, y0).Blue);
        }
        // The sixth cell is empty: padding colour.
        Assert.Equal(200, bmp.GetPixel(1 + 2 * 9 + 3, 1 + 7 + 3).Red);
    }

    [Fact]
    public void AutoScaleMakesDigitsVisible()
    {
        Assert.Equal(3, new GridOptions().ResolveScale(28));
        Assert.Equal(2, new GridOptions().ResolveScale(32));
        Assert.Equal(1, new GridOptions().ResolveScale(64));
        Assert.Equal(5, new GridOptions(Scale: 5).ResolveScale(28));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageWriter.Grid([Raster.Filled(2, 2, 1, 0)], new GridOptions(Columns: 0)));
    }

    [Fact]
    public void TrajectoryStripHasSamplesInRowsAndStepsInColumns()
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        // 4 steps of 2 samples; sample s at step k is gray 50·k + 10·s.
        var steps = Enumerable.Range(0, 4)
            .Select(k => stack(Enumerable.Range(0, 2).Select(s => full(1, 2, 2, (50 * k + 10 * s) / 127.5f - 1)).ToArray()))
            .ToList();
        var path = dir.File("strip.png");
        ImageWriter.SaveTrajectoryStrip(steps, path, new GridOptions(Padding: 0, Scale: 1));
        using var bmp = Decode(path);
        Assert.Equal((8, 4), (bmp.Width, bmp.Height));
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 4; k++)
                Assert.Equal(50 * k + 10 * s, bmp.GetPixel(2 * k + 1, 2 * s + 1).Red);
    }

    [Fact]
    public void TrajectoryGifHasOneFramePerStepAndExactGrays()
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        var steps = Enumerable.Range(0, 5)
            .Select(k => stack(Enumerable.Range(0, 3).Select(s => full(1, 4, 4, (37 * k + 11 * s) / 127.5f - 1)).ToArray()))
            .ToList();
        var path = dir.File("traj.gif");
        GifWriter.SaveTrajectory(steps, path, new GifOptions(FrameDelayMs: 100, FinalFrameDelayMs: 2000, Grid: new GridOptions(Columns: 3, Padding: 1, Scale: 1, PaddingValue: 255)));
        using var gif = SixLabors.ImageSharp.Image.Load<Rgb24>(path);
        Assert.Equal(5, gif.Frames.Count);
        Assert.Equal((3 * 4 + 4, 4 + 2), (gif.Width, gif.Height));
        Assert.Equal(0, gif.Metadata.GetGifMetadata().RepeatCount);
        Assert.Equal(10, gif.Frames[0].Metadata.GetGifMetadata().FrameDelay);
        Assert.Equal(200, gif.Frames[4].Metadata.GetGifMetadata().FrameDelay);
        for (int k = 0; k < 5; k++)
        {
            var frame = gif.Frames.CloneFrame(k);
            for (int s = 0; s < 3; s++)
            {
                var p = frame[1 + s * 5 + 2, 3];
                Assert.Equal(((byte)(37 * k + 11 * s), (byte)(37 * k + 11 * s), (byte)(37 * k + 11 * s)), (p.R, p.G, p.B));
            }
            Assert.Equal(255, frame[0, 0].R);
            frame.Dispose();
        }
    }

    [Fact]
    public void RgbGifKeepsColoursClose()
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        var red = tensor(new[] { 1f, -1f, -1f }).reshape(1, 3, 1, 1).expand(2, 3, 6, 6);
        var blue = tensor(new[] { -1f, -1f, 1f }).reshape(1, 3, 1, 1).expand(2, 3, 6, 6);
        var path = dir.File("rgb.gif");
        GifWriter.SaveTrajectory([red, blue], path, new GifOptions(Grid: new GridOptions(Padding: 0, Scale: 1)));
        using var gif = SixLabors.ImageSharp.Image.Load<Rgb24>(path);
        Assert.Equal(2, gif.Frames.Count);
        using var f0 = gif.Frames.CloneFrame(0);
        using var f1 = gif.Frames.CloneFrame(1);
        Assert.Equal(new Rgb24(255, 0, 0), f0[3, 3]);
        Assert.Equal(new Rgb24(0, 0, 255), f1[7, 2]);
    }
}
