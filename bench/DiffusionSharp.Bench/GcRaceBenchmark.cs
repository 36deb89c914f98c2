using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using DiffusionSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Bench;

/// <summary>
/// <c>gcrace</c>: how often TorchSharp's implicit Scalars are freed while libtorch still reads them. The main thread
/// runs <c>a + b</c> (TorchSharp passes a fresh Scalar 1 as alpha) and <c>a * 2.0</c> (a fresh Scalar 2) on small
/// tensors; <c>--busy</c> threads keep the cores oversubscribed, so the main thread is often descheduled inside a
/// libtorch call, and one more thread starts a gen-0 collection every ~20 µs. Every exception libtorch throws is a
/// use after free (typically "Exception raised from toFloat at c10/core/Scalar.h"). Prints the count, the ops and
/// whether this process runs the TorchSharp.dll that build/TorchSharpKeepAlive rewrote.
/// </summary>
internal static class GcRaceBenchmark
{
    public static int Run(BenchArgs args)
    {
        double seconds = args.Double("seconds", 30);
        int busy = args.Int("busy", 4);
        int threads = BenchModel.ApplyThreads(args);
        args.RejectUnused();

        int? patchedMethods = TorchRuntime.KeepAlivePatchedMethods;
        bool stop = false;
        var noise = Enumerable.Range(0, busy + 1).Select(k => new Thread(() =>
        {
            long spins = 0;
            while (!Volatile.Read(ref stop))
            {
                if (k == 0)
                {
                    GC.Collect(0);
                    Thread.SpinWait(20_000);
                }
                else
                {
                    spins++;
                }
            }
            GC.KeepAlive(spins);
        }) { IsBackground = true }).ToList();
        noise.ForEach(t => t.Start());

        long ops = 0, failures = 0;
        string? firstError = null;
        using (var a = randn(4))
        using (var b = randn(4))
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                using var scope = NewDisposeScope();
                for (int i = 0; i < 1000; i++, ops += 2)
                {
                    try
                    {
                        _ = a + b;
                        _ = a * 2.0;
                    }
                    catch (ExternalException e)
                    {
                        failures++;
                        firstError ??= e.Message.Split('\n')[0];
                    }
                }
            }
        }
        Volatile.Write(ref stop, true);
        noise.ForEach(t => t.Join());

        Measure.Emit(new JsonObject
        {
            ["impl"] = "ours", ["mode"] = "gcrace", ["keepalive_patch"] = patchedMethods is not null, ["patched_methods"] = patchedMethods,
            ["seconds"] = seconds, ["busy_threads"] = busy, ["threads"] = threads, ["ops"] = ops, ["failures"] = failures,
            ["gen0_collections"] = GC.CollectionCount(0), ["first_error"] = firstError,
        });
        return 0;
    }
}
