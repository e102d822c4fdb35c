//! Helpers shared by the table tests.

use outpost_kickstart::{parse_str, print::flatten};

/// Parses `input` and returns its canonical form without the two header
/// lines, panicking with the diagnostics if it does not parse.
pub fn canon(input: &str) -> String {
    match parse_str("t.ks", input) {
        Ok(p) => {
            let text = flatten(&p.kickstart);
            text.lines().skip(2).map(|l| format!("{l}\n")).collect()
        }
        Err(d) => panic!("expected {input:?} to parse, got:\n{d}"),
    }
}

/// Checks that `input` parses and prints exactly `expected` (header
/// excluded), and that printing is a fixed point (round trip).
pub fn check_ok(input: &str, expected: &str) {
    let got = canon(input);
    assert_eq!(got, expected, "canonical form of {input:?}");
    let again = canon(&got);
    assert_eq!(again, got, "round trip of {input:?}");
}

/// Checks that `input` fails and that its first error prints as `expected`.
pub fn check_err(input: &str, expected: &str) {
    match parse_str("t.ks", input) {
        Ok(p) => panic!("expected {input:?} to fail, it parsed: {:?}", p.kickstart),
        Err(d) => {
            let first = d
                .first_error()
                .expect("a failed parse has an error")
                .to_string();
            assert_eq!(first, expected, "first error of {input:?}\nall:\n{d}");
        }
    }
}

/// The warnings of a parse that must succeed, as printed lines.
pub fn warnings(input: &str) -> Vec<String> {
    match parse_str("t.ks", input) {
        Ok(p) => p.warnings.iter().map(ToString::to_string).collect(),
        Err(d) => panic!("expected {input:?} to parse, got:\n{d}"),
    }
}

/// A fresh empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("outpost-ks-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
