using DiffusionSharp.Data;
using DiffusionSharp.Models;
using DiffusionSharp.Models.Diffusers;
using DiffusionSharp.Tests.Training;
using DiffusionSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionSharp.Tests.Toy;

/// <summary>
/// The toy MLP, the image U-Net and the 1-D U-Net train through one code path: the same <see cref="Trainer"/>, the same
/// <see cref="DiffusionLoss"/> objective, and checkpoints that resume through the <see cref="TrainableModels"/> registry
/// to the same weights.
/// </summary>
public sealed class SharedTrainingPathTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ds-shared-");

    /// <inheritdoc/>
    public void Dispose() => _dir.Delete(true);

    public static TheoryData<string> Models => ["mlp", "unet2d", "unet1d"];

    [Theory]
    [MemberData(nameof(Models))]
    public void TrainsCheckpointsAndResumesThroughTheRegistry(string kind)
    {
        var (data, create, options, className) = Setup(kind);
        using var _ = data;
        string runDir = Path.Combine(_dir.FullName, kind);
        Dictionary<string, Tensor> saved;
        using (var trainer = Trainer.Create(runDir, options, create, data))
        {
            Assert.IsType<DiffusionLoss>(trainer.Objective);
            Assert.Equal(className, trainer.Model.ClassName);
            trainer.Run(stopAfter: 2);
            Assert.Equal(2, trainer.Step);
            saved = trainer.Model.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        }
        try
        {
            Assert.Equal(className, TrainableModels.ClassNameOf(Path.Combine(Trainer.LatestCheckpoint(runDir)!, "model")));
            using var resumed = Trainer.Resume(runDir, data);
            Assert.Equal(2, resumed.Step);
            Assert.Equal(className, resumed.Model.ClassName);
            Assert.IsType<DiffusionLoss>(resumed.Objective);
            var state = resumed.Model.Module.state_dict();
            Assert.Equal(saved.Keys.Order(), state.Keys.Order());
            foreach (var (name, value) in saved)
            {
                using var same = value.equal(state[name].detach()).all();
                Assert.True(same.item<bool>(), $"{kind}: {name} differs after resume");
            }
            var losses = new List<double>();
            resumed.Progress += p => losses.Add(p.Loss);
            resumed.Run();
            Assert.Equal(options.Steps, resumed.Step);
            Assert.Equal(options.Steps - 2, losses.Count);
            Assert.All(losses, l => Assert.True(double.IsFinite(l) && l > 0, $"{kind}: loss {l}"));
        }
        finally
        {
            foreach (var t in saved.Values)
                t.Dispose();
        }
    }

    private static (SampleDataset Data, Func<ITrainableModel> Create, TrainingOptions Options, string ClassName) Setup(string kind)
    {
        var options = TrainerTests.Options(4) with { BatchSize = 4, CheckpointEvery = 2 };
        switch (kind)
        {
            case "mlp":
            {
                // Two moons with its two classes: the MLP's class embedding and null class go through the same label dropout.
                var data = DataSources.LoadSamples("two-moons", null, null, _ => { });
                var config = new MlpDenoiserConfig { Width = 32, NumBlocks = 2, TimeEmbedDim = 32, NumClasses = data.ClassNames.Count };
                return (data, () => new MlpDenoiser(config), options, MlpDenoiserConfig.ClassName);
            }
            case "unet2d":
            {
                using var scope = NewDisposeScope();
                var images = rand(32, 1, 16, 16, generator: new Generator(3)) * 2 - 1;
                var labels = arange(32, dtype: ScalarType.Int64) % 10;
                var data = new ImageDataset("random16", images, labels, Enumerable.Range(0, 10).Select(i => $"{i}").ToArray());
                return (data, TrainerTests.Micro, options, DiffusersUNet2DConfig.ClassName);
            }
            default:
            {
                var config = DiffusersUNet1DConfig.Read(Path.Combine(TestPaths.UNet1D, "resnet_temporal_tiny", "config.json"));
                using var scope = NewDisposeScope();
                var signals = randn(32, config.InChannels, config.SampleSize, generator: new Generator(4));
                var data = new SampleDataset("random1d", signals, zeros(32, dtype: ScalarType.Int64), ["signal"]);
                return (data, () => new UNet1DModel(config), options with { ClassConditional = false }, DiffusersUNet1DConfig.ClassName);
            }
        }
    }
}
