using System.Diagnostics;
using DiffusionSharp.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Text;

/// <summary>
/// The pieces learn: a tiny masked-diffusion transformer and its autoregressive twin, each trained for a few hundred
/// Adam steps on Genesis 1–6 (19 KB), score their held-out verses well below a uniform model's log₂ C bits per
/// character, and the AR twin below the characters' unigram entropy (so it uses context). The loop is test-only; the
/// library's trainer takes these losses as objectives.
/// </summary>
public sealed class TextTrainingTests(ITestOutputHelper output)
{
    private const int Length = 64;
    private const int Steps = 300;
    private const int Batch = 16;

    [Fact]
    public void DiffusionAndAutoregressiveModelsLearnGenesis()
    {
        using var scope = NewDisposeScope();
        var corpus = TextFixtures.Genesis();
        var vocab = corpus.Vocabulary();
        var train = TextWindows.Create(corpus.TrainText, vocab, Length);
        var heldOut = TextWindows.Create(corpus.HeldOutText, vocab, Length);
        double uniform = Math.Log2(vocab.CharacterCount);
        double unigram = UnigramEntropy(corpus.TrainText, corpus.HeldOutText);

        var (diffusion, diffusionStart, diffusionTime) = Train(vocab, causal: false, train, heldOut, out var diffusionCpu);
        var (ar, arStart, arTime) = Train(vocab, causal: true, train, heldOut, out var arCpu);
        output.WriteLine($"{vocab.CharacterCount} characters: uniform {uniform:F2} bits/char, unigram entropy (held out, train counts) {unigram:F2}");
        output.WriteLine($"diffusion: {diffusionStart} → {diffusion} after {Steps} steps of {Batch}×{Length} in {diffusionTime.TotalSeconds:F1} s wall, {diffusionCpu.TotalSeconds:F1} s CPU");
        output.WriteLine($"autoregressive: {arStart} → {ar} after {Steps} steps in {arTime.TotalSeconds:F1} s wall, {arCpu.TotalSeconds:F1} s CPU");

        Assert.InRange(diffusionStart.BitsPerCharacter, uniform - 0.5, uniform + 3);
        Assert.True(diffusion.BitsPerCharacter < uniform - 1.5, $"diffusion bound {diffusion.BitsPerCharacter:F3} not well below log₂ C = {uniform:F3}");
        Assert.True(ar.BitsPerCharacter < uniform - 2, $"AR {ar.BitsPerCharacter:F3} not well below log₂ C = {uniform:F3}");
        Assert.True(ar.BitsPerCharacter < unigram, $"AR {ar.BitsPerCharacter:F3} not below the unigram entropy {unigram:F3}");
        // The bound is an upper bound on the diffusion model's NLL, which cannot beat a well-trained AR twin by much here.
        Assert.True(diffusion.BitsPerCharacter > ar.BitsPerCharacter - 0.3, $"diffusion bound {diffusion.BitsPerCharacter:F3} far below AR {ar.BitsPerCharacter:F3}");
    }

    private static (TextEvaluationResult After, TextEvaluationResult Before, TimeSpan Time) Train(CharacterVocabulary vocab, bool causal, Tensor train, Tensor heldOut, out TimeSpan cpuTime)
    {
        var config = new TextTransformerConfig(vocab.Characters, Length: Length, Width: 64, Depth: 2, Heads: 4, MlpRatio: 4, Causal: causal);
        torch.random.manual_seed(causal ? 2 : 1);
        using var model = new TextTransformer(config);
        var before = Evaluate(model, causal, heldOut);
        using var optimizer = optim.Adam(model.parameters(), lr: 3e-3);
        using var generator = new Generator(17);
        var objective = new MaskedDiffusionLoss();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        for (int step = 0; step < Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            var rows = randint(0, train.shape[0], [Batch], generator: generator);
            var x0 = train.index_select(0, rows);
            var loss = causal ? new AutoregressiveLoss().Compute(model, x0, generator) : objective.Compute(model, x0, generator);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        sw.Stop();
        cpuTime = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return (Evaluate(model, causal, heldOut), before, sw.Elapsed);
    }

    private static TextEvaluationResult Evaluate(TextTransformer model, bool causal, Tensor heldOut) => causal
        ? TextEvaluation.AutoregressiveBitsPerCharacter(model, heldOut)
        : TextEvaluation.DiffusionBitsPerCharacter(model, heldOut, timeSamples: 8, seed: 3);

    private static double UnigramEntropy(string train, string heldOut)
    {
        var counts = train.GroupBy(c => c).ToDictionary(g => g.Key, g => (double)g.Count());
        double total = train.Length;
        return heldOut.Average(c => -Math.Log2(counts.GetValueOrDefault(c, 0.5) / total));
    }
}
