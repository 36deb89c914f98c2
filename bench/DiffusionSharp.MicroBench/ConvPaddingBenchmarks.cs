using BenchmarkDotNet.Attributes;
using DiffusionSharp.Models.Layers;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.MicroBench;

/// <summary>
/// The price of the oneDNN workaround on the convolution that needs it most, the U-Net's <c>conv_out</c> (64 → 1, 3×3,
/// 28×28, batch 32), forward and backward: libtorch's <c>conv2d</c> as is (baseline; its input gradient is wrong on
/// the CPUs BENCHMARKS.md names) against <see cref="CpuConvolution"/>, which pads the output channels to 32.
/// </summary>
public class ConvPaddingBenchmarks
{
    private Tensor _x = null!, _w = null!, _b = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        var g = new Generator(3);
        _x = randn([32, 64, 28, 28], generator: g).requires_grad_();
        _w = (randn([1, 64, 3, 3], generator: g) * 0.05).requires_grad_();
        _b = zeros(1).requires_grad_();
    }

    [Benchmark(Baseline = true)]
    public void RawConv2d()
    {
        using var scope = NewDisposeScope();
        F.conv2d(_x, _w, _b, [1], [1]).sum().backward();
    }

    [Benchmark]
    public void PaddedCpuConvolution()
    {
        using var scope = NewDisposeScope();
        CpuConvolution.Conv2d(_x, _w, _b, 1, 1).sum().backward();
    }
}
