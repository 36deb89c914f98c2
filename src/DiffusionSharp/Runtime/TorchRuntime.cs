using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace DiffusionSharp.Runtime;

/// <summary>
/// Makes TorchSharp's native library loadable on the machine it runs on, and chooses devices.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> requires <c>GLIBCXX_3.4.32</c> (GCC 13's libstdc++) only for the
/// marker symbol <c>_ZSt21ios_base_library_initv</c>, which no relocation uses. On systems whose libstdc++ is older
/// (Debian 12 ships GCC 12's), the loader refuses the library. Where — and only where — the system libstdc++
/// lacks that version, the copy TorchSharp will load is edited once, in place and atomically, to mark that one
/// requirement weak. Nothing else is loaded or copied, so exactly one libtorch is ever mapped.
/// </remarks>
public static class TorchRuntime
{
    /// <summary>The version TorchSharp 0.107 asks of libstdc++.</summary>
    public const string RequiredLibStdCxxVersion = "GLIBCXX_3.4.32";

    private const string LibStdCxx = "libstdc++.so.6";
    private const string NativeName = "libLibTorchSharp.so";
    private static readonly object s_gate = new();
    private static bool s_prepared;

    /// <summary>What <see cref="EnsureLoaded"/> did, for diagnostics (<c>diffuse info</c>).</summary>
    public static IReadOnlyList<string> Log => s_log;

    private static readonly List<string> s_log = [];

    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "Must run before TorchSharp's static constructor loads the native library.")]
    internal static void Initialize() => Prepare();

    /// <summary>
    /// Prepares the native library (see remarks on the class) and initialises TorchSharp's CPU backend.
    /// Safe to call many times and from many threads.
    /// </summary>
    public static void EnsureLoaded()
    {
        Prepare();
        torch.InitializeDeviceType(DeviceType.CPU);
    }

    /// <summary>Runs the libstdc++ check and the patch; does not touch TorchSharp.</summary>
    public static void Prepare()
    {
        lock (s_gate)
        {
            if (s_prepared)
                return;
            s_prepared = true;
            NativeAllocator.Configure();
            if (!OperatingSystem.IsLinux())
                return;
            if (SystemHasVersion(LibStdCxx, RequiredLibStdCxxVersion))
            {
                s_log.Add($"system {LibStdCxx} provides {RequiredLibStdCxxVersion}: nothing to do");
                return;
            }
            foreach (var path in CandidatePaths())
                PatchFile(path);
        }
    }

    /// <summary>
    /// How many of the loaded TorchSharp.dll's methods build/TorchSharpKeepAlive rewrote to keep their Tensor and Scalar
    /// arguments alive through libtorch calls; null when this process runs the package's unmodified file, whose
    /// implicit Scalars (<c>a + b</c>, <c>a * 2.0</c>) a collection on another thread can free mid-call (README,
    /// platform notes). The repository's programs always run the rewritten file.
    /// </summary>
    public static int? KeepAlivePatchedMethods { get; } = ReadKeepAliveMarker();

    private static int? ReadKeepAliveMarker()
    {
        string? value = typeof(torch).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "DiffusionSharp.GcKeepAlive")?.Value;
        return int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n) ? n : null;
    }

    /// <summary>True when the library the loader finds under <paramref name="soname"/> defines <paramref name="version"/>.</summary>
    public static bool SystemHasVersion(string soname, string version)
    {
        if (!NativeLibrary.TryLoad(soname, out var handle))
            return false;
        // Any symbol of that version will do; this is the one TorchSharp asks for.
        return Dl.dlvsym(handle, "_ZSt21ios_base_library_initv", version) != IntPtr.Zero;
    }

    private static IEnumerable<string> CandidatePaths()
    {
        var dirs = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string search)
            dirs.AddRange(search.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        string baseDir = AppContext.BaseDirectory;
        dirs.Add(baseDir);
        dirs.Add(Path.Combine(baseDir, "runtimes", "linux-x64", "native"));
        dirs.Add(Path.Combine(baseDir, "cpu"));
        var torchSharpDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(torchSharpDir))
            dirs.Add(Path.Combine(torchSharpDir, "runtimes", "linux-x64", "native"));
        return dirs
            .Select(d => Path.GetFullPath(Path.Combine(d, NativeName)))
            .Distinct(StringComparer.Ordinal)
            .Where(File.Exists);
    }

    private static void PatchFile(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (!ElfVersionPatcher.MarkWeak(bytes, LibStdCxx, RequiredLibStdCxxVersion))
        {
            s_log.Add($"{path}: requirement already weak or absent");
            return;
        }
        // Write beside the original and rename over it: a process that already mapped the old file keeps its
        // inode, and a crash leaves either the old or the new file, never half of one.
        string temp = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
            s_log.Add($"{path}: marked {RequiredLibStdCxxVersion} weak");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new InvalidOperationException(
                $"{path}: needs {RequiredLibStdCxxVersion}, which the system {LibStdCxx} lacks, and the file cannot be patched ({e.Message}). Run once with write access to that folder.", e);
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Resolves a device name: <c>cpu</c>, <c>cuda</c> (fails clearly when CUDA is absent) or <c>auto</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown name, or CUDA asked for and not available.</exception>
    public static torch.Device ResolveDevice(string name)
    {
        EnsureLoaded();
        switch (name.Trim().ToLowerInvariant())
        {
            case "cpu":
                return torch.CPU;
            case "auto":
                return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
            case "cuda":
                if (!torch.cuda.is_available())
                    throw new ArgumentException("device 'cuda' was asked for, but this TorchSharp build has no CUDA or no GPU is visible; use --device cpu or auto", nameof(name));
                return torch.CUDA;
            default:
                throw new ArgumentException($"unknown device '{name}'; allowed: cpu, cuda, auto", nameof(name));
        }
    }

    private static class Dl
    {
        [DllImport("libc.so.6", EntryPoint = "dlvsym")]
        public static extern IntPtr dlvsym(IntPtr handle, [MarshalAs(UnmanagedType.LPStr)] string symbol, [MarshalAs(UnmanagedType.LPStr)] string version);
    }
}
