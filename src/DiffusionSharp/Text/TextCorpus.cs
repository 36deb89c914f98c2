using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// A text corpus split into training and held-out documents (verses, fortunes, paragraphs), in corpus order.
/// Document i (0-based) is held out when i % <see cref="HeldOutEvery"/> == <see cref="HeldOutEvery"/> − 1.
/// </summary>
/// <param name="Name">The corpus' name (<c>kjv</c>, <c>fortunes</c>, a file name).</param>
/// <param name="Train">The training documents.</param>
/// <param name="HeldOut">The held-out documents.</param>
/// <param name="Separator">What joins consecutive documents into one text (a newline for verses).</param>
public sealed record TextCorpus(string Name, IReadOnlyList<string> Train, IReadOnlyList<string> HeldOut, string Separator)
{
    /// <summary>Every 20th document is held out (for the King James Bible: 1,555 of 31,102 verses).</summary>
    public const int HeldOutEvery = 20;

    /// <summary>Splits <paramref name="documents"/> by the held-out rule.</summary>
    public static TextCorpus Split(string name, IReadOnlyList<string> documents, string separator)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var train = new List<string>(documents.Count);
        var heldOut = new List<string>(documents.Count / HeldOutEvery + 1);
        for (int i = 0; i < documents.Count; i++)
            (i % HeldOutEvery == HeldOutEvery - 1 ? heldOut : train).Add(documents[i]);
        return new TextCorpus(name, train, heldOut, separator);
    }

    /// <summary>The training documents joined by <see cref="Separator"/>, with a final separator.</summary>
    public string TrainText => Join(Train);

    /// <summary>The held-out documents joined by <see cref="Separator"/>, with a final separator.</summary>
    public string HeldOutText => Join(HeldOut);

    /// <summary>
    /// The vocabulary of every character of the corpus, held-out documents included: the character set is a property of
    /// the corpus' alphabet, not something learned, and it keeps held-out text free of unknown characters.
    /// </summary>
    public CharacterVocabulary Vocabulary() => CharacterVocabulary.FromTexts(TrainText, HeldOutText);

    private string Join(IReadOnlyList<string> docs) => docs.Count == 0 ? "" : string.Join(Separator, docs) + Separator;
}

/// <summary>Fixed-length training sequences cut from a text.</summary>
public static class TextWindows
{
    /// <summary>
    /// One window of <paramref name="length"/> characters of the joined <paramref name="documents"/> (each followed by
    /// <paramref name="separator"/>) starting at each document's first character, as int64 ids [N, length]: a sample
    /// then starts where a verse (or paragraph) starts, as real text does, and runs on across the next ones. Documents
    /// starting less than one window before the end give none.
    /// </summary>
    /// <exception cref="ArgumentException">The text is shorter than one window, or has a character the vocabulary lacks.</exception>
    public static Tensor AtDocumentStarts(IReadOnlyList<string> documents, string separator, CharacterVocabulary vocabulary, int length)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(separator);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        var ids = new List<long>();
        var starts = new List<int>(documents.Count);
        foreach (string document in documents)
        {
            starts.Add(ids.Count);
            ids.AddRange(vocabulary.Encode(document));
            ids.AddRange(vocabulary.Encode(separator));
        }
        var usable = starts.Where(s => s + length <= ids.Count).ToArray();
        if (usable.Length == 0)
            throw new ArgumentException($"the text has {ids.Count} characters, fewer than one window of {length}", nameof(documents));
        var all = ids.ToArray();
        var windows = new long[usable.Length * (long)length];
        for (int i = 0; i < usable.Length; i++)
            Array.Copy(all, usable[i], windows, (long)i * length, length);
        return tensor(windows, [usable.Length, length], ScalarType.Int64);
    }

    /// <summary>
    /// The non-overlapping windows of <paramref name="length"/> characters of <paramref name="text"/>, as an int64
    /// tensor [N, length] of token ids; a final part shorter than <paramref name="length"/> is dropped.
    /// </summary>
    /// <exception cref="ArgumentException">The text is shorter than one window, or has a character the vocabulary lacks.</exception>
    public static Tensor Create(string text, CharacterVocabulary vocabulary, int length)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        long[] ids = vocabulary.Encode(text);
        long n = ids.Length / length;
        if (n == 0)
            throw new ArgumentException($"the text has {ids.Length} characters, fewer than one window of {length}", nameof(text));
        return tensor(ids.AsSpan(0, (int)(n * length)).ToArray(), [n, length], ScalarType.Int64);
    }
}
