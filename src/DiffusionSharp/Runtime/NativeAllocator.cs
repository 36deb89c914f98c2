using System.Runtime.InteropServices;

namespace DiffusionSharp.Runtime;

/// <summary>
/// Tunes glibc's malloc for libtorch's allocation pattern. By default glibc serves blocks of ≥ 128 KiB (adaptively up to
/// 32 MiB) with mmap and returns freed heap tops to the OS past a 128 KiB trim threshold, so every training step maps and
/// unmaps its activation buffers and page-faults them in again: the process spends most of its time in the kernel.
/// Raising both thresholds keeps those buffers in the heap across steps.
/// </summary>
public static class NativeAllocator
{
    private const int MTrimThreshold = -1;
    private const int MTopPad = -2;
    private const int MMmapThreshold = -3;

    /// <summary>The largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2).</summary>
    public const int MaxMmapThreshold = 32 * 1024 * 1024;

    private static bool s_done;

    /// <summary>True when <see cref="Configure"/> changed the allocator in this process.</summary>
    public static bool Configured { get; private set; }

    /// <summary>
    /// Applies the tuning once (Linux/glibc only). Set <c>DIFFUSIONSHARP_MALLOC=default</c> to keep glibc's defaults,
    /// e.g. to measure the difference.
    /// </summary>
    public static void Configure()
    {
        if (s_done)
            return;
        s_done = true;
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("DIFFUSIONSHARP_MALLOC") == "default")
            return;
        try
        {
            bool ok = mallopt(MMmapThreshold, MaxMmapThreshold) == 1;
            ok &= mallopt(MTrimThreshold, int.MaxValue) == 1;
            ok &= mallopt(MTopPad, 64 * 1024 * 1024) == 1;
            Configured = ok;
        }
        catch (EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl): nothing to tune.
        }
        catch (DllNotFoundException)
        {
        }
    }

    [DllImport("libc.so.6")]
    private static extern int mallopt(int param, int value);
}
