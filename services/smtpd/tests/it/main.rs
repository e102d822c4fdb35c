//! Integration tests of `outpost-smtpd`: one binary, one module per area.
//! Servers listen on 127.0.0.1 only, on port 0 where the daemon runs
//! in-process.

mod common;
mod data;
mod durability;
mod hygiene;
mod postfix;
mod protocol;
mod queue;
mod relay;
mod swaks;
mod vacation;

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
