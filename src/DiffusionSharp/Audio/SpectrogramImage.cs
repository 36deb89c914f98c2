using DiffusionSharp.Imaging;
using static TorchSharp.torch;

namespace DiffusionSharp.Audio;

/// <summary>How <see cref="SpectrogramImage"/> renders log-mel spectrograms.</summary>
/// <param name="DynamicRangeDb">Levels more than this many dB below the loudest bin of the whole grid are drawn black.</param>
/// <param name="Scale">Integer enlargement of every tile (64 mels × 101 frames at 2: 128 × 202 pixels).</param>
/// <param name="Padding">Pixels between tiles.</param>
public sealed record SpectrogramImageOptions(double DynamicRangeDb = 80, int Scale = 2, int Padding = 4);

/// <summary>
/// Pictures of log-mel spectrograms (from <see cref="LogMelSpectrogram"/>): low frequencies at the bottom, time left
/// to right, the viridis colour map (ScottPlot's), one common dB scale for every tile so loudness compares across the
/// grid. A class grid has one row per class (label order), one column per example.
/// </summary>
public static class SpectrogramImage
{
    /// <summary>A log-power value ln(p) is 10·log₁₀(p) = ln(p) · 10 / ln 10 dB.</summary>
    private const double DbPerLogPower = 10 / 2.302585092994046;

    /// <summary>Renders each N×mels×frames spectrogram as an RGB raster, on one scale.</summary>
    public static Raster[] ToRasters(Tensor logMel, SpectrogramImageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(logMel);
        options ??= new SpectrogramImageOptions();
        if (logMel.dim() != 3)
            throw new ArgumentException($"expected N×mels×frames log-mel spectrograms, not [{string.Join(", ", logMel.shape)}]", nameof(logMel));
        if (!(options.DynamicRangeDb > 0))
            throw new ArgumentOutOfRangeException(nameof(options), options.DynamicRangeDb, "the dynamic range must be positive");
        int n = (int)logMel.shape[0], mels = (int)logMel.shape[1], frames = (int)logMel.shape[2];
        float[] values;
        using (var scope = NewDisposeScope())
            values = logMel.detach().to(ScalarType.Float32, CPU).contiguous().data<float>().ToArray();
        double top = values.Length == 0 ? 0 : values.Max() * DbPerLogPower;
        var colormap = new ScottPlot.Colormaps.Viridis();
        var rasters = new Raster[n];
        for (int i = 0; i < n; i++)
        {
            var pixels = new byte[mels * frames * 3];
            for (int m = 0; m < mels; m++)
            {
                int row = mels - 1 - m; // band 0 (lowest) at the bottom
                for (int t = 0; t < frames; t++)
                {
                    double db = values[((long)i * mels + m) * frames + t] * DbPerLogPower;
                    double level = Math.Clamp(1 + (db - top) / options.DynamicRangeDb, 0, 1);
                    var c = colormap.GetColor(level);
                    int p = (row * frames + t) * 3;
                    pixels[p] = c.R;
                    pixels[p + 1] = c.G;
                    pixels[p + 2] = c.B;
                }
            }
            rasters[i] = new Raster(frames, mels, 3, pixels).Upscale(options.Scale);
        }
        return rasters;
    }

    /// <summary>
    /// Writes a PNG grid with one row per class: row c holds the first <paramref name="perClass"/> spectrograms whose
    /// label is c (in order), blank where a class has fewer.
    /// </summary>
    /// <param name="logMel">N×mels×frames.</param>
    /// <param name="labels">N int64 labels.</param>
    /// <param name="classCount">Rows.</param>
    /// <param name="perClass">Columns.</param>
    /// <param name="path">The PNG file (written atomically).</param>
    /// <param name="options">Rendering settings.</param>
    public static void SaveClassGrid(Tensor logMel, Tensor labels, int classCount, int perClass, string path, SpectrogramImageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perClass);
        options ??= new SpectrogramImageOptions();
        var rasters = ToRasters(logMel, options);
        long[] labelValues;
        using (var scope = NewDisposeScope())
            labelValues = labels.to(ScalarType.Int64, CPU).data<long>().ToArray();
        if (labelValues.Length != rasters.Length)
            throw new ArgumentException($"{labelValues.Length} labels for {rasters.Length} spectrograms", nameof(labels));
        if (rasters.Length == 0)
            throw new ArgumentException("no spectrograms to draw", nameof(logMel));
        var blank = Raster.Filled(rasters[0].Width, rasters[0].Height, 3, 255);
        var tiles = new Raster[classCount * perClass];
        Array.Fill(tiles, blank);
        var used = new int[classCount];
        for (int i = 0; i < rasters.Length; i++)
        {
            long c = labelValues[i];
            if (c < 0 || c >= classCount)
                throw new ArgumentException($"label {c} is outside [0, {classCount})", nameof(labels));
            if (used[c] < perClass)
                tiles[c * perClass + used[c]++] = rasters[i];
        }
        ImageWriter.SavePng(ImageWriter.Grid(tiles, new GridOptions(Columns: perClass, Padding: options.Padding, Scale: 1)), path);
    }
}
