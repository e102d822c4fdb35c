//! `cargo xtask bench imap`: Outpost's imapd and Dovecot (Debian's
//! `dovecot-imapd`/`dovecot-pop3d`, a private instance with its own config
//! and high ports on 127.0.0.1) serve copies of the same generated
//! 10,000-message Maildir; one client (`services/imapd/examples/imap_bench.rs`)
//! runs the same workload against both. Prints medians, the ratio
//! Dovecot/Outpost (above 1: Outpost is faster), idle RSS and bytes on the
//! wire with and without COMPRESS=DEFLATE. Results also go to
//! `target/bench-imap/results.txt`.

use super::fixture::{self, Guard, MESSAGES, PASS, USER, sh, tree_rss, wait_port};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TUNABLES: &str = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072";
const OUTPOST: (u16, u16) = (31143, 31110);
const DOVECOT: (u16, u16) = (32143, 32110);

fn run_client(example: &Path, ports: (u16, u16)) -> anyhow::Result<BTreeMap<String, f64>> {
    let out = sh(Command::new(example).args([
        &format!("127.0.0.1:{}", ports.0),
        &format!("127.0.0.1:{}", ports.1),
        USER,
        PASS,
        "quarterly",
        "zanzibar",
    ]))?;
    let mut m = BTreeMap::new();
    for l in out.lines() {
        let mut p = l.split_whitespace();
        if p.next() == Some("RESULT")
            && let (Some(k), Some(v)) = (p.next(), p.next().and_then(|v| v.parse().ok()))
        {
            m.insert(k.to_string(), v);
        }
    }
    Ok(m)
}

pub fn run() -> anyhow::Result<()> {
    let ws = crate::ci::root();
    fixture::ports_free(&[OUTPOST.0, OUTPOST.1, DOVECOT.0, DOVECOT.1])?;
    fixture::require(&[
        (fixture::DOVECOT, "dovecot-imapd"),
        ("/usr/lib/dovecot/pop3", "dovecot-pop3d"),
    ])?;
    eprintln!("bench imap: building release binaries");
    sh(crate::ci::cargo_command().current_dir(&ws).args([
        "build",
        "--release",
        "-p",
        "outpost-imapd",
        "--bin",
        "outpost-imapd",
        "--example",
        "imap_bench",
    ]))?;
    sh(crate::ci::cargo_command().current_dir(&ws).args([
        "build",
        "--release",
        "-p",
        "outpostctl",
    ]))?;
    let rel = crate::ci::target_dir().join("release");
    let dir = ws.join("target/bench-imap");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let corpus = fixture::corpus(&dir, "imap")?;

    // Outpost.
    let config = fixture::outpost_config(
        &dir,
        &rel,
        &format!(
            "[imap]\nimap_listen = [\"127.0.0.1:{}\"]\nimaps_listen = []\npop3_listen = [\"127.0.0.1:{}\"]\npop3s_listen = []\n",
            OUTPOST.0, OUTPOST.1,
        ),
    )?;
    let log = std::fs::File::create(dir.join("outpost-imapd.log"))?;
    let outpost = Guard(
        Command::new(rel.join("outpost-imapd"))
            // The allocator settings of outpost-imapd.service.
            .env("GLIBC_TUNABLES", TUNABLES)
            .arg("--config")
            .arg(&config)
            .stderr(log)
            .spawn()?,
    );
    wait_port(OUTPOST.0, "outpost-imapd")?;

    // Dovecot: private instance, own base_dir, no TLS, static passdb.
    let dovecot = fixture::start_dovecot(&dir, &corpus.dovecot, DOVECOT.0, Some(DOVECOT.1))?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_start = (tree_rss(outpost.0.id()), tree_rss(dovecot.0.id()));

    let example = rel.join("examples/imap_bench");
    eprintln!("bench imap: running the workload against Outpost");
    let o = run_client(&example, OUTPOST)?;
    eprintln!("bench imap: running the workload against Dovecot");
    let d = run_client(&example, DOVECOT)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_end = (tree_rss(outpost.0.id()), tree_rss(dovecot.0.id()));
    drop(dovecot);
    drop(outpost);

    let mut report = String::new();
    writeln!(
        report,
        "IMAP/POP3 benchmark: {MESSAGES} messages, loopback, medians (Dovecot/Outpost > 1: Outpost faster)"
    )?;
    writeln!(
        report,
        "{:<28} {:>12} {:>12} {:>8}",
        "operation", "outpost", "dovecot", "ratio"
    )?;
    for (k, label) in [
        ("login_select_ms", "LOGIN+SELECT (ms)"),
        ("fetch_envelopes_ms", "UID FETCH 1:* env (ms)"),
        ("search_subject_ms", "SEARCH SUBJECT (ms)"),
        ("search_body_ms", "SEARCH BODY (ms)"),
        ("sort_subject_ms", "SORT (SUBJECT) (ms)"),
        ("thread_references_ms", "THREAD REFERENCES (ms)"),
        ("fetch_1000_bodies_ms", "1000 BODY[] FETCHes (ms)"),
        ("pop3_uidl_retr_1000_ms", "POP3 UIDL+1000 RETR (ms)"),
    ] {
        let (a, b) = (
            o.get(k).copied().unwrap_or(f64::NAN),
            d.get(k).copied().unwrap_or(f64::NAN),
        );
        writeln!(report, "{label:<28} {a:>12.2} {b:>12.2} {:>8.2}", b / a)?;
    }
    for (k, label) in [
        ("search_subject_hits", "SEARCH SUBJECT hits"),
        ("search_body_hits", "SEARCH BODY hits"),
        ("sort_subject_hash", "SORT reply hash"),
        ("thread_references_hash", "THREAD reply hash"),
        ("fetch_envelopes_bytes", "envelope FETCH bytes"),
        ("wire_plain_bytes", "resync bytes, plain"),
        ("wire_compressed_bytes", "resync bytes, COMPRESS"),
    ] {
        let (a, b) = (
            o.get(k).copied().unwrap_or(f64::NAN),
            d.get(k).copied().unwrap_or(f64::NAN),
        );
        writeln!(report, "{label:<28} {a:>12} {b:>12}")?;
    }
    writeln!(
        report,
        "{:<28} {:>12} {:>12}",
        "idle RSS at start (KiB)", rss_start.0, rss_start.1
    )?;
    writeln!(
        report,
        "{:<28} {:>12} {:>12}",
        "idle RSS after run (KiB)", rss_end.0, rss_end.1
    )?;
    print!("{report}");
    std::fs::write(dir.join("results.txt"), &report)?;
    Ok(())
}
