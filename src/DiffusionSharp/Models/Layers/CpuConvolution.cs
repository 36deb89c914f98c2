using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace DiffusionSharp.Models.Layers;

/// <summary>Placeholder.</summary>
internal static class CpuConvolution
{
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? b, long stride, long padding) =>
        F.conv2d(x, w, b, [stride], [padding]);
}
