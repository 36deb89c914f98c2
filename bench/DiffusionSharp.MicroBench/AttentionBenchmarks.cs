using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.MicroBench;

/// <summary>
/// Self-attention over 14×14 positions (4 heads of 32, as the <c>small</c> preset's 128-channel levels), forward and
/// backward: the explicit softmax(Q·Kᵀ/√d)·V with [B·heads, HW, HW] scores (baseline) against libtorch's fused
/// <c>scaled_dot_product_attention</c>, which <c>SpatialSelfAttention</c> uses.
/// </summary>
public class AttentionBenchmarks
{
    private Tensor _q = null!, _k = null!, _v = null!;

    [Params(32, 128)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        var g = new Generator(1);
        _q = randn([Batch, 4, 196, 32], generator: g).requires_grad_();
        _k = randn([Batch, 4, 196, 32], generator: g).requires_grad_();
        _v = randn([Batch, 4, 196, 32], generator: g).requires_grad_();
    }

    [Benchmark(Baseline = true)]
    public void MaterialisedScores()
    {
        using var scope = NewDisposeScope();
        var scores = matmul(_q, _k.transpose(2, 3)) * (1.0 / Math.Sqrt(32));
        matmul(F.softmax(scores, -1), _v).sum().backward();
    }

    [Benchmark]
    public void FusedKernel()
    {
        using var scope = NewDisposeScope();
        F.scaled_dot_product_attention(_q, _k, _v).sum().backward();
    }
}
