using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionSharp.Schedules;

namespace DiffusionSharp.Schedulers;

/// <summary>
/// Names the diffusers <c>scheduler_config.json</c> key of a scheduler option. The options record declares its keys
/// once, on its properties; <see cref="DiffusersKeys"/> reads and writes them all.
/// </summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = false)]
public sealed class DiffusersKeyAttribute(string name) : Attribute
{
    /// <summary>The diffusers key, e.g. <c>"prediction_type"</c>.</summary>
    public string Name { get; } = name;
}

/// <summary>
/// The scheduler options ↔ diffusers config mapping, in one place: every property of an options record marked
/// <see cref="DiffusersKeyAttribute"/> is read and written by its type (bool, int, double, double?, an enum spelled as
/// diffusers spells it, int[] or double[]), and a <see cref="NoiseScheduleOptions"/> property as the training schedule's
/// keys (<see cref="DiffusersConfig.ReadSchedule"/>). A missing or null key keeps the record's default. Keys with
/// aliases or unsupported values stay with their scheduler.
/// </summary>
public static class DiffusersKeys
{
    /// <summary>A <typeparamref name="T"/> with every mapped key read from <paramref name="config"/> (defaults otherwise).</summary>
    /// <exception cref="ArgumentException">A key of the wrong JSON kind, or an unknown enum name.</exception>
    public static T Read<T>(JsonElement config) where T : new()
    {
        var options = new T();
        foreach (var (property, key) in Mapped<T>.Properties)
        {
            var current = property.GetValue(options);
            var t = property.PropertyType;
            object? value = key is null
                ? DiffusersConfig.ReadSchedule(config, (NoiseScheduleOptions)current!)
                : t == typeof(bool) ? DiffusersConfig.GetBool(config, key, (bool)current!)
                : t == typeof(int) ? DiffusersConfig.GetInt(config, key, (int)current!)
                : t == typeof(double) ? DiffusersConfig.GetDouble(config, key, (double)current!)
                : t == typeof(double?) ? DiffusersConfig.GetNullableDouble(config, key) ?? (double?)current
                : t == typeof(int[]) ? DiffusersConfig.GetIntArray(config, key) ?? current
                : t == typeof(double[]) ? DiffusersConfig.GetDoubleArray(config, key) ?? current
                : t.IsEnum ? ReadEnum(config, key, current!, t)
                : throw new NotSupportedException($"{typeof(T).Name}.{property.Name}: no diffusers mapping for {t.Name}.");
            property.SetValue(options, value);
        }
        return options;
    }

    /// <summary>
    /// The config object of <paramref name="options"/>: <c>_class_name</c>, the schedule keys, then every mapped key in
    /// declaration order. The caller adds keys with special spellings.
    /// </summary>
    public static JsonObject Write<T>(T options, string className)
    {
        ArgumentNullException.ThrowIfNull(options);
        var o = new JsonObject { ["_class_name"] = className };
        foreach (var (property, key) in Mapped<T>.Properties)
        {
            var value = property.GetValue(options);
            if (key is null)
            {
                DiffusersConfig.WriteSchedule(o, (NoiseScheduleOptions)value!);
                continue;
            }
            o[key] = value switch
            {
                null => null,
                bool b => b,
                int i => i,
                double d => d,
                int[] a => new JsonArray(a.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
                double[] a => new JsonArray(a.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray()),
                Enum e => (string)s_toName.MakeGenericMethod(e.GetType()).Invoke(null, [e])!,
                _ => throw new NotSupportedException($"{typeof(T).Name}.{property.Name}: no diffusers mapping for {value.GetType().Name}."),
            };
        }
        return o;
    }

    private static readonly MethodInfo s_toName = typeof(DiffusersNames).GetMethod(nameof(DiffusersNames.ToName))!;
    private static readonly MethodInfo s_getEnum = typeof(DiffusersConfig).GetMethod(nameof(DiffusersConfig.GetEnum))!;

    private static object ReadEnum(JsonElement config, string key, object fallback, Type type)
    {
        try
        {
            return s_getEnum.MakeGenericMethod(type).Invoke(null, [config, key, fallback])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is ArgumentException inner)
        {
            ExceptionDispatchInfo.Throw(inner);
            throw;
        }
    }

    /// <summary>The mapped properties of <typeparamref name="TOptions"/> (key null: the schedule), in declaration order.</summary>
    private static class Mapped<TOptions>
    {
        public static readonly (PropertyInfo Property, string? Key)[] Properties = typeof(TOptions)
            .GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .OrderBy(p => p.MetadataToken)
            .Select(p => (p, p.PropertyType == typeof(NoiseScheduleOptions) ? null : p.GetCustomAttribute<DiffusersKeyAttribute>()?.Name))
            .Where(e => e.p.PropertyType == typeof(NoiseScheduleOptions) || e.Item2 is not null)
            .Select(e => (e.p, e.Item2))
            .ToArray();
    }
}
