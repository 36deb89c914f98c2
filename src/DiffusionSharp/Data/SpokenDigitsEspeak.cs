using System.ComponentModel;
using System.Diagnostics;
using DiffusionSharp.Audio;

namespace DiffusionSharp.Data;

/// <summary>What the installed espeak-ng offers: its version, data folder and voice variants.</summary>
/// <param name="Version">The version line, e.g. <c>eSpeak NG text-to-speech: 1.51</c>.</param>
/// <param name="DataFolder">Its <c>espeak-ng-data</c> folder.</param>
/// <param name="Variants">The files of <c>voices/!v</c>, sorted ordinally.</param>
public sealed record EspeakVoices(string Version, string DataFolder, IReadOnlyList<string> Variants);

/// <summary>Runs espeak-ng (Debian package <c>espeak-ng</c>) as a child process, one word per call.</summary>
public static class SpokenDigitsEspeak
{
    /// <summary>The one-line hint of the "not installed" error.</summary>
    public const string InstallHint = "install it (Debian/Ubuntu: apt-get install espeak-ng; macOS: brew install espeak-ng) or train on your own WAV files with --data DIR";

    /// <summary>Asks <paramref name="espeak"/> for its version and data folder and lists its voice variants.</summary>
    /// <exception cref="InvalidOperationException">espeak-ng is missing or fails, or has no variants folder.</exception>
    public static EspeakVoices FindVoices(string espeak)
    {
        ArgumentNullException.ThrowIfNull(espeak);
        string output = Run(espeak, ["--version"], "--version").Trim();
        const string marker = "Data at:";
        int at = output.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
            throw new InvalidOperationException($"{espeak} --version did not say where its data is: {output}");
        string version = output[..at].Trim();
        string data = output[(at + marker.Length)..].Trim();
        string variantsFolder = Path.Combine(data, "voices", "!v");
        if (!Directory.Exists(variantsFolder))
            throw new InvalidOperationException($"{variantsFolder}: espeak-ng's voice variants folder is missing");
        var variants = Directory.GetFiles(variantsFolder).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        if (variants.Length < 2)
            throw new InvalidOperationException($"{variantsFolder}: {variants.Length} voice variants; the set needs at least 2");
        return new EspeakVoices(version, data, variants);
    }

    /// <summary>Synthesises <paramref name="clip"/>'s word into <paramref name="wavPath"/> and reads it back (espeak-ng writes 22,050 Hz 16-bit mono).</summary>
    /// <exception cref="InvalidOperationException">espeak-ng fails or writes no sound.</exception>
    public static MonoAudio Speak(string espeak, SpokenDigitClip clip, string wavPath)
    {
        ArgumentNullException.ThrowIfNull(clip);
        ArgumentNullException.ThrowIfNull(wavPath);
        string word = SpokenDigits.ClassNames[clip.Digit];
        // -z: no pause after the sentence; the word alone, the silence around it is trimmed later anyway.
        Run(espeak, ["-v", clip.Voice, "-p", clip.Pitch.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-s", clip.Speed.ToString(System.Globalization.CultureInfo.InvariantCulture), "-z", "-w", wavPath, word], $"-v {clip.Voice} {word}");
        var audio = WavFile.ReadMono(wavPath);
        if (AudioClip.Peak(audio.Samples) == 0)
            throw new InvalidOperationException($"espeak-ng -v {clip.Voice} wrote silence for \"{word}\"");
        return audio;
    }

    private static string Run(string espeak, IEnumerable<string> args, string what)
    {
        var psi = new ProcessStartInfo(espeak)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException($"{espeak} did not start");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"espeak-ng was not found ({espeak}: {e.Message}); it makes the spoken-digit set: {InstallHint}", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new InvalidOperationException($"espeak-ng {what} did not finish within 60 s");
            }
            process.WaitForExit();
            string err = stderr.Result.Trim();
            if (process.ExitCode != 0 || err.Length > 0)
                throw new InvalidOperationException($"espeak-ng {what} failed (exit code {process.ExitCode}): {(err.Length > 500 ? err[..500] + "…" : err)}");
            return stdout.Result;
        }
    }
}
