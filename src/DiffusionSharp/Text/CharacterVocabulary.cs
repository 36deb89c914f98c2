using System.Globalization;
using System.Text;

namespace DiffusionSharp.Text;

/// <summary>What <see cref="CharacterVocabulary.Encode"/> does with a character the vocabulary lacks.</summary>
public enum UnknownCharacterPolicy
{
    /// <summary>An <see cref="ArgumentException"/> naming the character (U+XXXX) and its position.</summary>
    Error,

    /// <summary>
    /// The character is encoded as a space (the documented fallback; positions are kept, so an infilled span stays
    /// where the user put it). A vocabulary without a space falls back to <see cref="Error"/>.
    /// </summary>
    ReplaceWithSpace,
}

/// <summary>
/// The corpus' characters (Unicode scalar values, sorted by code point) plus one absorbing [MASK] token, whose id is
/// the last, <see cref="MaskId"/> = <see cref="CharacterCount"/>, as MDLM appends its mask to the tokenizer's vocabulary.
/// </summary>
/// <remarks>
/// Characters rather than bytes: the King James Bible has 63 distinct characters (62 in the verses, plus the newline
/// that joins them), all ASCII, so for it bits per character and bits per byte are the same number, while a byte
/// vocabulary would give the output layer 256 entries of which 193 never occur, and a uniform model's
/// log₂|V| baseline would read 8 bits instead of 5.98. A corpus with non-ASCII text keeps one token per character
/// (not per UTF-8 byte), so its figures stay per character.
/// </remarks>
public sealed class CharacterVocabulary
{
    /// <summary>The text shown for the mask token by <see cref="Decode"/>.</summary>
    public const string MaskText = "_";

    private readonly int[] _codePoints;
    private readonly Dictionary<int, long> _ids;

    private CharacterVocabulary(int[] codePoints)
    {
        _codePoints = codePoints;
        _ids = new Dictionary<int, long>(codePoints.Length);
        for (int i = 0; i < codePoints.Length; i++)
            _ids[codePoints[i]] = i;
    }

    /// <summary>The number of characters (ids 0 … <see cref="CharacterCount"/> − 1).</summary>
    public int CharacterCount => _codePoints.Length;

    /// <summary>Characters plus [MASK]: the width of the model's embedding and output layers.</summary>
    public int Size => _codePoints.Length + 1;

    /// <summary>The id of the absorbing [MASK] token.</summary>
    public long MaskId => _codePoints.Length;

    /// <summary>The characters in id order, as one string (what <c>config.json</c> stores).</summary>
    public string Characters
    {
        get
        {
            var sb = new StringBuilder(_codePoints.Length);
            foreach (int cp in _codePoints)
                sb.Append(char.ConvertFromUtf32(cp));
            return sb.ToString();
        }
    }

    /// <summary>The vocabulary of every character occurring in <paramref name="texts"/>.</summary>
    public static CharacterVocabulary FromTexts(params string[] texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var set = new SortedSet<int>();
        foreach (string text in texts)
        {
            foreach (Rune r in text.EnumerateRunes())
                set.Add(r.Value);
        }
        if (set.Count == 0)
            throw new ArgumentException("the text has no characters to build a vocabulary from", nameof(texts));
        return new CharacterVocabulary([.. set]);
    }

    /// <summary>Reads <see cref="Characters"/> back (distinct characters in ascending code-point order).</summary>
    public static CharacterVocabulary FromCharacters(string characters)
    {
        ArgumentNullException.ThrowIfNull(characters);
        var cps = characters.EnumerateRunes().Select(r => r.Value).ToArray();
        if (cps.Length == 0)
            throw new ArgumentException("vocabulary characters are empty", nameof(characters));
        for (int i = 1; i < cps.Length; i++)
        {
            if (cps[i] <= cps[i - 1])
                throw new ArgumentException($"vocabulary characters must be distinct and in ascending code-point order (U+{cps[i]:X4} at {i})", nameof(characters));
        }
        return new CharacterVocabulary(cps);
    }

    /// <summary>Whether <paramref name="codePoint"/> has an id.</summary>
    public bool Contains(int codePoint) => _ids.ContainsKey(codePoint);

    /// <summary>The ids of <paramref name="text"/>'s characters, one per Unicode scalar value.</summary>
    /// <exception cref="ArgumentException">A character is not in the vocabulary and the policy is
    /// <see cref="UnknownCharacterPolicy.Error"/> (or no space exists to replace it with).</exception>
    public long[] Encode(string text, UnknownCharacterPolicy policy = UnknownCharacterPolicy.Error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<long>(text.Length);
        foreach (Rune r in text.EnumerateRunes())
        {
            if (_ids.TryGetValue(r.Value, out long id))
                ids.Add(id);
            else if (policy == UnknownCharacterPolicy.ReplaceWithSpace && _ids.TryGetValue(' ', out long space))
                ids.Add(space);
            else
                throw new ArgumentException($"character {Describe(r.Value)} at position {ids.Count} is not in the model's vocabulary of {CharacterCount} characters", nameof(text));
        }
        return [.. ids];
    }

    /// <summary>The text of <paramref name="ids"/>; the mask shows as <see cref="MaskText"/>.</summary>
    public string Decode(IEnumerable<long> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        foreach (long id in ids)
        {
            if (id == MaskId)
                sb.Append(MaskText);
            else if (id >= 0 && id < _codePoints.Length)
                sb.Append(char.ConvertFromUtf32(_codePoints[id]));
            else
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id {id} is outside the vocabulary of size {Size}");
        }
        return sb.ToString();
    }

    private static string Describe(int cp) =>
        string.Create(CultureInfo.InvariantCulture, $"'{(cp < 0x20 || cp == 0x7F ? "?" : char.ConvertFromUtf32(cp))}' (U+{cp:X4})");
}
