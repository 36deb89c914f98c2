using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.IO;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="DType">The safetensors dtype string (<c>F32</c>, <c>F16</c>, <c>BF16</c>, <c>F64</c>, <c>I64</c>, ...).</param>
/// <param name="Shape">The shape, row-major.</param>
/// <param name="Begin">First byte, relative to the data section.</param>
/// <param name="End">One past the last byte, relative to the data section.</param>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End);

/// <summary>
/// Reads and writes the safetensors format (<c>u64 N | N bytes of JSON header | data</c>) with every header value
/// checked against the file before anything is allocated or read: a malformed file gives an
/// <see cref="InvalidDataException"/> naming the file and the tensor, never a native crash or a huge allocation.
/// </summary>
/// <remarks>Format: https://github.com/huggingface/safetensors (README, "Format").</remarks>
public static class SafeTensors
{
    /// <summary>The largest header accepted (the reference implementation's limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private static readonly System.Text.UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly Dictionary<string, (ScalarType Type, int Size)> s_dtypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>Reads the header of a safetensors file: tensor entries (in file order) and metadata.</summary>
    public static (IReadOnlyList<SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart) ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>Loads every tensor of a safetensors file onto the CPU, keyed by name.</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        using var stream = OpenRead(path);
        var (infos, _, dataStart) = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var info in infos)
                result[info.Name] = ReadTensor(stream, path, dataStart, info);
        }
        catch
        {
            foreach (var t in result.Values)
                t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Copies the file's tensors into <paramref name="module"/>'s state dict, after checking the header against it (no
    /// tensor data is read before that): every stored tensor has a floating dtype, a key the module has and that key's
    /// shape, and no key is missing.
    /// </summary>
    /// <param name="module">The module to fill.</param>
    /// <param name="path">The safetensors file.</param>
    /// <param name="infos">The file's header entries when the caller has already read them (<see cref="ReadHeader(string)"/>).</param>
    /// <exception cref="InvalidDataException">A tensor is missing, unexpected, misshapen or not floating; the message names the file and key.</exception>
    public static void LoadInto(nn.Module module, string path, IReadOnlyList<SafeTensorInfo>? infos = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        infos ??= ReadHeader(path).Tensors;
        var target = module.state_dict();
        foreach (var info in infos)
        {
            if (!target.TryGetValue(info.Name, out var param))
                throw new InvalidDataException($"{path}: unexpected tensor '{info.Name}' for this config");
            if (info.DType is not ("F32" or "F16" or "BF16" or "F64"))
                throw new InvalidDataException($"{path}: tensor '{info.Name}' has dtype {info.DType}; a floating dtype is required");
            if (!info.Shape.SequenceEqual(param.shape))
                throw new InvalidDataException($"{path}: tensor '{info.Name}' has shape [{string.Join(", ", info.Shape)}], the config needs [{string.Join(", ", param.shape)}]");
        }
        var missing = target.Keys.Except(infos.Select(i => i.Name), StringComparer.Ordinal).FirstOrDefault();
        if (missing is not null)
            throw new InvalidDataException($"{path}: missing tensor '{missing}'");
        var loaded = Load(path);
        try
        {
            using var noGrad = no_grad();
            foreach (var (name, tensor) in loaded)
                target[name].copy_(tensor);
        }
        finally
        {
            foreach (var t in loaded.Values)
                t.Dispose();
        }
    }

    /// <summary>
    /// Writes tensors (converted to contiguous CPU memory) to <paramref name="path"/>, keys sorted as the reference
    /// implementation does. The file is written to a temporary name and renamed, so a crash never leaves a torn file.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 })
            header["__metadata__"] = metadata;
        long offset = 0;
        var blobs = new List<byte[]>(names.Count);
        foreach (var name in names)
        {
            var t = tensors[name];
            string dtype = s_dtypes.First(kv => kv.Value.Type == t.dtype).Key;
            byte[] bytes = ToBytes(t);
            blobs.Add(bytes);
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = dtype,
                ["shape"] = t.shape,
                ["data_offsets"] = new[] { offset, offset + bytes.Length },
            };
            offset += bytes.Length;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        json.CopyTo(headerBytes, 0);
        headerBytes.AsSpan(json.Length).Fill((byte)' ');

        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            stream.Write(len);
            stream.Write(headerBytes);
            foreach (var blob in blobs)
                stream.Write(blob);
        });
    }

    private static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot open ({e.Message})", e);
        }
    }

    private static (IReadOnlyList<SafeTensorInfo>, IReadOnlyDictionary<string, string>, long) ReadHeader(Stream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new InvalidDataException($"{path}: truncated safetensors file ({fileLength} bytes, no header length)");
        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen > (ulong)MaxHeaderBytes || headerLen > (ulong)(fileLength - 8))
            throw new InvalidDataException($"{path}: header length {headerLen} exceeds the file ({fileLength} bytes)");
        var headerBytes = new byte[(int)headerLen];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLen;
        long dataLength = fileLength - dataStart;

        // The header must be valid UTF-8 (the format says so); checking it here keeps invalid names from throwing
        // later, when a tensor name or metadata string is read.
        try
        {
            s_strictUtf8.GetCharCount(headerBytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{path}: safetensors header is not valid UTF-8", e);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: malformed safetensors header JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: safetensors header is not a JSON object");
            var infos = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new InvalidDataException($"{path}: __metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                infos.Add(ParseEntry(path, prop, dataLength));
            }
            CheckOverlaps(path, infos);
            return (infos, metadata, dataStart);
        }
    }

    private static SafeTensorInfo ParseEntry(string path, JsonProperty prop, long dataLength)
    {
        string name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new InvalidDataException($"{path}: tensor '{name}' has a malformed header entry");
        string dtype = dt.GetString()!;
        if (!s_dtypes.TryGetValue(dtype, out var dtInfo))
            throw new InvalidDataException($"{path}: tensor '{name}' has unknown dtype '{dtype}'");
        var shape = new long[sh.GetArrayLength()];
        if (shape.Length > 16)
            throw new InvalidDataException($"{path}: tensor '{name}' has {shape.Length} dimensions");
        long elements = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw new InvalidDataException($"{path}: tensor '{name}' has an invalid shape");
            shape[i++] = dim;
            elements = dim == 0 ? 0 : (elements > long.MaxValue / dim ? -1 : elements * dim);
            if (elements < 0)
                throw new InvalidDataException($"{path}: tensor '{name}' shape overflows");
        }
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new InvalidDataException($"{path}: tensor '{name}' has invalid data_offsets");
        if (end > dataLength)
            throw new InvalidDataException($"{path}: tensor '{name}' data [{begin}, {end}) lies beyond the end of the file (data section is {dataLength} bytes)");
        if (elements > long.MaxValue / dtInfo.Size || end - begin != elements * dtInfo.Size)
            throw new InvalidDataException($"{path}: tensor '{name}' has {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {elements * dtInfo.Size}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static void CheckOverlaps(string path, List<SafeTensorInfo> infos)
    {
        var sorted = infos.Where(t => t.End > t.Begin).OrderBy(t => t.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Begin < sorted[i - 1].End)
                throw new InvalidDataException($"{path}: tensor '{sorted[i].Name}' overlaps tensor '{sorted[i - 1].Name}'");
        }
    }

    private static Tensor ReadTensor(Stream stream, string path, long dataStart, SafeTensorInfo info)
    {
        var (type, _) = s_dtypes[info.DType];
        long count = info.End - info.Begin;
        if (count > int.MaxValue)
            throw new InvalidDataException($"{path}: tensor '{info.Name}' is larger than 2 GB");
        var bytes = new byte[count];
        stream.Seek(dataStart + info.Begin, SeekOrigin.Begin);
        try
        {
            stream.ReadExactly(bytes);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{path}: tensor '{info.Name}' is truncated", e);
        }
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported");
        var flat = torch.empty(count == 0 ? 0 : count / ElementSize(type), dtype: type);
        if (count > 0)
            flat.bytes = bytes;
        return flat.reshape(info.Shape);
    }

    private static int ElementSize(ScalarType type) => s_dtypes.Values.First(v => v.Type == type).Size;

    private static byte[] ToBytes(Tensor t)
    {
        using var scope = NewDisposeScope(); // detach/cpu/contiguous each make a handle
        var c = t.detach().cpu().contiguous();
        long n = c.numel() * c.element_size();
        if (n > int.MaxValue)
            throw new ArgumentException("tensors over 2 GB are not supported", nameof(t));
        return n == 0 ? [] : c.bytes.ToArray();
    }
}
