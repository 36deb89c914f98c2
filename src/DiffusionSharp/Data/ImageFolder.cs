using System.Runtime.InteropServices;
using SkiaSharp;

namespace DiffusionSharp.Data;

/// <summary>How many channels an image-folder dataset gets.</summary>
public enum ImageColorMode
{
    /// <summary>1 channel if every image is stored as grayscale, else 3.</summary>
    Auto,

    /// <summary>1 channel: luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601).</summary>
    Grayscale,

    /// <summary>3 channels, R G B (alpha is dropped).</summary>
    Rgb,
}

/// <summary>Options of <see cref="ImageFolder.Load"/>.</summary>
/// <param name="Size">When set, every image is scaled so its shorter side is <c>Size</c> and the centred
/// <c>Size</c>×<c>Size</c> square is kept. When null, all images must already share one size.</param>
/// <param name="Color">Grayscale, RGB, or decided from the files.</param>
public sealed record ImageFolderOptions(int? Size = null, ImageColorMode Color = ImageColorMode.Auto);

/// <summary>
/// A dataset from a folder of PNG/JPEG images. Each sub-folder is a class (names sorted ordinally give the label
/// order; files are taken recursively, sorted by path); a folder with images and no class sub-folders is one class
/// named after the folder.
/// </summary>
public static class ImageFolder
{
    private static readonly string[] s_extensions = [".png", ".jpg", ".jpeg"];

    /// <summary>Loads every image under <paramref name="folder"/>.</summary>
    /// <exception cref="InvalidDataException">The folder has no images, an image cannot be decoded, images differ in
    /// size while <see cref="ImageFolderOptions.Size"/> is null, or images lie both at the top and in class
    /// sub-folders; the one-line message names the file.</exception>
    public static ImageDataset Load(string folder, ImageFolderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new ImageFolderOptions();
        if (options.Size is <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"Size must be positive, not {options.Size}");
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{folder}: no such folder");

        var (files, classNames) = ListImages(folder);

        // Pass 1 reads headers only: the channel count and, without resizing, the common size.
        bool allGray = true;
        (int W, int H)? common = null;
        foreach (var (path, _) in files)
        {
            using var codec = OpenCodec(path);
            allGray &= codec.Info.ColorType == SKColorType.Gray8;
            if (options.Size is null)
            {
                var size = (codec.Info.Width, codec.Info.Height);
                common ??= size;
                if (size != common.Value)
                    throw new InvalidDataException($"{path}: {size.Width}×{size.Height} differs from the {common.Value.W}×{common.Value.H} of the first image; pass a size to resize and crop");
            }
        }
        int channels = options.Color switch
        {
            ImageColorMode.Grayscale => 1,
            ImageColorMode.Rgb => 3,
            _ => allGray ? 1 : 3,
        };
        int width = options.Size ?? common!.Value.W, height = options.Size ?? common!.Value.H;

        // Pass 2 decodes into N×C×H×W bytes.
        int plane = width * height;
        var pixels = new byte[checked((long)files.Count * channels * plane)];
        var labels = new long[files.Count];
        for (int i = 0; i < files.Count; i++)
        {
            var (path, label) = files[i];
            labels[i] = label;
            byte[] rgba = DecodeRgba(path, width, height, options.Size is not null);
            var dest = pixels.AsSpan(i * channels * plane, channels * plane);
            for (int p = 0; p < plane; p++)
            {
                byte r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2];
                if (channels == 1)
                {
                    dest[p] = (byte)Math.Round(0.299 * r + 0.587 * g + 0.114 * b);
                }
                else
                {
                    dest[p] = r;
                    dest[plane + p] = g;
                    dest[2 * plane + p] = b;
                }
            }
        }
        return ImageDataset.FromBytes(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))),
            pixels, files.Count, channels, height, width, labels, classNames);
    }

    private static (List<(string Path, int Label)> Files, string[] ClassNames) ListImages(string folder)
    {
        static IEnumerable<string> Images(string dir, SearchOption option) =>
            Directory.EnumerateFiles(dir, "*", option)
                .Where(f => s_extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal);

        var classDirs = Directory.GetDirectories(folder)
            .Where(d => Images(d, SearchOption.AllDirectories).Any())
            .Order(StringComparer.Ordinal)
            .ToArray();
        var topLevel = Images(folder, SearchOption.TopDirectoryOnly).ToList();
        var files = new List<(string, int)>();
        string[] classNames;
        if (classDirs.Length == 0)
        {
            if (topLevel.Count == 0)
                throw new InvalidDataException($"{folder}: no PNG or JPEG images");
            classNames = [Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)))];
            files.AddRange(topLevel.Select(f => (f, 0)));
        }
        else
        {
            if (topLevel.Count > 0)
                throw new InvalidDataException($"{topLevel[0]}: image beside class sub-folders; put every image in its class's folder");
            classNames = classDirs.Select(Path.GetFileName).ToArray()!;
            for (int c = 0; c < classDirs.Length; c++)
                files.AddRange(Images(classDirs[c], SearchOption.AllDirectories).Select(f => (f, c)));
        }
        return (files, classNames);
    }

    private static SKCodec OpenCodec(string path)
    {
        SKCodec? codec;
        try
        {
            codec = SKCodec.Create(path, out var result);
            if (codec is null)
                throw new InvalidDataException($"{path}: not a decodable image ({result})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read ({e.Message})", e);
        }
        if (codec.Info.Width <= 0 || codec.Info.Height <= 0)
        {
            codec.Dispose();
            throw new InvalidDataException($"{path}: image of {codec.Info.Width}×{codec.Info.Height} pixels");
        }
        return codec;
    }

    /// <summary>
    /// Decodes to RGBA (unpremultiplied) and, when <paramref name="resize"/>, scales the centred square of side
    /// min(w, h) to <paramref name="width"/>×<paramref name="height"/> — the same as scaling the shorter side to the
    /// target and centre-cropping. Mipmapped linear sampling keeps large reductions free of aliasing.
    /// </summary>
    private static byte[] DecodeRgba(string path, int width, int height, bool resize)
    {
        using var codec = OpenCodec(path);
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
            throw new InvalidDataException($"{path}: corrupt image ({result})");
        if (!resize)
            return bitmap.Bytes;

        using var image = SKImage.FromBitmap(bitmap);
        var targetInfo = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("SkiaSharp could not create a raster surface");
        int side = Math.Min(info.Width, info.Height);
        var src = SKRect.Create((info.Width - side) / 2f, (info.Height - side) / 2f, side, side);
        var dst = SKRect.Create(0, 0, width, height);
        using (var paint = new SKPaint())
        {
            surface.Canvas.Clear(SKColors.Transparent);
            surface.Canvas.DrawImage(image, src, dst, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear), paint);
        }
        var output = new byte[width * height * 4];
        var handle = GCHandle.Alloc(output, GCHandleType.Pinned);
        try
        {
            if (!surface.ReadPixels(targetInfo, handle.AddrOfPinnedObject(), width * 4, 0, 0))
                throw new InvalidOperationException($"{path}: SkiaSharp could not read the resized pixels");
        }
        finally
        {
            handle.Free();
        }
        return output;
    }
}
