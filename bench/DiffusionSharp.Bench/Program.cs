using DiffusionSharp.Bench;
using DiffusionSharp.Runtime;

// One measurement per process, so that each peak RSS belongs to one implementation and one figure.
// bench/run starts this program and bench/torch_bench.py alternately and aggregates their JSON lines.
try
{
    var parsed = BenchArgs.Parse(args);
    TorchRuntime.EnsureLoaded();
    return parsed.Mode switch
    {
        "train" => TrainBenchmark.Run(parsed),
        "sample" => SampleBenchmark.Run(parsed),
        "ort-sample" => OrtSampleBenchmark.Run(parsed),
        "matmul" => MatmulBenchmark.Run(parsed),
        "export" => ExportCommand.Run(parsed),
        "gcrace" => GcRaceBenchmark.Run(parsed),
        _ => throw new ArgumentException($"unknown mode '{parsed.Mode}'; modes: train, sample, ort-sample, matmul, export, gcrace"),
    };
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"diffusionsharp-bench: {e.Message}");
    return 2;
}
