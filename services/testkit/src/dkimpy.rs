//! An independent DKIM verifier for tests: dkimpy (PyPI) with PyNaCl for
//! Ed25519, in a venv under the target folder made once and shared by
//! every crate's tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's python with `dkim` and `nacl` importable (made on first
/// use: `python3 -m venv`, then `pip install dkimpy pynacl`).
pub fn python() -> PathBuf {
    // Every crate's tests share one venv: the workspace's target/tmp.
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp/dkim-pyenv");
    let py = venv.join("bin/python3");
    let ready = Command::new(&py)
        .args(["-c", "import dkim, nacl"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        let ok = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3");
        assert!(
            ok.success(),
            "python3 -m venv (apt-get install python3-venv)"
        );
        let ok = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "dkimpy", "pynacl"])
            .status()
            .expect("pip");
        assert!(ok.success(), "pip install dkimpy pynacl");
    }
    py
}

/// Verifies every `DKIM-Signature` of `message` with dkimpy, the keys
/// looked up in `records` (`(owner name without the final dot, TXT
/// text)`, e.g. `("outpost-rsa._domainkey.outpost.lan", "v=DKIM1; …")`)
/// instead of DNS. One result per signature, in header order; `Err` with
/// dkimpy's output when it could not run.
pub fn verify(message: &[u8], records: &[(String, String)]) -> Result<Vec<bool>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("message.eml");
    std::fs::write(&path, message).map_err(|e| e.to_string())?;
    let script = r#"
import sys, dkim
records = dict(a.split("=", 1) for a in sys.argv[2:])
def dns(name, timeout=5):
    return records.get(name.decode().lower().rstrip("."), "").encode()
data = open(sys.argv[1], "rb").read()
n = sum(1 for l in data.split(b"\r\n\r\n")[0].split(b"\r\n") if l.lower().startswith(b"dkim-signature:"))
d = dkim.DKIM(data)
def ok(i):
    # dkimpy returns False for a bad signature, but raises for a body
    # hash mismatch: both are a failed verification.
    try:
        return d.verify(idx=i, dnsfunc=dns)
    except dkim.ValidationError as e:
        print(e, file=sys.stderr)
        return False
print(" ".join("1" if ok(i) else "0" for i in range(n)))
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&path)
        .args(
            records
                .iter()
                .map(|(n, r)| format!("{}={r}", n.to_ascii_lowercase())),
        )
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "dkimpy: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout.split_whitespace().map(|w| w == "1").collect())
}
