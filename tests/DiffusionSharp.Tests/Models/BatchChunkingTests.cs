using DiffusionSharp.Denoisers;
using DiffusionSharp.Models;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Models;

/// <summary>
/// Batch chunking (<see cref="BatchChunking"/>) must change speed and memory only: chunked inference returns what one
/// pass returns, and chunked training produces the batch's loss, gradient and generator state.
/// </summary>
public sealed class BatchChunkingTests
{
    [Theory]
    [InlineData(128, 192 * 28 * 28, 32)]     // small preset at 28×28: a 41-sample limit → 4 even chunks, not 41+41+41+5
    [InlineData(64, 96 * 28 * 28, 64)]       // tiny preset at 28×28: 83-sample limit, the whole batch fits
    [InlineData(200, 192 * 28 * 28, 40)]     // 5 chunks of 40
    [InlineData(7, 1L << 30, 1)]             // one sample over budget: still one at a time, never 0
    [InlineData(1, 10, 1)]
    public void ChunkSizeIsTheEvenSplitIntoTheFewestChunksWithinBudget(long batch, long elements, int expected)
    {
        int chunk = BatchChunking.ChunkSize(batch, elements);
        Assert.Equal(expected, chunk);
        long limit = Math.Max(1, BatchChunking.DefaultBudgetBytes / (elements * 4));
        Assert.True(chunk <= Math.Max(limit, 1));
        long chunks = (batch + chunk - 1) / chunk;
        Assert.Equal(Math.Max(1, (batch + limit - 1) / limit), chunks);
    }

    [Fact]
    public void RangesCoverTheBatchOnceInOrder()
    {
        var ranges = BatchChunking.Ranges(10, 4).ToArray();
        Assert.Equal([(0L, 4L), (4L, 4L), (8L, 2L)], ranges);
        Assert.Empty(BatchChunking.Ranges(0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => BatchChunking.Ranges(10, 0).ToArray());
    }

    [Fact]
    public void LargestActivationOfTheSmallPresetIsTheFullResolutionConcatenation()
    {
        // small: widths 64, 128, 128, one residual block per level, so the last up block's first residual block takes
        // 128 (hidden) + 64 (skip) channels at 28×28.
        using var model = new UNet2DModel(ModelPresets.Create("small", 28, 1, 10));
        Assert.Equal(192L * 28 * 28, model.LargestActivationPerSample(28, 28));
        Assert.Equal(32, model.AutoChunkSize(128, 28, 28));
    }

    [Fact]
    public void LargestActivationBoundsEveryTracedModuleOutput()
    {
        using var model = UNet2DModel.FromPretrained(Path.Combine(TestPaths.UNet2D, "tiny"));
        long largest = model.LargestActivationPerSample(32, 32);
        long traced = 0;
        model.Trace = (_, t) => traced = Math.Max(traced, t.numel() / t.shape[0]);
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        model.call(randn(2, model.Config.InChannels, 32, 32), tensor(10L), null);
        Assert.True(traced > 0);
        Assert.True(largest >= traced, $"computed {largest} < traced {traced}");
    }

    [Fact]
    public void ChunkedInferenceEqualsOnePass()
    {
        using var model = new UNet2DModel(ModelPresets.Create("tiny", 16, 1, 10));
        model.eval();
        using var scope = NewDisposeScope();
        var g = new Generator(11);
        var x = randn([5, 1, 16, 16], generator: g);
        var t = randint(0, 1000, [5], dtype: ScalarType.Int64, generator: g);
        var labels = tensor(new long[] { 0, 3, 10, 7, 1 });
        using var _ = inference_mode();
        Assert.False(is_grad_enabled());                       // Predict chunks only with gradients off
        model.ChunkSize = int.MaxValue;
        var whole = model.Predict(x, t, labels);
        var wholeScalar = model.Predict(x, tensor(400L), labels);
        model.ChunkSize = 2;                                   // chunks of 2, 2, 1
        Assert.True(UNet2DParityTests.MaxAbs(whole, model.Predict(x, t, labels)) < 1e-5);
        Assert.True(UNet2DParityTests.MaxAbs(wholeScalar, model.Predict(x, tensor(400L), labels)) < 1e-5);
        Assert.True(UNet2DParityTests.MaxAbs(wholeScalar, model.Predict(x, tensor(new long[] { 400 }), labels)) < 1e-5);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ChunkSize = -1);
    }

    [Theory]
    [InlineData(PredictionType.Epsilon, LossWeighting.MinSnr)]
    [InlineData(PredictionType.VPrediction, LossWeighting.Edm)]
    public void ChunkedBackwardGivesTheBatchLossGradientAndGeneratorState(PredictionType prediction, LossWeighting weighting)
    {
        torch.random.manual_seed(7);   // the same weights every run: the float32 summation-order error depends on them
        using var model = new UNet2DModel(ModelPresets.Create("tiny", 16, 1, 10));
        model.train();
        using var loss = new DiffusionLoss(new NoiseSchedule(new NoiseScheduleOptions()), prediction, weighting);
        using var scope = NewDisposeScope();
        var x0 = rand([6, 1, 16, 16], generator: new Generator(5)) * 2 - 1;
        var labels = tensor(new long[] { 1, 2, 3, 4, 5, 6 });

        var g1 = new Generator(99);
        var whole = loss.Compute(model, x0, labels, g1, labelDropout: 0.5, nullClass: 10);
        double wholeValue = whole.item<float>();
        (whole * 0.5).backward();
        var expected = model.parameters().Select(p => p.grad!.clone()).ToArray();
        float nextAfterWhole = rand([1], generator: g1).item<float>();

        model.zero_grad();
        var g2 = new Generator(99);
        double chunkedValue = loss.Backward(model, x0, labels, g2, labelDropout: 0.5, nullClass: 10, chunkSize: 4, scale: 0.5);   // 4 + 2
        Assert.Equal(wholeValue, chunkedValue, 1e-6);
        Assert.Equal(nextAfterWhole, rand([1], generator: g2).item<float>());
        var actual = model.parameters().Select(p => p.grad!).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double scale = Math.Max(expected[i].abs().max().item<float>(), 1e-6f);
            worst = Math.Max(worst, UNet2DParityTests.MaxAbs(actual[i], expected[i]) / scale);
        }
        // Only the summation order differs: float32 noise, which for a parameter whose gradients nearly cancel reached
        // 1.3e-4 of its largest gradient with unseeded weights (EDM weighting, one CI run). A chunk scaled or drawn wrongly is O(1).
        Assert.True(worst < 5e-4, $"chunked gradient differs by {worst:G3} (relative to each parameter's largest gradient)");
        Assert.Contains(expected, e => e.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void ChunkSizeOptionMustNotBeNegative()
    {
        new TrainingOptions { ChunkSize = 0 }.Validate();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingOptions { ChunkSize = -1 }.Validate());
        Assert.Equal(nameof(TrainingOptions.ChunkSize), e.ParamName);
    }
}
