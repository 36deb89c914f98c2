using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DiffusionSharp.Audio;
using DiffusionSharp.IO;

namespace DiffusionSharp.Data;

/// <summary>Size and randomness of the spoken-digit set.</summary>
/// <param name="TrainPerDigit">Training clips per digit.</param>
/// <param name="HeldOutPerDigit">Held-out clips per digit.</param>
/// <param name="Seed">Draws every voice, pitch, speed and gain, and the held-out variants.</param>
/// <param name="SampleRate">Output rate in Hz; clips are one second, so also the clip length.</param>
/// <param name="HeldOutVariants">How many voice variants (in all accents) are kept for the held-out split.</param>
/// <param name="MaxProcesses">espeak-ng processes run at once; null for the processor count (at most 8).</param>
/// <param name="Espeak">The espeak-ng executable.</param>
public sealed record SpokenDigitsOptions(int TrainPerDigit = 300, int HeldOutPerDigit = 30, long Seed = 0,
    int SampleRate = SpokenDigits.DefaultSampleRate, int HeldOutVariants = 10, int? MaxProcesses = null, string Espeak = "espeak-ng")
{
    /// <summary>A set of 2 + 1 clips per digit for tests (about a second to make).</summary>
    public static SpokenDigitsOptions Tiny { get; } = new(TrainPerDigit: 2, HeldOutPerDigit: 1);

    /// <summary>The cache sub-folder of this set: every option that changes a file is in the name.</summary>
    public string CacheKey => string.Create(CultureInfo.InvariantCulture,
        $"v1-seed{Seed}-train{TrainPerDigit}-held{HeldOutPerDigit}-heldvariants{HeldOutVariants}-{SampleRate}hz");

    internal void Validate()
    {
        if (TrainPerDigit <= 0 || HeldOutPerDigit <= 0)
            throw new ArgumentOutOfRangeException(nameof(SpokenDigitsOptions), $"clips per digit must be positive (train {TrainPerDigit}, held-out {HeldOutPerDigit})");
        if (SampleRate is < 8000 or > 48000)
            throw new ArgumentOutOfRangeException(nameof(SpokenDigitsOptions), $"sample rate {SampleRate} Hz is outside 8,000–48,000");
        if (HeldOutVariants <= 0)
            throw new ArgumentOutOfRangeException(nameof(SpokenDigitsOptions), $"held-out variants must be positive, not {HeldOutVariants}");
        if (MaxProcesses is <= 0)
            throw new ArgumentOutOfRangeException(nameof(SpokenDigitsOptions), $"max processes must be positive, not {MaxProcesses}");
    }
}

/// <summary>
/// Spoken digits "zero" … "nine" (the SC09 task) synthesised by espeak-ng: every English accent it ships
/// (<see cref="Accents"/>) × its voice variants (<c>voices/!v</c>), pitch, speed and gain drawn per clip from the seed
/// (<see cref="SpokenDigitsPlan"/>); mono, one second, <see cref="DefaultSampleRate"/> Hz, 16-bit WAV files in the
/// data cache (<c>&lt;cache&gt;/spoken-digits/&lt;key&gt;/{train,held-out}/{zero..nine}/NNNN.wav</c> + <c>clips.csv</c>).
/// </summary>
/// <remarks>
/// Each clip: espeak-ng's 22,050 Hz output resampled to the set's rate (<see cref="AudioResampler"/>), the silence
/// around the word trimmed (below 1 % of the peak), centred in one second of zeros (centre-cropped if longer),
/// normalised to a peak drawn in [−12, −1] dBFS. The files are the same byte for byte on every run with the same
/// options and espeak-ng.
/// </remarks>
public static class SpokenDigits
{
    /// <summary>The default model's rate: 16 kHz, the rate of SC09 (Speech Commands) and of speech models in
    /// general; it keeps everything below 8 kHz, where speech is intelligible, and one second is 16,000 samples.</summary>
    public const int DefaultSampleRate = 16000;

    /// <summary>The name of the cache folder and of the built-in data set.</summary>
    public const string Name = "spoken-digits";

    /// <summary>The per-clip table in the set's folder.</summary>
    public const string ClipsFile = "clips.csv";

    /// <summary>The file written last; its presence marks a complete set.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>The class names, indexed by digit: "zero" … "nine" (also the words spoken).</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

    /// <summary>The English accents of espeak-ng used (its own voices, not the MBROLA ones, which need extra data).</summary>
    public static IReadOnlyList<string> Accents { get; } = ["en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"];

    private static readonly Lock s_gate = new();

    /// <summary>The folder of the set in the cache, generating it when absent (a second call does no work).</summary>
    /// <param name="options">Size and seed; null for the default set.</param>
    /// <param name="cacheRoot">The cache folder; null for <see cref="DataCache.DefaultRoot"/>.</param>
    /// <param name="log">Receives progress lines when the set is generated.</param>
    /// <exception cref="InvalidOperationException">espeak-ng is missing or fails.</exception>
    public static string EnsureCached(SpokenDigitsOptions? options = null, string? cacheRoot = null, Action<string>? log = null)
    {
        options ??= new SpokenDigitsOptions();
        options.Validate();
        string folder = Path.Combine(DataCache.Resolve(cacheRoot), Name, options.CacheKey);
        lock (s_gate)
        {
            if (File.Exists(Path.Combine(folder, ManifestFile)))
                return folder;
            Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
            string temp = $"{folder}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            try
            {
                Generate(options, temp, log);
                try
                {
                    Directory.Move(temp, folder);
                }
                catch (IOException) when (File.Exists(Path.Combine(folder, ManifestFile)))
                {
                    // Another process finished the same set first; its files are identical.
                }
            }
            finally
            {
                if (Directory.Exists(temp))
                    Directory.Delete(temp, recursive: true);
            }
            return folder;
        }
    }

