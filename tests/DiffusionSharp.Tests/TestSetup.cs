using System.Runtime.CompilerServices;
using DiffusionSharp.Runtime;

namespace DiffusionSharp.Tests;

internal static class TestSetup
{
    /// <summary>Tests may touch TorchSharp before any DiffusionSharp type: prepare the native library first.</summary>
    [ModuleInitializer]
    internal static void Init() => TorchRuntime.Prepare();
}
