//! `/etc/outpost/outpost.toml`: the one configuration file shared by every
//! Outpost daemon and by `outpostctl`.
//!
//! Every key has a default (see `docs/configuration.md`), so an empty file,
//! or a file that only names the mail domain, is a complete configuration.
//! Each daemon owns one section (`[smtp]`, `[imap]`, `[web]`); the sections
//! every daemon reads (`[general]`, `[tls]`, `[directory]`) live here.
//! The installer writes this file by serialising [`Config`] with
//! [`Config::to_toml`].

#![deny(missing_docs)]

pub mod hygiene;
pub mod imap;
pub mod web;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the daemons look for the configuration unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/outpost/outpost.toml";

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Host name, mail domains and the store roots.
    pub general: General,
    /// Certificates used by every TLS listener.
    pub tls: Tls,
    /// The user directory and its authentication lockout.
    pub directory: Directory,
    /// The SMTP daemon (`outpost-smtpd`).
    pub smtp: Smtp,
    /// The IMAP and POP3 daemon (`outpost-imapd`).
    pub imap: imap::Imap,
    /// The HTTPS daemon (`outpost-webd`: CalDAV, CardDAV).
    pub web: web::Web,
    /// Logging, shared by every daemon.
    pub log: Log,
}

/// Logging (`outpost-daemon` sets it up the same way in every daemon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// Level or `tracing` filter directives (`info`, `debug`,
    /// `info,outpost::auth=debug`); the `RUST_LOG` environment variable,
    /// when set, wins.
    pub level: String,
    /// Where log lines go.
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Auto,
        }
    }
}

/// The log output of a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// journald's native protocol when stderr is the journal (systemd sets
    /// `JOURNAL_STREAM`), plain text on stderr otherwise.
    Auto,
    /// Always journald's native protocol (structured fields).
    Journald,
    /// Always plain text lines on stderr.
    Text,
}

/// Settings every daemon reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct General {
    /// The appliance's host name: SMTP greeting, certificate name.
    pub hostname: String,
    /// Mail domains delivered locally. The first one is the primary domain.
    pub domains: Vec<String>,
    /// Root of the Maildir store: `<mail_root>/<domain>/<user>/`.
    pub mail_root: PathBuf,
    /// Root of Outpost's own state (`tls/`, `directory/`, `dav/`, ...).
    pub state_dir: PathBuf,
    /// Seconds a daemon waits on SIGTERM for open sessions to finish (they
    /// are told to end at their next safe point) before it exits anyway.
    pub shutdown_grace_secs: u64,
    /// Deepest MIME nesting (`multipart/*`, `message/rfc822`) any daemon
    /// parses: smtpd refuses deeper mail with `554 5.6.0`, imapd serves a
    /// stored message that is deeper as one opaque part.
    pub max_mime_depth: usize,
}

impl Default for General {
    fn default() -> Self {
        Self {
            hostname: "outpost.lan".into(),
            domains: vec!["outpost.lan".into()],
            mail_root: "/var/mail".into(),
            state_dir: "/var/lib/outpost".into(),
            shutdown_grace_secs: 30,
            max_mime_depth: 100,
        }
    }
}

/// TLS certificates for every listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Directory of the local CA (`ca.crt`, `ca.key`) and of the generated
    /// server certificate (`server.crt`, `server.key`).
    pub dir: PathBuf,
    /// A PEM certificate chain to use instead of the generated one. Empty:
    /// generate (and keep) a local CA and a server certificate in `dir`.
    pub cert: Option<PathBuf>,
    /// The PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Days before expiry at which the generated server certificate is
    /// reissued by the local CA (the daemons check at start and every
    /// hour, and reload it without a restart).
    pub renew_before_days: u32,
    /// Extra names for the generated certificate besides `general.hostname`,
    /// `<name>.local` (`<name>` its first label: the name avahi publishes)
    /// and `localhost`.
    pub extra_names: Vec<String>,
    /// Seconds a client may take to complete a TLS handshake (implicit TLS
    /// ports, STARTTLS, STLS) before the connection is closed.
    pub handshake_timeout_secs: u64,
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            dir: "/var/lib/outpost/tls".into(),
            cert: None,
            key: None,
            renew_before_days: 90,
            extra_names: Vec::new(),
            handshake_timeout_secs: 10,
        }
    }
}

