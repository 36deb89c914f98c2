using DiffusionSharp.Imaging;
using SkiaSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Toy;

public sealed class PointCloudPlotTests
{
    [Fact]
    public void RendersOnePanelPerCloudOnSharedAxes()
    {
        using var scope = NewDisposeScope();
        var g = new TorchSharp.torch.Generator(1);
        var panels = new[]
        {
            PointCloudPanel.FromTensor("noise", randn(300, 2, generator: g)),
            PointCloudPanel.FromTensor("data", randn(300, 2, generator: g) * 0.3 + 1, tensor(Enumerable.Range(0, 300).Select(i => (long)(i % 2)).ToArray())),
        };
        byte[] png = PointCloudPlot.Render(panels, new PointCloudPlotOptions(PanelSize: 200, Title: "t"));
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(400, bitmap.Width);
        Assert.Equal(236, bitmap.Height);
        // The first panel survives the second (points drawn there), and the title is drawn above them.
        int dark = 0;
        for (int x = 0; x < 200; x++)
            for (int y = 36; y < 236; y++)
                if (bitmap.GetPixel(x, y) is var c && c.Blue > c.Red + 40) dark++;   // SteelBlue over white, not grey grid lines
        Assert.True(dark > 50, $"the first panel has {dark} point pixels");
        Assert.Contains(Enumerable.Range(150, 100).SelectMany(x => Enumerable.Range(5, 30).Select(y => bitmap.GetPixel(x, y))), c => c.Red < 100);
        // Two label colours are drawn in the data panel: count the pixels near each palette colour there.
        int blue = 0, orange = 0;
        for (int x = 200; x < 400; x++)
        {
            for (int y = 36; y < 236; y++)
            {
                var c = bitmap.GetPixel(x, y);
                if (c.Blue > 150 && c.Red < 150 && c.Green < 180) blue++;
                if (c.Red > 200 && c.Green is > 100 and < 200 && c.Blue < 100) orange++;
            }
        }
        Assert.True(blue > 50 && orange > 50, $"blue {blue}, orange {orange} pixels");
    }

    [Fact]
    public void RejectsNoPanelsAndMismatchedCoordinates()
    {
        Assert.Throws<ArgumentException>(() => PointCloudPlot.Render([]));
        var e = Assert.Throws<ArgumentException>(() => PointCloudPlot.Render([new PointCloudPanel("bad", [1, 2], [1])]));
        Assert.Contains("'bad'", e.Message);
        using var points = zeros(3, 3, 3);
        Assert.Throws<ArgumentException>(() => PointCloudPanel.FromTensor("x", points));
    }
}
