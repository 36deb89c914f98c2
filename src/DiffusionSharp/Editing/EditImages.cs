using SkiaSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Editing;

/// <summary>
/// Reads the images and masks that edits start from. Pixels map to [-1, 1] as the writers map them back
/// (<see cref="Imaging.Raster.FromTensor"/>): x = p/127.5 − 1, so a PNG written by <c>diffuse sample</c> reads back exactly.
/// Sizes are never changed: an image must have the model's size and a mask the image's size. Every error is one line
/// naming the file.
/// </summary>
public static class EditImages
{
    /// <summary>
    /// The image at <paramref name="path"/> as a [1, C, H, W] float32 tensor in [-1, 1]; C = 1 takes the luma
    /// Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, as <see cref="Data.ImageFolder"/> does), C = 3 takes R, G, B.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a decodable image, or not <paramref name="width"/>×<paramref name="height"/>.</exception>
    public static Tensor LoadImage(string path, int channels, int height, int width)
    {
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Images have 1 or 3 channels.");
        var (rgba, w, h) = DecodeRgba(path);
        if (w != width || h != height)
            throw new InvalidDataException($"{path}: {w}×{h} pixels; the model takes {width}×{height} images");
        int plane = w * h;
        var values = new float[channels * plane];
        for (int p = 0; p < plane; p++)
        {
            byte r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2];
            if (channels == 1)
            {
                values[p] = ToUnit(Math.Round(0.299 * r + 0.587 * g + 0.114 * b));
            }
            else
            {
                values[p] = ToUnit(r);
                values[plane + p] = ToUnit(g);
                values[2 * plane + p] = ToUnit(b);
            }
        }
        return tensor(values).reshape(1, channels, height, width);
    }

    /// <summary>
    /// The mask at <paramref name="path"/> as a [1, 1, H, W] float32 tensor of 0 (keep the input) and 1 (regenerate):
    /// white is regenerated. Gray levels are thresholded at 0.5: a pixel whose luma (0–255) is ≥ 127.5 becomes 1.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a decodable image, or its size differs from the image's.</exception>
    public static Tensor LoadMask(string path, int height, int width)
    {
        var (rgba, w, h) = DecodeRgba(path);
        if (w != width || h != height)
            throw new InvalidDataException($"{path}: the mask is {w}×{h} pixels but the image is {width}×{height}");
        var values = new float[w * h];
        for (int p = 0; p < values.Length; p++)
        {
            double luma = 0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2];
            values[p] = luma >= 127.5 ? 1f : 0f;
        }
        return tensor(values).reshape(1, 1, height, width);
    }

    private static float ToUnit(double pixel) => (float)(pixel / 127.5 - 1.0);

    /// <summary>Unpremultiplied RGBA bytes, width and height.</summary>
    private static (byte[] Rgba, int Width, int Height) DecodeRgba(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file", path);
        SKCodec? codec;
        try
        {
            codec = SKCodec.Create(path, out var status)
                ?? throw new InvalidDataException($"{path}: not a decodable image ({status})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read ({e.Message})", e);
        }
        using (codec)
        {
            var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            using var bitmap = new SKBitmap(info);
            var result = codec.GetPixels(info, bitmap.GetPixels());
            if (result != SKCodecResult.Success || info.Width <= 0 || info.Height <= 0)
                throw new InvalidDataException($"{path}: corrupt image ({result})");
            return (bitmap.Bytes, info.Width, info.Height);
        }
    }
}
