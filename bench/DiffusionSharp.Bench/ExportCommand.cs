using System.Globalization;
using System.Text.Json.Nodes;
using DiffusionSharp.IO;
using DiffusionSharp.Onnx;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusionSharp.Bench;

/// <summary>
/// <c>export --out DIR</c>: writes the benchmark network (seeded init) as a diffusers folder, plus
/// <c>check.safetensors</c> holding inputs and this library's outputs for <c>bench/run --check</c>: one forward pass
/// (x, t, labels → y), and short DPM-Solver++ and DDIM rollouts from given x_T. The PyTorch reference loads the same
/// weights, recomputes these from the same inputs and compares; the file's metadata carries the analytic FLOP count
/// per sample so the reference can compare it with what its forward hooks count. With <c>--onnx</c> it also writes
/// <c>model.onnx</c> (<see cref="OnnxExporter"/>), which <c>ort-sample --onnx FILE</c> or an outside ONNX Runtime peer can run.
/// </summary>
internal static class ExportCommand
{
    public const int CheckBatch = 4;
    public const int CheckSteps = 6;
    public const string OnnxFileName = "model.onnx";

    public static int Run(BenchArgs args)
    {
        string dir = args.String("out", "");
        if (dir.Length == 0)
            throw new ArgumentException("export needs --out DIR");
        int threads = BenchModel.ApplyThreads(args);
        bool onnx = args.Flag("onnx");
        using var model = BenchModel.Open(args);
        args.RejectUnused();
        model.eval();
        model.SavePretrained(dir);
        if (onnx)
            OnnxExporter.Export(model, Path.Combine(dir, OnnxFileName));

        using var scope = NewDisposeScope();
        using var generator = new Generator(42);
        int size = BenchModel.ImageSize;
        long nullClass = model.Config.NumClassEmbeds!.Value - 1;
        var x = randn([CheckBatch, model.Config.InChannels, size, size], generator: generator);
        var t = tensor(new float[] { 999f, 500f, 37.5f, 0f });
        var labels = tensor(new long[] { 0, 3, 9, nullClass });
        Tensor y;
        using (no_grad())
            y = model.call(x, t, labels);

        long[] seeds = Enumerable.Range(100, CheckBatch).Select(i => (long)i).ToArray();
        long[] shape = [model.Config.InChannels, size, size];
        var xT = PerSampleNoise.InitialNoise(seeds, shape);
        var tensors = new Dictionary<string, Tensor> { ["x"] = x, ["t"] = t, ["labels"] = labels, ["y"] = y, ["x_T"] = xT };
        foreach (var (kind, key) in new[] { (SamplerKind.DpmSolverMultistep, "dpmpp"), (SamplerKind.Ddim, "ddim") })
        {
            var scheduler = SampleBenchmark.CreateScheduler(kind);
            var images = new DiffusionSampler(scheduler, model).Sample(seeds, shape, CheckSteps, labels);
            tensors[key + "_x0"] = images;
            (scheduler as IDisposable)?.Dispose();
        }
        var flops = UNetFlops.Forward(model.Config, 1, size, size);
        var metadata = new Dictionary<string, string>
        {
            ["check_steps"] = CheckSteps.ToString(CultureInfo.InvariantCulture),
            ["forward_flops_per_sample"] = flops.Total.ToString("R", CultureInfo.InvariantCulture),
            ["forward_flops_conv"] = flops.Conv.ToString("R", CultureInfo.InvariantCulture),
            ["forward_flops_linear"] = flops.Linear.ToString("R", CultureInfo.InvariantCulture),
            ["forward_flops_attention"] = flops.Attention.ToString("R", CultureInfo.InvariantCulture),
        };
        SafeTensors.Save(Path.Combine(dir, "check.safetensors"), tensors, metadata);
        Measure.Emit(new JsonObject
        {
            ["impl"] = "ours",
            ["mode"] = "export",
            ["out"] = Path.GetFullPath(dir),
            ["threads"] = threads,
            ["params"] = model.ParameterCount,
            ["forward_flops_per_sample"] = flops.Total,
            ["onnx"] = onnx ? Path.GetFullPath(Path.Combine(dir, OnnxFileName)) : null,
        });
        return 0;
    }
}
