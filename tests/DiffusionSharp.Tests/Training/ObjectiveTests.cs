using DiffusionSharp.Data;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Models;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Training;

/// <summary>A rank-3 toy network ([B, C, L] → [B, C, L], a linear map over L plus a time term) that registers itself
/// with <see cref="TrainableModels"/>: what a 1-D model needs to train, checkpoint and resume.</summary>
internal sealed class ToySequenceModel : nn.Module<Tensor, Tensor, Tensor>, IDiffusionNetwork, ITrainableModel
{
    public const string Name = "ToySequenceModel";
    private readonly TorchSharp.Modules.Linear _map;
    private readonly TorchSharp.Modules.Linear _time;

    static ToySequenceModel() => TrainableModels.Register(Name, Load);

    public ToySequenceModel(int length) : base(Name)
    {
        Length = length;
        _map = nn.Linear(length, length);
        _time = nn.Linear(1, length);
        RegisterComponents();
    }

    public int Length { get; }

    public override Tensor forward(Tensor x, Tensor t)
    {
        using var scope = NewDisposeScope();
        var time = _time.call(t.to(x.dtype).reshape(-1, 1) / 1000.0).unsqueeze(1);
        return (_map.call(x) + time).MoveToOuterDisposeScope();
    }

    public Tensor Predict(Tensor sample, Tensor timesteps, Tensor? classLabels) =>
        call(sample, timesteps.dim() == 0 ? timesteps.expand(sample.shape[0]) : timesteps);

    public nn.Module Module => this;
    public string ClassName => Name;
    public long ParameterCount => parameters().Sum(p => p.numel());
    public ComputePrecision Precision { get; set; }
    public long? NullClassLabel => null;
    public string ConfigJson() => $$"""{"_class_name": "{{Name}}", "length": {{Length}}}""";
    public int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape) => BatchChunking.ChunkSize(batch, sampleShape.Aggregate(1L, (a, b) => a * b));

    public void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), ConfigJson());
        save(Path.Combine(directory, "weights.bin"));
    }

    public static void EnsureRegistered() => System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(ToySequenceModel).TypeHandle);

    private static ITrainableModel Load(string directory)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "config.json")));
        var model = new ToySequenceModel(doc.RootElement.GetProperty("length").GetInt32());
        model.load(Path.Combine(directory, "weights.bin"));
        return model;
    }
}

