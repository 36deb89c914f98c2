using DiffusionSharp.Models;
using static TorchSharp.torch;

namespace DiffusionSharp.Training;

/// <summary>
/// What the <see cref="Trainer"/> needs of a network, whatever its modality: its module (parameters, train/eval, device),
/// its arithmetic, how to save it as a folder that <see cref="TrainableModels.Load"/> reopens, and how many samples of
/// a given shape one forward/backward pass may take. The U-Net implements it; a 1-D U-Net, an MLP or a text transformer
/// implements it the same way and registers its loader with <see cref="TrainableModels.Register"/>.
/// </summary>
/// <remarks>
/// A model made of several networks (a GAN's generator and discriminator) is one <see cref="ITrainableModel"/> whose
/// module holds both as submodules: one folder, one EMA, one checkpoint; its objective names which parameters each
/// optimizer steps (<see cref="ITrainingObjective.Stages"/>).
/// </remarks>
public interface ITrainableModel : IDisposable
{
    /// <summary>The module whose parameters are trained (the model itself for a <c>nn.Module</c>).</summary>
    nn.Module Module { get; }

    /// <summary>The <c>_class_name</c> of the model's <c>config.json</c>, under which its loader is registered.</summary>
    string ClassName { get; }

    /// <summary>Number of scalar parameters.</summary>
    long ParameterCount { get; }

    /// <summary>The arithmetic of its heavy layers; loss and optimizer stay float32.</summary>
    ComputePrecision Precision { get; set; }

    /// <summary>The label that stands for "no class" (classifier-free guidance's unconditional input), or null when the
    /// model takes no class labels or has no such label.</summary>
    long? NullClassLabel { get; }

    /// <summary>The model's <c>config.json</c> text (with its <c>_class_name</c>), for the run's description.</summary>
    string ConfigJson();

    /// <summary>Writes the model as a folder (<c>config.json</c> + weights) that <see cref="TrainableModels.Load"/> reopens.</summary>
    void SavePretrained(string directory);

    /// <summary>
    /// The most samples of <paramref name="sampleShape"/> (one sample, without the batch dimension) one pass over
    /// <paramref name="batch"/> samples should take, so its largest activation stays under
    /// <see cref="BatchChunking.DefaultBudgetBytes"/>; chunking never changes the gradient.
    /// </summary>
    int ChunkSizeFor(long batch, IReadOnlyList<long> sampleShape);
}
