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
        var o = SampleBenchmark.SampleOptions.Read(args);
        string? onnxFile = args.OptionalString("onnx");
        int threads = BenchModel.ApplyThreads(args);
        using var model = BenchModel.Open(args);
        if (args.String("precision", "fp32") != "fp32")
            throw new ArgumentException("ort-sample runs the float32 export: --precision must be fp32");
        var (chunk, chunkAuto) = BenchModel.Chunk(model, args, (long)o.Count * o.CallsPerStep);
        model.ChunkSize = chunk;
        args.RejectUnused();
        model.eval();

        byte[]? onnx = null;
        double exportSeconds = onnxFile is null ? Measure.Seconds(() => onnx = OnnxExporter.ToBytes(model)) : 0;
        onnx ??= File.Exists(onnxFile) ? File.ReadAllBytes(onnxFile!) : throw new ArgumentException($"--onnx: {onnxFile} not found");
        using var ort = new OrtNetwork(onnx, classConditional: true, threads, chunk);

        var scheduler = SampleBenchmark.CreateScheduler(o.Kind);
        var checkScheduler = SampleBenchmark.CreateScheduler(o.Kind);   // a fresh one for the check: schedulers keep state
        try
        {
            var (times, mean, last) = SampleBenchmark.TimeRollouts(new DiffusionSampler(scheduler, o.Guided(ort, model)), o, model);
            double peakRss = Measure.PeakRssMiB();

            // The check: our network through the same scheduler from the same x_T.
            double maxAbsDiff;
            var (seeds, labels, shape) = SampleBenchmark.Inputs(o, model);
            using (labels)
            using (var ours = new DiffusionSampler(checkScheduler, o.Guided(model, model)).Sample(seeds, shape, o.Steps, labels))
                maxAbsDiff = (ours - last).abs().max().item<float>();
            last.Dispose();

            var result = SampleBenchmark.Result("onnxruntime", o, model, "fp32", chunk, chunkAuto, threads, times, mean);
            result["runtime"] = "onnxruntime";
            result["onnx_opset"] = OnnxExporter.Opset;
            result["export_s"] = Math.Round(exportSeconds, 3);
            result["max_abs_diff_vs_ours"] = maxAbsDiff;
            result["peak_rss_mib"] = Math.Round(peakRss, 1);
            Measure.Emit(result);
        }
        finally
        {
            (scheduler as IDisposable)?.Dispose();
            (checkScheduler as IDisposable)?.Dispose();
        }
        return 0;
    }
}
