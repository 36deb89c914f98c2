using System.Buffers.Binary;
using System.IO.Compression;
using DiffusionSharp.IO;

namespace DiffusionSharp.Data;

/// <summary>An unsigned-byte IDX array: its dimensions (outermost first) and its row-major data.</summary>
/// <param name="Dimensions">The sizes, outermost first (MNIST images: count, rows, columns).</param>
/// <param name="Data">The elements, row-major; its length is the product of <paramref name="Dimensions"/>.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>
/// Reads and writes the IDX format of the MNIST distribution (<c>*-idx3-ubyte</c>, <c>*-idx1-ubyte</c>), plain or
/// gzipped: magic <c>00 00 type ndims</c>, then <c>ndims</c> big-endian 32-bit sizes, then the data row-major.
/// Only the unsigned-byte element type (<c>0x08</c>), the one MNIST uses, is supported.
/// </summary>
/// <remarks>Format: http://yann.lecun.com/exdb/mnist/ ("The IDX file format").</remarks>
public static class IdxFile
{
    /// <summary>The element-type byte for unsigned bytes.</summary>
    public const byte UnsignedByte = 0x08;

    /// <summary>The largest data section accepted (2 GiB − 1, a managed array's limit).</summary>
    public const long MaxDataBytes = int.MaxValue;

    /// <summary>
    /// Reads an unsigned-byte IDX file. A gzip stream is recognised by its magic bytes <c>1f 8b</c>, not by the name.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="expectedDimensions">When given, the number of dimensions the file must declare
    /// (3 for images, 1 for labels).</param>
    /// <exception cref="InvalidDataException">The file is unreadable, has a wrong magic number, declares other
    /// dimensions than expected, or is shorter or longer than its header says; the message names the file.</exception>
    public static IdxArray Read(string path, int? expectedDimensions = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes = ReadAllBytesMaybeGzip(path);
        if (bytes.Length < 4)
            throw new InvalidDataException($"{path}: truncated IDX file ({bytes.Length} bytes, no magic number)");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new InvalidDataException($"{path}: wrong magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(bytes):X8} (an IDX file starts with 00 00 <type> <ndims>)");
        if (bytes[2] != UnsignedByte)
            throw new InvalidDataException($"{path}: IDX element type 0x{bytes[2]:X2} is not supported (only unsigned byte, 0x08)");
        int ndims = bytes[3];
        if (ndims == 0)
            throw new InvalidDataException($"{path}: IDX header declares 0 dimensions");
        if (expectedDimensions is int expected && ndims != expected)
            throw new InvalidDataException($"{path}: wrong magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(bytes):X8}: {ndims} dimensions where {expected} were expected (0x{0x800 + expected:X8})");
        long headerBytes = 4 + 4L * ndims;
        if (bytes.Length < headerBytes)
            throw new InvalidDataException($"{path}: truncated IDX header ({bytes.Length} bytes, {headerBytes} needed for {ndims} dimensions)");
        var dims = new int[ndims];
        long elements = 1;
        for (int i = 0; i < ndims; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4 + 4 * i));
            if (d > int.MaxValue)
                throw new InvalidDataException($"{path}: IDX dimension {i} is {d}, too large");
            dims[i] = (int)d;
            elements *= d;
            if (elements > MaxDataBytes)
                throw new InvalidDataException($"{path}: IDX header declares more than {MaxDataBytes} elements");
        }
        long dataBytes = bytes.Length - headerBytes;
        if (dataBytes < elements)
            throw new InvalidDataException($"{path}: truncated IDX file: header [{string.Join("×", dims)}] promises {elements} bytes of data, the file has {dataBytes}");
        if (dataBytes > elements)
            throw new InvalidDataException($"{path}: IDX file has {dataBytes - elements} bytes beyond the [{string.Join("×", dims)}] data its header declares");
        return new IdxArray(dims, bytes.AsSpan((int)headerBytes).ToArray());
    }

    /// <summary>Writes an unsigned-byte IDX file atomically (temporary file + rename), gzipped if asked.</summary>
    /// <exception cref="ArgumentException">The data length is not the product of the dimensions.</exception>
    public static void Write(string path, IdxArray array, bool gzip = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(array);
        if (array.Dimensions.Length is 0 or > 255)
            throw new ArgumentException($"an IDX array has 1 to 255 dimensions, not {array.Dimensions.Length}", nameof(array));
        long elements = 1;
        foreach (int d in array.Dimensions)
        {
            if (d < 0)
                throw new ArgumentException("IDX dimensions cannot be negative", nameof(array));
            elements *= d;
        }
        if (elements != array.Data.Length)
            throw new ArgumentException($"data has {array.Data.Length} bytes, dimensions [{string.Join("×", array.Dimensions)}] need {elements}", nameof(array));

        var header = new byte[4 + 4 * array.Dimensions.Length];
        header[2] = UnsignedByte;
        header[3] = (byte)array.Dimensions.Length;
        for (int i = 0; i < array.Dimensions.Length; i++)
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4 + 4 * i), (uint)array.Dimensions[i]);
        AtomicFile.Write(path, stream =>
        {
            if (gzip)
            {
                using var z = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true);
                z.Write(header);
                z.Write(array.Data);
            }
            else
            {
                stream.Write(header);
                stream.Write(array.Data);
            }
        });
    }

    private static byte[] ReadAllBytesMaybeGzip(string path)
    {
        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read ({e.Message})", e);
        }
        if (raw.Length < 2 || raw[0] != 0x1f || raw[1] != 0x8b)
            return raw;
        try
        {
            using var z = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var output = new MemoryStream();
            // Copy in bounded chunks so a gzip bomb stops at the same limit as a plain file.
            var buffer = new byte[1 << 16];
            int n;
            while ((n = z.Read(buffer)) > 0)
            {
                if (output.Length + n > MaxDataBytes)
                    throw new InvalidDataException($"{path}: gzipped IDX file expands beyond {MaxDataBytes} bytes");
                output.Write(buffer, 0, n);
            }
            return output.ToArray();
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: corrupt or truncated gzip stream ({e.Message})", e);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{path}: truncated gzip stream ({e.Message})", e);
        }
    }
}
