using DiffusionSharp.Data;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// A text corpus as training data: a window of <see cref="Length"/> characters of its joined training documents at
/// each document's start (<see cref="TextWindows.AtDocumentStarts"/>; KJV: one per verse, running on into the next
/// verses), int64 token ids [N, L], one class (text carries no label), with the corpus and the vocabulary kept for the
/// held-out split (scored as non-overlapping windows) and for the model's config.
/// </summary>
public sealed class TextDataset : SampleDataset
{
    /// <summary>The window length of the default model (256 characters, the and MDLM's short-context setting).</summary>
    public const int DefaultLength = 256;

    private TextDataset(TextCorpus corpus, CharacterVocabulary vocabulary, int length, Tensor windows)
        : base($"{corpus.Name}/train", windows, zeros(windows.shape[0], dtype: ScalarType.Int64), [corpus.Name])
    {
        Corpus = corpus;
        Vocabulary = vocabulary;
        Length = length;
    }

    /// <summary>The corpus (training and held-out documents).</summary>
    public TextCorpus Corpus { get; }

    /// <summary>The corpus' characters plus [MASK] (built from both splits, so held-out text encodes too).</summary>
    public CharacterVocabulary Vocabulary { get; }

    /// <summary>The window length L.</summary>
    public int Length { get; }

    /// <summary>The training windows of <paramref name="corpus"/>, <paramref name="length"/> characters each.</summary>
    /// <exception cref="InvalidDataException">The training text is shorter than one window.</exception>
    public static TextDataset Create(TextCorpus corpus, int length = DefaultLength)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        var vocabulary = corpus.Vocabulary();
        Tensor windows;
        try
        {
            windows = TextWindows.AtDocumentStarts(corpus.Train, corpus.Separator, vocabulary, length);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{corpus.Name}: {e.Message}", e);
        }
        return new TextDataset(corpus, vocabulary, length, windows);
    }

    /// <summary>The held-out windows [M, L] (int64) in <paramref name="vocabulary"/> (a model's own; null: this data's).</summary>
    /// <exception cref="InvalidDataException">The held-out text is shorter than one window, or has characters the vocabulary lacks.</exception>
    public Tensor HeldOutWindows(CharacterVocabulary? vocabulary = null)
    {
        try
        {
            return TextWindows.Create(Corpus.HeldOutText, vocabulary ?? Vocabulary, Length);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{Corpus.Name}/held-out: {e.Message}", e);
        }
    }
}
