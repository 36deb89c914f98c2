using System.Globalization;
using System.Text.Json.Nodes;

namespace DiffusionSharp.Runs;

/// <summary>Where a run's data come from: the spec <see cref="Data.DataSources.Load"/> takes, and the image size.</summary>
/// <param name="Source"><c>mnist</c> or a folder.</param>
/// <param name="ImageSize">Resize + center-crop image folders to this size (null: as they are).</param>
/// <param name="SampleRate">Audio: resample every clip to this rate in Hz, one second per clip (null: 16 kHz, the
/// spoken-digit rate).</param>
/// <param name="Representation">Audio: what the model diffuses, <see cref="Waveform"/> (null) or <see cref="Spectrogram"/>
/// (log-magnitude STFT frames, <see cref="Audio.SpectrogramCodec"/>).</param>
public sealed record DataSpec(string Source, int? ImageSize = null, int? SampleRate = null, string? Representation = null)
{
    /// <summary>The audio representation of raw samples.</summary>
    public const string Waveform = "waveform";

    /// <summary>The audio representation of log-magnitude spectrograms, decoded by Griffin-Lim.</summary>
    public const string Spectrogram = "spectrogram";

    /// <inheritdoc />
    public override string ToString() =>
        ImageSize is { } n ? FormattableString.Invariant($"{Source} at {n}×{n}")
        : SampleRate is { } hz ? FormattableString.Invariant($"{Source} at {hz} Hz{(Representation is { } r ? $" as {r}" : "")}")
        : Representation is { } rep ? $"{Source} as {rep}"
        : Source;
}

/// <summary>One option changed when a run was resumed (<c>steps: 2000 → 3000</c>).</summary>
/// <param name="AtStep">The step the run was resumed at.</param>
/// <param name="Name">The option's name in <c>run.json</c>.</param>
/// <param name="From">The stored value (JSON).</param>
/// <param name="To">The new value (JSON).</param>
public sealed record OptionOverride(int AtStep, string Name, string From, string To)
{
    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name}: {From} → {To} (from step {AtStep})");
}

/// <summary>
/// What a run was created with besides its <see cref="Training.TrainingOptions"/>; stored in <c>run.json</c> under
/// <c>description</c> so a resumed run needs no other input.
/// </summary>
/// <param name="Preset">The model preset (<see cref="Training.ModelPresets"/>).</param>
/// <param name="Data">The data spec.</param>
/// <param name="ModelClass">The model's <c>_class_name</c>.</param>
/// <param name="ModelConfig">The model's <c>config.json</c> at creation.</param>
/// <param name="Guidance">The guidance scale recorded with the model.</param>
/// <param name="Overrides">Options changed on resume, oldest first.</param>
/// <param name="InitFrom">The model folder (full path) whose weights the run started from (null: a random initialisation).</param>
public sealed record RunDescription(string Preset, DataSpec Data, string ModelClass, JsonNode? ModelConfig, double Guidance,
    IReadOnlyList<OptionOverride>? Overrides = null, string? InitFrom = null);