    /// <summary>Loads a split of the cached set (generating it first if needed, see <see cref="EnsureCached"/>).</summary>
    public static AudioClips LoadCached(SpokenDigitsSplit split, SpokenDigitsOptions? options = null, string? cacheRoot = null, Action<string>? log = null)
    {
        options ??= new SpokenDigitsOptions();
        string folder = EnsureCached(options, cacheRoot, log);
        return Load(folder, split, options.SampleRate);
    }

    /// <summary>Loads a split from a set's folder (as <see cref="EnsureCached"/> or <c>diffuse data</c> wrote it).</summary>
    public static AudioClips Load(string folder, SpokenDigitsSplit split, int sampleRate = DefaultSampleRate)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string splitFolder = Path.Combine(folder, SpokenDigitsPlan.FolderName(split));
        return AudioFolder.Load(splitFolder, new AudioFolderOptions(sampleRate, sampleRate, ClassNames));
    }

    /// <summary>
    /// Synthesises the whole set into <paramref name="folder"/> (created; should be empty): the WAV files,
    /// <see cref="ClipsFile"/> and, last, <see cref="ManifestFile"/>.
    /// </summary>
    public static void Generate(SpokenDigitsOptions options, string folder, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(folder);
        options.Validate();
        var voices = SpokenDigitsEspeak.FindVoices(options.Espeak);
        var plan = SpokenDigitsPlan.Clips(voices.Variants, options);
        int processes = options.MaxProcesses ?? Math.Clamp(Environment.ProcessorCount, 1, 8);
        log?.Invoke($"synthesising {plan.Count} spoken digits with {voices.Version} ({Accents.Count} accents × {voices.Variants.Count} variants, {processes} processes) into {folder}");
        Directory.CreateDirectory(folder);
        var scratch = Directory.CreateTempSubdirectory("diffusionsharp-espeak-");
        var timer = Stopwatch.StartNew();
        var spokenSamples = new int[plan.Count];
        int done = 0;
        try
        {
            Parallel.For(0, plan.Count, new ParallelOptions { MaxDegreeOfParallelism = processes }, i =>
            {
                var clip = plan[i];
                var raw = SpokenDigitsEspeak.Speak(options.Espeak, clip, Path.Combine(scratch.FullName, $"{i}.wav"));
                var resampled = AudioResampler.Resample(raw.Samples, raw.SampleRate, options.SampleRate);
                var word = AudioClip.TrimSilence(resampled);
                spokenSamples[i] = word.Length;
                var samples = AudioClip.FitCentred(word, options.SampleRate);
                AudioClip.NormalisePeak(samples, clip.PeakGain);
                // Plain writes: the whole folder becomes visible at once by the rename in EnsureCached.
                string path = Path.Combine(folder, clip.RelativePath);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, WavFile.EncodePcm16(samples, options.SampleRate));
                File.Delete(Path.Combine(scratch.FullName, $"{i}.wav"));
                int n = Interlocked.Increment(ref done);
                if (n % 500 == 0)
                    log?.Invoke($"  {n}/{plan.Count} clips, {timer.Elapsed.TotalSeconds:F0} s");
            });
        }
        finally
        {
            try { scratch.Delete(recursive: true); } catch (IOException) { }
        }
        int cropped = spokenSamples.Count(n => n > options.SampleRate);
        WriteClipsTable(Path.Combine(folder, ClipsFile), plan, spokenSamples, options.SampleRate);
        var manifest = new
        {
            name = Name,
            seed = options.Seed,
            trainPerDigit = options.TrainPerDigit,
            heldOutPerDigit = options.HeldOutPerDigit,
            sampleRate = options.SampleRate,
            clipSamples = options.SampleRate,
            espeak = voices.Version,
            accents = Accents,
            variants = voices.Variants,
            heldOutVariants = SpokenDigitsPlan.HeldOutVariants(voices.Variants, options),
            pitch = new[] { SpokenDigitsPlan.MinPitch, SpokenDigitsPlan.MaxPitch },
            speedWpm = new[] { SpokenDigitsPlan.MinSpeed, SpokenDigitsPlan.MaxSpeed },
            peakDbfs = new[] { SpokenDigitsPlan.MinPeakDb, SpokenDigitsPlan.MaxPeakDb },
            longestWordSeconds = Math.Round((double)spokenSamples.Max() / options.SampleRate, 3),
            croppedClips = cropped,
        };
        AtomicFile.WriteAllText(Path.Combine(folder, ManifestFile), JsonSerializer.Serialize(manifest, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        log?.Invoke($"spoken digits cached: {plan.Count} clips in {timer.Elapsed.TotalSeconds:F1} s (longest word {manifest.longestWordSeconds} s, {cropped} centre-cropped)");
    }

    private static void WriteClipsTable(string path, IReadOnlyList<SpokenDigitClip> plan, int[] spokenSamples, int sampleRate)
    {
        var csv = new StringBuilder("file,split,digit,word,accent,variant,pitch,speed_wpm,peak_dbfs,word_seconds\n");
        for (int i = 0; i < plan.Count; i++)
        {
            var c = plan[i];
            csv.Append(CultureInfo.InvariantCulture,
                $"{c.RelativePath},{c.SplitFolder},{c.Digit},{ClassNames[c.Digit]},{c.Accent},\"{c.Variant}\",{c.Pitch},{c.Speed},{c.PeakDb:F2},{(double)spokenSamples[i] / sampleRate:F3}\n");
        }
        AtomicFile.WriteAllText(path, csv.ToString());
    }
}
