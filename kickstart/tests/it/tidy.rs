//! Layering rules as tests: `kickstart` is a pure library (no tokio, no
//! disk or daemon crates), and every module opens with a `//!` paragraph.

use std::path::Path;

const ALLOWED_DEPS: &[&str] = &["serde", "serde_norway", "serde_json", "tera"];

#[test]
fn dependencies_stay_pure() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap_or("");
    let deps = deps.split("\n[").next().unwrap_or("");
    for line in deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = line.split(['=', ' ']).next().unwrap_or("");
        assert!(
            ALLOWED_DEPS.contains(&name),
            "outpost-kickstart must stay a pure parsing library; new dependency {name:?} needs a decision (ARCHITECTURE.md)"
        );
    }
}

#[test]
fn every_module_has_a_doc_paragraph() {
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                assert!(
                    text.starts_with("//!"),
                    "{} must open with a //! paragraph",
                    p.display()
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 10, "found only {seen} modules");
}
