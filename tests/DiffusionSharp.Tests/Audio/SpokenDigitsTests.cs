using DiffusionSharp.Audio;
using DiffusionSharp.Data;

namespace DiffusionSharp.Tests.Audio;

public sealed class SpokenDigitsTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string[] Files(string folder) =>
        Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void TinySetIsTheSameByteForByteOnARerun()
    {
        string a = SpokenDigits.EnsureCached(SpokenDigitsOptions.Tiny, _dir.File("cache-a"));
        string b = SpokenDigits.EnsureCached(SpokenDigitsOptions.Tiny with { MaxProcesses = 1 }, _dir.File("cache-b"));
        var files = Files(a);
        Assert.Equal(files, Files(b));
        Assert.Equal(30 + 2, files.Length); // 10 × (2 + 1) clips, clips.csv, manifest.json
        foreach (string f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(a, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, f))), $"{f} differs");
        // A second call finds the set and leaves it untouched.
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(a, SpokenDigits.ManifestFile));
        Assert.Equal(a, SpokenDigits.EnsureCached(SpokenDigitsOptions.Tiny, _dir.File("cache-a")));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(a, SpokenDigits.ManifestFile)));
    }

    [Fact]
    public void SplitsLoadAsOneSecondClipsWithDigitLabelsAndNormalisedPeaks()
    {
        string cache = TestCache.Root; // shared: the tiny set is made once per cache
        using var train = SpokenDigits.LoadCached(SpokenDigitsSplit.Train, SpokenDigitsOptions.Tiny, cache);
        using var held = SpokenDigits.LoadCached(SpokenDigitsSplit.HeldOut, SpokenDigitsOptions.Tiny, cache);
        Assert.Equal([20L, 1, 16000], train.Samples.shape);
        Assert.Equal([10L, 1, 16000], held.Samples.shape);
        Assert.Equal(SpokenDigits.ClassNames, train.ClassNames);
        Assert.Equal(Enumerable.Range(0, 10).SelectMany(d => new long[] { d, d }).ToArray(), train.Labels.data<long>().ToArray());
        string csv = File.ReadAllText(Path.Combine(SpokenDigits.EnsureCached(SpokenDigitsOptions.Tiny, cache), SpokenDigits.ClipsFile));
        for (int i = 0; i < train.Count; i++)
        {
            var clip = train.Clip(i);
            float peak = AudioClip.Peak(clip);
            Assert.InRange(peak, 0.25f, 0.9f);
            // The word is centred: the first and last 10 ms are silent or nearly so.
            Assert.True(AudioClip.Peak(clip.AsSpan(0, 160)) < 0.05f * peak && AudioClip.Peak(clip.AsSpan(16000 - 160)) < 0.05f * peak, $"clip {i} is not centred");
        }
        Assert.StartsWith("file,split,digit,word,accent,variant,pitch,speed_wpm,peak_dbfs,word_seconds\n", csv);
    }

    [Fact]
    public void HeldOutVoicesNeverSpeakInTraining()
    {
        var variants = SpokenDigitsEspeak.FindVoices("espeak-ng").Variants;
        Assert.True(variants.Count >= 20, $"{variants.Count} variants");
        var options = new SpokenDigitsOptions(TrainPerDigit: 50, HeldOutPerDigit: 20);
        var plan = SpokenDigitsPlan.Clips(variants, options);
        var held = SpokenDigitsPlan.HeldOutVariants(variants, options).ToHashSet();
        Assert.Equal(10, held.Count);
        Assert.All(plan.Where(c => c.Split == SpokenDigitsSplit.Train), c => Assert.DoesNotContain(c.Variant, held));
        Assert.All(plan.Where(c => c.Split == SpokenDigitsSplit.HeldOut), c => Assert.Contains(c.Variant, held));
        Assert.True(plan.Select(c => c.Accent).Distinct().Count() == SpokenDigits.Accents.Count);
        // A clip's draw depends only on (seed, split, digit, index), not on the size of the set.
        var tiny = SpokenDigitsPlan.Clips(variants, SpokenDigitsOptions.Tiny with { HeldOutVariants = 10 });
        Assert.Equal(tiny[3], plan.Single(c => c.Split == SpokenDigitsSplit.Train && c.Digit == tiny[3].Digit && c.Index == tiny[3].Index));
        Assert.NotEqual(plan, SpokenDigitsPlan.Clips(variants, options with { Seed = 1 }));
    }

    [Fact]
    public void MissingEspeakIsOneLineSayingHowToInstallIt()
    {
        var options = SpokenDigitsOptions.Tiny with { Espeak = _dir.File("no-espeak-ng") };
        var e = Assert.Throws<InvalidOperationException>(() => SpokenDigits.EnsureCached(options, _dir.File("cache")));
        Assert.Contains("espeak-ng was not found", e.Message);
        Assert.Contains("apt-get install espeak-ng", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir.File("cache"), SpokenDigits.Name, options.CacheKey)));
    }
}
