//! What an ELF executable asks of the loader before `main`: its kind (a
//! position-independent executable, or one linked at a fixed address) and
//! its relocations, counted as `readelf -r` lists them. Shared with the
//! init probe (bench/init_probe.rs), which prints them next to its figures.

use std::path::Path;

/// The relocations of one executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relocations {
    /// `ET_DYN` (a PIE, loaded at a random address) rather than `ET_EXEC`.
    pub pie: bool,
    /// Has a program interpreter (the dynamic loader), i.e. is not static.
    pub dynamic: bool,
    /// Every entry of its REL, RELA and RELR sections.
    pub total: usize,
    /// Of those, relative ones: a pointer moved by the load address, one
    /// write per pointer at every start (`R_*_RELATIVE`, and RELR entries).
    pub relative: usize,
}

const ET_DYN: u16 = 3;
const PT_INTERP: u32 = 3;
const SHT_RELA: u32 = 4;
const SHT_REL: u32 = 9;
const SHT_RELR: u32 = 19;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// Reads a 64-bit little-endian ELF file (x86_64 or aarch64).
pub fn relocations(path: &Path) -> Result<Relocations, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&data).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(data: &[u8]) -> Result<Relocations, String> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u16_at = |at: usize| data.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| data.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |at: usize| data.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    let truncated = || "truncated ELF file".to_string();
    let relative_type = match u16_at(18).ok_or_else(truncated)? {
        EM_X86_64 => 8,
        EM_AARCH64 => 1027,
        other => return Err(format!("unsupported machine {other}")),
    };
    let pie = u16_at(16).ok_or_else(truncated)? == ET_DYN;
    let (phoff, phentsize, phnum) =
        (u64_at(0x20).ok_or_else(truncated)?, u16_at(0x36).ok_or_else(truncated)?, u16_at(0x38).ok_or_else(truncated)?);
    let dynamic = (0..phnum as usize).any(|i| u32_at(phoff + i * phentsize as usize) == Some(PT_INTERP));
    let (shoff, shentsize, shnum) =
        (u64_at(0x28).ok_or_else(truncated)?, u16_at(0x3a).ok_or_else(truncated)?, u16_at(0x3c).ok_or_else(truncated)?);
    let (mut total, mut relative) = (0, 0);
    for i in 0..shnum as usize {
        let header = shoff + i * shentsize as usize;
        let kind = u32_at(header + 4).ok_or_else(truncated)?;
        if !matches!(kind, SHT_RELA | SHT_REL | SHT_RELR) {
            continue;
        }
        let (offset, size) =
            (u64_at(header + 0x18).ok_or_else(truncated)?, u64_at(header + 0x20).ok_or_else(truncated)?);
        let entsize = match kind {
            SHT_RELA => 24,
            SHT_REL => 16,
            _ => 8,
        };
        for entry in (0..size / entsize).map(|n| offset + n * entsize) {
            if kind == SHT_RELR {
                // An address (one relocation), or a bitmap of the next 63 words.
                let word = u64_at(entry).ok_or_else(truncated)?;
                let count = if word & 1 == 0 { 1 } else { (word >> 1).count_ones() as usize };
                total += count;
                relative += count;
                continue;
            }
            total += 1;
            // r_info's low 32 bits are the relocation's type.
            if u64_at(entry + 8).ok_or_else(truncated)? as u32 == relative_type {
                relative += 1;
            }
        }
    }
    Ok(Relocations { pie, dynamic, total, relative })
}
