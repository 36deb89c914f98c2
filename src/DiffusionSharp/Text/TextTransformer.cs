using DiffusionSharp.IO;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Layers;
using DiffusionSharp.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusionSharp.Text;

/// <summary>
/// A network that maps tokens (with [MASK] at hidden positions) and a time t to logits over the vocabulary: what
/// <see cref="MaskedDiffusionSampler"/> and the losses need.
/// </summary>
public interface ITokenDenoiser
{
    /// <summary>The number of token ids, [MASK] included.</summary>
    int VocabularySize { get; }

    /// <summary>The id of [MASK].</summary>
    long MaskId { get; }

    /// <summary>Whether the logits depend on t (if not, an unchanged input gives unchanged logits and may be cached).</summary>
    bool IsTimeConditioned { get; }

    /// <summary>Logits [B, L, VocabularySize] (float32) for tokens [B, L] (int64) at times t [B].</summary>
    Tensor Logits(Tensor tokens, Tensor t);
}

/// <summary>
/// The text denoiser of MDLM (Sahoo et al. 2024, §4: a bidirectional transformer over the tokens, [MASK] included) and,
/// with <see cref="TextTransformerConfig.Causal"/>, its autoregressive twin from the same layers. Token embedding,
/// pre-LayerNorm blocks with rotary self-attention (libtorch's fused <c>scaled_dot_product_attention</c>), a final
/// LayerNorm and a linear read-out. Saved as <c>config.json</c> + <c>model.safetensors</c>.
/// </summary>
public sealed class TextTransformer : nn.Module<Tensor, Tensor, Tensor>, ITokenDenoiser, ITrainableModel
{
    /// <summary>The weights file's name inside a model folder.</summary>
    public const string WeightsFileName = "model.safetensors";

    private readonly Embedding embed;
    private readonly TimeConditioning? time;
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly LayerNorm norm;
    private readonly Linear head;
    private readonly LayerContext _ctx = new();