/// The user directory (`outpost-directory`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Directory {
    /// Directory holding `directory.sqlite3`.
    pub path: PathBuf,
    /// Failed logins for one account from one source address (an IPv4
    /// address or an IPv6 /64) within `lockout_window_secs` that lock that
    /// account for that source only (#14); other sources are not affected.
    /// `lockout_threshold` applies if it is smaller.
    pub per_source_failures: u32,
    /// Failed logins from one source address over all accounts (password
    /// spraying) within `lockout_window_secs` that lock that source for
    /// every account.
    pub lockout_threshold: u32,
    /// A source's failures are forgotten after this many seconds without a
    /// failure (and once its lock is over).
    pub lockout_window_secs: u64,
    /// First lock of a source, in seconds; doubled for every further
    /// failure (and every attempt while locked), up to `lockout_max_secs`.
    pub lockout_secs: u64,
    /// Longest lock of a source, in seconds.
    pub lockout_max_secs: u64,
    /// Failed logins for one account from all sources together within
    /// `account_window_secs` that lock the account everywhere, briefly: the
    /// bound on a distributed guesser.
    pub account_failures: u32,
    /// Window of `account_failures`, in seconds, from the first failure.
    pub account_window_secs: u64,
    /// How long the account-wide lock lasts, in seconds (at most 3600: it
    /// is the one lock an attacker can put on someone else's account, so
    /// it is short and does not grow).
    pub account_lockout_secs: u64,
    /// Password checks (argon2id, ~12 MiB each) running at once in one
    /// daemon; further logins wait for a slot.
    pub max_password_checks: usize,
    /// Password checks running or waiting at once for one client address;
    /// a login beyond this is refused as busy.
    pub max_password_checks_per_client: usize,
    /// Seconds a login may wait for a password-check slot before it is
    /// refused as busy (the client retries).
    pub password_check_wait_secs: u64,
}

impl Default for Directory {
    fn default() -> Self {
        Self {
            path: "/var/lib/outpost/directory".into(),
            per_source_failures: 5,
            lockout_threshold: 20,
            lockout_window_secs: 900,
            lockout_secs: 60,
            lockout_max_secs: 3600,
            account_failures: 30,
            account_window_secs: 300,
            account_lockout_secs: 300,
            max_password_checks: 4,
            max_password_checks_per_client: 2,
            password_check_wait_secs: 10,
        }
    }
}

/// How the relay talks to the upstream smarthost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamTls {
    /// STARTTLS is required; no mail is sent in clear text.
    Starttls,
    /// STARTTLS when the smarthost offers it, clear text otherwise.
    Opportunistic,
    /// Never use TLS (for test setups on loopback only).
    None,
}

/// The upstream smarthost (for example the organisation's Exchange).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstream {
    /// Host name or address; empty: no smarthost, remote mail stays queued
    /// (and bounces after `smtp.bounce_after_secs`).
    pub host: String,
    /// TCP port of the smarthost.
    pub port: u16,
    /// TLS policy.
    pub tls: UpstreamTls,
    /// A PEM file of CA certificates trusted for the smarthost, in addition
    /// to none: the appliance is offline, so there is no public root store.
    /// Empty: trust Outpost's own CA only.
    pub ca_file: Option<PathBuf>,
    /// AUTH user name; empty: no AUTH.
    pub username: String,
    /// AUTH password.
    pub password: String,
    /// Longest wait in seconds for one whole reply of the smarthost (the
    /// greeting, or the answer to one command), however slowly its bytes
    /// arrive; then the attempt fails temporarily and the mail stays
    /// queued. RFC 5321 §4.5.3.2 suggests 2 to 10 minutes per reply.
    pub reply_timeout_secs: u64,
}

impl Default for Upstream {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: UpstreamTls::Starttls,
            ca_file: None,
            username: String::new(),
            password: String::new(),
            reply_timeout_secs: 300,
        }
    }
}

