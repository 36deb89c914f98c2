using DiffusionSharp.Denoisers;
using DiffusionSharp.Models;
using DiffusionSharp.Sampling;
using DiffusionSharp.Schedulers;
using DiffusionSharp.Schedules;
using DiffusionSharp.Tests.Models;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Sampling;

/// <summary><see cref="DiffusionPipeline"/> over a folder and over a network in memory.</summary>
public sealed class DiffusionPipelineTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pipeline-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void InMemoryPipelineSamplesLikeItsSavedFolderAndLeavesTheModelAlive()
    {
        torch.manual_seed(4);
        using var model = new UNet2DModel(ModelPresets.Create("tiny", 16, 1, 10));
        model.eval();
        var metadata = new PipelineMetadata(Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            NullClass: 10, DefaultGuidance: 2.0, DefaultSteps: 3);
        var schedule = new NoiseScheduleOptions();
        model.SavePretrained(_dir.FullName);
        DiffusionPipeline.WriteSidecars(_dir.FullName, metadata, SamplerKind.DpmSolverMultistep, schedule, PredictionType.Epsilon);

        var options = new GenerationOptions(Count: 5, Seed: 7, BatchSize: 3);
        using var fromFolder = DiffusionPipeline.Load(_dir.FullName);
        using var expected = fromFolder.Generate(options);
        Tensor actual;
        using (var inMemory = DiffusionPipeline.FromModel(model, metadata, SamplerKind.DpmSolverMultistep, schedule, PredictionType.Epsilon))
        {
            Assert.Equal("", inMemory.Directory);
            Assert.Equal(10, inMemory.NumClasses);
            Assert.Equal(SamplerKind.DpmSolverMultistep, inMemory.DefaultSampler);
            actual = inMemory.Generate(options);
        }
        using (actual)
            Assert.Equal(0, UNet2DParityTests.MaxAbs(expected, actual));
        Assert.True(model.parameters().First().isfinite().all().item<bool>());   // still usable: the pipeline did not own it
    }
}
