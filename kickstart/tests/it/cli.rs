//! The binaries: `ksvalidator`, `ksflatten`, `ksrender` exit codes and output.

use std::process::Command;

use crate::support::TempDir;

fn run(bin: &str, args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("running the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ksvalidator_exit_codes() {
    let d = TempDir::new("cli");
    let good = d.write("good.ks", "lang en_US\nselinux --disabled\n");
    let bad = d.write("bad.ks", "lang en_US\npart / --size=big\n");
    let v = env!("CARGO_BIN_EXE_ksvalidator");
    let (code, _, err) = run(v, &[good.as_os_str()]);
    assert_eq!(code, 0, "warnings do not fail: {err}");
    assert!(err.contains("good.ks:2:1: warning: selinux"), "{err}");
    let (code, _, err) = run(v, &[good.as_os_str(), bad.as_os_str()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.ks:2:8: error: part: option --size"),
        "{err}"
    );
    let (code, _, _) = run(v, &[]);
    assert_eq!(code, 2);
}

#[test]
fn ksflatten_prints_canonical_form_with_includes_resolved() {
    let d = TempDir::new("flat");
    d.write("inc.ks", "clearpart --linux --all\n");
    let top = d.write("top.ks", "%include inc.ks\nlang en_US\n");
    let (code, out, err) = run(env!("CARGO_BIN_EXE_ksflatten"), &[top.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\nlang en_US\n")
            && out.contains("\nclearpart --all\n")
            && !out.contains("%include"),
        "{out}"
    );
    let (code, out, _) = run(
        env!("CARGO_BIN_EXE_ksflatten"),
        &[std::ffi::OsStr::new("--json"), top.as_os_str()],
    );
    assert_eq!(code, 0);
    assert!(out.contains("\"lang\": \"en_US\""), "{out}");
    let bad = d.write("bad.ks", "%post\n");
    assert_eq!(
        run(env!("CARGO_BIN_EXE_ksflatten"), &[bad.as_os_str()]).0,
        1
    );
}

#[test]
fn ksrender_renders_default_and_site_files() {
    let r = env!("CARGO_BIN_EXE_ksrender");
    let (code, out, err) = run(r, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("%addon org_outpost") && out.contains("domain outpost.lan"),
        "{out}"
    );
    let d = TempDir::new("render");
    let site = d.write(
        "site.yaml",
        "domain: corp.lan\nusers:\n  - {name: ann, password_hash: \"$argon2id$a # b\"}\n",
    );
    let (code, out, err) = run(r, &[site.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("user ann --password=\"$argon2id$a # b\" --iscrypted"),
        "{out}"
    );
    // A clear-text password is refused (#24), at its position.
    let clear = d.write(
        "clear.yaml",
        "domain: corp.lan\nusers:\n  - {name: ann, password: \"a # b\"}\n",
    );
    let (code, _, err) = run(r, &[clear.as_os_str()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("clear.yaml:3:27: error: users[0].password:"),
        "{err}"
    );
    let bad = d.write("bad.yaml", "domain: corp.lan\nbogus: 1\n");
    let (code, _, err) = run(r, &[bad.as_os_str()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.yaml:2:1: error: unknown field `bogus`"),
        "{err}"
    );
}
