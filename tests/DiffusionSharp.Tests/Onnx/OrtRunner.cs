using DiffusionSharp.Onnx;
using DiffusionSharp.Training;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Onnx;

/// <summary>Exports a model and runs the ONNX file on ONNX Runtime's CPU provider, beside our own forward pass.</summary>
internal sealed class OrtRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _classConditional;

    public OrtRunner(ITrainableModel model) : this(OnnxExporter.ToBytes(model), OnnxExporter.InputNames(model).Count == 3)
    {
    }

    public OrtRunner(byte[] onnx, bool classConditional)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = 2 };
        _session = new InferenceSession(onnx, options);
        _classConditional = classConditional;
    }

    /// <summary>The graph's input names in order.</summary>
    public IReadOnlyList<string> InputNames => _session.InputNames;

    /// <summary>ONNX Runtime's out_sample for <paramref name="sample"/> at <paramref name="t"/> (float32 [B]) with optional labels (int64 [B]).</summary>
    public Tensor Run(Tensor sample, Tensor t, Tensor? labels)
    {
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(sample.contiguous().data<float>().ToArray(), sample.shape),
            OrtValue.CreateTensorValueFromMemory(t.to(ScalarType.Float32).contiguous().data<float>().ToArray(), t.shape),
        };
        var names = new List<string> { OnnxExporter.SampleInput, OnnxExporter.TimestepInput };
        if (_classConditional)
        {
            values.Add(OrtValue.CreateTensorValueFromMemory(labels!.to(ScalarType.Int64).contiguous().data<long>().ToArray(), labels.shape));
            names.Add(OnnxExporter.ClassLabelsInput);
        }
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, names, values, [OnnxExporter.Output]);
            var shape = outputs[0].GetTensorTypeAndShape().Shape;
            return tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), shape);
        }
        finally
        {
            foreach (var v in values)
                v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();

    /// <summary>max |a − b| (shapes must agree).</summary>
    public static double MaxAbs(Tensor a, Tensor b)
    {
        Assert.Equal(a.shape, b.shape);
        return (a - b).abs().max().item<float>();
    }
}
