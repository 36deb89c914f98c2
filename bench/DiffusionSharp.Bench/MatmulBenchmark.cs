using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace DiffusionSharp.Bench;

/// <summary>
/// <c>matmul</c>: this CPU's dense matrix-product rate through libtorch, the ceiling the training step's GFLOP/s is
/// compared against: an n×n by n×n product (2n³ FLOPs) in float32 and in bfloat16, median over repeats.
/// </summary>
internal static class MatmulBenchmark
{
    public static int Run(BenchArgs args)
    {
        int n = args.Int("n", 2048, min: 16);
        int repeats = args.Int("repeats", 5, min: 1);
        int threads = BenchModel.ApplyThreads(args);
        args.RejectUnused();

        var result = new JsonObject { ["impl"] = "ours", ["mode"] = "matmul", ["n"] = n, ["threads"] = threads };
        foreach (var (name, dtype) in new[] { ("fp32", ScalarType.Float32), ("bf16", ScalarType.BFloat16) })
        {
            using var scope = NewDisposeScope();
            using var generator = new Generator(7);
            var a = randn([n, n], generator: generator).to(dtype);
            var b = randn([n, n], generator: generator).to(dtype);
            mm(a, b).Dispose();   // warm-up: first-call kernel selection and buffers
            var times = new List<double>();
            for (int r = 0; r < repeats; r++)
                times.Add(Measure.Seconds(() => mm(a, b).Dispose()));
            double median = Measure.Median(times);
            result[$"{name}_times"] = Measure.Array(times);
            result[$"{name}_gflops"] = Math.Round(2.0 * n * n * n / median / 1e9, 2);
        }
        Measure.Emit(result);
        return 0;
    }
}
