using System.Buffers.Binary;
using System.Text;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Models;

/// <summary>
/// Loader fuzzing: thousands of truncated, bit-flipped and edited copies of the tiny fixture's safetensors file and
/// config.json. Every case must either load or fail with <see cref="InvalidDataException"/>, within a time bound and
/// with managed allocation bounded by the file size. Seeded, so a failure reproduces.
/// </summary>
public sealed class CheckpointFuzzTests(ITestOutputHelper output) : IDisposable
{
        private const int ConfigCases = 1000;
    private static readonly TimeSpan s_caseLimit = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _tmp = Directory.CreateTempSubdirectory("unet-fuzz-");

    public void Dispose() => _tmp.Delete(recursive: true);

    private static string Tiny => Path.Combine(TestPaths.UNet2D, "tiny");

    /// <summary>
    /// Most cases use a micro checkpoint (the fixture's architecture at widths 8/16, saved by SavePretrained in
    /// diffusers' format) so thousands of loads stay fast; a few hundred use the fixture file itself.
    /// </summary>
    [Theory]
    [InlineData("micro", 2400)]
    [InlineData("fixture", 250)]
    public void MutatedSafetensorsNeverCrashHangOrOverAllocate(string which, int cases)
    {
        using var model = which == "fixture" ? UNet2DModel.FromPretrained(Tiny) : MicroModel();
        string source = Path.Combine(_tmp.FullName, "source");
        model.SavePretrained(source);
        if (which == "fixture")
            File.Copy(Path.Combine(Tiny, DiffusersUNet2DCheckpoint.WeightsFileName), Path.Combine(source, DiffusersUNet2DCheckpoint.WeightsFileName), overwrite: true);
        byte[] original = File.ReadAllBytes(Path.Combine(source, DiffusersUNet2DCheckpoint.WeightsFileName));
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        string path = Path.Combine(_tmp.FullName, DiffusersUNet2DCheckpoint.WeightsFileName);
        var rng = new Random(which == "fixture" ? 4321 : 1234);
        var outcomes = new Dictionary<string, int>();
        for (int i = 0; i < cases; i++)
        {
            var (kind, bytes) = MutateSafetensors(rng, original, headerEnd);
            File.WriteAllBytes(path, bytes);
            string outcome = RunCase($"{which} safetensors case {i} ({kind})", bytes.Length, () => DiffusersUNet2DCheckpoint.LoadWeights(model, path));
            outcomes[$"{kind}: {outcome}"] = outcomes.GetValueOrDefault($"{kind}: {outcome}") + 1;
        }
        foreach (var (k, n) in outcomes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            output.WriteLine($"{k} × {n}");
        Assert.True(outcomes.Keys.Count(k => k.EndsWith("rejected", StringComparison.Ordinal)) >= 3, "the fuzzer should reach several rejection paths");
    }

    private static UNet2DModel MicroModel()
    {
        var tiny = DiffusersUNet2DConfig.Read(Path.Combine(Tiny, "config.json"));
        return new UNet2DModel(tiny with { BlockOutChannels = [8, 16], NormNumGroups = 4, AttentionHeadDim = 4 });
    }

    [Fact]
    public void MutatedConfigsNeverCrashHangOrOverAllocate()
    {
        string dir = Path.Combine(_tmp.FullName, "model");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Tiny, DiffusersUNet2DCheckpoint.WeightsFileName), Path.Combine(dir, DiffusersUNet2DCheckpoint.WeightsFileName));
        byte[] original = File.ReadAllBytes(Path.Combine(Tiny, "config.json"));
        long weightsLength = new FileInfo(Path.Combine(dir, DiffusersUNet2DCheckpoint.WeightsFileName)).Length;
        var rng = new Random(5678);
        var outcomes = new Dictionary<string, int>();
        for (int i = 0; i < ConfigCases; i++)
        {
            var (kind, bytes) = MutateConfig(rng, original);
            File.WriteAllBytes(Path.Combine(dir, "config.json"), bytes);
            string outcome = RunCase($"config case {i} ({kind})", weightsLength + bytes.Length, () =>
            {
                using var m = UNet2DModel.FromPretrained(dir);
            });
            outcomes[$"{kind}: {outcome}"] = outcomes.GetValueOrDefault($"{kind}: {outcome}") + 1;
        }
        foreach (var (k, n) in outcomes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            output.WriteLine($"{k} × {n}");
    }

