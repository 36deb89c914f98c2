using DiffusionSharp.Denoisers;
using DiffusionSharp.Models;
using DiffusionSharp.Onnx;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace DiffusionSharp.Bench;

/// <summary>
/// An exported U-Net (<see cref="OnnxExporter"/>) run by ONNX Runtime as an <see cref="IDiffusionNetwork"/>, so the
/// library's samplers drive it exactly as they drive the TorchSharp model. CPU execution provider, all graph
/// optimisations, <c>threads</c> intra-op threads, one inter-op thread, sequential execution. Batches larger than
/// <c>chunk</c> run as consecutive chunks (as <see cref="UNet2DModel.Predict"/> does), so both peers make
/// the same calls.
/// </summary>
internal sealed class OrtNetwork : IDiffusionNetwork, IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _classConditional;
    private readonly int _chunk;

    public OrtNetwork(byte[] onnx, bool classConditional, int threads, int chunk)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
        };
        _session = new InferenceSession(onnx, options);
        _classConditional = classConditional;
        _chunk = chunk;
    }

    /// <inheritdoc/>
    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels) =>
        BatchChunking.Predict(Run, sample, timesteps, classLabels, _chunk);

    private Tensor Run(Tensor sample, Tensor timesteps, Tensor? classLabels)
    {
        long batch = sample.shape[0];
        using var scope = NewDisposeScope();
        var t = timesteps.dim() == 0 || timesteps.shape[0] != batch ? timesteps.reshape(-1).expand(batch) : timesteps;
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(sample.to(ScalarType.Float32).contiguous().data<float>().ToArray(), sample.shape),
            OrtValue.CreateTensorValueFromMemory(t.to(ScalarType.Float32).contiguous().data<float>().ToArray(), [batch]),
        };
        var names = new List<string> { OnnxExporter.SampleInput, OnnxExporter.TimestepInput };
        if (_classConditional)
        {
            var labels = classLabels ?? throw new ArgumentException("the exported model is class-conditional: class labels are required", nameof(classLabels));
            values.Add(OrtValue.CreateTensorValueFromMemory(labels.to(ScalarType.Int64).contiguous().data<long>().ToArray(), [batch]));
            names.Add(OnnxExporter.ClassLabelsInput);
        }
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, names, values, [OnnxExporter.Output]);
            var shape = outputs[0].GetTensorTypeAndShape().Shape;
            return tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), shape).to(sample.dtype).MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var v in values)
                v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
