using System.Diagnostics;
using DiffusionSharp.Text;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Text;

/// <summary>Where the text tests' fixtures are (found from the test's output folder upwards).</summary>
internal static class TextFixtures
{
    /// <summary><c>bible -f Gen1:1-Gen6:22</c> as Debian's bible-kjv prints it (160 verses, public domain).</summary>
    public static string GenesisPath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "tests", "DiffusionSharp.Tests", "Text", "Fixtures", "genesis-1-6.txt");
                if (File.Exists(candidate))
                    return candidate;
            }
            throw new FileNotFoundException("tests/DiffusionSharp.Tests/Text/Fixtures/genesis-1-6.txt not found above the test output folder");
        }
    }

    /// <summary>Genesis 1–6 as a corpus, split by the held-out rule (152 training, 8 held-out verses).</summary>
    public static TextCorpus Genesis() =>
        TextCorpus.Split("genesis", TextCorpora.ParseBibleOutput(File.ReadAllText(GenesisPath), expectedVerses: 160), "\n");
}

public sealed class TextDataTests
{
    [Fact]
    public void VocabularyIsSortedCharactersWithMaskLast()
    {
        var vocab = CharacterVocabulary.FromTexts("banana", "cab\n");
        Assert.Equal("\nabcn", vocab.Characters);
        Assert.Equal(6, vocab.Size);
        Assert.Equal(5, vocab.MaskId);
        Assert.Equal(new long[] { 2, 1, 4, 5 }, vocab.Encode("ban").Append(vocab.MaskId).ToArray());
        Assert.Equal("ban_", vocab.Decode([2, 1, 4, 5]));
        Assert.Equal(vocab.Characters, CharacterVocabulary.FromCharacters(vocab.Characters).Characters);
    }

    [Fact]
    public void NonAsciiCharactersAreOneTokenEach()
    {
        var vocab = CharacterVocabulary.FromTexts("naïve 𝄞");
        Assert.Equal(7, vocab.Encode("naïve 𝄞").Length);
        Assert.Equal("𝄞ï", vocab.Decode(vocab.Encode("𝄞ï")));
    }

    [Fact]
    public void UnknownCharacterIsAClearErrorOrASpaceWhenAsked()
    {
        var vocab = CharacterVocabulary.FromTexts("a b");
        var e = Assert.Throws<ArgumentException>(() => vocab.Encode("a z"));
        Assert.Contains("'z' (U+007A) at position 2", e.Message, StringComparison.Ordinal);
        Assert.Equal(vocab.Encode("a  "), vocab.Encode("a z", UnknownCharacterPolicy.ReplaceWithSpace));
        var noSpace = CharacterVocabulary.FromTexts("ab");
        Assert.Throws<ArgumentException>(() => noSpace.Encode("az", UnknownCharacterPolicy.ReplaceWithSpace));
        Assert.Throws<ArgumentOutOfRangeException>(() => vocab.Decode([7]));
        Assert.Throws<ArgumentException>(() => CharacterVocabulary.FromCharacters("ba"));
    }

