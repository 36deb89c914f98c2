using DiffusionSharp.Models.Layers;
using DiffusionSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Runtime;

public sealed class TorchRuntimeTests
{
    [Fact]
    public void TensorOpAndBackwardRun()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1f, 2f, 3f }, requires_grad: true);
        var y = (x * x).sum();
        y.backward();
        Assert.Equal(14f, y.item<float>());
        Assert.Equal(new float[] { 2f, 4f, 6f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void ConvBackwardRuns()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        // Through the project's convolution: libtorch's raw conv2d returns wrong (sometimes NaN) input gradients for
        // 8 output channels on this CPU, which made this test flaky when it called nn.Conv2d directly.
        var weight = randn(8, 3, 3, 3, requires_grad: true);
        var input = randn(2, 3, 8, 8, requires_grad: true);
        CpuConvolution.Conv2d(input, weight, null, 1, 1).square().mean().backward();
        Assert.True(input.grad!.isfinite().all().item<bool>());
        Assert.True(input.grad!.abs().sum().item<float>() > 0);
        Assert.True(weight.grad!.isfinite().all().item<bool>());
    }

    [Fact]
    public void LoadedLibraryRequirementIsWeakWhereSystemLacksVersion()
    {
        TorchRuntime.EnsureLoaded();
        if (!OperatingSystem.IsLinux() || TorchRuntime.SystemHasVersion("libstdc++.so.6", TorchRuntime.RequiredLibStdCxxVersion))
            return;
        var loaded = File.ReadLines("/proc/self/maps")
            .Where(l => l.EndsWith("libLibTorchSharp.so", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf('/'))..])
            .Distinct()
            .ToList();
        var path = Assert.Single(loaded);
        var need = ElfVersionPatcher.ReadVersionNeeds(File.ReadAllBytes(path))
            .Single(n => n.Version == TorchRuntime.RequiredLibStdCxxVersion);
        Assert.True(need.IsWeak);
        // Exactly one libtorch_cpu is mapped: the fix never loads a second copy.
        var torchCpu = File.ReadLines("/proc/self/maps").Where(l => l.EndsWith("libtorch_cpu.so", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf('/'))..]).Distinct();
        Assert.Single(torchCpu);
    }

    [Fact]
    public void MarkWeakEditsOnlyTheNamedRequirement()
    {
        var path = Path.Combine(Path.GetDirectoryName(typeof(torch).Assembly.Location)!, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(path))
            return;
        var bytes = File.ReadAllBytes(path);
        var before = ElfVersionPatcher.ReadVersionNeeds(bytes);
        // Clear the bit first so the test does not depend on whether start-up already patched the file.
        var target = before.Single(n => n.Version == TorchRuntime.RequiredLibStdCxxVersion);
        bytes[target.FlagsOffset] &= unchecked((byte)~ElfVersionPatcher.VerFlagWeak);
        var cleared = ElfVersionPatcher.ReadVersionNeeds(bytes);
        Assert.True(ElfVersionPatcher.MarkWeak(bytes, "libstdc++.so.6", TorchRuntime.RequiredLibStdCxxVersion));
        Assert.False(ElfVersionPatcher.MarkWeak(bytes, "libstdc++.so.6", TorchRuntime.RequiredLibStdCxxVersion));
        var after = ElfVersionPatcher.ReadVersionNeeds(bytes);
        Assert.Equal(cleared.Count, after.Count);
        for (int i = 0; i < after.Count; i++)
            Assert.Equal(cleared[i].Version == TorchRuntime.RequiredLibStdCxxVersion, cleared[i].IsWeak != after[i].IsWeak);
    }

    [Fact]
    public void TruncatedElfIsRejected()
    {
        var bytes = new byte[100];
        bytes[0] = 0x7f; bytes[1] = (byte)'E'; bytes[2] = (byte)'L'; bytes[3] = (byte)'F'; bytes[4] = 2; bytes[5] = 1;
        bytes[0x28] = 0xff; bytes[0x3A] = 64; bytes[0x3C] = 3;
        Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.ReadVersionNeeds(bytes));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("")]
    public void UnknownDeviceNamesTheChoices(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice(name));
        Assert.Contains("cpu, cuda, auto", e.Message);
    }

    [Fact]
    public void CudaAskedForAndAbsentIsAClearError()
    {
        if (cuda.is_available())
            return;
        var e = Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice("cuda"));
        Assert.Contains("no CUDA", e.Message);
    }
}