    /// <summary>Runs one case on a worker with a time limit; returns "loaded" or "rejected", fails on anything else.</summary>
    private static string RunCase(string name, long fileBytes, Action load)
    {
        long allocated = 0;
        var task = Task.Run(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var scope = NewDisposeScope();
                load();
                return "loaded";
            }
            catch (InvalidDataException)
            {
                return "rejected";
            }
            finally
            {
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }
        });
        if (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(s_caseLimit))
            Assert.Fail($"{name}: no result after {s_caseLimit.TotalSeconds} s");
        if (task.IsFaulted)
            Assert.Fail($"{name}: {task.Exception!.InnerException!.GetType().Name}: {task.Exception.InnerException.Message}");
        // Reading a file costs its bytes a few times over (file buffer, tensor copies, JSON), never more.
        long limit = 6 * fileBytes + (32 << 20);
        Assert.True(allocated <= limit, $"{name}: allocated {allocated} bytes for a {fileBytes}-byte file");
        return task.Result;
    }

    private static (string Kind, byte[] Bytes) MutateSafetensors(Random rng, byte[] original, int headerEnd)
    {
        byte[] b = (byte[])original.Clone();
        switch (rng.Next(6))
        {
            case 0:   // truncation, mostly inside or just after the header
            {
                int cut = rng.Next(2) == 0 ? rng.Next(Math.Min(b.Length, headerEnd + 64)) : rng.Next(b.Length);
                return ("truncated", b[..cut]);
            }
            case 1:   // bit flips in the header
            {
                int flips = 1 + rng.Next(8);
                for (int i = 0; i < flips; i++)
                    b[rng.Next(headerEnd)] ^= (byte)(1 << rng.Next(8));
                return ("header bit flips", b);
            }
            case 2:   // bit flips anywhere (data flips must load)
            {
                int flips = 1 + rng.Next(8);
                for (int i = 0; i < flips; i++)
                    b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return ("bit flips", b);
            }
            case 3:   // a hostile header length
            {
                ulong[] lengths = [0, 1, 7, (ulong)headerEnd - 9, (ulong)headerEnd, (ulong)b.Length, (ulong)b.Length * 2, ulong.MaxValue, ulong.MaxValue / 2, 100_000_001, (ulong)rng.NextInt64()];
                BinaryPrimitives.WriteUInt64LittleEndian(b, lengths[rng.Next(lengths.Length)]);
                return ("header length", b);
            }
            default:  // textual edits of the JSON header, length prefix kept consistent
            {
                string header = Encoding.UTF8.GetString(b, 8, headerEnd - 8);
                string edited = EditJson(rng, header);
                byte[] h = Encoding.UTF8.GetBytes(edited);
                var result = new byte[8 + h.Length + (b.Length - headerEnd)];
                BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
                h.CopyTo(result, 8);
                b.AsSpan(headerEnd).CopyTo(result.AsSpan(8 + h.Length));
                return ("header edits", result);
            }
        }
    }

    private static (string Kind, byte[] Bytes) MutateConfig(Random rng, byte[] original)
    {
        byte[] b = (byte[])original.Clone();
        switch (rng.Next(4))
        {
            case 0:
                return ("truncated", b[..rng.Next(b.Length)]);
            case 1:
            {
                int flips = 1 + rng.Next(4);
                for (int i = 0; i < flips; i++)
                    b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return ("bit flips", b);
            }
            default:
                return ("edits", Encoding.UTF8.GetBytes(EditJson(rng, Encoding.UTF8.GetString(b))));
        }
    }

    private static readonly string[] s_numbers =
    [
        "-1", "0", "1", "2", "3", "7", "9223372036854775807", "18446744073709551616", "1e308", "-1e308", "3.5", "1e-320",
        "2147483647", "2147483648", "65536", "1000000", "4096", "NaN", "null", "\"8\"", "[]", "{}", "true", "[1e999]",
    ];

    private static readonly string[] s_strings =
    [
        "\"F64\"", "\"I64\"", "\"BOOL\"", "\"F16\"", "\"XX\"", "\"\"", "null", "7", "\"UNetMidBlock2D\"", "\"AttnDownBlock2D\"",
        "\"scale_shift\"", "\"fourier\"", "\"learned\"", "\"resnet\"", "\"timestep\"", "\"identity\"", "\"gelu\"", "\"\\u0000\"",
    ];

    /// <summary>One to three token-level edits: numbers and strings replaced, characters deleted or inserted, arrays nested or repeated.</summary>
    private static string EditJson(Random rng, string json)
    {
        var sb = new StringBuilder(json);
        int edits = 1 + rng.Next(3);
        for (int e = 0; e < edits && sb.Length > 0; e++)
        {
            string s = sb.ToString();
            switch (rng.Next(7))
            {
                case 0:
                case 1:
                {
                    var numbers = System.Text.RegularExpressions.Regex.Matches(s, @"-?\d+(\.\d+)?([eE][-+]?\d+)?");
                    if (numbers.Count == 0)
                        break;
                    var m = numbers[rng.Next(numbers.Count)];
                    sb.Remove(m.Index, m.Length).Insert(m.Index, s_numbers[rng.Next(s_numbers.Length)]);
                    break;
                }
                case 2:
                {
                    var strings = System.Text.RegularExpressions.Regex.Matches(s, "\"[^\"]*\"");
                    if (strings.Count == 0)
                        break;
                    var m = strings[rng.Next(strings.Count)];
                    sb.Remove(m.Index, m.Length).Insert(m.Index, s_strings[rng.Next(s_strings.Length)]);
                    break;
                }
                case 3:
                    sb.Remove(rng.Next(sb.Length), 1);
                    break;
                case 4:
                {
                    const string chars = "{}[],:\"0- ";
                    sb.Insert(rng.Next(sb.Length), chars[rng.Next(chars.Length)]);
                    break;
                }
                case 5:   // deep nesting
                {
                    int at = s.IndexOf('[', StringComparison.Ordinal);
                    if (at < 0)
                        break;
                    int depth = rng.Next(2) == 0 ? 70 : 5000;
                    sb.Insert(at + 1, new string('[', depth) + new string(']', depth) + ",");
                    break;
                }
                default:  // repeat a list element many times (huge layer lists, duplicate-looking keys)
                {
                    var lists = System.Text.RegularExpressions.Regex.Matches(s, @"\[\s*(-?\d+|""[^""]*"")");
                    if (lists.Count == 0)
                        break;
                    var m = lists[rng.Next(lists.Count)];
                    string item = m.Groups[1].Value + ",";
                    sb.Insert(m.Groups[1].Index, string.Concat(Enumerable.Repeat(item, rng.Next(2) == 0 ? 3 : 3000)));
                    break;
                }
            }
        }
        return sb.ToString();
    }
}
