using static TorchSharp.torch;

namespace DiffusionSharp.Onnx;

/// <summary>
/// A model's state dict (diffusers parameter names) as the source of the graph's initializers: each tensor becomes a
/// float32 initializer under its own name the first time the graph uses it. After the graph is built,
/// <see cref="CheckAllUsed"/> proves the export read every parameter — a missed block would otherwise go unnoticed
/// until the outputs disagree.
/// </summary>
internal sealed class OnnxWeights
{
    private readonly Dictionary<string, Tensor> _tensors;
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly OnnxGraph _graph;

    /// <param name="stateDict">The model's <c>state_dict()</c>; the tensors are read, never disposed.</param>
    /// <param name="graph">The graph that receives the initializers.</param>
    public OnnxWeights(Dictionary<string, Tensor> stateDict, OnnxGraph graph)
    {
        _tensors = stateDict;
        _graph = graph;
    }

    /// <summary>Whether the state dict has <paramref name="name"/>.</summary>
    public bool Has(string name) => _tensors.ContainsKey(name);

    /// <summary>The shape of parameter <paramref name="name"/>.</summary>
    public long[] Shape(string name) => Get(name).shape;

    /// <summary>Adds parameter <paramref name="name"/> as an initializer (float32, its own shape) and returns its graph name.</summary>
    public string Use(string name)
    {
        var t = Get(name);
        if (_used.Add(name))
        {
            using var scope = NewDisposeScope();
            var data = t.detach().cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
            _graph.Initializer(name, data, t.shape);
        }
        return name;
    }

    /// <summary>Throws when a state-dict entry was never used: the exporter does not know the layer it belongs to.</summary>
    /// <exception cref="NotSupportedException">Names the first unused parameter.</exception>
    public void CheckAllUsed()
    {
        var unused = _tensors.Keys.Where(k => !_used.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
            throw new NotSupportedException($"ONNX export: parameter '{unused[0]}' ({unused.Count} unused in all) belongs to a layer the exporter does not know");
    }

    private Tensor Get(string name) => _tensors.TryGetValue(name, out var t)
        ? t
        : throw new InvalidDataException($"ONNX export: the state dict has no parameter '{name}'");
}
