//! The tracing subscriber, set up once per daemon: journald's native
//! protocol (structured fields: `TARGET`, `F_USER`, `F_PEER`, …) when
//! stderr is the journal, plain text lines on stderr otherwise; the level
//! from `[log] level`, overridden by `RUST_LOG`.
//!
//! Event targets are part of the admin interface (docs/configuration.md,
//! `[log]`): `outpost::auth` (one event per login attempt), `outpost::mail`
//! (one per message), `outpost::http` (one per request). Fields never hold a
//! password or a message body.

use outpost_config::{Log, LogFormat};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Where the log of this process went (what [`init`] chose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// journald's native socket.
    Journald,
    /// Text on stderr.
    Text,
    /// A subscriber was already installed (tests); nothing changed.
    Existing,
}

/// Installs the global subscriber for daemon `name` (journald's
/// `SYSLOG_IDENTIFIER`). Safe to call twice: the second call changes
/// nothing.
pub fn init(name: &'static str, log: &Log) -> Output {
    let (filter, bad_level) = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => match EnvFilter::try_new(&v) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new("info"), Some(format!("RUST_LOG={v:?}: {e}"))),
        },
        _ => match EnvFilter::try_new(&log.level) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new("info"),
                Some(format!("log.level = {:?}: {e}", log.level)),
            ),
        },
    };
    let journald = match log.format {
        LogFormat::Auto => stderr_is_journal(),
        LogFormat::Journald => true,
        LogFormat::Text => false,
    };
    let mut output = Output::Text;
    let installed = if journald {
        match tracing_journald::layer() {
            Ok(layer) => {
                output = Output::Journald;
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer.with_syslog_identifier(name.to_string()))
                    .try_init()
                    .is_ok()
            }
            // No journald socket (a container, a rescue shell): text.
            Err(_) => text(filter),
        }
    } else {
        text(filter)
    };
    if !installed {
        return Output::Existing;
    }
    if let Some(why) = bad_level {
        tracing::warn!("ignoring an invalid log filter ({why}); logging at info");
    }
    output
}

fn text(filter: EnvFilter) -> bool {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true)
        .try_init()
        .is_ok()
}

/// Whether stderr is connected to the journal: systemd sets `JOURNAL_STREAM`
/// to the device and inode of that stream (systemd.exec(5)); a redirected
/// stderr no longer matches.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    // stat() through the magic link gives the open file's own inode.
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Longest user name a log event carries (a client chooses it): longer
/// ones are cut, with `…`, so one LOGIN cannot write a megabyte of log.
const MAX_LOGGED_USER: usize = 128;

/// A client-chosen string fit for a log field: at most
/// [`MAX_LOGGED_USER`] characters. (Control characters need no care here:
/// `&str` fields are written `Debug`-escaped by the text layer and as
/// separate fields by journald.)
pub fn client_str(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(MAX_LOGGED_USER) {
        None => s.into(),
        Some((cut, _)) => format!("{}…", &s[..cut]).into(),
    }
}

/// The one event of one login attempt (target `outpost::auth`), in every
/// protocol: `protocol` (`imap`, `pop3`, `smtp`, `http`), `mechanism`
/// (`LOGIN`, `PLAIN`, `USER`, `Basic`, …), the user as given, the peer,
/// and on failure the reason (`invalid`, `locked`, `disabled`, `busy`, …:
/// never the password). A success also records the user on the current
/// span (the connection's, where no command span is open), so every later
/// event of the session carries it; [`login_on`] names the span.
pub fn login(
    protocol: &'static str,
    mechanism: &str,
    user: &str,
    peer: impl std::fmt::Display,
    outcome: Result<(), &str>,
) {
    login_on(
        &tracing::Span::current(),
        protocol,
        mechanism,
        user,
        peer,
        outcome,
    )
}

