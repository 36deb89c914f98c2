using System.Text.Json.Nodes;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Onnx;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Bench;

/// <summary>
/// <c>ort-sample</c>: <see cref="SampleBenchmark"/>'s run — same options, scheduler, seeds, labels, warm-up and
/// chunking — with every network call made by ONNX Runtime on the model's ONNX export (<see cref="OrtNetwork"/>;
/// exported in memory at start-up, or read from <c>--onnx FILE</c>). Its JSON line has <c>sample</c>'s keys with
/// <c>"impl":"onnxruntime"</c> and <c>"runtime":"onnxruntime"</c>, plus the check: after the timed runs it samples
/// once more with our TorchSharp network from the same noise and reports <c>max_abs_diff_vs_ours</c>, the largest
/// difference of the final images. <c>peak_rss_mib</c> is read before that check, so it covers ONNX Runtime's
/// sampling (and the libtorch the export and the sampler loop need), not our network's activations.
/// </summary>
internal static class OrtSampleBenchmark
{
    public static int Run(BenchArgs args)
    {
        string samplerName = args.String("sampler", "dpm++");
        int steps = args.Int("steps", 20, min: 1);
        int count = args.Int("count", 64, min: 1);
        int repeats = args.Int("repeats", 1, min: 1);
        int warmupSteps = args.Int("warmup-steps", 2);
        double guidance = args.Double("guidance", 1.0);
        string? onnxFile = args.OptionalString("onnx");
        int threads = BenchModel.ApplyThreads(args);
        using var model = BenchModel.Open(args);
        if (args.String("precision", "fp32") != "fp32")
            throw new ArgumentException("ort-sample runs the float32 export: --precision must be fp32");
        int callsPerStep = guidance == 1.0 ? 1 : 2;
        var (chunk, chunkAuto) = BenchModel.Chunk(model, args, (long)count * callsPerStep);
        model.ChunkSize = chunk;
        args.RejectUnused();
        model.eval();

        byte[]? onnx = null;
        double exportSeconds = onnxFile is null ? Measure.Seconds(() => onnx = OnnxExporter.ToBytes(model)) : 0;
        onnx ??= File.Exists(onnxFile) ? File.ReadAllBytes(onnxFile!) : throw new ArgumentException($"--onnx: {onnxFile} not found");
        using var ort = new OrtNetwork(onnx, classConditional: true, threads, chunk);

        var kind = SchedulerFactory.ParseKind(samplerName);
        var scheduler = SampleBenchmark.CreateScheduler(kind);
        try
        {
            long nullClass = model.Config.NumClassEmbeds!.Value - 1;
            IDiffusionNetwork Guided(IDiffusionNetwork n) => guidance == 1.0 ? n : new ClassifierFreeGuidance(n, guidance, nullClass);
            var sampler = new DiffusionSampler(scheduler, Guided(ort));
            long[] seeds = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
            using var labels = tensor(Enumerable.Range(0, count).Select(i => (long)(i % BenchModel.Classes)).ToArray());
            long[] shape = [model.Config.InChannels, BenchModel.ImageSize, BenchModel.ImageSize];

            if (warmupSteps > 0)
                sampler.Sample(seeds, shape, warmupSteps, labels).Dispose();
            var times = new List<double>();
            double mean = double.NaN;
            Tensor? last = null;
            for (int r = 0; r < repeats; r++)
            {
                last?.Dispose();
                Tensor? images = null;
                times.Add(Measure.Seconds(() => images = sampler.Sample(seeds, shape, steps, labels)));
                mean = images!.mean().item<float>();
                last = images;
            }
            double peakRss = Measure.PeakRssMiB();

            // The check: our network through the same scheduler from the same x_T (a fresh scheduler: it keeps state).
            var checkScheduler = SampleBenchmark.CreateScheduler(kind);
            double maxAbsDiff;
            using (var ours = new DiffusionSampler(checkScheduler, Guided(model)).Sample(seeds, shape, steps, labels))
                maxAbsDiff = (ours - last!).abs().max().item<float>();
            (checkScheduler as IDisposable)?.Dispose();
            last!.Dispose();

            var flops = UNetFlops.Forward(model.Config, count * callsPerStep, BenchModel.ImageSize, BenchModel.ImageSize);
            double median = Measure.Median(times);
            Measure.Emit(new JsonObject
            {
                ["impl"] = "onnxruntime",
                ["runtime"] = "onnxruntime",
                ["mode"] = "sample",
                ["sampler"] = SchedulerFactory.CliName(kind),
                ["steps"] = steps,
                ["count"] = count,
                ["guidance"] = guidance,
                ["precision"] = "fp32",
                ["chunk"] = chunk,
                ["chunk_auto"] = chunkAuto,
                ["threads"] = threads,
                ["malloc"] = Runtime.NativeAllocator.Configured ? "tuned" : "default",
                ["times"] = Measure.Array(times),
                ["median"] = Math.Round(median, 6),
                ["gflops"] = Math.Round(flops.Total * steps / median / 1e9, 2),
                ["image_mean"] = Math.Round(mean, 5),
                ["onnx_opset"] = OnnxExporter.Opset,
                ["export_s"] = Math.Round(exportSeconds, 3),
                ["max_abs_diff_vs_ours"] = maxAbsDiff,
                ["peak_rss_mib"] = Math.Round(peakRss, 1),
            });
        }
        finally
        {
            (scheduler as IDisposable)?.Dispose();
        }
        return 0;
    }
}
