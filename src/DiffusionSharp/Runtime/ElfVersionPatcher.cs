using System.Buffers.Binary;
using System.Text;

namespace DiffusionSharp.Runtime;

/// <summary>
/// Reads and edits the symbol-version requirements (<c>.gnu.version_r</c>, "Verneed") of a 64-bit little-endian
/// ELF shared object. Used to mark one version requirement weak (<c>VER_FLG_WEAK</c>) so that the dynamic loader
/// accepts a library whose only use of that version is a marker symbol no relocation references.
/// </summary>
/// <remarks>
/// Layout from the System V ABI / LSB "Symbol Versioning" chapter:
/// <c>Elf64_Verneed { u16 vn_version; u16 vn_cnt; u32 vn_file; u32 vn_aux; u32 vn_next; }</c> and
/// <c>Elf64_Vernaux { u32 vna_hash; u16 vna_flags; u16 vna_other; u32 vna_name; u32 vna_next; }</c>.
/// Every offset read from the file is bounds-checked before use.
/// </remarks>
public static class ElfVersionPatcher
{
    /// <summary>The <c>VER_FLG_WEAK</c> bit of <c>vna_flags</c>.</summary>
    public const ushort VerFlagWeak = 0x2;

    private const uint ShtGnuVerneed = 0x6ffffffe;

    /// <summary>One version a shared object requires from one of its dependencies.</summary>
    /// <param name="File">The dependency's file name (e.g. <c>libstdc++.so.6</c>).</param>
    /// <param name="Version">The version name (e.g. <c>GLIBCXX_3.4.32</c>).</param>
    /// <param name="Flags">The raw <c>vna_flags</c>.</param>
    /// <param name="FlagsOffset">The file offset of <c>vna_flags</c>.</param>
    public sealed record VersionNeed(string File, string Version, ushort Flags, long FlagsOffset)
    {
        /// <summary>True when the requirement is weak (a missing version is not an error).</summary>
        public bool IsWeak => (Flags & VerFlagWeak) != 0;
    }

    /// <summary>Lists every version requirement of the ELF image.</summary>
    /// <exception cref="InvalidDataException">The image is not a well-formed 64-bit little-endian ELF.</exception>
    public static IReadOnlyList<VersionNeed> ReadVersionNeeds(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF is supported");

        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]);
        ushort shentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        ushort shnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);
        if (shentsize < 64 || shnum == 0)
            throw new InvalidDataException("ELF has no section headers");
        CheckRange(elf, shoff, (ulong)shentsize * shnum, "section header table");

        var result = new List<VersionNeed>();
        for (int i = 0; i < shnum; i++)
        {
            var sh = elf.Slice((int)(shoff + (ulong)(i * shentsize)), shentsize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed)
                continue;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(sh[0x18..]);
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(sh[0x20..]);
            uint link = BinaryPrimitives.ReadUInt32LittleEndian(sh[0x28..]);
            CheckRange(elf, offset, size, ".gnu.version_r");
            if (link >= shnum)
                throw new InvalidDataException(".gnu.version_r links to a missing string table");
            var strSh = elf.Slice((int)(shoff + (ulong)(link * shentsize)), shentsize);
            ulong strOff = BinaryPrimitives.ReadUInt64LittleEndian(strSh[0x18..]);
            ulong strSize = BinaryPrimitives.ReadUInt64LittleEndian(strSh[0x20..]);
            CheckRange(elf, strOff, strSize, "dynamic string table");
            var strtab = elf.Slice((int)strOff, (int)strSize);

            ulong vn = offset;
            for (int guard = 0; guard < 4096; guard++)
            {
                CheckRange(elf, vn, 16, "Verneed entry");
                var entry = elf.Slice((int)vn, 16);
                ushort cnt = BinaryPrimitives.ReadUInt16LittleEndian(entry[2..]);
                string file = ReadString(strtab, BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]));
                uint aux = BinaryPrimitives.ReadUInt32LittleEndian(entry[8..]);
                uint next = BinaryPrimitives.ReadUInt32LittleEndian(entry[12..]);
                ulong va = vn + aux;
                for (int j = 0; j < cnt; j++)
                {
                    CheckRange(elf, va, 16, "Vernaux entry");
                    var a = elf.Slice((int)va, 16);
                    ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(a[4..]);
                    string name = ReadString(strtab, BinaryPrimitives.ReadUInt32LittleEndian(a[8..]));
                    result.Add(new VersionNeed(file, name, flags, (long)va + 4));
                    uint anext = BinaryPrimitives.ReadUInt32LittleEndian(a[12..]);
                    if (anext == 0)
                        break;
                    va += anext;
                }
                if (next == 0)
                    break;
                vn += next;
            }
        }
        return result;
    }

    /// <summary>
    /// Sets <c>VER_FLG_WEAK</c> on the requirement of <paramref name="version"/> from <paramref name="file"/>.
    /// Returns false when the image has no such requirement or it is already weak.
    /// </summary>
    public static bool MarkWeak(Span<byte> elf, string file, string version)
    {
        foreach (var need in ReadVersionNeeds(elf))
        {
            if (need.File != file || need.Version != version || need.IsWeak)
                continue;
            BinaryPrimitives.WriteUInt16LittleEndian(elf[(int)need.FlagsOffset..], (ushort)(need.Flags | VerFlagWeak));
            return true;
        }
        return false;
    }

    private static void CheckRange(ReadOnlySpan<byte> elf, ulong offset, ulong length, string what)
    {
        if (offset > (ulong)elf.Length || length > (ulong)elf.Length - offset)
            throw new InvalidDataException($"{what} lies outside the file");
    }

    private static string ReadString(ReadOnlySpan<byte> strtab, uint offset)
    {
        if (offset >= strtab.Length)
            throw new InvalidDataException("string offset outside the string table");
        var rest = strtab[(int)offset..];
        int end = rest.IndexOf((byte)0);
        if (end < 0)
            throw new InvalidDataException("unterminated string in the string table");
        return Encoding.ASCII.GetString(rest[..end]);
    }
}
