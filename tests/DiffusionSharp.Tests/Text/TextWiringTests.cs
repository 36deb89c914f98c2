using DiffusionSharp.Data;
using DiffusionSharp.Runs;
using DiffusionSharp.Text;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Text;

/// <summary>Issue 11 on the core of issue 9: text trains in the one trainer and run service, and samples and scores through the library.</summary>
public sealed class TextWiringTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-text-");

    public void Dispose() => _dir.Delete(true);

    private string Temp(string name) => Path.Combine(_dir.FullName, name);

    /// <summary>Genesis 1–6 as a UTF-8 file of paragraphs (one verse each).</summary>
    private string GenesisFile()
    {
        string path = Temp("genesis.txt");
        var corpus = TextFixtures.Genesis();
        File.WriteAllText(path, string.Join("\n\n", corpus.Train.Concat(corpus.HeldOut)) + "\n");
        return path;
    }

    private static TextTransformer Tiny(CharacterVocabulary vocab, bool causal, int length = 32) =>
        new(new TextTransformerConfig(vocab.Characters, Length: length, Width: 32, Depth: 1, Heads: 2, MlpRatio: 2, Causal: causal));

    [Fact]
    public void WindowsStartAtDocumentStarts()
    {
        var vocab = CharacterVocabulary.FromTexts("abc xyz\n");
        using var windows = TextWindows.AtDocumentStarts(["abc", "xy", "z abc"], "\n", vocab, 5);
        // Joined "abc\nxy\nz abc\n" (13 chars): documents start at 0, 4 and 7; 7 + 5 ≤ 13 so all three give a window.
        Assert.Equal(new long[] { 3, 5 }, windows.shape);
        Assert.Equal(["abc\nx", "xy\nz ", "z abc"], Enumerable.Range(0, 3).Select(i => vocab.Decode(windows[i].data<long>().ToArray())).ToArray());
    }

    [Fact]
    public void TextFilesAreTextDataAndOtherSpecsAreNot()
    {
        string file = GenesisFile();
        Assert.True(DataSources.IsText(file));
        Assert.True(DataSources.IsText("kjv"));
        Assert.False(DataSources.IsText("mnist"));
        Assert.False(DataSources.IsText(_dir.FullName + "/missing.txt"));
        using var data = DataSources.LoadSamples(file, null, null, _ => { });
        var text = Assert.IsType<TextDataset>(data);
        Assert.Equal(ScalarType.Int64, text.Samples.dtype);
        Assert.Equal(TextDataset.DefaultLength, text.SampleShape.Single());
        using var heldOut = text.HeldOutWindows();
        Assert.True(heldOut.shape[0] >= 1 || text.Corpus.HeldOutText.Length < TextDataset.DefaultLength);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ChunkingChangesNeitherTheLossNorTheGradient(bool causal)
    {
        var corpus = TextFixtures.Genesis();
        var vocab = corpus.Vocabulary();
        using var windows = TextWindows.Create(corpus.TrainText, vocab, 32);
        ITrainingObjective objective = causal ? new AutoregressiveObjective() : new MaskedDiffusionObjective();
        torch.random.manual_seed(3);
        using var model = Tiny(vocab, causal);
        (double Loss, float[] Grad) Run(int chunk)
        {
            model.zero_grad();
            using var generator = new Generator(11);
            using var batch = new Batch(windows.narrow(0, 0, 8).clone(), zeros(8, dtype: ScalarType.Int64), 0, 0);
            double loss = objective.Backward(model, batch, 0, generator, chunk, 1.0);
            return (loss, model.parameters().SelectMany(p => p.grad!.data<float>().ToArray()).ToArray());
        }
        var (whole, g8) = Run(8);
        var (parts, g3) = Run(3);
        Assert.InRange(whole, 0.5, 20);
        Assert.Equal(whole, parts, 4);
        Assert.Equal(g8.Length, g3.Length);
        double maxDiff = g8.Zip(g3, (a, b) => Math.Abs(a - b)).Max(), scale = g8.Max(Math.Abs);
        Assert.True(maxDiff <= 1e-5 * Math.Max(1, scale), $"gradients differ by {maxDiff:G3} (scale {scale:G3})");
    }

    [Fact]
    public void RunServiceTrainsResumesAndSavesATextModelOfEitherFamily()
    {
        string data = GenesisFile();
        foreach (string family in new[] { "text", "text-ar" })
        {
            string run = Temp("run-" + family);
            var options = new TrainingOptions { Steps = 2, BatchSize = 4, WarmupSteps = 1, CheckpointEvery = 1, SampleEvery = 0 };
            using (var created = TrainingRun.Create(new NewRun(run, options, "tiny", new DataSpec(data, null), Model: family)))
            {
                Assert.IsType<TextTransformer>(created.Trainer.Model);
                Assert.Equal(family == "text-ar", ((TextTransformer)created.Trainer.Model).Config.Causal);
                Assert.IsType(family == "text" ? typeof(MaskedDiffusionObjective) : typeof(AutoregressiveObjective), created.Trainer.Objective);
                created.Train();
                created.Finish();
            }
            using (var resumed = TrainingRun.Resume(new ResumeRun(run, o => o with { Steps = 3 })))
            {
                Assert.Equal(2, resumed.Trainer.Step);
                Assert.IsType(family == "text" ? typeof(MaskedDiffusionObjective) : typeof(AutoregressiveObjective), resumed.Trainer.Objective);
                resumed.Train();
                Assert.Equal(3, resumed.Trainer.Step);
                Assert.All(resumed.LossHistory, l => Assert.True(double.IsFinite(l.Loss)));
                resumed.Finish();
            }
            using var loaded = TrainableModels.Load(Path.Combine(run, "model"));
            Assert.Equal(TextTransformerConfig.ModelClassName, loaded.ClassName);
        }
    }

    [Fact]
    public void ANewRunCanStartFromATrainedModelFoldersWeightsAndRefusesAnotherArchitecture()
    {
        string data = GenesisFile();
        string first = Temp("first");
        var options = new TrainingOptions { Steps = 2, BatchSize = 4, WarmupSteps = 1, CheckpointEvery = 10, SampleEvery = 0 };
        using (var run = TrainingRun.Create(new NewRun(first, options, "tiny", new DataSpec(data, null), Model: "text")))
        {
            run.Train();
            run.Finish();
        }
        string trained = Path.Combine(first, "model");
        using var source = TrainableModels.Load(trained);
        var expected = source.Module.state_dict();
        // A different seed: without the warm start the new model's weights would differ from the folder's.
        using (var warm = TrainingRun.Create(new NewRun(Temp("warm"), options with { Seed = 7 }, "tiny", new DataSpec(data, null), Model: "text", InitFrom: trained)))
        {
            Assert.Equal(Path.GetFullPath(trained), warm.Description.InitFrom);
            foreach (var model in new[] { warm.Trainer.Model, warm.Trainer.EmaModel })
                foreach (var (name, tensor) in model.Module.state_dict())
                    Assert.True(tensor.to(float32).eq(expected[name].to(float32)).all().item<bool>(), name);
            warm.Train();
            Assert.All(warm.LossHistory, l => Assert.True(double.IsFinite(l.Loss)));
        }
        using (var cold = TrainingRun.Create(new NewRun(Temp("cold"), options with { Seed = 7 }, "tiny", new DataSpec(data, null), Model: "text")))
            Assert.Contains(cold.Trainer.Model.Module.state_dict(), p => !p.Value.eq(expected[p.Key]).all().item<bool>());

        string twin = Temp("twin");
        var e = Assert.Throws<InvalidDataException>(() => TrainingRun.Create(new NewRun(twin, options, "tiny", new DataSpec(data, null), Model: "text-ar", InitFrom: trained)));
        Assert.Equal($"--init {trained}: its config has causal = false, this run's model true; start from a model of the same preset and data", e.Message);
        Assert.False(File.Exists(Path.Combine(twin, Trainer.RunFile)));
        var missing = Assert.Throws<InvalidDataException>(() => TrainingRun.Create(new NewRun(Temp("m"), options, "tiny", new DataSpec(data, null), InitFrom: Temp("nowhere"))));
        Assert.Contains("no such folder", missing.Message);
    }

    [Fact]
    public void TheWrongModelFamilyForTextDataIsRefusedBeforeAnythingIsWritten()
    {
        string run = Temp("bad");
        var e = Assert.Throws<ArgumentException>(() => TrainingRun.Create(new NewRun(run, new TrainingOptions { Steps = 1, BatchSize = 2 }, "tiny",
            new DataSpec(GenesisFile(), null), Model: "unet")));
        Assert.Contains("--model unet does not fit", e.Message);
        Assert.False(File.Exists(Path.Combine(run, Trainer.RunFile)));
    }

    [Fact]
    public void PromptsAndInfillsKeepTheirFixedText()
    {
        var vocab = TextFixtures.Genesis().Vocabulary();
        torch.random.manual_seed(5);
        using var diffusion = Tiny(vocab, causal: false);
        using var twin = Tiny(vocab, causal: true);
        var infill = TextGeneration.Generate(diffusion, new TextGenerationOptions(3, Steps: 8, BatchSize: 2, Infill: "In the ___ God", SpanLength: 6));
        Assert.All(infill.Texts, t => Assert.Matches(@"(?s)^In the .{6} God$", t));
        Assert.DoesNotContain(infill.Texts, t => t.Contains(CharacterVocabulary.MaskText, StringComparison.Ordinal));
        var prompted = TextGeneration.Generate(twin, new TextGenerationOptions(2, BatchSize: 1, Length: 20, Prompt: "And God"));
        Assert.All(prompted.Texts, t => { Assert.StartsWith("And God", t); Assert.Equal(20, t.Length); });
        Assert.Equal(2 * 13, prompted.NetworkCalls);
        // Seeds are per sample: a batch of one and a batch of two give the same sample 1.
        var again = TextGeneration.Generate(twin, new TextGenerationOptions(2, BatchSize: 2, Length: 20, Prompt: "And God"));
        Assert.Equal(prompted.Texts, again.Texts);
        Assert.Throws<ArgumentException>(() => TextGeneration.Template(diffusion, new TextGenerationOptions(Infill: "a _ b _ c")));
        Assert.Throws<ArgumentException>(() => TextGeneration.Template(diffusion, new TextGenerationOptions(Infill: "no span")));
        Assert.Throws<ArgumentException>(() => TextGeneration.Template(diffusion, new TextGenerationOptions(Prompt: "And", Infill: "a _")));
    }

    [Fact]
    public void SampleStatisticsMeasureWhatTheySay()
    {
        string training = "the quick brown fox jumps over the lazy dog and the quick brown fox runs";
        var stats = new TextSampleStatistics(training, copySpan: 16);
        var copied = stats.Measure(["xx the quick brown fox yy"]);
        Assert.Equal(1.0, copied.CopiedSpanShare);
        var made = stats.Measure(["zz dog qwv the fox xkcd zz"]);
        Assert.Equal(0.0, made.CopiedSpanShare);
        // Inner words: dog, qwv, the, fox, xkcd → 3 of 5 are corpus words (first and last "zz" are edges).
        Assert.Equal(0.6, made.CorpusWordShare, 10);
        Assert.Equal(5, made.Words);
        var loop = stats.Measure(["a b c d a b c d a b c d"]);
        // 9 word 4-grams, 4 distinct: 5 repeat an earlier one.
        Assert.Equal(5.0 / 9, loop.RepeatedFourGramRate, 10);
        Assert.Equal(1.0, stats.Measure(["abababab"]).CharacterEntropyBits, 10);
    }

    [Fact]
    public void TheBabblerOnlyWritesContextsOfItsCorpus()
    {
        string training = string.Join("\n", TextFixtures.Genesis().Train) + "\n";
        var babbler = new CharacterNGramModel(training, order: 4);
        string sample = babbler.Sample(300, seed: 7);
        Assert.Equal(300, sample.Length);
        string withStart = "\n" + sample;
        for (int i = 0; i + 4 <= withStart.Length; i++)
            Assert.Contains(withStart.Substring(i, 4), training, StringComparison.Ordinal);
        Assert.Equal(sample, babbler.Sample(300, seed: 7));
        Assert.NotEqual(sample, babbler.Sample(300, seed: 8));
    }
}

/// <summary>Nucleus truncation keeps the most probable outcomes up to the mass asked for.</summary>
public sealed class NucleusTests
{
    [Fact]
    public void KeepsTheSmallestSetReachingTheMassAndRenormalises()
    {
        using var scope = NewDisposeScope();
        var p = tensor(new[] { 0.1, 0.5, 0.3, 0.1 }, [1, 4]).log();
        var kept = Nucleus.Filter(p, 0.75).exp().data<double>().ToArray();
        Assert.Equal(new[] { 0, 0.625, 0.375, 0 }, kept.Select(v => Math.Round(v, 12)).ToArray());
        Assert.Equal(new[] { 0, 1.0, 0, 0 }, Nucleus.Filter(p, 0.2).exp().data<double>().ToArray().Select(v => Math.Round(v, 12)).ToArray());
        Assert.Equal(p.data<double>().ToArray(), Nucleus.Filter(p, 1.0).data<double>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => Nucleus.Filter(p, 0));
    }
}
