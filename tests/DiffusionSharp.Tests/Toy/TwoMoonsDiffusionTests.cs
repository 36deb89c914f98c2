using System.Globalization;
using DiffusionSharp.Data;
using DiffusionSharp.Denoisers;
using DiffusionSharp.Evaluation;
using DiffusionSharp.Imaging;
using DiffusionSharp.Models;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Toy;

/// <summary>
/// The whole core on 2-D data: an <see cref="MlpDenoiser"/> trained on two moons by the library's <see cref="Trainer"/>
/// (the same trainer, objective, EMA and data loader the U-Nets use), its EMA weights sampled by the library's scheduler
/// loop, is measurably closer to the data than Gaussian noise is, and the rollout draws as a picture.
/// </summary>
/// <remarks>
/// Environment knobs, to make docs/two-moons.png with the same code: <c>DIFFUSIONSHARP_TOY_STEPS</c> (training steps,
/// default <see cref="DefaultSteps"/>), <c>DIFFUSIONSHARP_TOY_WIDTH</c> (network width, default 64) and
/// <c>DIFFUSIONSHARP_TOY_PNG</c> (where to write the picture; default a temporary file).
/// </remarks>
public sealed class TwoMoonsDiffusionTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-moons-");

    private const int DefaultSteps = 300;
    private const int Points = 2000;
    private const int SamplingSteps = 25;

    /// <inheritdoc/>
    public void Dispose() => _dir.Delete(true);

    [Fact]
    public void TrainedSamplesLieOnTheMoonsAndTheRolloutDraws()
    {
        int trainSteps = Env("DIFFUSIONSHARP_TOY_STEPS", DefaultSteps);
        int width = Env("DIFFUSIONSHARP_TOY_WIDTH", 64);
        string png = Environment.GetEnvironmentVariable("DIFFUSIONSHARP_TOY_PNG") is { Length: > 0 } p
            ? Path.GetFullPath(p) : Path.Combine(Path.GetTempPath(), $"two-moons-{Environment.ProcessId}.png");
        using var scope = NewDisposeScope();
        using var train = DataSources.LoadSamples("two-moons", null, null, _ => { });
        using var heldOut = ToyDistributions.Sample(ToyDistribution.TwoMoons, Points, seed: 2);
        using var heldOut2 = ToyDistributions.Sample(ToyDistribution.TwoMoons, Points, seed: 3);
        var schedule = new NoiseSchedule(new NoiseScheduleOptions());   // DDPM's linear β, T = 1000

        // ε-prediction with DDPM's simple (uniform) loss, unconditional, a short warm-up and a cosine decay to 5 %.
        var options = new TrainingOptions
        {
            Steps = trainSteps, BatchSize = 256, LearningRate = 1e-2, WarmupSteps = 10, WeightDecay = 0, GradientClip = 0,
            Weighting = LossWeighting.Uniform, ClassConditional = false, CheckpointEvery = trainSteps, SampleEvery = 0, Seed = 1,
        };
        var config = new MlpDenoiserConfig { Width = width, NumBlocks = 3, TimeEmbedDim = width };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var trainer = Trainer.Create(_dir.FullName, options, () => new MlpDenoiser(config), train);
        Assert.IsType<DiffusionLoss>(trainer.Objective);
        var losses = new List<double>();
        trainer.Progress += p => losses.Add(p.Loss);
        trainer.Run();
        var model = Assert.IsType<MlpDenoiser>(trainer.EmaModel);
        output.WriteLine($"trained {model.ParameterCount} parameters, {trainSteps} steps of batch 256 in {clock.Elapsed.TotalSeconds:F1} s wall " +
                         $"(threads {get_num_threads()}); loss first 50 {losses[..50].Average():F3}, last 50 {losses[^50..].Average():F3}");

        var scheduler = SchedulerFactory.Create(SamplerKind.DpmSolverMultistep, schedule.Options, PredictionType.Epsilon);
        var sampler = new DiffusionSampler(scheduler, model);
        var seeds = Enumerable.Range(0, Points).Select(i => (long)i).ToArray();
        using var recorder = new TrajectoryRecorder();
        var keep = TrajectoryRecorder.EvenlySpaced(SamplingSteps, 6);
        clock.Restart();
        var samples = recorder.Record(sampler, schedule, seeds, [2], SamplingSteps, keep);
        output.WriteLine($"sampled {Points} points with {SamplingSteps} DPM-Solver++ steps in {clock.Elapsed.TotalSeconds:F1} s");

        // The recorder kept x_T (at the first timestep's σ), the steps asked for, and the final sample (σ = 0).
        Assert.Equal(keep, recorder.Frames.Select(f => f.Step));
        Assert.True(recorder.Frames[0].Sigma > 100, $"σ of x_T is {recorder.Frames[0].Sigma}");
        Assert.Equal(0.0, recorder.Frames[^1].Sigma);
        Assert.True(recorder.Frames.Zip(recorder.Frames.Skip(1)).All(f => f.First.Sigma > f.Second.Sigma), "σ must fall along the rollout");
        Assert.True(recorder.Frames[^1].Sample.equal(samples).all().item<bool>(), "the last frame is the returned sample");
        Assert.True(recorder.Frames[0].Sample.equal(PerSampleNoise.InitialNoise(seeds, [2])).all().item<bool>(), "frame 0 is the sampler's x_T");

        // Quality: the mean distance from each point to its nearest held-out data point, and the sliced Wasserstein
        // distance to the held-out set, for the model's samples, for N(0, I) noise (what sampling starts from; the
        // data have the same total variance) and for a second real draw (the best any model can do at this size).
        var noise = randn(Points, 2, generator: new Generator(9));
        double nnModel = PointCloudDistances.MeanNearestNeighbour(samples, heldOut.Points);
        double nnNoise = PointCloudDistances.MeanNearestNeighbour(noise, heldOut.Points);
        double nnData = PointCloudDistances.MeanNearestNeighbour(heldOut2.Points, heldOut.Points);
        double swModel = PointCloudDistances.SlicedWasserstein(samples, heldOut.Points);
        double swNoise = PointCloudDistances.SlicedWasserstein(noise, heldOut.Points);
        double swData = PointCloudDistances.SlicedWasserstein(heldOut2.Points, heldOut.Points);
        output.WriteLine($"mean nearest-neighbour distance to held-out data: model {nnModel:F4}, noise {nnNoise:F4}, real data {nnData:F4}");
        output.WriteLine($"sliced Wasserstein-2 to held-out data:            model {swModel:F4}, noise {swNoise:F4}, real data {swData:F4}");
        // The model must close most of the gap from noise to data: an untrained or a broken sampler stays near noise.
        Assert.True(nnNoise > 2 * nnData && swNoise > 2 * swData, "the measures must separate noise from data");
        Assert.True(nnModel < nnData + 0.25 * (nnNoise - nnData), $"nearest-neighbour distance {nnModel:F4} is not within a quarter of the noise-to-data gap");
        Assert.True(swModel < swData + 0.5 * (swNoise - swData), $"sliced Wasserstein {swModel:F4} is not within half of the noise-to-data gap");

        var panels = recorder.Frames.Select(f => PointCloudPanel.FromTensor(
                f.Sigma > 0 ? $"step {f.Step}: σ = {Format(f.Sigma)}" : $"step {f.Step}: σ = 0", f.Sample))
            .Append(PointCloudPanel.FromTensor("data (held out)", heldOut.Points, heldOut.Labels))
            .ToList();
        PointCloudPlot.Save(panels, png, new PointCloudPlotOptions(Extent: 3.0,
            Title: $"two moons: {Points} samples of a {model.ParameterCount / 1000}k-parameter MLP, {SamplingSteps} DPM-Solver++ steps from N(0, I)"));
        Assert.True(new FileInfo(png).Length > 10_000);
        output.WriteLine($"wrote {png}");
        if (Environment.GetEnvironmentVariable("DIFFUSIONSHARP_TOY_PNG") is not { Length: > 0 })
            File.Delete(png);
    }

    private static string Format(double sigma) =>
        sigma >= 10 ? sigma.ToString("F0", CultureInfo.InvariantCulture) : sigma.ToString("G2", CultureInfo.InvariantCulture);

    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;
}
