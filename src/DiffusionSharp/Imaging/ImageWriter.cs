using DiffusionSharp.IO;
using SkiaSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Imaging;

/// <summary>How images are laid out in a grid or strip.</summary>
/// <param name="Columns">Tiles per row of a grid (a trajectory strip has one column per step instead).</param>
/// <param name="Padding">Pixels between tiles and around the edge, in output pixels.</param>
/// <param name="Scale">Integer enlargement of each tile by pixel replication; null picks the smallest factor that
/// makes a tile at least <see cref="AutoScaleTarget"/> pixels high (28×28 digits: ×3).</param>
/// <param name="PaddingValue">The gray level (every channel) of the padding.</param>
public sealed record GridOptions(int Columns = 8, int Padding = 2, int? Scale = null, byte PaddingValue = 255)
{
    /// <summary>The tile height automatic scaling aims for.</summary>
    public const int AutoScaleTarget = 64;

    /// <summary>The scale applied to tiles of <paramref name="tileHeight"/> pixels.</summary>
    public int ResolveScale(int tileHeight) =>
        Scale ?? Math.Max(1, (AutoScaleTarget + tileHeight - 1) / Math.Max(1, tileHeight));

    internal void Validate()
    {
        if (Columns <= 0)
            throw new ArgumentOutOfRangeException(nameof(Columns), Columns, "a grid needs at least one column");
        if (Padding < 0)
            throw new ArgumentOutOfRangeException(nameof(Padding), Padding, "padding cannot be negative");
        if (Scale is <= 0)
            throw new ArgumentOutOfRangeException(nameof(Scale), Scale, "scale must be positive");
    }
}

/// <summary>
/// Writes images in [-1, 1] (see <see cref="Raster.FromTensor"/>) as PNG files: one image, a grid of samples, or a
/// trajectory strip (rows = samples, columns = steps x_T → … → x₀). Files are written atomically.
/// </summary>
public static class ImageWriter
{
    /// <summary>Writes one image (C×H×W or 1×C×H×W), enlarged <paramref name="scale"/> times.</summary>
    public static void SavePng(Tensor image, string path, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(path);
        var rasters = Raster.FromTensor(image);
        if (rasters.Length != 1)
            throw new ArgumentException($"expected one image, got {rasters.Length}; use SaveGrid", nameof(image));
        SavePng(rasters[0].Upscale(scale), path);
    }

    /// <summary>Writes N×C×H×W images as a grid, row by row, <see cref="GridOptions.Columns"/> per row.</summary>
    public static void SaveGrid(Tensor images, string path, GridOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(path);
        SavePng(Grid(Raster.FromTensor(images), options ?? new GridOptions()), path);
    }

    /// <summary>
    /// Writes a trajectory strip: <paramref name="steps"/>[k] holds the N samples at the k-th recorded step (each
    /// N×C×H×W, x_T first, x₀ last); row i shows sample i left to right through the steps.
    /// <see cref="GridOptions.Columns"/> is ignored.
    /// </summary>
    public static void SaveTrajectoryStrip(IReadOnlyList<Tensor> steps, string path, GridOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var frames = TrajectoryRasters(steps);
        int n = frames[0].Length;
        var tiles = new List<Raster>(n * frames.Length);
        for (int i = 0; i < n; i++)
            foreach (var frame in frames)
                tiles.Add(frame[i]);
        SavePng(Grid(tiles, (options ?? new GridOptions()) with { Columns = frames.Length }), path);
    }

    /// <summary>Lays tiles of one size out in a grid (row-major), scaled and padded as <paramref name="options"/> says.</summary>
    public static Raster Grid(IReadOnlyList<Raster> tiles, GridOptions options)
    {
        ArgumentNullException.ThrowIfNull(tiles);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (tiles.Count == 0)
            throw new ArgumentException("a grid needs at least one image", nameof(tiles));
        var first = tiles[0];
        foreach (var t in tiles)
            if (t.Width != first.Width || t.Height != first.Height || t.Channels != first.Channels)
                throw new ArgumentException($"tiles differ in size: {t.Width}×{t.Height}×{t.Channels} and {first.Width}×{first.Height}×{first.Channels}", nameof(tiles));
        int scale = options.ResolveScale(first.Height);
        int tw = first.Width * scale, th = first.Height * scale, pad = options.Padding;
        int columns = Math.Min(options.Columns, tiles.Count);
        int rows = (tiles.Count + columns - 1) / columns;
        var grid = Raster.Filled(pad + columns * (tw + pad), pad + rows * (th + pad), first.Channels, options.PaddingValue);
        for (int i = 0; i < tiles.Count; i++)
            grid.Paste(tiles[i].Upscale(scale), pad + i % columns * (tw + pad), pad + i / columns * (th + pad));
        return grid;
    }

    /// <summary>Encodes a raster as PNG (8-bit gray or RGB).</summary>
    public static byte[] EncodePng(Raster raster)
    {
        ArgumentNullException.ThrowIfNull(raster);
        using var bitmap = ToBitmap(raster);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("SkiaSharp could not encode the PNG");
        return data.ToArray();
    }

    /// <summary>Writes a raster as a PNG file, atomically.</summary>
    public static void SavePng(Raster raster, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] png = EncodePng(raster);
        AtomicFile.Write(path, s => s.Write(png));
    }

    internal static Raster[][] TrajectoryRasters(IReadOnlyList<Tensor> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0)
            throw new ArgumentException("a trajectory needs at least one step", nameof(steps));
        var frames = steps.Select(Raster.FromTensor).ToArray();
        if (frames.Any(f => f.Length != frames[0].Length))
            throw new ArgumentException("every step of a trajectory must hold the same number of samples", nameof(steps));
        return frames;
    }

    private static SKBitmap ToBitmap(Raster raster)
    {
        if (raster.Channels == 1)
        {
            var gray = new SKBitmap(new SKImageInfo(raster.Width, raster.Height, SKColorType.Gray8, SKAlphaType.Opaque));
            CopyRows(raster.Pixels, raster.Width, gray);
            return gray;
        }
        if (raster.Channels != 3)
            throw new ArgumentException($"rasters have 1 or 3 channels, not {raster.Channels}", nameof(raster));
        var rgba = new byte[raster.Width * raster.Height * 4];
        for (int p = 0, q = 0; p < raster.Pixels.Length; p += 3, q += 4)
        {
            rgba[q] = raster.Pixels[p];
            rgba[q + 1] = raster.Pixels[p + 1];
            rgba[q + 2] = raster.Pixels[p + 2];
            rgba[q + 3] = 255;
        }
        var color = new SKBitmap(new SKImageInfo(raster.Width, raster.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        CopyRows(rgba, raster.Width * 4, color);
        return color;
    }

    /// <summary>Copies tightly packed rows into a bitmap whose rows may be padded.</summary>
    private static void CopyRows(byte[] source, int rowBytes, SKBitmap bitmap)
    {
        var dest = bitmap.GetPixelSpan();
        for (int y = 0; y < bitmap.Height; y++)
            source.AsSpan(y * rowBytes, rowBytes).CopyTo(dest.Slice(y * bitmap.RowBytes, rowBytes));
    }
}
