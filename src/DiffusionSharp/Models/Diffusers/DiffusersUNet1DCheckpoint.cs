using DiffusionSharp.IO;

namespace DiffusionSharp.Models.Diffusers;

/// <summary>
/// Reads and writes diffusers' <c>UNet1DModel</c> folders: <c>config.json</c> plus the full state dict in
/// <c>diffusion_pytorch_model.safetensors</c>, the resampling buffers (<c>…down.kernel</c>, <c>…up.kernel</c>)
/// included, as diffusers' <c>state_dict()</c> has them. Pickled checkpoints are refused.
/// </summary>
public static class DiffusersUNet1DCheckpoint
{
    /// <summary>Builds the model from <paramref name="directory"/>'s config and loads its weights.</summary>
    /// <exception cref="InvalidDataException">Missing/malformed files, or tensors that do not fit; the message names the file and tensor.</exception>
    public static UNet1DModel Load(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string configPath = Path.Combine(directory, DiffusersUNet2DConfig.FileName);
        if (!File.Exists(configPath))
            throw new InvalidDataException($"{configPath}: not found (a diffusers UNet1DModel folder holds {DiffusersUNet2DConfig.FileName} and {DiffusersUNet2DCheckpoint.WeightsFileName})");
        var config = DiffusersUNet1DConfig.Read(configPath);
        string weightsPath = DiffusersUNet2DCheckpoint.FindWeights(directory);
        DiffusersUNet2DCheckpoint.CheckSize(configPath, weightsPath, config.CountParameters);
        var model = new UNet1DModel(config);
        try
        {
            LoadWeights(model, weightsPath);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>Copies a diffusers state dict from <paramref name="path"/> into <paramref name="model"/>; names and shapes must match exactly.</summary>
    public static void LoadWeights(UNet1DModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        DiffusersUNet2DCheckpoint.LoadStateDict(model, path, name => name);
    }

    /// <summary>Writes <paramref name="model"/>'s config and weights to <paramref name="directory"/> (created if needed), each file atomically.</summary>
    public static void Save(UNet1DModel model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        DiffusersUNet2DCheckpoint.SaveStateDict(model, directory);
        DiffusersUNet1DConfig.Write(Path.Combine(directory, DiffusersUNet2DConfig.FileName), model.Config);
    }
}
