//! SHA-256 helpers and the `SHA256SUMS` format of GNU `sha256sum`
//! (`<hex>  <path>` per line, two spaces: text mode), so
//! `sha256sum -c SHA256SUMS` checks what this module writes.

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lowercase hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    sha256_reader(&mut f)
}

/// Lowercase hex SHA-256 of everything `r` yields.
pub fn sha256_reader<R: Read>(r: &mut R) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Formats `(path, hex)` pairs as a `SHA256SUMS` file, sorted by path.
pub fn format_sums(entries: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = entries.to_vec();
    sorted.sort();
    sorted.iter().map(|(p, h)| format!("{h}  {p}\n")).collect()
}

/// Parses a `SHA256SUMS` file into `(path, hex)` pairs.
pub fn parse_sums(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (h, p) = l.split_once("  ").or_else(|| l.split_once(" *"))?;
            Some((p.to_owned(), h.to_owned()))
        })
        .collect()
}

/// A seed-derived 32-bit value (for FAT serials): the first four bytes of
/// SHA-256(`seed` ‖ `purpose`).
pub fn derive_u32(seed: &str, purpose: &str) -> u32 {
    let d = Sha256::digest(format!("{seed}\0{purpose}").as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_and_roundtrip() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let s = format_sums(&[("b".into(), "2".into()), ("a".into(), "1".into())]);
        assert_eq!(s, "1  a\n2  b\n");
        assert_eq!(
            parse_sums(&s),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }
}
