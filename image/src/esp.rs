//! Builds an EFI System Partition image: a FAT file system (FAT16/FAT32 as
//! `fatfs` chooses for the size) holding the boot loader, its entries, the
//! kernel and the initramfs.
//!
//! Deterministic: `fatfs` is built without its `chrono` feature and given a
//! time provider that always answers the caller's `SOURCE_DATE_EPOCH`; the
//! volume serial comes from the caller (derive it from a seed); files are
//! written in sorted path order into a zero-filled buffer.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Write};

use fatfs::{Date, DateTime, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider};

/// What goes into the ESP and how it is labelled.
#[derive(Debug, Clone)]
pub struct EspSpec {
    /// Files by path (`EFI/BOOT/BOOTX64.EFI`), `/`-separated, no leading `/`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// FAT volume serial number (derive it from a seed, never from the clock).
    pub volume_id: u32,
    /// Volume label, at most 11 ASCII characters.
    pub label: String,
    /// Timestamp for every directory entry (Unix seconds, UTC).
    pub epoch: u64,
}

#[derive(Debug)]
struct FixedTime(DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// FAT cannot store dates before 1980 or after 2107: clamp into that range.
fn dos_datetime(epoch: u64) -> DateTime {
    let (y, mo, d, h, mi, s) = crate::civil_from_unix(epoch);
    let (y, mo, d, h, mi, s) = if y < 1980 {
        (1980, 1, 1, 0, 0, 0)
    } else if y > 2107 {
        (2107, 12, 31, 23, 59, 58)
    } else {
        (y, mo, d, h, mi, s)
    };
    DateTime {
        date: Date {
            year: y as u16,
            month: mo as u16,
            day: d as u16,
        },
        time: Time {
            hour: h as u16,
            min: mi as u16,
            sec: (s - s % 2) as u16,
            millis: 0,
        },
    }
}

/// The image size for `payload` bytes of files: payload plus 5 % and 1 MiB
/// for FATs and directories, rounded up to a whole MiB.
fn image_size(payload: usize) -> u64 {
    const MIB: u64 = 1 << 20;
    let want = payload as u64 + payload as u64 / 20 + 2 * MIB;
    want.div_ceil(MIB) * MIB
}

/// Builds the FAT image in memory and returns it.
pub fn build(spec: &EspSpec) -> io::Result<Vec<u8>> {
    let payload: usize = spec.files.values().map(Vec::len).sum();
    let size = image_size(payload);
    let mut disk = Cursor::new(vec![0u8; size as usize]);
    let mut label = [b' '; 11];
    for (i, b) in spec.label.bytes().take(11).enumerate() {
        label[i] = b.to_ascii_uppercase();
    }
    fatfs::format_volume(
        &mut disk,
        FormatVolumeOptions::new()
            .volume_id(spec.volume_id)
            .volume_label(label),
    )?;
    // `fatfs` wants a `'static` provider; one small leak per image built.
    let time: &'static FixedTime = Box::leak(Box::new(FixedTime(dos_datetime(spec.epoch))));
    {
        let fs = FileSystem::new(&mut disk, FsOptions::new().time_provider(time))?;
        for (path, data) in &spec.files {
            let root = fs.root_dir();
            let parts: Vec<&str> = path.split('/').collect();
            let mut dir = root.clone();
            for part in &parts[..parts.len() - 1] {
                dir = match dir.open_dir(part) {
                    Ok(d) => d,
                    Err(_) => dir.create_dir(part)?,
                };
            }
            let mut file = dir.create_file(parts[parts.len() - 1])?;
            file.truncate()?;
            file.write_all(data)?;
            file.flush()?;
        }
        fs.unmount()?;
    }
    let mut image = disk.into_inner();
    fix_dot_entries(&mut image)?;
    Ok(image)
}

/// Repairs `fatfs` 0.3.6's `create_dir`, which writes a long-file-name
/// entry before `.` and before `..` (rafalh/rust-fatfs#117, fixed upstream
/// after 0.3.6). FAT requires `.` and `..` in the first two slots of every
/// subdirectory (fsck.fat: "Expected a valid '.' entry in this slot"), so
/// this walks every directory and rewrites `[LFN, ., LFN, ..]` as
/// `[., .., deleted, deleted]`.
fn fix_dot_entries(img: &mut [u8]) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed FAT boot sector");
    let u16_at = |img: &[u8], o: usize| u16::from_le_bytes([img[o], img[o + 1]]) as usize;
    let u32_at = |img: &[u8], o: usize| {
        u32::from_le_bytes([img[o], img[o + 1], img[o + 2], img[o + 3]]) as usize
    };
    let bps = u16_at(img, 11);
    let spc = img[13] as usize;
    let reserved = u16_at(img, 14);
    let fats = img[16] as usize;
    let root_entries = u16_at(img, 17);
    let total = match u16_at(img, 19) {
        0 => u32_at(img, 32),
        n => n,
    };
    let fat_size = match u16_at(img, 22) {
        0 => u32_at(img, 36),
        n => n,
    };
    if bps == 0 || spc == 0 {
        return Err(bad());
    }
    let root_dir_sectors = (root_entries * 32).div_ceil(bps);
    let first_data = reserved + fats * fat_size + root_dir_sectors;
    let clusters = total.saturating_sub(first_data) / spc;
    let fat_bits = if clusters < 4085 {
        12
    } else if clusters < 65525 {
        16
    } else {
        32
    };
    let fat_off = reserved * bps;
    let cluster_bytes = spc * bps;
    let cluster_off = |c: usize| (first_data + (c - 2) * spc) * bps;
    let next = |img: &[u8], c: usize| -> Option<usize> {
        let n = match fat_bits {
            12 => {
                let v = u16_at(img, fat_off + c + c / 2);
                if c.is_multiple_of(2) {
                    v & 0xfff
                } else {
                    v >> 4
                }
            }
            16 => u16_at(img, fat_off + c * 2),
            _ => u32_at(img, fat_off + c * 4) & 0x0fff_ffff,
        };
        let end = match fat_bits {
            12 => 0xff8,
            16 => 0xfff8,
            _ => 0x0fff_fff8,
        };
        (n >= 2 && n < end).then_some(n)
    };
    // Byte ranges of a directory: the fixed root (FAT12/16) or a chain.
    let chain = |img: &[u8], first: usize| -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut c = Some(first);
        while let Some(cl) = c {
            if out.len() > clusters {
                break; // a loop in the chain; fsck will say so
            }
            out.push((cluster_off(cl), cluster_bytes));
            c = next(img, cl);
        }
        out
    };
    let root: Vec<(usize, usize)> = if fat_bits == 32 {
        chain(img, u32_at(img, 44))
    } else {
        vec![((reserved + fats * fat_size) * bps, root_entries * 32)]
    };
    let mut todo = vec![root];
    while let Some(ranges) = todo.pop() {
        'dir: for (start, len) in ranges {
            for e in (start..start + len).step_by(32) {
                let name0 = img[e];
                let attr = img[e + 11];
                if name0 == 0 {
                    break 'dir;
                }
                if name0 == 0xe5 || attr == 0x0f || attr & 0x10 == 0 || name0 == b'.' {
                    continue;
                }
                let cl = (u16_at(img, e + 20) << 16) | u16_at(img, e + 26);
                if cl < 2 {
                    continue;
                }
                let d = cluster_off(cl);
                let is =
                    |o: usize, name: &[u8; 11]| &img[o..o + 11] == name && img[o + 11] & 0x10 != 0;
                if img[d + 11] == 0x0f
                    && is(d + 32, b".          ")
                    && img[d + 64 + 11] == 0x0f
                    && is(d + 96, b"..         ")
                {
                    let mut first4 = img[d..d + 128].to_vec();
                    let (lfn1, dot, lfn2, dotdot) = (
                        first4[0..32].to_vec(),
                        first4[32..64].to_vec(),
                        first4[64..96].to_vec(),
                        first4[96..128].to_vec(),
                    );
                    first4[0..32].copy_from_slice(&dot);
                    first4[32..64].copy_from_slice(&dotdot);
                    first4[64..96].copy_from_slice(&lfn1);
                    first4[96..128].copy_from_slice(&lfn2);
                    first4[64] = 0xe5;
                    first4[96] = 0xe5;
                    img[d..d + 128].copy_from_slice(&first4);
                }
                todo.push(chain(img, cl));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_spec_same_bytes() {
        let mut files = BTreeMap::new();
        files.insert("EFI/BOOT/BOOTX64.EFI".to_owned(), vec![0x4d, 0x5a, 1, 2]);
        files.insert("loader/loader.conf".to_owned(), b"timeout 5\n".to_vec());
        let spec = EspSpec {
            files,
            volume_id: 0x1234_5678,
            label: "ESP".into(),
            epoch: 1_700_000_000,
        };
        let a = build(&spec).unwrap();
        let b = build(&spec).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len() % (1 << 20), 0);
    }
}