    /// <summary>Builds a freshly initialised model.</summary>
    public TextTransformer(TextTransformerConfig config) : base(nameof(TextTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Vocabulary = config.Vocabulary;
        long w = config.Width;
        embed = nn.Embedding(Vocabulary.Size, w);
        time = config.TimeConditioning ? new TimeConditioning(_ctx, w) : null;
        blocks = nn.ModuleList(Enumerable.Range(0, config.Depth)
            .Select(_ => new TransformerBlock(_ctx, w, config.Heads, (long)config.MlpRatio * w, config.Causal, config.RotaryBase)).ToArray());
        norm = TransformerOps.NewLayerNorm(w);
        head = nn.Linear(w, Vocabulary.Size);
        RegisterComponents();
    }

    /// <summary>The config the model was built from.</summary>
    public TextTransformerConfig Config { get; }

    /// <summary>The vocabulary (characters + [MASK]).</summary>
    public CharacterVocabulary Vocabulary { get; }

    /// <summary>The arithmetic of linear layers and attention (norms and the residual stream stay float32).</summary>
    public ComputePrecision Precision
    {
        get => _ctx.Precision;
        set => _ctx.Precision = value;
    }

    /// <inheritdoc/>
    public int VocabularySize => Vocabulary.Size;

    /// <inheritdoc/>
    public long MaskId => Vocabulary.MaskId;

    /// <inheritdoc/>
    public bool IsTimeConditioned => time is not null;

    /// <summary>Logits [B, L, V] for tokens [B, L] and times t [B] (ignored without time conditioning).</summary>
    public override Tensor forward(Tensor tokens, Tensor t) => Run(tokens, t, i => blocks[i].call);

    /// <summary>Embedding (plus time), every block through <paramref name="blockFor"/>, final norm and read-out.</summary>
    private Tensor Run(Tensor tokens, Tensor t, Func<int, Func<Tensor, Tensor>> blockFor)
    {
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException($"tokens must be an int64 tensor [B, L], not {tokens.dtype} [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        using var scope = NewDisposeScope();
        var x = embed.call(tokens);
        if (time is not null)
            x = x + time.call(t).unsqueeze(1);
        for (int i = 0; i < blocks.Count; i++)
            x = blockFor(i)(x);
        return Ops.Linear(_ctx, head, TransformerOps.Norm(norm, x)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor Logits(Tensor tokens, Tensor t) => call(tokens, t);

    /// <summary>
    /// An empty <see cref="KeyValueCache"/> for <paramref name="batch"/> sequences of up to <paramref name="capacity"/>
    /// positions (default: the trained length), in the parameters' dtype and device.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model is bidirectional, where no cache can be exact.</exception>
    public KeyValueCache NewCache(long batch, long? capacity = null)
    {
        if (!Config.Causal)
            throw new InvalidOperationException("a key/value cache needs a causal model (config causal: true)");
        var weight = head.weight!;
        return new KeyValueCache(blocks.Count, batch, Config.Heads, capacity ?? Config.Length, Config.Width / Config.Heads, weight.dtype, weight.device);
    }

    /// <summary>
    /// Logits [B, n, V] for the n tokens [B, n] that follow the positions <paramref name="cache"/> has read, which it
    /// then holds as well: equal to <see cref="forward"/> on the whole sequence so far, at the new positions, for the
    /// cost of the new tokens alone. n may exceed 1 only on an empty cache (a prompt read in one call).
    /// </summary>
    public Tensor ExtendLogits(Tensor tokens, Tensor t, KeyValueCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var logits = Run(tokens, t, i => x => blocks[i].Extend(x, cache, i));
        cache.Advance();
        return logits;
    }

    /// <inheritdoc/>
    public nn.Module Module => this;

    /// <inheritdoc/>
    public string ClassName => TextTransformerConfig.ModelClassName;

    /// <inheritdoc/>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>None: the text model takes no class labels.</summary>
    public long? NullClassLabel => null;

    /// <inheritdoc/>
    public string ConfigJson() => Config.ToJson();

    /// <inheritdoc/>
    public void SavePretrained(string directory) => Save(directory);

    /// <summary>
    /// Chunks sized by the largest per-sequence activation: the attention weights (heads × L², libtorch's CPU attention
    /// materialises them) or the MLP's hidden layer (L × MlpRatio·Width), whichever is larger.
    /// </summary>
    public int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (sampleShape.Count != 1)
            throw new ArgumentException($"a text model takes token sequences [L], not [{string.Join(", ", sampleShape)}]", nameof(sampleShape));
        long l = sampleShape[0];
        long largest = Math.Max(Config.Heads * l * l, l * Config.MlpRatio * Config.Width);
        return BatchChunking.ChunkSize(batch, largest);
    }

    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> (float32) into <paramref name="directory"/>, each atomically.</summary>
    public void Save(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        using var scope = NewDisposeScope();
        var tensors = state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float32).cpu());
        SafeTensors.Save(Path.Combine(directory, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        Config.Save(Path.Combine(directory, TextTransformerConfig.FileName));
    }

    /// <summary>Loads a folder written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">A file is missing or malformed, or a tensor is missing, extra or misshapen; the message names it.</exception>
    public static TextTransformer Load(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var config = TextTransformerConfig.Load(Path.Combine(directory, TextTransformerConfig.FileName));
        string weights = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weights))
            throw new InvalidDataException($"{weights}: not found (a text model folder holds {TextTransformerConfig.FileName} and {WeightsFileName})");
        var (infos, _, _) = SafeTensors.ReadHeader(weights);
        long stored = infos.Sum(i => i.Shape.Aggregate(1L, (a, d) => a * d));
        long needed = config.CountParameters();
        if (needed != stored)
            throw new InvalidDataException($"{weights}: holds {stored} parameters, the config needs {needed}");
        var model = new TextTransformer(config);
        try
        {
            SafeTensors.LoadInto(model, weights, infos);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }
}
