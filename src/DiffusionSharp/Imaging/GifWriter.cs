using DiffusionSharp.IO;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing.Processors.Quantization;
using static TorchSharp.torch;

namespace DiffusionSharp.Imaging;

/// <summary>Options of an animated trajectory GIF.</summary>
/// <param name="FrameDelayMs">Display time of each frame but the last (GIF stores hundredths of a second).</param>
/// <param name="FinalFrameDelayMs">Display time of the last frame (x₀), so the result can be seen before the loop restarts.</param>
/// <param name="Grid">How the samples of one frame are laid out.</param>
public sealed record GifOptions(int FrameDelayMs = 80, int FinalFrameDelayMs = 1500, GridOptions? Grid = null);

/// <summary>
/// Writes a sampling trajectory as an animated, endlessly looping GIF: frame k is the grid of all samples at the
/// k-th recorded step (x_T first, x₀ last). SkiaSharp cannot encode GIF, so this uses SixLabors.ImageSharp.
/// </summary>
/// <remarks>
/// GIF frames hold at most 256 colours. Grayscale frames use the exact 256-level gray palette, so they are
/// lossless; RGB frames get their own Wu-quantised palette without dithering (dither noise would flicker
/// between frames).
/// </remarks>
public static class GifWriter
{
    /// <summary>Writes <paramref name="steps"/> (each N×C×H×W in [-1, 1]) as an animated GIF, atomically.</summary>
    public static void SaveTrajectory(IReadOnlyList<Tensor> steps, string path, GifOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new GifOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(options.FrameDelayMs, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.FinalFrameDelayMs, nameof(options));
        var grid = options.Grid ?? new GridOptions();
        var frames = ImageWriter.TrajectoryRasters(steps)
            .Select(samples => ImageWriter.Grid(samples, grid))
            .ToList();
        byte[] gif = Encode(frames, options.FrameDelayMs, options.FinalFrameDelayMs);
        AtomicFile.Write(path, s => s.Write(gif));
    }

    /// <summary>Encodes same-sized rasters as the frames of a looping GIF.</summary>
    public static byte[] Encode(IReadOnlyList<Raster> frames, int frameDelayMs, int finalFrameDelayMs)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
            throw new ArgumentException("a GIF needs at least one frame", nameof(frames));
        var first = frames[0];
        if (frames.Any(f => f.Width != first.Width || f.Height != first.Height || f.Channels != first.Channels))
            throw new ArgumentException("GIF frames must share one size and channel count", nameof(frames));

        using var image = Image.LoadPixelData<Rgb24>(ToRgb(first), first.Width, first.Height);
        image.Metadata.GetGifMetadata().RepeatCount = 0; // loop forever
        for (int k = 1; k < frames.Count; k++)
        {
            using var next = Image.LoadPixelData<Rgb24>(ToRgb(frames[k]), first.Width, first.Height);
            image.Frames.AddFrame(next.Frames.RootFrame);
        }
        for (int k = 0; k < frames.Count; k++)
        {
            int delayMs = k == frames.Count - 1 ? finalFrameDelayMs : frameDelayMs;
            image.Frames[k].Metadata.GetGifMetadata().FrameDelay = (delayMs + 5) / 10;
        }

        var noDither = new QuantizerOptions { Dither = null, MaxColors = 256 };
        var encoder = first.Channels == 1
            ? new GifEncoder { Quantizer = new PaletteQuantizer(GrayPalette(), noDither), ColorTableMode = GifColorTableMode.Global }
            : new GifEncoder { Quantizer = new WuQuantizer(noDither), ColorTableMode = GifColorTableMode.Local };
        using var output = new MemoryStream();
        image.SaveAsGif(output, encoder);
        return output.ToArray();
    }

    private static Color[] GrayPalette()
    {
        var palette = new Color[256];
        for (int i = 0; i < 256; i++)
            palette[i] = Color.FromRgb((byte)i, (byte)i, (byte)i);
        return palette;
    }

    private static byte[] ToRgb(Raster raster)
    {
        if (raster.Channels == 3)
            return raster.Pixels;
        var rgb = new byte[raster.Pixels.Length * 3];
        for (int p = 0; p < raster.Pixels.Length; p++)
            rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = raster.Pixels[p];
        return rgb;
    }
}
