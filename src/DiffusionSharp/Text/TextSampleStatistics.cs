using System.Globalization;
using System.Text.RegularExpressions;

namespace DiffusionSharp.Text;

/// <summary>What a set of texts looks like, measured against the training corpus (see <see cref="TextSampleStatistics"/>).</summary>
/// <param name="Texts">Texts measured.</param>
/// <param name="CharacterEntropyBits">Entropy of the pooled character unigram distribution, bits/char.</param>
/// <param name="RepeatedFourGramRate">Share of word 4-grams that repeat an earlier 4-gram of the same text.</param>
/// <param name="CorpusWordShare">Share of words (edge words excluded) that occur in the training text.</param>
/// <param name="CopiedSpanShare">Share of texts holding a span of <paramref name="CopySpan"/> characters found verbatim in the training text.</param>
/// <param name="CopySpan">The span length of <paramref name="CopiedSpanShare"/>.</param>
/// <param name="Words">Words counted for <paramref name="CorpusWordShare"/>.</param>
public sealed record TextStatistics(int Texts, double CharacterEntropyBits, double RepeatedFourGramRate, double CorpusWordShare,
    double CopiedSpanShare, int CopySpan, long Words);

/// <summary>
/// Sample statistics for generated text against a training corpus: character entropy, repeated word 4-grams (a
/// degenerate, looping sampler repeats), the share of words that are words of the corpus, and the share of samples
/// that copy a long span of the training text verbatim (memorisation).
/// </summary>
/// <remarks>
/// Words are maximal runs of letters (and apostrophes), compared case-insensitively. A sample is a window cut out of a
/// longer text, so its first and last words may be cut; they are left out of the word share, for samples and real
/// windows alike. Copied spans are found by hashing every <see cref="CopySpan"/>-character substring of the training
/// text (64-bit polynomial hashes; a collision would need 2⁻⁶⁴ luck).
/// </remarks>
public sealed partial class TextSampleStatistics
{
    /// <summary>The span length the copy check uses by default (the issue's 64 characters).</summary>
    public const int DefaultCopySpan = 64;

    private const ulong HashBase = 1_000_003UL;
    private readonly HashSet<string> _words;
    private readonly HashSet<ulong> _spans;
    private readonly ulong _basePower;

    /// <summary>Indexes <paramref name="trainingText"/>'s words and its <paramref name="copySpan"/>-character substrings.</summary>
    public TextSampleStatistics(string trainingText, int copySpan = DefaultCopySpan)
    {
        ArgumentNullException.ThrowIfNull(trainingText);
        ArgumentOutOfRangeException.ThrowIfLessThan(copySpan, 1);
        CopySpan = copySpan;
        _words = new HashSet<string>(Words(trainingText).Select(w => w.ToLowerInvariant()), StringComparer.Ordinal);
        _basePower = 1;
        for (int i = 0; i < copySpan - 1; i++)
            _basePower = unchecked(_basePower * HashBase);
        _spans = [.. SpanHashes(trainingText)];
    }

    /// <summary>The copied-span length.</summary>
    public int CopySpan { get; }

    /// <summary>Distinct words of the training text.</summary>
    public int VocabularyWords => _words.Count;

    /// <summary>The statistics of <paramref name="texts"/>.</summary>
    public TextStatistics Measure(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (texts.Count == 0)
            throw new ArgumentException("no texts to measure", nameof(texts));
        var counts = new Dictionary<char, long>();
        long chars = 0, fourGrams = 0, repeated = 0, words = 0, known = 0;
        int copied = 0;
        foreach (string text in texts)
        {
            foreach (char c in text)
            {
                counts[c] = counts.GetValueOrDefault(c) + 1;
                chars++;
            }
            var w = Words(text).ToList();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i + 4 <= w.Count; i++)
            {
                fourGrams++;
                if (!seen.Add(string.Join(' ', w.Skip(i).Take(4)).ToLowerInvariant()))
                    repeated++;
            }
            foreach (string word in w.Skip(1).SkipLast(1))
            {
                words++;
                if (_words.Contains(word.ToLowerInvariant()))
                    known++;
            }
            if (SpanHashes(text).Any(_spans.Contains))
                copied++;
        }
        double entropy = -counts.Values.Sum(n => (double)n / chars * Math.Log2((double)n / chars));
        return new TextStatistics(texts.Count, entropy, fourGrams == 0 ? 0 : (double)repeated / fourGrams,
            words == 0 ? 0 : (double)known / words, (double)copied / texts.Count, CopySpan, words);
    }

    /// <summary>One line per figure, for reports.</summary>
    public static string Describe(TextStatistics s) => string.Create(CultureInfo.InvariantCulture,
        $"entropy {s.CharacterEntropyBits:F3} bits/char, repeated 4-grams {s.RepeatedFourGramRate:P1}, corpus words {s.CorpusWordShare:P1} of {s.Words:N0}, {s.CopySpan}-char copies in {s.CopiedSpanShare:P1}");

    private static IEnumerable<string> Words(string text) => WordPattern().Matches(text).Select(m => m.Value);

    private IEnumerable<ulong> SpanHashes(string text)
    {
        if (text.Length < CopySpan)
            yield break;
        ulong h = 0;
        for (int i = 0; i < CopySpan; i++)
            h = unchecked(h * HashBase + text[i]);
        yield return h;
        for (int i = CopySpan; i < text.Length; i++)
        {
            h = unchecked((h - text[i - CopySpan] * _basePower) * HashBase + text[i]);
            yield return h;
        }
    }

    [GeneratedRegex(@"\p{L}+(?:'\p{L}+)*")]
    private static partial Regex WordPattern();
}
