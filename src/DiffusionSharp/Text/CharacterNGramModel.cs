namespace DiffusionSharp.Text;

/// <summary>
/// A character n-gram babbler of a corpus: the baseline a language model must beat. Order-n Markov chain over the
/// training text, each next character drawn from the counts after the longest context (≤ n − 1 characters) seen in
/// the corpus, backing off to shorter ones. It reproduces local spelling well and long-range sense not at all.
/// </summary>
public sealed class CharacterNGramModel
{
    private readonly int _order;
    private readonly Dictionary<string, Dictionary<char, int>>[] _counts;
    private readonly string _text;

    /// <summary>Counts the contexts of <paramref name="trainingText"/> up to <paramref name="order"/> − 1 characters.</summary>
    public CharacterNGramModel(string trainingText, int order = 6)
    {
        ArgumentException.ThrowIfNullOrEmpty(trainingText);
        ArgumentOutOfRangeException.ThrowIfLessThan(order, 1);
        _order = order;
        _text = trainingText;
        _counts = new Dictionary<string, Dictionary<char, int>>[order];
        for (int k = 0; k < order; k++)
            _counts[k] = new Dictionary<string, Dictionary<char, int>>(StringComparer.Ordinal);
        for (int i = 0; i < trainingText.Length; i++)
        {
            for (int k = 0; k < order && k <= i; k++)
            {
                string context = trainingText.Substring(i - k, k);
                if (!_counts[k].TryGetValue(context, out var next))
                    _counts[k][context] = next = [];
                next[trainingText[i]] = next.GetValueOrDefault(trainingText[i]) + 1;
            }
        }
    }

    /// <summary>The model's order n.</summary>
    public int Order => _order;

    /// <summary>
    /// A text of <paramref name="length"/> characters drawn with <paramref name="seed"/>, starting after a document
    /// separator (so it starts where documents start) when <paramref name="start"/> is given.
    /// </summary>
    public string Sample(int length, long seed, string start = "\n")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        var random = new Random(unchecked((int)seed) ^ 0x5EED);
        var text = new System.Text.StringBuilder(start);
        while (text.Length < start.Length + length)
        {
            for (int k = Math.Min(_order - 1, text.Length); k >= 0; k--)
            {
                string context = text.ToString(text.Length - k, k);
                if (!_counts[k].TryGetValue(context, out var next))
                    continue;
                int total = next.Values.Sum(), pick = random.Next(total);
                foreach (var (c, n) in next)
                {
                    if ((pick -= n) < 0)
                    {
                        text.Append(c);
                        break;
                    }
                }
                break;
            }
        }
        return text.ToString(start.Length, length);
    }
}
