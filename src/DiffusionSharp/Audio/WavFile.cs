using DiffusionSharp.IO;
using NAudio.Wave;

namespace DiffusionSharp.Audio;

/// <summary>Mono audio in memory: samples in [-1, 1] at <see cref="SampleRate"/> Hz.</summary>
/// <param name="Samples">One float per sample.</param>
/// <param name="SampleRate">Samples per second.</param>
public sealed record MonoAudio(float[] Samples, int SampleRate)
{
    /// <summary>The duration in seconds.</summary>
    public double Seconds => (double)Samples.Length / SampleRate;
}

/// <summary>
/// WAV files through NAudio.Core (<see cref="WaveFileReader"/>, <see cref="WaveFileWriter"/>, the cross-platform part
/// of NAudio): 8/16/24/32-bit PCM and 32/64-bit IEEE float, any channel count (mixed to mono by averaging), and
/// WAVE_FORMAT_EXTENSIBLE headers of those. Writing is 16-bit PCM mono, atomically.
/// </summary>
public static class WavFile
{
    /// <summary>Reads a WAV file and mixes it to mono.</summary>
    /// <exception cref="InvalidDataException">Not a WAV file, an unsupported encoding, truncated or without samples;
    /// the one-line message names the file.</exception>
    public static MonoAudio ReadMono(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read ({e.Message})", e);
        }
        using var stream = new MemoryStream(bytes, writable: false);
        return ReadMono(stream, path);
    }

    /// <summary>Reads WAV data from <paramref name="stream"/>; <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">As <see cref="ReadMono(string)"/>.</exception>
    public static MonoAudio ReadMono(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        CheckRiffLength(stream, name);
        try
        {
            using var reader = new WaveFileReader(stream);
            var format = reader.WaveFormat;
            if (format.Channels <= 0 || format.SampleRate <= 0)
                throw new InvalidDataException($"{name}: WAV header gives {format.Channels} channels at {format.SampleRate} Hz");
            long declaredBytes = reader.Length;
            ISampleProvider provider = ToSamples(reader, name);
            long frames = declaredBytes / format.BlockAlign;
            if (frames == 0)
                throw new InvalidDataException($"{name}: WAV file without samples");
            int channels = format.Channels;
            var interleaved = new float[checked(frames * channels)];
            int read = 0;
            while (read < interleaved.Length)
            {
                int n = provider.Read(interleaved.AsSpan(read));
                if (n == 0)
                    break;
                read += n;
            }
            if (read < interleaved.Length)
                throw new InvalidDataException($"{name}: truncated WAV file ({read} of the {interleaved.Length} samples its header declares)");
            return new MonoAudio(MixToMono(interleaved, channels), format.SampleRate);
        }
        catch (Exception e) when (e is FormatException or EndOfStreamException or ArgumentException or NotSupportedException or InvalidOperationException)
        {
            throw new InvalidDataException($"{name}: not a readable WAV file ({e.Message.ReplaceLineEndings(" ")})", e);
        }
    }

    /// <summary>Encodes mono samples as a 16-bit PCM WAV file in memory (values clamped to [-1, 1]).</summary>
    public static byte[] EncodePcm16(ReadOnlySpan<float> samples, int sampleRate) => EncodePcm16(samples, sampleRate, channels: 1);

    /// <summary>Encodes interleaved samples of <paramref name="channels"/> channels as a 16-bit PCM WAV file in memory (values clamped to [-1, 1]).</summary>
    public static byte[] EncodePcm16(ReadOnlySpan<float> samples, int sampleRate, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        if (samples.Length % channels != 0)
            throw new ArgumentException($"{samples.Length} samples do not interleave into {channels} channels", nameof(samples));
        var pcm = new byte[samples.Length * 2];
        for (int i = 0; i < samples.Length; i++)
        {
            // Round to nearest with symmetric clipping: −1 → −32767, +1 → 32767.
            short v = (short)Math.Round(Math.Clamp(samples[i], -1f, 1f) * 32767f, MidpointRounding.AwayFromZero);
            pcm[2 * i] = (byte)v;
            pcm[2 * i + 1] = (byte)(v >> 8);
        }
        var buffer = new MemoryStream();
        using (var writer = new WaveFileWriter(buffer, new WaveFormat(sampleRate, 16, channels)))
            writer.Write(pcm);
        return buffer.ToArray(); // MemoryStream.ToArray works after the writer closed it (header patched on dispose)
    }

    /// <summary>Writes mono (or, with <paramref name="channels"/>, interleaved) samples as a 16-bit PCM WAV file, atomically.</summary>
    public static void WritePcm16(string path, ReadOnlySpan<float> samples, int sampleRate, int channels = 1)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] wav = EncodePcm16(samples, sampleRate, channels);
        AtomicFile.Write(path, s => s.Write(wav));
    }

    /// <summary>
    /// A RIFF header states the file's length; NAudio reads a shorter file without complaint, so a file cut short
    /// (an interrupted copy or download) is caught here. 0 and 0xFFFFFFFF mean "unknown" (streamed output).
    /// </summary>
    private static void CheckRiffLength(Stream stream, string name)
    {
        if (!stream.CanSeek || stream.Length < 12)
            return;
        long start = stream.Position;
        Span<byte> header = stackalloc byte[8];
        stream.ReadExactly(header);
        stream.Position = start;
        if (!header[..4].SequenceEqual("RIFF"u8))
            return;
        uint riffLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        long available = stream.Length - start - 8;
        if (riffLength is not (0 or uint.MaxValue) && riffLength > available)
            throw new InvalidDataException($"{name}: truncated WAV file ({available + 8} of the {riffLength + 8L} bytes its header declares)");
    }

    private static ISampleProvider ToSamples(WaveFileReader reader, string name)
    {
        // NAudio maps PCM (8/16/24/32-bit) and IEEE float, plain or WAVE_FORMAT_EXTENSIBLE; anything else
        // (ADPCM, µ-law, MP3 in RIFF) is refused here with the file's name.
        var format = reader.WaveFormat;
        var standard = format is WaveFormatExtensible extensible ? extensible.ToStandardWaveFormat() : format;
        if (standard.Encoding is not (WaveFormatEncoding.Pcm or WaveFormatEncoding.IeeeFloat))
            throw new InvalidDataException($"{name}: unsupported WAV encoding {format.Encoding} ({format.BitsPerSample}-bit); use PCM or IEEE float");
        return reader.ToSampleProvider();
    }

    private static float[] MixToMono(float[] interleaved, int channels)
    {
        if (channels == 1)
            return interleaved;
        var mono = new float[interleaved.Length / channels];
        for (int f = 0; f < mono.Length; f++)
        {
            float sum = 0;
            for (int c = 0; c < channels; c++)
                sum += interleaved[f * channels + c];
            mono[f] = sum / channels;
        }
        return mono;
    }
}
