using System.Globalization;

namespace DiffusionSharp.Bench;

/// <summary>
/// The command line of one benchmark process: <c>MODE [--key value | --flag]…</c>. Every option must be read by the
/// mode (<see cref="RejectUnused"/>), so a misspelt option fails instead of silently benchmarking the default.
/// </summary>
internal sealed class BenchArgs
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private BenchArgs(string mode) => Mode = mode;

    public string Mode { get; }

    public static BenchArgs Parse(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
            throw new ArgumentException("usage: diffusionsharp-bench train|sample|ort-sample|matmul|export|gcrace [--option value]…");
        var parsed = new BenchArgs(args[0]);
        for (int i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            string key = args[i][2..];
            string? value = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : null;
            parsed._options[key] = value;
        }
        return parsed;
    }

    public string String(string key, string fallback)
    {
        _used.Add(key);
        return _options.TryGetValue(key, out var v) ? v ?? throw new ArgumentException($"--{key} needs a value") : fallback;
    }

    public string? OptionalString(string key)
    {
        _used.Add(key);
        return _options.TryGetValue(key, out var v) ? v ?? throw new ArgumentException($"--{key} needs a value") : null;
    }

    /// <summary>Whether the valueless flag <c>--key</c> was given.</summary>
    public bool Flag(string key)
    {
        _used.Add(key);
        if (!_options.TryGetValue(key, out var v))
            return false;
        return v is null ? true : throw new ArgumentException($"--{key} takes no value, got '{v}'");
    }

    public int Int(string key, int fallback, int min = 0)
    {
        string? s = OptionalString(key);
        if (s is null)
            return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
            throw new ArgumentException($"--{key} must be an integer ≥ {min}, got '{s}'");
        return v;
    }

    public double Double(string key, double fallback)
    {
        string? s = OptionalString(key);
        if (s is null)
            return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new ArgumentException($"--{key} must be a finite number, got '{s}'");
        return v;
    }

    public void RejectUnused()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"mode '{Mode}' does not take: {string.Join(", ", unknown.Select(k => "--" + k))}");
    }
}
