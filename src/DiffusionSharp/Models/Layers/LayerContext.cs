using static TorchSharp.torch;

namespace DiffusionSharp.Models.Layers;

/// <summary>
/// State shared by every layer of one network: the compute precision and an optional trace callback that receives
/// each module's output under its diffusers module path (used by parity tests to compare intermediates).
/// </summary>
/// <remarks>Not a module and holds no tensors, so registration ignores it.</remarks>
internal sealed class LayerContext
{
    public ComputePrecision Precision { get; set; } = ComputePrecision.Full;

    /// <summary>Called with (module path, output) after each traced module; the tensor is only valid during the call.</summary>
    public Action<string, Tensor>? Trace { get; set; }

    public void Emit(string path, Tensor output) => Trace?.Invoke(path, output);
}
