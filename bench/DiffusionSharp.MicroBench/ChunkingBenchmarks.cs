using BenchmarkDotNet.Attributes;
using DiffusionSharp.Models;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.MicroBench;

/// <summary>
/// One inference pass of the <c>small</c> U-Net over 64 images of 28×28: the whole batch at once (baseline) against
/// <see cref="UNet2DModel.Predict"/>'s automatic chunks (2 × 32 here; see <see cref="BatchChunking"/>).
/// </summary>
public class ChunkingBenchmarks
{
    private UNet2DModel _model = null!;
    private Tensor _x = null!, _t = null!, _labels = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        _model = new UNet2DModel(ModelPresets.Create("small", 28, 1, 10));
        _model.eval();
        var g = new Generator(2);
        _x = randn([64, 1, 28, 28], generator: g);
        _t = randint(0, 1000, [64], dtype: ScalarType.Int64, generator: g);
        _labels = randint(0, 10, [64], dtype: ScalarType.Int64, generator: g);
    }

    private void Run(int chunk)
    {
        _model.ChunkSize = chunk;
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        _model.Predict(_x, _t, _labels);
    }

    [Benchmark(Baseline = true)]
    public void OnePass() => Run(int.MaxValue);

    [Benchmark]
    public void AutomaticChunks() => Run(0);
}
