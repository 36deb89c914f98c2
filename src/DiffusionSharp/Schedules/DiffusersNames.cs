using System.Reflection;
using System.Text.Json.Serialization;

namespace DiffusionSharp.Schedules;

/// <summary>
/// The diffusers spelling of option enums (<c>"scaled_linear"</c>, <c>"v_prediction"</c>, ...), read from each member's
/// <see cref="JsonStringEnumMemberNameAttribute"/> so that JSON and parsing share one table.
/// </summary>
public static class DiffusersNames
{
    /// <summary>Parses a diffusers name (exact, case-sensitive, as diffusers compares them).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message names <paramref name="paramName"/> and the allowed values.</exception>
    public static TEnum Parse<TEnum>(string? value, string paramName) where TEnum : struct, Enum
    {
        foreach (var (name, member) in Table<TEnum>.Entries)
        {
            if (string.Equals(name, value, StringComparison.Ordinal))
                return member;
        }
        throw new ArgumentException(
            $"Unknown {paramName} '{value ?? "null"}'; allowed values: {AllowedValues<TEnum>()}.", paramName);
    }

    /// <summary>The diffusers name of <paramref name="value"/>.</summary>
    public static string ToName<TEnum>(TEnum value) where TEnum : struct, Enum
    {
        foreach (var (name, member) in Table<TEnum>.Entries)
        {
            if (EqualityComparer<TEnum>.Default.Equals(member, value))
                return name;
        }
        throw new ArgumentOutOfRangeException(nameof(value), value, $"Not a defined {typeof(TEnum).Name}.");
    }

    /// <summary>The accepted names, quoted and comma-separated (for error messages).</summary>
    public static string AllowedValues<TEnum>() where TEnum : struct, Enum =>
        string.Join(", ", Table<TEnum>.Entries.Select(e => $"'{e.Name}'"));

    /// <summary>Parses a <see cref="BetaSchedule"/> name (<c>linear</c>, <c>scaled_linear</c>, <c>squaredcos_cap_v2</c>, <c>sigmoid</c>).</summary>
    public static BetaSchedule ParseBetaSchedule(string? value, string paramName = "beta_schedule") => Parse<BetaSchedule>(value, paramName);

    /// <summary>Parses a <see cref="PredictionType"/> name (<c>epsilon</c>, <c>sample</c>, <c>v_prediction</c>).</summary>
    public static PredictionType ParsePredictionType(string? value, string paramName = "prediction_type") => Parse<PredictionType>(value, paramName);

    /// <summary>Parses a <see cref="TimestepSpacing"/> name (<c>leading</c>, <c>trailing</c>, <c>linspace</c>).</summary>
    public static TimestepSpacing ParseTimestepSpacing(string? value, string paramName = "timestep_spacing") => Parse<TimestepSpacing>(value, paramName);

    private static class Table<TEnum> where TEnum : struct, Enum
    {
        public static readonly (string Name, TEnum Member)[] Entries = typeof(TEnum)
            .GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? f.Name, (TEnum)f.GetValue(null)!))
            .ToArray();
    }
}
