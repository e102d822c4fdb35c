//! systemd readiness (`Type=notify`): `READY=1` once every listener is
//! bound, with a `STATUS=` line naming what is bound where; `STOPPING=1`
//! when a shutdown starts; `WATCHDOG=1` pings while the runtime is alive,
//! so a daemon whose workers are all stuck is restarted by systemd.
//!
//! `cargo xtask serve` listens on the same protocol (`NOTIFY_SOCKET`), so
//! "ready" there means *these* daemons bound *these* ports. Without
//! `NOTIFY_SOCKET` every call is a no-op.

use std::net::SocketAddr;
use std::time::Duration;

use sd_notify::NotifyState;

/// The `STATUS=` text for bound listeners: `listening NAME=ADDR …`. serve
/// parses it; `systemctl status` shows it.
pub fn status_line(bound: &[(&str, SocketAddr)]) -> String {
    let mut s = String::from("listening");
    for (name, addr) in bound {
        s.push_str(&format!(" {name}={addr}"));
    }
    s
}

/// Parses a [`status_line`] back into (name, address) pairs.
pub fn parse_status(status: &str) -> Option<Vec<(String, SocketAddr)>> {
    let rest = status.strip_prefix("listening")?;
    rest.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// Tells the service manager the daemon is ready, and what it listens on.
pub fn ready(bound: &[(&str, SocketAddr)]) {
    let status = status_line(bound);
    if let Err(e) = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&status)]) {
        tracing::warn!(error = %e, "telling the service manager we are ready");
    }
}

/// Tells the service manager a shutdown has begun.
pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// Starts the watchdog pings if the unit asks for them (`WatchdogSec=`):
/// every half period, from a tokio task, so a runtime whose workers are all
/// blocked stops pinging and systemd restarts the daemon.
pub fn spawn_watchdog() {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec / 2).max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        let bound = [
            ("imap", "127.0.0.1:10143".parse().unwrap()),
            ("pop3s", "[::1]:995".parse().unwrap()),
        ];
        let s = status_line(&bound);
        assert_eq!(s, "listening imap=127.0.0.1:10143 pop3s=[::1]:995");
        let back = parse_status(&s).unwrap();
        assert_eq!(back[0], ("imap".to_string(), bound[0].1));
        assert_eq!(back[1], ("pop3s".to_string(), bound[1].1));
        assert_eq!(parse_status("starting"), None);
        assert_eq!(parse_status("listening imap=nonsense"), None);
    }
}
