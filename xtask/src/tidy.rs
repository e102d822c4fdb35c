//! Tidy: the layering rules of ARCHITECTURE.md as tests (rust-analyzer's
//! tidy test). They read `cargo metadata` and the source tree, so a rule
//! broken by any crate fails `cargo xtask ci`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `cargo metadata` for the workspace (with dependencies resolved).
fn metadata() -> serde_json::Value {
    let out = Command::new(env!("CARGO"))
        .current_dir(crate::ci::root())
        .args(["metadata", "--format-version", "1"])
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Workspace package name → names of its normal (non-dev) dependencies,
/// following the resolve graph transitively.
fn transitive_deps(meta: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve graph");
    let name_of = |id: &str| -> String {
        meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let edges: BTreeMap<String, Vec<String>> = nodes
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| d["pkg"].as_str().unwrap().to_owned())
                .collect();
            (n["id"].as_str().unwrap().to_owned(), deps)
        })
        .collect();
    let mut out = BTreeMap::new();
    for member in meta["workspace_members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![member.to_owned()];
        while let Some(id) = stack.pop() {
            for d in edges.get(&id).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        out.insert(name_of(member), seen.iter().map(|id| name_of(id)).collect());
    }
    out
}

#[test]
fn libraries_know_nothing_of_daemons_or_async() {
    // Invariant: `kickstart` and `image` are libraries with no knowledge of
    // the services, and no async runtime.
    let deps = transitive_deps(&metadata());
    // A rule naming a crate that is gone is a rule that checks nothing.
    let of = |lib: &str| {
        deps.get(lib)
            .unwrap_or_else(|| panic!("tidy rule names {lib}, which is not in the workspace"))
    };
    for lib in ["outpost-kickstart", "outpost-image"] {
        let list = of(lib);
        for d in list {
            assert!(
                !(d.starts_with("outpost-") || d == "tokio"),
                "{lib} must not depend on {d} (see ARCHITECTURE.md, Invariants)"
            );
        }
    }
    // The storage libraries used by the installer stay synchronous.
    for lib in [
        "outpost-store",
        "outpost-directory",
        "outpost-davstore",
        "outpost-config",
        "outpost-queue",
        "outpost-durable",
        "outpost-mime",
        "outpost-submit",
        "outpost-admin",
    ] {
        let list = of(lib);
        assert!(
            !list
                .iter()
                .any(|d| d == "tokio" || d == "axum" || d == "hyper"),
            "{lib} must stay synchronous (the installer links it)"
        );
    }
    // IMAP/POP3 parsing is pure: no I/O runtime, no store, no other
    // Outpost crate (ARCHITECTURE.md, `imap-proto`).
    for d in of("outpost-imap-proto") {
        assert!(
            !(d.starts_with("outpost-") || d == "tokio"),
            "outpost-imap-proto must not depend on {d} (see ARCHITECTURE.md, imap-proto)"
        );
    }
    // The admin tool and the installer link libraries, never a daemon.
    for tool in ["outpostctl", "outpost-installer"] {
        for d in of(tool) {
            assert!(
                ![
                    "outpost-smtpd",
                    "outpost-imapd",
                    "outpost-webd",
                    "outpost-daemon"
                ]
                .contains(&d.as_str()),
                "{tool} must not depend on the daemon crate {d} (ARCHITECTURE.md, Invariants)"
            );
        }
    }
}

#[test]
fn dependency_licences_are_permissive() {
    // A dependency is a decision: permissive licences only (STYLE.md).
    let meta = metadata();
    let allowed = [
        "MIT",
        "Apache-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "ISC",
        "MPL-2.0",
        "Zlib",
        "Unicode-3.0",
        "Unicode-DFS-2016",
        "0BSD",
        "CC0-1.0",
        "BSL-1.0",
        "Unlicense",
        "Apache-2.0 WITH LLVM-exception",
        "CDLA-Permissive-2.0",
        "OpenSSL",
    ];
    let mut bad = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let Some(lic) = p["license"].as_str() else {
            if p["source"].is_null() {
                continue; // workspace crates inherit the workspace licence
            }
            bad.push(format!("{name}: no licence"));
            continue;
        };
        // Each OR-alternative must be fully allowed for the expression to
        // count; accept if any alternative is acceptable.
        let ok = lic
            .split(" OR ")
            .map(|s| s.trim_matches(|c| c == '(' || c == ')'))
            .any(|alt| {
                alt.split(" AND ")
                    .map(|t| t.trim_matches(|c| c == '(' || c == ')').trim())
                    .all(|t| {
                        allowed.contains(&t) || t.split('/').all(|x| allowed.contains(&x.trim()))
                    })
            });
        if !ok {
            bad.push(format!("{name}: {lic}"));
        }
    }
    assert!(
        bad.is_empty(),
        "dependencies with licences outside the allow-list:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_module_says_what_it_is_for() {
    // STYLE.md: every module opens with a `//!` paragraph.
    let root = crate::ci::root();
    let mut missing = Vec::new();
    for top in ["kickstart", "image", "installer", "services", "xtask"] {
        walk(&root.join(top), &mut |path| {
            if path.extension().is_some_and(|e| e == "rs")
                && !path
                    .components()
                    .any(|c| c.as_os_str() == "target" || c.as_os_str() == "tests")
            {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                if !first.starts_with("//!") && !first.starts_with("#![") {
                    missing.push(path.strip_prefix(&root).unwrap().display().to_string());
                }
            }
        });
    }
    assert!(
        missing.is_empty(),
        "modules without a //! doc paragraph:\n{}",
        missing.join("\n")
    );
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target" || n == "fuzz") {
                continue;
            }
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

#[test]
fn every_allow_says_why() {
    // STYLE.md: a lint silenced is a decision; its reason sits beside it
    // (`reason = "…"` in the attribute, or a `// Reason:` comment on the
    // same line or the line before).
    let root = crate::ci::root();
    let mut bare = Vec::new();
    for top in [
        "kickstart",
        "image",
        "installer",
        "services",
        "xtask",
        "fuzz",
    ] {
        walk(&root.join(top), &mut |path| {
            if path.extension().is_none_or(|e| e != "rs")
                || path.components().any(|c| c.as_os_str() == "target")
            {
                return;
            }
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                let t = l.trim_start();
                if !(t.starts_with("#[allow(") || t.starts_with("#![allow(")) {
                    continue;
                }
                // The attribute up to its closing `)]`.
                let attr: String = lines[i..]
                    .iter()
                    .take(8)
                    .scan(false, |done, l| {
                        (!*done).then(|| {
                            *done = l.contains(")]");
                            *l
                        })
                    })
                    .collect();
                let before = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
                if !(attr.contains("reason") || l.contains("Reason:") || before.contains("Reason:"))
                {
                    bare.push(format!(
                        "{}:{}",
                        path.strip_prefix(&root).unwrap().display(),
                        i + 1
                    ));
                }
            }
        });
    }
    assert!(
        bare.is_empty(),
        "allow without a reason:\n{}",
        bare.join("\n")
    );
}
