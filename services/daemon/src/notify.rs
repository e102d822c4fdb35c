//! systemd readiness (`Type=notify`): `READY=1` once every listener is
//! bound, with a `STATUS=` line naming what is bound where; `STOPPING=1`
//! when a shutdown starts; `WATCHDOG=1` pings while the runtime is alive,
//! so a daemon whose workers are all stuck is restarted by systemd.
//!
//! `cargo xtask serve` listens on the same protocol (`NOTIFY_SOCKET`), so
//! "ready" there means *these* daemons bound *these* ports. Without
//! `NOTIFY_SOCKET` every call is a no-op.
//!
//! Written by hand (why: the protocol is one datagram of `KEY=VALUE` lines
//! to the socket in `NOTIFY_SOCKET`, sd_notify(3); the `sd-notify` crate
//! does not reach abstract sockets (`@name`), which the protocol allows and
//! serve uses so no socket file is left behind).

use std::net::SocketAddr;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends one notification (`lines`, `KEY=VALUE` each) to `NOTIFY_SOCKET`;
/// `Ok(false)` when there is none.
pub fn notify(lines: &[&str]) -> std::io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    notify_to(&target.to_string_lossy(), lines)?;
    Ok(true)
}

/// Sends one notification to `target`: a socket path, or `@name` for an
/// abstract socket.
fn notify_to(target: &str, lines: &[&str]) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let msg = lines.join("\n");
    match target.strip_prefix('@') {
        Some(name) => {
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(msg.as_bytes(), &addr)?;
        }
        None => {
            sock.send_to(msg.as_bytes(), target)?;
        }
    }
    Ok(())
}

/// The watchdog period the service manager asks for (`WATCHDOG_USEC`, when
/// `WATCHDOG_PID` is unset or this process).
fn watchdog_period() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

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
    let status = format!("STATUS={}", status_line(bound));
    if let Err(e) = notify(&["READY=1", &status]) {
        tracing::warn!(error = %e, "telling the service manager we are ready");
    }
}

/// Tells the service manager a shutdown has begun.
pub fn stopping() {
    let _ = notify(&["STOPPING=1", "STATUS=stopping"]);
}

/// Starts the watchdog pings if the unit asks for them (`WatchdogSec=`):
/// every half period, from a tokio task, so a runtime whose workers are all
/// blocked stops pinging and systemd restarts the daemon.
pub fn spawn_watchdog() {
    let Some(period) = watchdog_period() else {
        return;
    };
    let period = (period / 2).max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let _ = notify(&["WATCHDOG=1"]);
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

    #[test]
    fn notifications_reach_path_and_abstract_sockets() {
        // Both forms of NOTIFY_SOCKET (sd_notify(3)).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), &["READY=1", "STATUS=x"]).unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=x");
        let name = format!("outpost-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), &["WATCHDOG=1"]).unwrap();
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        // A socket nobody listens on is an error, not a silent success.
        assert!(notify_to(&format!("@{name}-absent"), &["READY=1"]).is_err());
    }
}