/// The SMTP daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    /// MX listeners: no AUTH, local domains only.
    pub mx_listen: Vec<SocketAddr>,
    /// Submission listeners: STARTTLS required before AUTH (RFC 6409).
    pub submission_listen: Vec<SocketAddr>,
    /// Implicit-TLS submission listeners (RFC 8314).
    pub submissions_listen: Vec<SocketAddr>,
    /// Durable outbound queue.
    pub queue_dir: PathBuf,
    /// Largest accepted message in bytes (advertised as SIZE, RFC 1870).
    pub max_message_size: u64,
    /// Bytes of a message kept in memory while DATA arrives; the rest is
    /// spooled to a file in `<queue_dir>/spool`. Also the largest header
    /// section of a spooled message (at least 1024).
    pub data_buffer_bytes: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Concurrent connections in total.
    pub max_connections: usize,
    /// Concurrent connections from one client address.
    pub max_connections_per_ip: usize,
    /// Seconds to wait for the next command before closing (RFC 5321 §4.5.3.2.7).
    pub idle_timeout_secs: u64,
    /// Longest silence in seconds while receiving DATA (RFC 5321 §4.5.3.2.5).
    /// Command lines are limited to 4096 bytes by the parser.
    pub data_timeout_secs: u64,
    /// Failed AUTH attempts in one session before it is closed.
    pub max_auth_failures_per_session: u32,
    /// Upstream smarthost for non-local recipients.
    pub upstream: Upstream,
    /// First retry delay in seconds; it doubles after every failure.
    pub retry_initial_secs: u64,
    /// Longest retry delay in seconds.
    pub retry_max_secs: u64,
    /// Seconds after which undeliverable mail is bounced to its sender
    /// (default five days).
    pub bounce_after_secs: u64,
    /// Seconds a queue leftover (a `.msg` without its `.env`, a temporary
    /// file) must be old before smtpd's cleanup pass removes it; younger
    /// ones may be an enqueue in progress (at least 60).
    pub queue_orphan_grace_secs: u64,
    /// Most out-of-office replies one user sends in an hour, whoever the
    /// senders are (a flood of forged senders is not answered).
    pub vacation_max_per_hour: u32,
    /// DKIM signing of submitted mail.
    pub dkim: hygiene::Dkim,
    /// SPF/DKIM/DMARC/ARC checks on the MX.
    pub checks: hygiene::Checks,
    /// The spam engine.
    pub spam: hygiene::Spam,
    /// The virus scanner.
    pub av: hygiene::Av,
    /// Blocked attachment types.
    pub attachments: hygiene::Attachments,
}

impl Default for Smtp {
    fn default() -> Self {
        Self {
            mx_listen: vec![SocketAddr::from(([0, 0, 0, 0], 25))],
            submission_listen: vec![SocketAddr::from(([0, 0, 0, 0], 587))],
            submissions_listen: vec![SocketAddr::from(([0, 0, 0, 0], 465))],
            queue_dir: "/var/spool/outpost/queue".into(),
            max_message_size: 25 * 1024 * 1024,
            data_buffer_bytes: 256 * 1024,
            max_recipients: 100,
            max_connections: 500,
            max_connections_per_ip: 20,
            idle_timeout_secs: 300,
            data_timeout_secs: 600,
            max_auth_failures_per_session: 3,
            upstream: Upstream::default(),
            retry_initial_secs: 60,
            retry_max_secs: 3600,
            bounce_after_secs: 5 * 24 * 3600,
            queue_orphan_grace_secs: 3600,
            vacation_max_per_hour: 100,
            dkim: hygiene::Dkim::default(),
            checks: hygiene::Checks::default(),
            spam: hygiene::Spam::default(),
            av: hygiene::Av::default(),
            attachments: hygiene::Attachments::default(),
        }
    }
}

