//! Durability under `kill -9`: Postfix's `smtp-source` pushes 2,000
//! messages over 4 parallel sessions into the real `outpost-smtpd` binary,
//! which is killed with SIGKILL mid-run and restarted. Every message that
//! got a `250 … queued as ID` must be in the Maildir exactly once (the id
//! is in our `Received:` header). Fails if smtp-source is missing
//! (Debian package `postfix`).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::postfix::free_port;

/// Kills (SIGKILL) and reaps a child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(config: &Path, log: &Path, port: u16) -> Guard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_outpost-smtpd"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "smtpd did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Guard(child)
}

fn smtp_source(port: u16, count: usize, out: &Path) -> Guard {
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
        .arg(format!("127.0.0.1:{port}"))
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
    let port = free_port();
    let mut config = crate::common::test_config(dir.path());
    let any = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    config.smtp.mx_listen = vec![any(port)];
    config.smtp.submission_listen = vec![any(free_port())];
    config.smtp.submissions_listen = vec![any(free_port())];
    config.smtp.max_message_size = 1_000_000;
    crate::common::seed_users(&config.directory.path);
    let config_path = dir.path().join("outpost.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();
    let log = dir.path().join("smtpd.log");
    let maildir = config.general.mail_root.join("outpost.test/alice");

    let daemon = start_daemon(&config_path, &log, port);
    let first_out = dir.path().join("source1.txt");
    let mut source = smtp_source(port, TOTAL, &first_out);
    // Kill -9 once a good part is in, while sessions are in flight.
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered_ids(&maildir).values().sum::<usize>() < TOTAL / 3 {
        assert!(Instant::now() < deadline, "load did not progress");
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
    let daemon = start_daemon(&config_path, &log, port);
    let second_out = dir.path().join("source2.txt");
    let mut source = smtp_source(port, TOTAL - first.len(), &second_out);
    wait_exit(&mut source, 300);
    assert!(
        source.0.try_wait().unwrap().is_some(),
        "smtp-source did not finish"
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
