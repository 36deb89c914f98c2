using static TorchSharp.torch;

namespace DiffusionSharp.Schedulers;

/// <summary>Where stochastic samplers get their Gaussian noise.</summary>
public interface INoiseSource
{
    /// <summary>A standard-normal tensor shaped, typed and placed like <paramref name="like"/>.</summary>
    Tensor Next(Tensor like);
}