/// Why a configuration file could not be used.
#[derive(Debug)]
pub enum Error {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error (with line and column).
        source: toml::de::Error,
    },
    /// The values are well-formed but inconsistent.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Parse { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Invalid { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Parse { source, .. } => Some(source),
            Error::Invalid { .. } => None,
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and validates configuration text; `path` only names it in errors.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, Error> {
        let config: Config = toml::from_str(text).map_err(|source| Error::Parse {
            path: path.to_owned(),
            source,
        })?;
        config.validate().map_err(|message| Error::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// Serialises the configuration (what the installer writes).
    pub fn to_toml(&self) -> String {
        // Serialising plain structs of strings, numbers and paths cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The DKIM key folder (`smtp.dkim.key_dir`, else under
    /// `general.state_dir`).
    pub fn dkim_key_dir(&self) -> PathBuf {
        self.smtp
            .dkim
            .key_dir
            .clone()
            .unwrap_or_else(|| self.general.state_dir.join("dkim"))
    }

    /// The primary mail domain (the first of `general.domains`).
    pub fn primary_domain(&self) -> &str {
        self.general
            .domains
            .first()
            .map(String::as_str)
            .unwrap_or("outpost.lan")
    }

    /// Whether `domain` is delivered locally (ASCII case-insensitive).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.general
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Names for the generated server certificate.
    pub fn certificate_names(&self) -> Vec<String> {
        let host = &self.general.hostname;
        // mDNS publishes the first label (`/etc/hostname` holds the short
        // name): `mail.example.org` is reached as `mail.local`.
        let short = host.split('.').next().unwrap_or(host);
        let mut names = vec![host.clone(), format!("{short}.local"), "localhost".into()];
        names.extend(self.tls.extra_names.iter().cloned());
        // Each name once, first place kept (`localhost` as the hostname
        // must not list it twice).
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.to_ascii_lowercase()));
        names
    }

    fn validate(&self) -> Result<(), String> {
        if self.general.hostname.is_empty() {
            return Err("general.hostname must not be empty".into());
        }
        if self.general.domains.is_empty() {
            return Err("general.domains must name at least one mail domain".into());
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err("tls.cert and tls.key must be given together".into());
        }
        if self.tls.renew_before_days == 0 || self.tls.renew_before_days > 700 {
            return Err("tls.renew_before_days must be between 1 and 700".into());
        }
        if self.tls.handshake_timeout_secs == 0 {
            return Err("tls.handshake_timeout_secs must be > 0".into());
        }
        if self.directory.max_password_checks == 0
            || self.directory.max_password_checks_per_client == 0
        {
            return Err(
                "directory.max_password_checks and max_password_checks_per_client must be > 0"
                    .into(),
            );
        }
        let d = &self.directory;
        if d.per_source_failures == 0 || d.lockout_threshold == 0 || d.account_failures == 0 {
            return Err(
                "directory.per_source_failures, lockout_threshold and account_failures must be > 0"
                    .into(),
            );
        }
        if d.lockout_secs == 0 || d.lockout_max_secs < d.lockout_secs {
            return Err(
                "directory.lockout_secs must be > 0 and <= directory.lockout_max_secs".into(),
            );
        }
        if d.account_window_secs == 0 || !(1..=3600).contains(&d.account_lockout_secs) {
            return Err(
                "directory.account_window_secs must be > 0 and account_lockout_secs between 1 and 3600"
                    .into(),
            );
        }
        if self.smtp.retry_initial_secs == 0
            || self.smtp.retry_max_secs < self.smtp.retry_initial_secs
        {
            return Err("smtp.retry_initial_secs must be > 0 and <= smtp.retry_max_secs".into());
        }
        if self.smtp.upstream.reply_timeout_secs == 0 {
            return Err("smtp.upstream.reply_timeout_secs must be > 0".into());
        }
        if self.smtp.data_buffer_bytes < 1024 {
            return Err("smtp.data_buffer_bytes must be at least 1024".into());
        }
        if self.smtp.queue_orphan_grace_secs < 60 {
            return Err("smtp.queue_orphan_grace_secs must be at least 60".into());
        }
        let sp = &self.smtp.spam;
        if sp.timeout_secs == 0
            || sp.junk_score.partial_cmp(&sp.reject_score) != Some(std::cmp::Ordering::Less)
        {
            return Err(
                "smtp.spam.timeout_secs must be > 0 and junk_score below reject_score".into(),
            );
        }
        if self.smtp.av.timeout_secs == 0 || self.smtp.av.max_scan_bytes == 0 {
            return Err("smtp.av.timeout_secs and max_scan_bytes must be > 0".into());
        }
        let ck = &self.smtp.checks;
        if ck.dns_timeout_ms == 0 || ck.budget_ms < ck.dns_timeout_ms {
            return Err(
                "smtp.checks.dns_timeout_ms must be > 0 and <= smtp.checks.budget_ms".into(),
            );
        }
        let dk = &self.smtp.dkim;
        if dk.selector.is_empty()
            || !dk
                .selector
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("smtp.dkim.selector must be letters, digits and '-'".into());
        }
        let w = &self.web;
        if w.body_timeout_secs == 0 {
            return Err("web.body_timeout_secs must be > 0".into());
        }
        if w.body_buffer_bytes < 1024 {
            return Err("web.body_buffer_bytes must be at least 1024".into());
        }
        if w.max_expand_instances_per_item == 0
            || w.max_expand_instances == 0
            || w.max_expand_bytes == 0
        {
            return Err(
                "web.max_expand_instances_per_item, max_expand_instances and max_expand_bytes must be > 0"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_are_each_listed_once() {
        let mut c = Config::default();
        c.general.hostname = "localhost".into();
        c.tls.extra_names = vec!["mail.example.org".into(), "LOCALHOST".into()];
        assert_eq!(
            c.certificate_names(),
            ["localhost", "localhost.local", "mail.example.org"]
        );
    }

    #[test]
    fn the_local_name_is_the_first_label() {
        // Regression: an installed appliance (hostname `outpost.outpost.lan`)
        // got `outpost.outpost.lan.local`, not the `outpost.local` avahi publishes.
        let mut c = Config::default();
        c.general.hostname = "outpost.outpost.lan".into();
        assert_eq!(
            c.certificate_names(),
            ["outpost.outpost.lan", "outpost.local", "localhost"]
        );
    }

    #[test]
    fn empty_file_is_the_default() {
        let c = Config::from_toml(Path::new("x.toml"), "").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.smtp.bounce_after_secs, 432_000);
    }

    #[test]
    fn round_trips_through_toml() {
        let mut c = Config::default();
        c.general.domains = vec!["example.test".into(), "b.test".into()];
        c.smtp.upstream.host = "smarthost.example".into();
        c.tls.cert = Some("/x.crt".into());
        c.tls.key = Some("/x.key".into());
        let text = c.to_toml();
        assert_eq!(Config::from_toml(Path::new("x"), &text).unwrap(), c);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let cases = [
            ("[smtp]\nnope = 1\n", "unknown field `nope`"),
            ("[general]\ndomains = []\n", "general.domains must name"),
            ("[tls]\ncert = \"/a\"\n", "tls.cert and tls.key"),
            ("[smtp]\nretry_initial_secs = 0\n", "retry_initial_secs"),
            (
                "[directory]\naccount_lockout_secs = 86400\n",
                "account_lockout_secs between 1 and 3600",
            ),
            ("[directory]\nlockout_max_secs = 1\n", "lockout_max_secs"),
            (
                "[directory]\naccount_failures = 0\n",
                "account_failures must be > 0",
            ),
            (
                "[smtp]\ndata_buffer_bytes = 100\n",
                "data_buffer_bytes must be at least 1024",
            ),
            (
                "[smtp]\nqueue_orphan_grace_secs = 5\n",
                "queue_orphan_grace_secs must be at least 60",
            ),
            (
                "[web]\nbody_timeout_secs = 0\n",
                "body_timeout_secs must be > 0",
            ),
            (
                "[web]\nbody_buffer_bytes = 10\n",
                "body_buffer_bytes must be at least 1024",
            ),
            (
                "[web]\nmax_expand_instances = 0\n",
                "max_expand_bytes must be > 0",
            ),
        ];
        for (text, want) in cases {
            let err = Config::from_toml(Path::new("c.toml"), text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(err.starts_with("c.toml: "), "{err}");
        }
    }

    #[test]
    fn local_domains_ignore_case() {
        let c = Config::default();
        assert!(c.is_local_domain("OUTPOST.lan"));
        assert!(!c.is_local_domain("example.com"));
    }
}
