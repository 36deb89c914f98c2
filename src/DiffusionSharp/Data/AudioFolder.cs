using DiffusionSharp.Audio;

namespace DiffusionSharp.Data;

/// <summary>Options of <see cref="AudioFolder.Load"/>.</summary>
/// <param name="SampleRate">Every file is resampled to this rate (Hz).</param>
/// <param name="Length">Samples per clip after centre padding or cropping; null for one second at <see cref="SampleRate"/>.</param>
/// <param name="ClassNames">The label order of the class sub-folders; null sorts the folder names ordinally. Every
/// sub-folder must be named here; a name without a folder is a class with no clips.</param>
public sealed record AudioFolderOptions(int SampleRate = 16000, int? Length = null, IReadOnlyList<string>? ClassNames = null)
{
    /// <summary>The clip length in samples.</summary>
    public int ResolvedLength => Length ?? SampleRate;
}

/// <summary>
/// A dataset from a folder of WAV files: each sub-folder is a class (clips ordered by label, then path); a
/// folder with WAV files and no class sub-folders is one class named after the folder (unconditional). Any rate,
/// mono or multi-channel (averaged to mono), 8/16/24/32-bit PCM or 32/64-bit float (see <see cref="WavFile"/>);
/// each file is resampled to <see cref="AudioFolderOptions.SampleRate"/> (<see cref="AudioResampler"/>), clamped to
/// [-1, 1] and centred in (or centre-cropped to) <see cref="AudioFolderOptions.Length"/> samples. Levels are kept.
/// </summary>
/// <remarks>
/// Only <c>*.wav</c> files are read and other files are ignored, except audio in another container (MP3, FLAC, Ogg,
/// …), which stops the load: it would otherwise be silently left out. Every file is decoded before anything is
/// returned, so a bad file stops a training run before its first step.
/// </remarks>
public static class AudioFolder
{
    private static readonly string[] s_otherAudio = [".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wma"];

    /// <summary>Whether <paramref name="path"/> is named as audio: <c>*.wav</c>, or a container this loader refuses (MP3, FLAC, …).</summary>
    public static bool IsAudioFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string ext = Path.GetExtension(path);
        return ext.Equals(".wav", StringComparison.OrdinalIgnoreCase) || s_otherAudio.Contains(ext, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Loads every WAV file under <paramref name="folder"/>.</summary>
    /// <exception cref="InvalidDataException">No WAV files, a corrupt or non-WAV file, audio in another format, files
    /// both at the top and in sub-folders, or a sub-folder not among the given class names; the one-line message
    /// names the file.</exception>
    public static AudioClips Load(string folder, AudioFolderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new AudioFolderOptions();
        if (options.SampleRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"SampleRate must be positive, not {options.SampleRate}");
        if (options.ResolvedLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"Length must be positive, not {options.Length}");
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{folder}: no such folder");

        var (files, classNames) = ListFiles(folder, options.ClassNames);
        var clips = new float[files.Count][];
        var labels = new long[files.Count];
        for (int i = 0; i < files.Count; i++)
        {
            var (path, label) = files[i];
            clips[i] = Prepare(WavFile.ReadMono(path), options.SampleRate, options.ResolvedLength);
            labels[i] = label;
        }
        return AudioClips.FromArrays(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))),
            clips, labels, classNames, options.SampleRate);
    }

    /// <summary>Resamples <paramref name="audio"/> to <paramref name="sampleRate"/>, clamps it to [-1, 1] and centres it in <paramref name="length"/> samples.</summary>
    public static float[] Prepare(MonoAudio audio, int sampleRate, int length)
    {
        ArgumentNullException.ThrowIfNull(audio);
        float[] resampled = AudioResampler.Resample(audio.Samples, audio.SampleRate, sampleRate);
        foreach (ref float s in resampled.AsSpan())
            s = float.IsNaN(s) ? 0f : Math.Clamp(s, -1f, 1f);
        return AudioClip.FitCentred(resampled, length);
    }

    private static (List<(string Path, int Label)> Files, string[] ClassNames) ListFiles(string folder, IReadOnlyList<string>? givenNames)
    {
        static IEnumerable<string> Audio(string dir, SearchOption option)
        {
            foreach (string f in Directory.EnumerateFiles(dir, "*", option).Order(StringComparer.Ordinal))
            {
                string ext = Path.GetExtension(f);
                if (s_otherAudio.Contains(ext, StringComparer.OrdinalIgnoreCase))
                    throw new InvalidDataException($"{f}: {ext.TrimStart('.').ToUpperInvariant()} audio is not read; convert it to WAV");
                if (ext.Equals(".wav", StringComparison.OrdinalIgnoreCase))
                    yield return f;
            }
        }

        var classDirs = Directory.GetDirectories(folder)
            .Where(d => Audio(d, SearchOption.AllDirectories).Any())
            .Order(StringComparer.Ordinal)
            .ToArray();
        var topLevel = Audio(folder, SearchOption.TopDirectoryOnly).ToList();
        var files = new List<(string, int)>();
        if (classDirs.Length == 0)
        {
            if (topLevel.Count == 0)
                throw new InvalidDataException($"{folder}: no WAV files");
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
            files.AddRange(topLevel.Select(f => (f, 0)));
            return (files, [name]);
        }
        if (topLevel.Count > 0)
            throw new InvalidDataException($"{topLevel[0]}: WAV file beside class sub-folders; put every file in its class's folder");
        string[] classNames = givenNames?.ToArray() ?? classDirs.Select(d => Path.GetFileName(d)).ToArray();
        var labelled = classDirs.Select(dir => (Dir: dir, Label: Array.IndexOf(classNames, Path.GetFileName(dir)))).ToArray();
        if (labelled.FirstOrDefault(d => d.Label < 0) is { Dir: { } unknown })
            throw new InvalidDataException($"{unknown}: class folder not among the classes {string.Join(", ", classNames)}");
        foreach (var (dir, label) in labelled.OrderBy(d => d.Label))
            files.AddRange(Audio(dir, SearchOption.AllDirectories).Select(f => (f, label)));
        return (files, classNames);
    }
}
