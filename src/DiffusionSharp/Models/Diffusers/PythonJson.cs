using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DiffusionSharp.Models.Diffusers;

/// <summary>
/// Writes JSON exactly as Python's <c>json.dumps(obj, indent=2, sort_keys=True)</c> does, which is how diffusers writes
/// <c>config.json</c>: two-space indent, one array item per line, <c>": "</c> after keys, keys sorted, non-ASCII escaped,
/// floats in <c>repr</c> form (<c>1e-05</c>, <c>0.0</c>). A config read and written back is then byte-identical.
/// </summary>
internal static class PythonJson
{
    /// <summary>A value to write: a raw JSON fragment, or a tree built from these kinds.</summary>
    internal abstract record Node;

    internal sealed record Raw(JsonElement Element) : Node;

    internal sealed record Str(string Value) : Node;

    internal sealed record Int(long Value) : Node;

    internal sealed record Float(double Value) : Node;

    internal sealed record Bool(bool Value) : Node;

    internal sealed record Null : Node;

    internal sealed record Arr(IReadOnlyList<Node> Items) : Node;

    internal sealed record Obj(IReadOnlyDictionary<string, Node> Members) : Node;

    /// <summary>Serialises <paramref name="node"/>; the result has no trailing newline.</summary>
    public static string Dumps(Node node)
    {
        var sb = new StringBuilder();
        Write(sb, node, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, Node node, int indent)
    {
        switch (node)
        {
            case Raw r: WriteElement(sb, r.Element, indent); break;
            case Str s: WriteString(sb, s.Value); break;
            case Int i: sb.Append(i.Value.ToString(CultureInfo.InvariantCulture)); break;
            case Float f: sb.Append(FloatRepr(f.Value)); break;
            case Bool b: sb.Append(b.Value ? "true" : "false"); break;
            case Null: sb.Append("null"); break;
            case Arr a: WriteSequence(sb, a.Items, indent, (n, ind) => Write(sb, n, ind)); break;
            case Obj o:
                WriteObject(sb, o.Members.Select(kv => (kv.Key, (Action<int>)(ind => Write(sb, kv.Value, ind)))), indent);
                break;
            default: throw new ArgumentException($"unknown node {node.GetType().Name}", nameof(node));
        }
    }

    private static void WriteElement(StringBuilder sb, JsonElement e, int indent)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(sb, e.EnumerateObject()
                    .GroupBy(p => p.Name, StringComparer.Ordinal).Select(g => g.Last())   // Python keeps the last duplicate
                    .Select(p => (p.Name, (Action<int>)(ind => WriteElement(sb, p.Value, ind)))), indent);
                break;
            case JsonValueKind.Array:
                WriteSequence(sb, e.EnumerateArray().ToList(), indent, (x, ind) => WriteElement(sb, x, ind));
                break;
            case JsonValueKind.String: WriteString(sb, e.GetString()!); break;
            case JsonValueKind.Number: sb.Append(e.GetRawText()); break;
            case JsonValueKind.True: sb.Append("true"); break;
            case JsonValueKind.False: sb.Append("false"); break;
            default: sb.Append("null"); break;
        }
    }

    private static void WriteSequence<T>(StringBuilder sb, IReadOnlyList<T> items, int indent, Action<T, int> write)
    {
        if (items.Count == 0)
        {
            sb.Append("[]");
            return;
        }
        sb.Append('[');
        for (int i = 0; i < items.Count; i++)
        {
            sb.Append(i == 0 ? "\n" : ",\n").Append(' ', 2 * (indent + 1));
            write(items[i], indent + 1);
        }
        sb.Append('\n').Append(' ', 2 * indent).Append(']');
    }

    private static void WriteObject(StringBuilder sb, IEnumerable<(string Key, Action<int> Write)> members, int indent)
    {
        var sorted = members.OrderBy(m => m.Key, StringComparer.Ordinal).ToList();
        if (sorted.Count == 0)
        {
            sb.Append("{}");
            return;
        }
        sb.Append('{');
        for (int i = 0; i < sorted.Count; i++)
        {
            sb.Append(i == 0 ? "\n" : ",\n").Append(' ', 2 * (indent + 1));
            WriteString(sb, sorted[i].Key);
            sb.Append(": ");
            sorted[i].Write(indent + 1);
        }
        sb.Append('\n').Append(' ', 2 * indent).Append('}');
    }

    /// <summary>Python's <c>ensure_ascii</c> string escaping.</summary>
    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7e)
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>
    /// Python's <c>repr(float)</c>: the shortest round-tripping digits, positional when the decimal exponent lies in
    /// [−4, 16), else <c>d.ddde±XX</c>; integral values keep a <c>.0</c>.
    /// </summary>
    public static string FloatRepr(double v)
    {
        if (double.IsNaN(v))
            return "NaN";
        if (double.IsInfinity(v))
            return v > 0 ? "Infinity" : "-Infinity";
        if (v == 0)
            return double.IsNegative(v) ? "-0.0" : "0.0";
        // "E16" is not shortest; "R" is, in either notation. Normalise it to digits and a decimal exponent.
        string r = v.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r[0] == '-';
        if (negative)
            r = r[1..];
        int exp10 = 0;
        int ePos = r.IndexOfAny(['E', 'e']);
        if (ePos >= 0)
        {
            exp10 = int.Parse(r[(ePos + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..ePos];
        }
        int dot = r.IndexOf('.');
        string digits = dot < 0 ? r : r[..dot] + r[(dot + 1)..];
        int pointPos = (dot < 0 ? r.Length : dot) + exp10;   // position of the decimal point within digits
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
            lead++;
        digits = digits[lead..];
        pointPos -= lead;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0)
            digits = "0";
        int sciExp = pointPos - 1;   // value = d.ddd × 10^sciExp
        string body;
        if (sciExp >= -4 && sciExp < 16)
        {
            if (pointPos <= 0)
                body = "0." + new string('0', -pointPos) + digits;
            else if (pointPos >= digits.Length)
                body = digits + new string('0', pointPos - digits.Length) + ".0";
            else
                body = digits[..pointPos] + "." + digits[pointPos..];
        }
        else
        {
            string mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            body = mantissa + "e" + (sciExp < 0 ? "-" : "+") + Math.Abs(sciExp).ToString("00", CultureInfo.InvariantCulture);
        }
        return negative ? "-" + body : body;
    }
}
