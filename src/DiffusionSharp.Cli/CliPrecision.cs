using DiffusionSharp.Models;

namespace DiffusionSharp.Cli;

/// <summary>The <c>--precision</c> option every command that runs the U-Net takes.</summary>
internal static class CliPrecision
{
    /// <summary>fp32 → <see cref="ComputePrecision.Full"/>, bf16 → <see cref="ComputePrecision.BFloat16"/>; anything else is a one-line error.</summary>
    public static ComputePrecision Parse(string value) => ComputePrecisionNames.Parse(value, "--precision");
}
