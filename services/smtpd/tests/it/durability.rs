//! Durability under `kill -9`: Postfix's `smtp-source` pushes 2,000
//! messages over 4 parallel sessions into the real `outpost-smtpd` binary,
//! which is killed with SIGKILL mid-run and restarted. Every message that
//! got a `250 … queued as ID` must be in the Maildir exactly once (the id
//! is in our `Received:` header). Fails if smtp-source is missing
//! (Debian package `postfix`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills (SIGKILL) and reaps a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the daemon with every listener on 127.0.0.1:0 and returns it
/// with the MX address it printed. Letting the daemon pick its own ports
/// avoids the race of a "free" port being taken by a concurrent test,
/// which would send the load to somebody else's server.
fn start_daemon(config: &Path, log: &Path) -> (Guard, SocketAddr) {
    let start = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0) as usize;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_outpost-smtpd"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mine = text.get(start..).unwrap_or("");
        let mx = mine
            .lines()
            .filter_map(|l| {
                l.split_once("listening listener=\"smtp\" addr=")
                    .map(|(_, a)| a)
            })
            .find_map(|a| a.split_whitespace().next()?.parse::<SocketAddr>().ok());
        if let (Some(mx), true) = (mx, mine.contains(" ready")) {
            // The banner must be ours.
            let mut s = std::net::TcpStream::connect(mx).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut banner = [0u8; 128];
            let n = s.read(&mut banner).unwrap();
            let banner = String::from_utf8_lossy(&banner[..n]).to_string();
            assert!(
                banner.starts_with("220 mx.outpost.test ESMTP Outpost"),
                "{mx} answered {banner:?}"
            );
            let _ = s.write_all(b"QUIT\r\n");
            return (guard, mx);
        }
        if let Some(status) = guard.0.try_wait().unwrap() {
            panic!("smtpd exited ({status}) before listening:\n{mine}");
        }
        assert!(
            Instant::now() < deadline,
            "smtpd did not report its listeners in 30 s:\n{mine}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `n` lines of a file, for failure messages.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn smtp_source(mx: SocketAddr, count: usize, out: &Path) -> Guard {
    let out = std::fs::File::create(out).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new("smtp-source")
        .args([
            "-v",
            "-s",
            "4",
            "-m",
            &count.to_string(),
            "-f",
            "load@remote.example",
            "-t",
            "alice@outpost.test",
        ])
        .arg(mx.to_string())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("running smtp-source (apt-get install postfix)");
    Guard(child)
}

fn wait_exit(g: &mut Guard, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if g.0.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn acked_ids(transcript: &Path) -> Vec<String> {
    std::fs::read_to_string(transcript)
        .unwrap()
        .lines()
        .filter_map(|l| l.split("250 2.0.0 Ok: queued as ").nth(1))
        .map(|id| id.trim().to_string())
        .collect()
}

/// How many messages are in the Maildir (names only: cheap to poll).
fn delivered_count(maildir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .map(|rd| rd.count())
        .sum()
}

fn delivered_ids(maildir: &Path) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for e in rd {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let id = text
                .split(" id ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
                .unwrap_or("")
                .to_string();
            *ids.entry(id).or_insert(0) += 1;
        }
    }
    ids
}

#[test]
fn every_acknowledged_message_survives_kill_9_exactly_once() {
    const TOTAL: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.smtp.max_message_size = 1_000_000;
    crate::common::seed_users(&config.directory.path);
    let config_path = dir.path().join("outpost.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();
    let log = dir.path().join("smtpd.log");
    let maildir = config.general.mail_root.join("outpost.test/alice");

    let (daemon, mx) = start_daemon(&config_path, &log);
    let first_out = dir.path().join("source1.txt");
    let mut source = smtp_source(mx, TOTAL, &first_out);
    // Kill -9 once a good part is in, while sessions are in flight.
    let started = Instant::now();
    while delivered_count(&maildir) < TOTAL / 3 {
        let exited = source.0.try_wait().unwrap();
        if exited.is_some() || started.elapsed() > Duration::from_secs(120) {
            panic!(
                "load did not progress: {} delivered after {:?}, smtp-source {}\n\
                 smtp-source said:\n{}\nsmtpd said:\n{}",
                delivered_count(&maildir),
                started.elapsed(),
                exited.map_or("still running".to_string(), |s| format!("exited ({s})")),
                tail(&first_out, 20),
                tail(&log, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(daemon); // SIGKILL
    wait_exit(&mut source, 30);
    drop(source);
    let first = acked_ids(&first_out);
    assert!(
        !first.is_empty() && first.len() < TOTAL,
        "killed mid-run: {} acked",
        first.len()
    );

    // Restart and send the rest.
    let (daemon, mx) = start_daemon(&config_path, &log);
    let second_out = dir.path().join("source2.txt");
    let mut source = smtp_source(mx, TOTAL - first.len(), &second_out);
    wait_exit(&mut source, 150);
    assert!(
        source.0.try_wait().unwrap().is_some(),
        "smtp-source did not finish in 150 s:\n{}\nsmtpd said:\n{}",
        tail(&second_out, 20),
        tail(&log, 20)
    );
    drop(daemon);
    let second = acked_ids(&second_out);

    let delivered = delivered_ids(&maildir);
    let mut acked = first.clone();
    acked.extend(second.iter().cloned());
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !delivered.contains_key(*id))
        .collect();
    let duplicated: Vec<(&String, &usize)> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "durability: acked before kill {}, after restart {}, files delivered {}, lost {}, duplicated {}",
        first.len(),
        second.len(),
        delivered.values().sum::<usize>(),
        lost.len(),
        duplicated.len()
    );
    assert!(lost.is_empty(), "acknowledged but not delivered: {lost:?}");
    assert!(duplicated.is_empty(), "delivered twice: {duplicated:?}");
    assert_eq!(
        acked.len(),
        TOTAL,
        "every message was acknowledged in the end"
    );
}