/// [`login`], recording a success on `span`: a session that logs in from
/// inside a per-command span passes its connection's span, which outlives
/// the command.
pub fn login_on(
    span: &tracing::Span,
    protocol: &'static str,
    mechanism: &str,
    user: &str,
    peer: impl std::fmt::Display,
    outcome: Result<(), &str>,
) {
    let user = client_str(user);
    let user: &str = &user;
    let mechanism = client_str(mechanism);
    let mechanism: &str = &mechanism;
    match outcome {
        Ok(()) => {
            span.record("user", user);
            tracing::info!(target: "outpost::auth", protocol, mechanism, user, peer = %peer, result = "ok", "login");
        }
        Err(reason) => {
            tracing::warn!(target: "outpost::auth", protocol, mechanism, user, peer = %peer, result = "failed", reason, "login failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs this test binary's test `name` in a child with `env` (each
    /// case needs a process of its own: the subscriber is global) and
    /// stderr to `stderr`; returns the child's stdout.
    fn child(name: &str, env: &[(&str, &str)], stderr: std::process::Stdio) -> String {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env("OUTPOST_LOG_CHILD", "1")
            .env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .stderr(stderr);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{name}: {text}");
        text
    }

    /// The child half of the tests below: reports what it sees.
    #[test]
    fn report_log_setup() {
        if std::env::var_os("OUTPOST_LOG_CHILD").is_none() {
            return;
        }
        println!("journal={}", stderr_is_journal());
        let level = std::env::var("OUTPOST_LOG_LEVEL").unwrap_or("info".into());
        let log = Log {
            level,
            format: LogFormat::Text,
        };
        println!("output={:?}", init("outpost-test", &log));
        println!(
            "debug={} info={} warn={}",
            tracing::enabled!(tracing::Level::DEBUG),
            tracing::enabled!(tracing::Level::INFO),
            tracing::enabled!(tracing::Level::WARN)
        );
    }

    #[test]
    fn journald_is_chosen_only_when_stderr_is_the_stream_systemd_names() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr");
        let f = std::fs::File::create(&path).unwrap();
        let m = f.metadata().unwrap();
        let stream = format!("{}:{}", m.dev(), m.ino());
        let name = "log::tests::report_log_setup";
        let out = child(
            name,
            &[("JOURNAL_STREAM", &stream)],
            f.try_clone().unwrap().into(),
        );
        assert!(out.contains("journal=true"), "{out}");
        // The same variable with stderr redirected elsewhere (a shell
        // pipe, `2>file`): not the journal.
        let other = std::fs::File::create(dir.path().join("other")).unwrap();
        let out = child(name, &[("JOURNAL_STREAM", &stream)], other.into());
        assert!(out.contains("journal=false"), "{out}");
        let out = child(
            name,
            &[("JOURNAL_STREAM", "garbage")],
            std::process::Stdio::null(),
        );
        assert!(out.contains("journal=false"), "{out}");
        let out = child(name, &[], std::process::Stdio::null());
        assert!(out.contains("journal=false"), "{out}");
    }

    #[test]
    fn rust_log_wins_over_the_config_and_a_bad_filter_falls_back_to_info() {
        let name = "log::tests::report_log_setup";
        let null = std::process::Stdio::null;
        let out = child(name, &[("OUTPOST_LOG_LEVEL", "debug")], null());
        assert!(
            out.contains("output=Text") && out.contains("debug=true"),
            "{out}"
        );
        let out = child(
            name,
            &[("OUTPOST_LOG_LEVEL", "debug"), ("RUST_LOG", "warn")],
            null(),
        );
        assert!(out.contains("debug=false info=false warn=true"), "{out}");
        let out = child(name, &[("RUST_LOG", "=[bad")], null());
        assert!(out.contains("debug=false info=true"), "{out}");
        let out = child(name, &[("OUTPOST_LOG_LEVEL", "=[bad")], null());
        assert!(out.contains("debug=false info=true"), "{out}");
    }

    #[test]
    fn client_strings_are_cut_at_the_bound() {
        assert_eq!(client_str("bob"), "bob");
        let long = "é".repeat(1000);
        let cut = client_str(&long);
        assert_eq!(cut.chars().count(), MAX_LOGGED_USER + 1);
        assert!(cut.ends_with('…'));
    }
}
