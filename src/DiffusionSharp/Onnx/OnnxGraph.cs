using System.Runtime.InteropServices;
using DiffusionSharp.Onnx.Proto;
using Google.Protobuf;

namespace DiffusionSharp.Onnx;

/// <summary>
/// Builds one ONNX graph node by node: every value is named by a string, every node has one output unless asked
/// otherwise, and constants become initializers (deduplicated by content). The exporters call the layer helpers of
/// <see cref="OnnxLayers"/>, which call this.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly GraphProto _graph = new() { Name = "unet" };
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private readonly HashSet<string> _initializers = new(StringComparer.Ordinal);
    private int _next;

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string opType, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Nodes(opType, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> outputs and returns their names.</summary>
    public string[] Nodes(string opType, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        int id = _next++;
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{id}" };
        node.Input.AddRange(inputs);
        var names = Enumerable.Range(0, outputs).Select(k => outputs == 1 ? $"{opType}_{id}" : $"{opType}_{id}_{k}").ToArray();
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    /// <summary>Adds a float32 initializer named <paramref name="name"/> (once; a second call with the same name is a no-op).</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, IReadOnlyList<long> dims)
    {
        if (!_initializers.Add(name))
            return name;
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>A float32 constant of shape <paramref name="dims"/> (a scalar when empty).</summary>
    public string Floats(float[] values, params long[] dims)
    {
        string key = "f:" + string.Join(',', dims) + ":" + Convert.ToBase64String(MemoryMarshal.AsBytes(values.AsSpan()));
        if (_constants.TryGetValue(key, out var existing))
            return existing;
        string name = $"const_{_constants.Count}";
        _constants[key] = name;
        return Initializer(name, values, dims);
    }

    /// <summary>A float32 scalar constant.</summary>
    public string Scalar(float value) => Floats([value]);

    /// <summary>A 1-D int64 constant (shapes, axes, pads, split sizes).</summary>
    public string Int64s(params long[] values)
    {
        string key = "i:" + string.Join(',', values);
        if (_constants.TryGetValue(key, out var existing))
            return existing;
        string name = $"const_{_constants.Count}";
        _constants[key] = name;
        _initializers.Add(name);
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        _graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Declares a graph input; a <see cref="string"/> dimension is symbolic (e.g. <c>"batch"</c>), a <see cref="long"/> fixed.</summary>
    public void Input(string name, TensorProto.Types.DataType type, params object[] dims) => _graph.Input.Add(ValueInfo(name, type, dims));

    /// <summary>Makes <paramref name="value"/> the graph output <paramref name="name"/> (through an Identity node).</summary>
    public void Output(string value, string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var node = new NodeProto { OpType = "Identity", Name = "output" };
        node.Input.Add(value);
        node.Output.Add(name);
        _graph.Node.Add(node);
        _graph.Output.Add(ValueInfo(name, type, dims));
    }

    /// <summary>The finished model at ONNX opset <paramref name="opset"/> (default domain) and IR version <paramref name="irVersion"/>.</summary>
    public ModelProto ToModel(long opset, long irVersion, string docString)
    {
        var model = new ModelProto
        {
            IrVersion = irVersion,
            ProducerName = "DiffusionSharp",
            ProducerVersion = typeof(OnnxGraph).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = docString,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    /// <summary>An <c>int</c> attribute.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>An <c>ints</c> attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>A <c>float</c> attribute.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A <c>string</c> attribute.</summary>
    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                _ => throw new ArgumentException($"dimension {d} is neither a name nor a size", nameof(dims)),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
