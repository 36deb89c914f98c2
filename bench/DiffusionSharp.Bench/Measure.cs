using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DiffusionSharp.Bench;

/// <summary>Timing, peak memory and the one JSON line every mode prints.</summary>
internal static class Measure
{
    /// <summary>Wall time of <paramref name="action"/> in seconds.</summary>
    public static double Seconds(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return double.NaN;
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
    }

    /// <summary>
    /// The process's peak resident set (VmHWM of /proc/self/status) in MiB: every byte the process ever had resident
    /// at once, managed heap, libtorch's allocations and mapped code alike. NaN off Linux.
    /// </summary>
    public static double PeakRssMiB() => StatusMiB("VmHWM:");

    /// <summary>The process's resident set now (VmRSS) in MiB; NaN off Linux.</summary>
    public static double CurrentRssMiB() => StatusMiB("VmRSS:");

    private static double StatusMiB(string field)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status))
            return double.NaN;
        foreach (var line in File.ReadLines(status))
        {
            if (!line.StartsWith(field, StringComparison.Ordinal))
                continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;   // "VmHWM: 123 kB"
        }
        return double.NaN;
    }

    public static JsonArray Array(IEnumerable<double> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(Math.Round(v, 6))).ToArray());

    /// <summary>
    /// Writes <paramref name="result"/> as one line on stdout (bench/run collects these lines), with the peak RSS now
    /// unless the mode measured it itself (<c>ort-sample</c> reads it before its correctness check).
    /// </summary>
    public static void Emit(JsonObject result)
    {
        if (!result.ContainsKey("peak_rss_mib"))
            result["peak_rss_mib"] = Math.Round(PeakRssMiB(), 1);
        Console.Out.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        Console.Out.Flush();
    }
}
