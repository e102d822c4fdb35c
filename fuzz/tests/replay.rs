//! Every committed seed and every past crash, through its target: the
//! fuzzers' findings stay fixed, and the targets keep building and running
//! in the ordinary test suite (no libFuzzer needed).

use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_seed_and_past_crash_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for t in outpost_fuzz::TARGETS {
        let seeds = inputs(&root.join("corpus").join(t.name));
        assert!(
            seeds.len() >= 3,
            "fuzz/corpus/{} needs at least three seeds (has {})",
            t.name,
            seeds.len()
        );
        let crashes = inputs(&root.join("regressions").join(t.name));
        for p in seeds.iter().chain(&crashes) {
            let data = std::fs::read(p).unwrap();
            let r = std::panic::catch_unwind(|| (t.run)(&data));
            assert!(r.is_ok(), "{} failed on {}", t.name, p.display());
        }
    }
}
