using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Imaging;

/// <summary>
/// An 8-bit image in memory, channels interleaved (row-major H×W×C, C = 1 gray or 3 RGB): what the PNG and GIF
/// writers encode and what grids and strips are assembled into.
/// </summary>
/// <param name="Width">Pixels per row.</param>
/// <param name="Height">Rows.</param>
/// <param name="Channels">1 (gray) or 3 (RGB).</param>
/// <param name="Pixels">Width × Height × Channels bytes.</param>
public sealed record Raster(int Width, int Height, int Channels, byte[] Pixels)
{
    /// <summary>A raster of one colour (each channel set to <paramref name="value"/>).</summary>
    public static Raster Filled(int width, int height, int channels, byte value)
    {
        var pixels = new byte[checked(width * height * channels)];
        Array.Fill(pixels, value);
        return new Raster(width, height, channels, pixels);
    }

    /// <summary>
    /// Converts images in [-1, 1] to rasters: p = round((clamp(x, −1, 1) + 1) · 127.5); NaN becomes −1 (black).
    /// Accepts N×C×H×W or a single C×H×W; C must be 1 or 3. The tensor may live on any device, in any float dtype.
    /// </summary>
    /// <exception cref="ArgumentException">Another shape or channel count.</exception>
    public static Raster[] FromTensor(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        long[] shape = images.dim() == 3 ? [1, .. images.shape] : images.shape;
        if (shape.Length != 4 || shape[1] is not (1 or 3))
            throw new ArgumentException($"expected N×C×H×W or C×H×W images with C = 1 or 3, not [{string.Join(", ", images.shape)}]", nameof(images));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        images = images.reshape(shape);
        int n = (int)images.shape[0], c = (int)images.shape[1], h = (int)images.shape[2], w = (int)images.shape[3];
        var bytes = images.detach().to(ScalarType.Float32, CPU)
            .nan_to_num(-1f).clamp(-1f, 1f).add(1f).mul(127.5f).round()
            .permute(0, 2, 3, 1).contiguous().to(ScalarType.Byte)
            .data<byte>().ToArray();
        int size = h * w * c;
        var result = new Raster[n];
        for (int i = 0; i < n; i++)
            result[i] = new Raster(w, h, c, bytes.AsSpan(i * size, size).ToArray());
        return result;
    }

    /// <summary>The value of channel <paramref name="c"/> at (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public byte this[int x, int y, int c] => Pixels[(y * Width + x) * Channels + c];

    /// <summary>This raster enlarged <paramref name="scale"/> times by pixel replication (crisp small digits).</summary>
    public Raster Upscale(int scale)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(scale);
        if (scale == 1)
            return this;
        int w = Width * scale, h = Height * scale;
        var output = new byte[checked(w * h * Channels)];
        for (int y = 0; y < h; y++)
        {
            var srcRow = Pixels.AsSpan(y / scale * Width * Channels, Width * Channels);
            var dstRow = output.AsSpan(y * w * Channels, w * Channels);
            for (int x = 0; x < w; x++)
                srcRow.Slice(x / scale * Channels, Channels).CopyTo(dstRow.Slice(x * Channels, Channels));
        }
        return new Raster(w, h, Channels, output);
    }

    /// <summary>Copies <paramref name="tile"/> (same channel count) into this raster with its top-left corner at (x, y).</summary>
    public void Paste(Raster tile, int x, int y)
    {
        ArgumentNullException.ThrowIfNull(tile);
        if (tile.Channels != Channels)
            throw new ArgumentException($"a {tile.Channels}-channel tile in a {Channels}-channel raster", nameof(tile));
        if (x < 0 || y < 0 || x + tile.Width > Width || y + tile.Height > Height)
            throw new ArgumentOutOfRangeException(nameof(tile), $"a {tile.Width}×{tile.Height} tile at ({x}, {y}) leaves the {Width}×{Height} raster");
        for (int row = 0; row < tile.Height; row++)
            tile.Pixels.AsSpan(row * tile.Width * Channels, tile.Width * Channels)
                .CopyTo(Pixels.AsSpan(((y + row) * Width + x) * Channels));
    }
}
