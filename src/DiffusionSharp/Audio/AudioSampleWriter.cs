using static TorchSharp.torch;

namespace DiffusionSharp.Audio;

/// <summary>
/// What a sampled audio model leaves on disk: one 16-bit WAV file per clip (<c>00000.wav</c> …), a log-mel spectrogram
/// grid (one row per class for a class-conditional model) and the spectrogram strip of x̂₀ over the reverse process.
/// Used by the in-training pictures and by <c>diffuse sample</c>, so both look the same. Multi-channel clips (diffusers'
/// stereo Dance Diffusion models) keep every channel in their WAV files; the pictures show the channels' mean.
/// </summary>
public static class AudioSampleWriter
{
    /// <summary>Columns of an unconditional grid, and at most this many examples per class row.</summary>
    public const int MaxColumns = 8;

    /// <summary>
    /// The log-mel settings of the pictures at <paramref name="sampleRate"/>: 25 ms windows, 10 ms hops, 64 mel bands
    /// at 16 kHz and above, fewer at low rates (FFT/8, at least 16), where a 25 ms FFT has too few bins for 64 bands.
    /// </summary>
    public static LogMelOptions SpectrogramOptions(int sampleRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        var options = new LogMelOptions(SampleRate: sampleRate);
        return options with { Mels = Math.Clamp(options.FftSize / 8, 16, 64) };
    }

    /// <summary>Writes clip i of <paramref name="samples"/> ([N, C, L], any device) as a C-channel <c>{i:D5}.wav</c> in <paramref name="folder"/> (created); returns the paths.</summary>
    public static string[] WriteWavs(Tensor samples, int sampleRate, string folder)
    {
        CheckClips(samples);
        ArgumentNullException.ThrowIfNull(folder);
        Directory.CreateDirectory(folder);
        float[] values;
        using (var scope = NewDisposeScope())
            values = samples.detach().to(ScalarType.Float32, CPU).transpose(1, 2).contiguous().data<float>().ToArray();   // N × L × C: interleaved
        int n = (int)samples.shape[0], channels = (int)samples.shape[1], frame = channels * (int)samples.shape[2];
        var paths = new string[n];
        for (int i = 0; i < n; i++)
        {
            paths[i] = Path.Combine(folder, $"{i:D5}.wav");
            WavFile.WritePcm16(paths[i], values.AsSpan(i * frame, frame), sampleRate, channels);
        }
        return paths;
    }

    /// <summary>
    /// A PNG of the clips' spectrograms on one dB scale: with <paramref name="labels"/> (N class indices below
    /// <paramref name="classCount"/>) one row per class holding its first examples (up to <see cref="MaxColumns"/>);
    /// without, rows of <see cref="MaxColumns"/> in order.
    /// </summary>
    public static void SaveGrid(Tensor samples, long[]? labels, int classCount, int sampleRate, string path)
    {
        CheckClips(samples);
        ArgumentNullException.ThrowIfNull(path);
        int n = (int)samples.shape[0];
        long[] rows;
        int rowCount, columns;
        if (labels is not null && classCount > 0)
        {
            if (labels.Length != n)
                throw new ArgumentException($"{labels.Length} labels for {n} clips", nameof(labels));
            rows = labels;
            rowCount = classCount;
            columns = Math.Clamp(labels.GroupBy(l => l).Max(g => g.Count()), 1, MaxColumns);
        }
        else
        {
            columns = Math.Min(n, MaxColumns);
            rows = Enumerable.Range(0, n).Select(i => (long)(i / columns)).ToArray();
            rowCount = (n + columns - 1) / columns;
        }
        SaveRows(samples, rows, rowCount, columns, sampleRate, path);
    }

    /// <summary>
    /// The reverse process as a PNG: row r shows sample r of every frame left to right (each frame [R, 1, L], e.g. the
    /// model's x̂₀ after successive steps), all on one dB scale.
    /// </summary>
    public static void SaveTrajectory(IReadOnlyList<Tensor> frames, int sampleRate, string path)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentNullException.ThrowIfNull(path);
        if (frames.Count == 0)
            throw new ArgumentException("no frames", nameof(frames));
        foreach (var f in frames)
            CheckClips(f);
        int rowCount = (int)frames[0].shape[0];
        using var scope = NewDisposeScope();
        // Row-major: sample r's frames next to each other, so its row reads left (noise) to right (the result).
        var byRow = stack(frames.Select(f => f.detach().to(ScalarType.Float32, CPU).mean([1], keepdim: true)).ToArray(), 1)   // R × F × 1 × L
            .reshape(-1, 1, frames[0].shape[2]);
        long[] rows = Enumerable.Range(0, rowCount).SelectMany(r => Enumerable.Repeat((long)r, frames.Count)).ToArray();
        SaveRows(byRow, rows, rowCount, frames.Count, sampleRate, path);
    }

    private static void SaveRows(Tensor clips, long[] rows, int rowCount, int columns, int sampleRate, string path)
    {
        using var scope = NewDisposeScope();
        using var mel = new LogMelSpectrogram(SpectrogramOptions(sampleRate));
        var mono = clips.detach().to(ScalarType.Float32, CPU).clamp(-1f, 1f).mean([1], keepdim: true);
        // Centred frames reflect-pad by half an FFT, which needs a longer clip: a very short one gets trailing silence.
        long shortBy = mel.Options.FftSize + 1 - mono.shape[2];
        if (shortBy > 0)
            mono = nn.functional.pad(mono, [0, shortBy]);
        var logMel = mel.Compute(mono);
        using var labels = tensor(rows);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SpectrogramImage.SaveClassGrid(logMel, labels, rowCount, columns, path);
    }

    private static void CheckClips(Tensor samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.dim() != 3 || samples.shape[0] == 0 || samples.shape[1] == 0)
            throw new ArgumentException($"expected clips [N, C, L], not [{string.Join(", ", samples.shape)}]", nameof(samples));
    }
}