public sealed class ObjectiveTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-objective-");

    public void Dispose() => _dir.Delete(true);

    /// <summary>[n, 2, 8] float32 sequences: smooth sine waves with a random phase per row.</summary>
    private static SampleDataset Waves(int n)
    {
        using var scope = NewDisposeScope();
        var phase = rand([n, 1, 1], generator: new Generator(3)) * 6.28;
        var x = (arange(8).to(ScalarType.Float32).reshape(1, 1, 8) * 0.7 + phase).sin().expand(n, 2, 8).contiguous() * 0.8;
        return new SampleDataset("waves", x.MoveToOuterDisposeScope(), zeros(n, dtype: ScalarType.Int64).MoveToOuterDisposeScope(), ["wave"]);
    }

    private static Batch BatchOf(SampleDataset data, int n) =>
        new(data.Samples.narrow(0, 0, n).clone(), data.Labels.narrow(0, 0, n).clone(), 0, 0);

    public static TheoryData<string> Objectives => new() { "discrete-v", "edm" };

    private static ITrainingObjective Make(string name) => name == "edm"
        ? new EdmLoss()
        : new DiffusionLoss(new NoiseSchedule(new NoiseScheduleOptions()), PredictionType.VPrediction, LossWeighting.MinSnr);

    [Theory]
    [MemberData(nameof(Objectives))]
    public void ChunkedBackwardOnRank3SamplesGivesTheBatchGradient(string objectiveName)
    {
        using var data = Waves(6);
        using var batch = BatchOf(data, 6);
        torch.manual_seed(1);
        using var model = new ToySequenceModel(8);
        using var objective = Make(objectiveName);
        double Run(int chunk, out Tensor grad)
        {
            model.zero_grad();
            using var g = new Generator(11);
            double loss = objective.Backward(model, batch, 0, g, chunk, 1.0);
            grad = model.parameters().First().grad!.clone();
            return loss;
        }
        double whole = Run(6, out var g6);
        double chunked = Run(4, out var g4);
        Assert.True(double.IsFinite(whole) && whole > 0, $"loss {whole}");
        Assert.Equal(whole, chunked, 5);
        Assert.True(g6.allclose(g4, rtol: 1e-4, atol: 1e-6), "the chunked gradient differs from the batch gradient");
    }

    [Fact]
    public void EdmLossIsLambdaWeightedDenoiserErrorAtLogNormalSigma()
    {
        using var data = Waves(5);
        using var batch = BatchOf(data, 5);
        torch.manual_seed(2);
        using var model = new ToySequenceModel(8);
        using var objective = new EdmLoss(pMean: -1.2, pStd: 1.2, sigmaData: 0.5);
        using var g = new Generator(5);
        double loss = objective.Backward(model, batch, 0, g, 5, 1.0);

        // The same draws by hand: ln σ ~ N(−1.2, 1.2²), n ~ N(0, I), D = c_skip x + c_out F(c_in x; ¼ ln σ).
        using var scope = NewDisposeScope();
        using var g2 = new Generator(5);
        var sigma = (randn([5], dtype: ScalarType.Float64, generator: g2) * 1.2 - 1.2).exp();
        var n = randn(batch.Samples.shape, generator: g2);
        double expected = 0;
        using (no_grad())
        {
            for (int i = 0; i < 5; i++)
            {
                double s = sigma[i].item<double>(), sd = 0.5;
                var x = batch.Samples[i].unsqueeze(0) + s * n[i].unsqueeze(0);
                double cSkip = sd * sd / (s * s + sd * sd), cOut = s * sd / Math.Sqrt(s * s + sd * sd), cIn = 1 / Math.Sqrt(s * s + sd * sd);
                var f = model.call(x * cIn, tensor(new[] { (float)(0.25 * Math.Log(s)) }));
                var d = cSkip * x + cOut * f;
                double lambda = (s * s + sd * sd) / (s * sd * s * sd);
                expected += lambda * (d - batch.Samples[i].unsqueeze(0)).square().mean().item<float>() / 5;
            }
        }
        Assert.Equal(expected, loss, 4);
    }

    [Fact]
    public void EdmTrainingOfATinyDigitUNetLowersTheLoss()
    {
        using var data = TrainerTests.SmallDigits();
        var options = TrainerTests.Options(40) with { Preconditioning = Preconditioning.Edm, Weighting = LossWeighting.Edm };
        var losses = new List<double>();
        using var trainer = Trainer.Create(Path.Combine(_dir.FullName, "edm"), options, TrainerTests.Micro, data);
        Assert.IsType<EdmLoss>(trainer.Objective);
        trainer.Progress += p => losses.Add(p.Loss);
        trainer.Run();
        double first = losses.Take(5).Average(), last = losses.TakeLast(10).Average();
        Assert.True(last < 0.7 * first, $"EDM loss did not fall: first {first:F4}, last {last:F4}");
    }

    [Fact]
    public void ARank3ModelTrainsCheckpointsAndResumesThroughTheRegistry()
    {
        ToySequenceModel.EnsureRegistered();
        using var data = Waves(32);
        var options = TrainerTests.Options(4) with { BatchSize = 8, CheckpointEvery = 2, ClassConditional = false };
        string run = Path.Combine(_dir.FullName, "seq");
        using (var t = Trainer.Create(run, options, () => new ToySequenceModel(8), data))
            t.Run(stopAfter: 2);
        Assert.Equal(ToySequenceModel.Name, TrainableModels.ClassNameOf(Path.Combine(Trainer.LatestCheckpoint(run)!, "model")));
        using var resumed = Trainer.Resume(run, data);
        Assert.IsType<ToySequenceModel>(resumed.Model);
        Assert.Equal(DeviceType.CPU, resumed.Device.type);
        Assert.Equal(2, resumed.Step);
        resumed.Run();
        Assert.Equal(4, resumed.Step);
    }
}
