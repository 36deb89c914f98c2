using System.Globalization;
using System.Text;

namespace DiffusionSharp.Training;

/// <summary>
/// A run's <c>log.csv</c>, the one place its format is written (for <see cref="Trainer"/>) and read: a header naming the columns (<c>step,loss,lr,grad_norm,
/// step_seconds</c>, then <c>loss_NAME,grad_norm_NAME</c> per further objective stage) and one line per step. A resumed run
/// re-logs the steps after its checkpoint, so the last line of a step wins; a killed run may have logged steps past its
/// last checkpoint, which <c>upTo</c> leaves out.
/// </summary>
public static class TrainingLog
{
    /// <summary>The log file of <paramref name="runDir"/>.</summary>
    public static string PathOf(string runDir) => Path.Combine(runDir, "log.csv");

    /// <summary>The header line for an objective whose stages are named <paramref name="stages"/> (the first is <c>loss</c>).</summary>
    internal static string Header(IEnumerable<string> stages) =>
        "step,loss,lr,grad_norm,step_seconds" + string.Concat(stages.Skip(1).Select(name => $",loss_{name},grad_norm_{name}"));

    /// <summary>One step's line: <paramref name="losses"/> and <paramref name="norms"/> hold one value per stage.</summary>
    internal static string Line(int step, IReadOnlyList<double> losses, double lr, IReadOnlyList<double> norms, double seconds)
    {
        var line = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"{step},{losses[0]:G6},{lr:G6},{norms[0]:G6},{seconds:F4}"));
        for (int s = 1; s < losses.Count; s++)
            line.Append(CultureInfo.InvariantCulture, $",{losses[s]:G6},{norms[s]:G6}");
        return line.ToString();
    }

    /// <summary>
    /// Column <paramref name="column"/> of every step ≤ <paramref name="upTo"/>, in step order; empty when there is no log
    /// or no such column. Lines too short for the column (logged before it existed) and unparsable values are skipped.
    /// </summary>
    public static IReadOnlyList<(int Step, double Value)> Column(string runDir, string column, int upTo = int.MaxValue)
    {
        string path = PathOf(runDir);
        if (!File.Exists(path))
            return [];
        using var lines = File.ReadLines(path).GetEnumerator();
        if (!lines.MoveNext())
            return [];
        int index = Array.IndexOf(lines.Current.Split(','), column);
        if (index < 0)
            return [];
        var byStep = new SortedDictionary<int, double>();
        while (lines.MoveNext())
        {
            var p = lines.Current.Split(',');
            if (p.Length > index && int.TryParse(p[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int step) && step <= upTo
                && double.TryParse(p[index], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                byStep[step] = value;
        }
        return byStep.Select(kv => (kv.Key, kv.Value)).ToList();
    }

    /// <summary>The loss columns of the log's header: <c>loss</c> (the first stage) and each <c>loss_NAME</c>.</summary>
    public static IReadOnlyList<string> LossColumns(string runDir)
    {
        string path = PathOf(runDir);
        string? header = File.Exists(path) ? File.ReadLines(path).FirstOrDefault() : null;
        return header is null ? [] : header.Split(',').Where(c => c == "loss" || c.StartsWith("loss_", StringComparison.Ordinal)).ToList();
    }
}
