using NWaves.Filters.Fda;
using static TorchSharp.torch;

namespace DiffusionSharp.Audio;

/// <summary>Settings of <see cref="LogMelSpectrogram"/>; the defaults are the usual speech front end at 16 kHz.</summary>
/// <param name="SampleRate">Samples per second of the input.</param>
/// <param name="Mels">Mel bands.</param>
/// <param name="WindowSeconds">Hann window length (25 ms: 400 samples at 16 kHz).</param>
/// <param name="HopSeconds">Frame step (10 ms: 160 samples, so 1 s gives 101 frames).</param>
/// <param name="MinHz">Lowest band edge.</param>
/// <param name="MaxHz">Highest band edge; null for the Nyquist frequency.</param>
/// <param name="Floor">Added to the mel power before the logarithm (1e-6 ≈ −60 dB below a full-scale tone).</param>
public sealed record LogMelOptions(int SampleRate = 16000, int Mels = 64, double WindowSeconds = 0.025,
    double HopSeconds = 0.010, double MinHz = 0, double? MaxHz = null, double Floor = 1e-6)
{
    /// <summary>Window length in samples.</summary>
    public int WindowLength => (int)Math.Round(WindowSeconds * SampleRate);

    /// <summary>Hop in samples.</summary>
    public int HopLength => (int)Math.Round(HopSeconds * SampleRate);

    /// <summary>FFT size: the smallest power of two that holds the window (512 at the defaults).</summary>
    public int FftSize => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)WindowLength);

    /// <summary>Frames for a clip of <paramref name="length"/> samples (centred frames: 1 + ⌊L / hop⌋).</summary>
    public int Frames(int length) => 1 + length / HopLength;

    internal void Validate()
    {
        if (SampleRate <= 0 || Mels <= 0 || WindowLength <= 1 || HopLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(LogMelOptions), $"log-mel settings need a positive rate, mel count, window and hop ({this})");
        double max = MaxHz ?? SampleRate / 2.0;
        if (!(MinHz >= 0 && MinHz < max && max <= SampleRate / 2.0))
            throw new ArgumentOutOfRangeException(nameof(LogMelOptions), $"mel range {MinHz}–{max} Hz must lie in [0, {SampleRate / 2.0}] Hz");
        if (!(Floor > 0))
            throw new ArgumentOutOfRangeException(nameof(LogMelOptions), $"the log floor must be positive, not {Floor}");
    }
}

/// <summary>
/// Log-mel spectrograms of a batch: ln(M · |STFT(x)|² + floor), with the short-time Fourier transform from libtorch
/// (<c>torch.stft</c>: batched, on any device, differentiable, so a classifier can use it inside its graph) and the
/// triangular mel filter bank M from NWaves (<see cref="FilterBanks.MelBands"/> + <see cref="FilterBanks.Triangular"/>,
/// HTK mel scale m = 2595 log₁₀(1 + f/700)). Frames are centred (the clip is reflect-padded by half an FFT).
/// </summary>
public sealed class LogMelSpectrogram : IDisposable
{
    private readonly Tensor _window;
    private readonly Tensor _filterBank;

    /// <summary>Builds the window and filter bank for <paramref name="options"/>.</summary>
    public LogMelSpectrogram(LogMelOptions? options = null)
    {
        Options = options ?? new LogMelOptions();
        Options.Validate();
        FilterBank = MelFilterBank(Options);
        int bins = Options.FftSize / 2 + 1;
        var flat = new float[Options.Mels * bins];
        for (int m = 0; m < Options.Mels; m++)
            FilterBank[m].AsSpan(0, bins).CopyTo(flat.AsSpan(m * bins));
        _filterBank = tensor(flat, [Options.Mels, bins]).DetachFromDisposeScope();
        _window = hann_window(Options.WindowLength, periodic: true, dtype: ScalarType.Float32).DetachFromDisposeScope();
    }

    /// <summary>The settings.</summary>
    public LogMelOptions Options { get; }

    /// <summary>The mel filter bank, one row of FFT/2+1 weights per band (as NWaves builds it).</summary>
    public float[][] FilterBank { get; }

    /// <summary>
    /// Log-mel spectrograms of N×1×L or N×L float clips: a new N×mels×frames float32 tensor on the clips' device.
    /// </summary>
    public Tensor Compute(Tensor clips)
    {
        ArgumentNullException.ThrowIfNull(clips);
        if (!(clips.dim() == 2 || (clips.dim() == 3 && clips.shape[1] == 1)))
            throw new ArgumentException($"expected N×1×L or N×L clips, not [{string.Join(", ", clips.shape)}]", nameof(clips));
        using var scope = NewDisposeScope();
        var x = clips.reshape(clips.shape[0], clips.shape[^1]).to(ScalarType.Float32);
        var window = _window.to(x.device);
        var spectrum = x.stft(Options.FftSize, Options.HopLength, Options.WindowLength, window,
            center: true, pad_mode: TorchSharp.PaddingModes.Reflect, normalized: false, onesided: true, return_complex: true);
        var power = spectrum.abs().square();                                // N × bins × frames
        var mel = matmul(_filterBank.to(x.device), power);                  // N × mels × frames
        return mel.add(Options.Floor).log().MoveToOuterDisposeScope();
    }

    /// <summary>The triangular mel filter bank of <paramref name="options"/>, from NWaves.</summary>
    public static float[][] MelFilterBank(LogMelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var bands = FilterBanks.MelBands(options.Mels, options.SampleRate, options.MinHz, options.MaxHz ?? options.SampleRate / 2.0);
        return FilterBanks.Triangular(options.FftSize, options.SampleRate, bands);
    }

    /// <summary>Releases the window and filter bank.</summary>
    public void Dispose()
    {
        _window.Dispose();
        _filterBank.Dispose();
    }
}
