using System.Text.Json;
using System.Text.Json.Nodes;

namespace DiffusionSharp.Compare;

/// <summary>The two GAN variants of the comparison.</summary>
public static class GanVariants
{
    /// <summary>DCGAN (Radford et al. 2016) with the non-saturating loss of Goodfellow et al. 2014.</summary>
    public const string Dcgan = "dcgan";

    /// <summary>The hinge loss (Lim &amp; Ye 2017) with a spectrally normalised discriminator (Miyato et al. 2018).</summary>
    public const string HingeSpectralNorm = "hinge-sn";

    /// <summary>Both names.</summary>
    public static IReadOnlyList<string> All { get; } = [Dcgan, HingeSpectralNorm];
}

/// <summary>How a conditional GAN generator is told the class.</summary>
public static class GanLabelConditioning
{
    /// <summary>Class-conditional GroupNorm gains and biases after the projection and in each up step, linear in one shared
    /// label embedding (<see cref="ClassConditionalNorm"/>; conditional batch norm, de Vries et al. 2017, with BigGAN's
    /// shared embedding).</summary>
    public const string Norm = "norm";

    /// <summary>A learned label embedding concatenated to z before the first layer (the conditional GAN of Mirza &amp;
    /// Osindero 2014). Measured here it collapsed to about one image per class (recall 0.04 in a 3-seed, 7-minute run on 2026-12-02).</summary>
    public const string Input = "input";

    /// <summary>Both names.</summary>
    public static IReadOnlyList<string> All { get; } = [Norm, Input];
}

/// <summary>
/// The architecture of <see cref="GanModel"/>, written to <c>config.json</c> (<c>"_class_name": "GanModel"</c>, snake_case keys).
/// </summary>
public sealed record GanConfig
{
    /// <summary>The value of <c>_class_name</c>.</summary>
    public const string ClassName = "GanModel";

    /// <summary><see cref="GanVariants.Dcgan"/> or <see cref="GanVariants.HingeSpectralNorm"/>.</summary>
    public string Variant { get; init; } = GanVariants.Dcgan;

    /// <summary>Dimension of z ~ N(0, I) (100, as in DCGAN).</summary>
    public int LatentDim { get; init; } = 100;

    /// <summary>Channels of the generator's last hidden layer (×2 and ×4 below it). The defaults (32, 32, z 100) are DCGAN's
    /// MNIST layout and the comparison's size: G 0.73M parameters, D 0.10M.</summary>
    public int GeneratorWidth { get; init; } = 32;

    /// <summary>Channels of the discriminator's first layer (×2 and ×4 after its two stride-2 convolutions).</summary>
    public int DiscriminatorWidth { get; init; } = 32;

    /// <summary>Classes (0: unconditional). The generator receives the class as <see cref="LabelConditioning"/> says; the
    /// discriminator adds a projection term (Miyato &amp; Koyama 2018).</summary>
    public int NumClasses { get; init; }

    /// <summary>How a conditional generator receives the class: <see cref="GanLabelConditioning.Norm"/> (per-class gains
    /// and biases of every GroupNorm) or <see cref="GanLabelConditioning.Input"/> (a label embedding concatenated to z).</summary>
    public string LabelConditioning { get; init; } = GanLabelConditioning.Norm;

    /// <summary>Width of the generator's label embedding (fed to every norm's gains, or concatenated to z).</summary>
    public int LabelEmbedDim { get; init; } = 32;

    /// <summary>Image side (a multiple of 4; 28 for MNIST). Images have one channel.</summary>
    public int ImageSize { get; init; } = 28;

    /// <summary>GroupNorm groups of the generator (each width must divide by it).</summary>
    public int NormGroups { get; init; } = 8;

    /// <summary>Whether the discriminator is spectrally normalised (the hinge-sn variant).</summary>
    public bool SpectralNorm => Variant == GanVariants.HingeSpectralNorm;

    /// <summary>Checks every value; the message names the key.</summary>
    public void Validate()
    {
        if (!GanVariants.All.Contains(Variant))
            throw new ArgumentException($"variant '{Variant}' is unknown; allowed: {string.Join(", ", GanVariants.All)}");
        if (!GanLabelConditioning.All.Contains(LabelConditioning))
            throw new ArgumentException($"config key label_conditioning = '{LabelConditioning}' is unknown; allowed: {string.Join(", ", GanLabelConditioning.All)}");
        Check(LatentDim is >= 1 and <= 4096, "latent_dim", LatentDim);
        Check(GeneratorWidth >= 1 && GeneratorWidth % NormGroups == 0, "generator_width", GeneratorWidth);
        Check(DiscriminatorWidth is >= 1 and <= 4096, "discriminator_width", DiscriminatorWidth);
        Check(NumClasses is >= 0 and <= 10_000, "num_classes", NumClasses);
        Check(LabelEmbedDim is >= 1 and <= 4096, "label_embed_dim", LabelEmbedDim);
        Check(ImageSize >= 4 && ImageSize % 4 == 0, "image_size", ImageSize);
        Check(NormGroups >= 1, "norm_groups", NormGroups);
    }

    internal static void Check(bool ok, string key, int value)
    {
        if (!ok)
            throw new ArgumentException($"config key {key} = {value} is out of range");
    }

    /// <summary>The config as JSON with its <c>_class_name</c>.</summary>
    public string ToJson()
    {
        var node = JsonSerializer.SerializeToNode(this, OnePassSampling.ConfigJson)!.AsObject();
        node.Remove("spectral_norm");
        var o = new JsonObject { ["_class_name"] = ClassName };
        foreach (var (k, v) in node)
            o[k] = v?.DeepClone();
        return o.ToJsonString(OnePassSampling.ConfigJson) + "\n";
    }

    /// <summary>Reads a config written by <see cref="ToJson"/>; <paramref name="path"/> names the file in errors.</summary>
    public static GanConfig Parse(string json, string path)
    {
        try
        {
            var config = JsonSerializer.Deserialize<GanConfig>(json, OnePassSampling.ConfigJson) ?? throw new InvalidDataException($"{path}: empty");
            config.Validate();
            return config;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}
