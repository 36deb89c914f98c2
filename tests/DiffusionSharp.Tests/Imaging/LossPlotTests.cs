using DiffusionSharp.Imaging;
using SkiaSharp;

namespace DiffusionSharp.Tests.Imaging;

public sealed class LossPlotTests
{
    [Fact]
    public void SmoothingIsDebiased()
    {
        var s = LossPlot.Smooth([2.0, 2.0, 2.0], 0.9);
        Assert.All(s, v => Assert.Equal(2.0, v, 12));
        // m1 = 0.1·4 = 0.4, m̂1 = 4; m2 = 0.9·0.4 + 0.1·1 = 0.46, m̂2 = 0.46 / 0.19.
        var t = LossPlot.Smooth([4.0, double.NaN, 1.0], 0.9);
        Assert.Equal(4.0, t[0], 12);
        Assert.Equal(4.0, t[1], 12);
        Assert.Equal(0.46 / 0.19, t[2], 12);
        Assert.True(double.IsNaN(LossPlot.Smooth([double.NaN, 1.0], 0.5)[0]));
    }

    [Fact]
    public void WritesAPngOfTheRequestedSizeWithBothCurves()
    {
        using var dir = new TempFolder();
        var rng = new Random(1);
        var losses = Enumerable.Range(0, 500).Select(i => 1.0 / (1 + i / 20.0) * (0.7 + 0.6 * rng.NextDouble())).ToList();
        losses[10] = double.NaN;
        losses[20] = 0;
        var path = dir.File("loss.png");
        LossPlot.Save(losses, path, new LossPlotOptions(Width: 640, Height: 400));
        using var bmp = SKBitmap.Decode(path);
        Assert.Equal((640, 400), (bmp.Width, bmp.Height));
        // Both curves are drawn: the raw one in translucent steel blue, the average in dark orange.
        int orange = 0, blue = 0, dark = 0;
        for (int y = 0; y < bmp.Height; y++)
            for (int x = 0; x < bmp.Width; x++)
            {
                var p = bmp.GetPixel(x, y);
                if (p.Red > 200 && p.Green is > 110 and < 170 && p.Blue < 60) orange++;
                if (p.Blue > p.Red + 40 && p.Blue > 150) blue++;
                if (p.Red < 80 && p.Green < 80 && p.Blue < 80) dark++;
            }
        Assert.True(orange > 300, $"{orange} orange pixels");
        Assert.True(blue > 300, $"{blue} blue pixels");
        Assert.True(dark > 200, $"{dark} dark pixels (axes and text)");
    }
}