    [Fact]
    public void BibleOutputLosesItsReferences()
    {
        var verses = TextCorpora.ParseBibleOutput(File.ReadAllText(TextFixtures.GenesisPath), expectedVerses: 160);
        Assert.Equal("In the beginning God created the heaven and the earth.", verses[0]);
        Assert.StartsWith("Thus did Noah;", verses[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(verses, v => v.StartsWith("Ge", StringComparison.Ordinal));
        Assert.Equal(["x y", "z"], TextCorpora.ParseBibleOutput("1Sm3:4 x y\nSSol1:1 z\n", expectedVerses: 2));
        Assert.Throws<InvalidDataException>(() => TextCorpora.ParseBibleOutput("no reference here\n", expectedVerses: 1));
        Assert.Throws<InvalidDataException>(() => TextCorpora.ParseBibleOutput("Ge1:1 a\n"));
    }

    [Fact]
    public void EveryTwentiethDocumentIsHeldOut()
    {
        var docs = Enumerable.Range(0, 45).Select(i => $"d{i}").ToList();
        var corpus = TextCorpus.Split("x", docs, "\n");
        Assert.Equal(["d19", "d39"], corpus.HeldOut);
        Assert.Equal(43, corpus.Train.Count);
        Assert.DoesNotContain("d19", corpus.Train);
        Assert.Equal("d19\nd39\n", corpus.HeldOutText);
    }

    [Fact]
    public void KjvIsTheWholeBibleOrAnInstallHint()
    {
        using var temp = new TempFolder();
        bool installed = File.Exists("/usr/bin/bible") || (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':').Any(d => File.Exists(Path.Combine(d, "bible")));
        if (!installed)
        {
            var e = Assert.Throws<InvalidOperationException>(() => TextCorpora.Kjv(temp.Path));
            Assert.Contains("apt-get install bible-kjv", e.Message, StringComparison.Ordinal);
            return;
        }
        var sw = Stopwatch.StartNew();
        var corpus = TextCorpora.Kjv(temp.Path);
        Assert.Equal(31_102 - 1_555, corpus.Train.Count);
        Assert.Equal(1_555, corpus.HeldOut.Count);
        Assert.Equal("In the beginning God created the heaven and the earth.", corpus.Train[0]);
        Assert.Equal("The grace of our Lord Jesus Christ be with you all. Amen.", corpus.Train[^1]);
        Assert.True(File.Exists(Path.Combine(temp.Path, "kjv", "verses.txt")));
        var vocab = corpus.Vocabulary();
        Assert.Equal(63, vocab.CharacterCount);
        Assert.Equal(corpus.TrainText, TextCorpora.Kjv(temp.Path).TrainText);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"{sw.Elapsed}");
    }

    [Fact]
    public void FortunesSplitOnPercentLines()
    {
        Assert.Equal(["one\nline two", "three"], TextCorpora.SplitFortunes("one\nline two\n%\nthree\n%\n\n%\n"));
        using var temp = new TempFolder();
        var e = Assert.Throws<InvalidOperationException>(() => TextCorpora.Fortunes(temp.Path));
        Assert.Contains("apt-get install fortunes", e.Message, StringComparison.Ordinal);
        File.WriteAllText(temp.File("a"), "x\n%\ny\n");
        File.WriteAllText(temp.File("a.dat"), "index");
        File.WriteAllText(temp.File("a.u8"), "x\n%\nÿ\n");
        File.WriteAllText(temp.File("notes"), "not a database\n");
        var corpus = TextCorpora.Fortunes(temp.Path);
        Assert.Equal(["x", "ÿ"], corpus.Train);
        Assert.Equal("x\n%\nÿ\n%\n", corpus.TrainText);
    }

    [Fact]
    public void FilesAndFoldersSplitIntoParagraphsAndRejectBadUtf8()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("sub"));
        File.WriteAllText(temp.File("b.txt"), "second\r\n\r\nthird\n");
        File.WriteAllText(temp.File("sub/a.txt"), "fourth");
        File.WriteAllText(temp.File("a.txt"), "first para\nstill first\n \nsecond... no");
        var corpus = TextCorpora.Load(temp.Path);
        Assert.Equal(["first para\nstill first", "second... no", "second", "third", "fourth"], corpus.Train);
        File.WriteAllBytes(temp.File("bad.txt"), [0x61, 0xFF, 0x62]);
        var e = Assert.Throws<InvalidDataException>(() => TextCorpora.Files(temp.File("bad.txt")));
        Assert.Contains("bad.txt: not valid UTF-8", e.Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => TextCorpora.Load(temp.File("missing")));
    }

    [Fact]
    public void AFolderOfTextWithAStrayFileIsRefusedByNameNotReadAsImages()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("train.txt"), File.ReadAllText(TextFixtures.GenesisPath));
        File.WriteAllBytes(temp.File("judge.pt"), [1, 2, 3]);
        var e = Assert.Throws<InvalidDataException>(() => DiffusionSharp.Data.DataSources.LoadSamples(temp.Path, null, null, _ => { }));
        Assert.Equal($"{temp.Path}: holds text files and also judge.pt; a text folder holds only .txt, .md or .text files", e.Message);
        File.Delete(temp.File("judge.pt"));
        using var dataset = DiffusionSharp.Data.DataSources.LoadSamples(temp.Path, null, null, _ => { });
        Assert.True(dataset.Count > 0);
    }

    [Fact]
    public void WindowsAreNonOverlappingAndDropTheTail()
    {
        using var scope = NewDisposeScope();
        var vocab = CharacterVocabulary.FromTexts("abcdefg");
        var w = TextWindows.Create("abcdefg", vocab, 3);
        Assert.Equal(new long[] { 2, 3 }, w.shape);
        Assert.Equal(ScalarType.Int64, w.dtype);
        Assert.Equal("abcdef", vocab.Decode(w.reshape(-1).data<long>().ToArray()));
        Assert.Throws<ArgumentException>(() => TextWindows.Create("ab", vocab, 3));
        var corpus = TextFixtures.Genesis();
        var v = corpus.Vocabulary();
        var train = TextWindows.Create(corpus.TrainText, v, 64);
        var heldOut = TextWindows.Create(corpus.HeldOutText, v, 64);
        Assert.Equal(corpus.TrainText.Length / 64, train.shape[0]);
        Assert.Equal(corpus.HeldOutText.Length / 64, heldOut.shape[0]);
    }
}
