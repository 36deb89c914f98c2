using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using DiffusionSharp.Data;
using DiffusionSharp.IO;

namespace DiffusionSharp.Text;

/// <summary>
/// The text corpora of <c>--data</c>: <c>kjv</c> (Debian's <c>bible-kjv</c>), <c>fortunes</c> (Debian's
/// <c>fortunes</c>), or a UTF-8 file or folder.
/// </summary>
public static partial class TextCorpora
{
    /// <summary>The number of verses <c>bible -f Gen1:1-Rev22:21</c> prints.</summary>
    public const int KjvVerseCount = 31_102;

    /// <summary>Where Debian's <c>fortunes</c> package puts its fortune files.</summary>
    public const string FortunesDirectory = "/usr/share/games/fortunes";

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary><c>kjv</c>, <c>fortunes</c>, or a path to a UTF-8 file or folder.</summary>
    public static TextCorpus Load(string data, string? cacheRoot = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(data);
        return data switch
        {
            "kjv" => Kjv(cacheRoot),
            "fortunes" => Fortunes(),
            _ => Files(data),
        };
    }

    /// <summary>
    /// The 31,102 verses of the King James Bible in canonical order, references stripped, one document per verse (joined by
    /// newlines). The text is read once from <c>bible -f Gen1:1-Rev22:21</c> and kept in
    /// <c>&lt;cache&gt;/kjv/verses.txt</c> (see <see cref="DataCache"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The <c>bible</c> program is missing (the message says how to install it).</exception>
    /// <exception cref="InvalidDataException">Its output is not 31,102 referenced verses.</exception>
    public static TextCorpus Kjv(string? cacheRoot = null)
    {
        string path = Path.Combine(DataCache.Resolve(cacheRoot), "kjv", "verses.txt");
        if (!File.Exists(path))
        {
            var verses = ParseBibleOutput(RunBible());
            AtomicFile.WriteAllText(path, string.Join('\n', verses) + "\n");
        }
        string text = File.ReadAllText(path, s_strictUtf8);
        var lines = text.Split('\n');
        if (lines.Length != KjvVerseCount + 1 || lines[^1].Length != 0)
            throw new InvalidDataException($"{path}: {lines.Length - 1} verses, expected {KjvVerseCount}; delete the file to rebuild it");
        return TextCorpus.Split("kjv", lines[..^1], "\n");
    }

    /// <summary>
    /// The verse texts of <c>bible -f</c> output (<c>Ge1:1 In the beginning…</c>): each line's leading reference is
    /// stripped; any line without one is an error, and so is a count other than <paramref name="expectedVerses"/>.
    /// </summary>
    public static IReadOnlyList<string> ParseBibleOutput(string output, int expectedVerses = KjvVerseCount)
    {
        ArgumentNullException.ThrowIfNull(output);
        var verses = new List<string>(KjvVerseCount);
        int lineNumber = 0;
        foreach (string raw in output.Split('\n'))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
                continue;
            var m = VerseLine().Match(line);
            if (!m.Success)
                throw new InvalidDataException($"bible output line {lineNumber} has no verse reference: '{Truncate(line)}'");
            verses.Add(m.Groups["text"].Value);
        }
        if (verses.Count != expectedVerses)
            throw new InvalidDataException($"bible printed {verses.Count} verses, expected {expectedVerses}");
        return verses;
    }

    /// <summary>
    /// Every fortune of the fortune databases in <paramref name="directory"/> (files with a <c>.dat</c> index; the
    /// <c>.u8</c> UTF-8 copy where one exists), split at lines holding only <c>%</c>, files in ordinal name order.
    /// </summary>
    /// <exception cref="InvalidOperationException">No fortune files (the message says how to install them).</exception>
    public static TextCorpus Fortunes(string directory = FortunesDirectory)
    {
        var databases = Directory.Exists(directory)
            ? Directory.GetFiles(directory).Where(f => File.Exists(f + ".dat")).Order(StringComparer.Ordinal).ToList()
            : [];
        if (databases.Count == 0)
            throw new InvalidOperationException($"no fortune files in {directory}: apt-get install fortunes");
        var documents = new List<string>();
        foreach (string db in databases)
        {
            string file = File.Exists(db + ".u8") ? db + ".u8" : db;
            documents.AddRange(SplitFortunes(ReadUtf8(file)));
        }
        return TextCorpus.Split("fortunes", documents, "\n%\n");
    }

    /// <summary>The fortunes of one fortune file's text: the pieces between lines holding only <c>%</c>, blank ones dropped.</summary>
    public static IEnumerable<string> SplitFortunes(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var current = new StringBuilder();
        foreach (string raw in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            if (raw == "%")
            {
                if (current.ToString().Trim().Length > 0)
                    yield return current.ToString().TrimEnd('\n');
                current.Clear();
            }
            else
            {
                current.Append(raw).Append('\n');
            }
        }
        if (current.ToString().Trim().Length > 0)
            yield return current.ToString().TrimEnd('\n');
    }

    /// <summary>
    /// The paragraphs (split at blank lines, trimmed) of a UTF-8 file, or of every file under a folder in ordinal path
    /// order; paragraphs are joined by blank lines.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is not valid UTF-8 (the message names it), or there is no text.</exception>
    public static TextCorpus Files(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string[] files = Directory.Exists(path)
            ? [.. Directory.GetFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)]
            : File.Exists(path) ? [path] : throw new FileNotFoundException($"--data {path}: no such file or folder (use kjv, fortunes, a UTF-8 file or a folder)", path);
        var documents = new List<string>();
        foreach (string file in files)
        {
            string text = ReadUtf8(file).Replace("\r\n", "\n", StringComparison.Ordinal);
            documents.AddRange(ParagraphBreak().Split(text).Select(p => p.Trim()).Where(p => p.Length > 0));
        }
        if (documents.Count == 0)
            throw new InvalidDataException($"--data {path}: no text");
        return TextCorpus.Split(Path.GetFileName(Path.TrimEndingDirectorySeparator(path)), documents, "\n\n");
    }

    private static string ReadUtf8(string file)
    {
        try
        {
            return File.ReadAllText(file, s_strictUtf8);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{file}: not valid UTF-8 ({e.Message})", e);
        }
    }

    private static string RunBible()
    {
        var start = new ProcessStartInfo("bible", ["-f", "Gen1:1-Rev22:21"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("could not start bible: apt-get install bible-kjv");
        }
        catch (Win32Exception)
        {
            throw new InvalidOperationException("--data kjv needs the 'bible' program of Debian's bible-kjv package: apt-get install bible-kjv");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"bible -f Gen1:1-Rev22:21 exited with {process.ExitCode}: {Truncate(stderr.Result.Trim())} (apt-get install bible-kjv)");
            return stdout;
        }
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";

    // "Ge1:1 In the beginning…", "1Sm3:4 …", "SSol1:1 …": book abbreviation, chapter:verse, one space.
    [GeneratedRegex(@"^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ (?<text>.*)$")]
    private static partial Regex VerseLine();

    [GeneratedRegex(@"\n[ \t]*\n")]
    private static partial Regex ParagraphBreak();
}
