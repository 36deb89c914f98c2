using DiffusionSharp.Audio;
using SkiaSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Audio;

public sealed class SpectrogramImageTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ClassGridHasOneRowPerClassAndLowFrequenciesAtTheBottom()
    {
        // Two 8-band × 5-frame spectrograms of class 1 and one of class 0; band 0 loud, the rest silent.
        using var logMel = full(new long[] { 3, 8, 5 }, -20f);
        logMel[.., 0, ..] = tensor(0f);
        using var labels = tensor(new long[] { 1, 0, 1 });
        string path = _dir.File("grid.png");
        SpectrogramImage.SaveClassGrid(logMel, labels, classCount: 2, perClass: 2, path, new SpectrogramImageOptions(Scale: 1, Padding: 1));
        using var bitmap = SKBitmap.Decode(path);
        Assert.Equal(1 + 2 * (5 + 1), bitmap.Width);
        Assert.Equal(1 + 2 * (8 + 1), bitmap.Height);
        // Row 0 (class 0), column 0: bottom pixel row bright (viridis yellow), top dark (viridis purple).
        var bottom = bitmap.GetPixel(1, 8);
        var top = bitmap.GetPixel(1, 1);
        Assert.True(bottom.Red > 200 && bottom.Green > 200, $"bottom {bottom}");
        Assert.True(top.Red < 100 && top.Green < 50, $"top {top}");
        // Row 0 has one example: its second tile is blank (white).
        Assert.Equal(SKColors.White, bitmap.GetPixel(1 + 6, 4));
        Assert.NotEqual(SKColors.White, bitmap.GetPixel(1 + 6, 4 + 9));
    }
}
