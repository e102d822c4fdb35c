//! `[imap]`: settings of `outpost-imapd` (IMAP4rev1/rev2 and POP3).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The IMAP and POP3 daemon (`outpost-imapd`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Imap {
    /// IMAP listeners with STARTTLS (RFC 9051 §6.2.1).
    pub imap_listen: Vec<SocketAddr>,
    /// Implicit-TLS IMAP listeners (RFC 8314).
    pub imaps_listen: Vec<SocketAddr>,
    /// POP3 listeners with STLS (RFC 2595).
    pub pop3_listen: Vec<SocketAddr>,
    /// Implicit-TLS POP3 listeners (RFC 8314).
    pub pop3s_listen: Vec<SocketAddr>,
    /// Longest command line in bytes (literals not counted).
    pub max_line_length: usize,
    /// Largest literal (APPEND message) in bytes.
    pub max_literal_size: u64,
    /// Largest command after login, all its lines and literals together;
    /// never less than `max_literal_size` + `max_line_length`, so the
    /// largest APPEND always fits.
    pub max_command_size: u64,
    /// Largest literal before login (a LOGIN user name or password).
    pub preauth_max_literal_size: u64,
    /// Largest command before login, lines and literals together.
    pub preauth_max_command_size: u64,
    /// Deepest nesting of SEARCH keys (NOT, OR, parentheses); deeper gets
    /// `BAD`.
    pub max_search_depth: usize,
    /// Concurrent connections in total.
    pub max_connections: usize,
    /// Concurrent connections from one client address, before login
    /// included; 0 = no limit.
    pub max_connections_per_ip: usize,
    /// Logged-in IMAP sessions of one user from one address (Dovecot's
    /// `mail_max_userip_connections`); 0 = no limit. A client in a
    /// reconnect loop then cannot starve the others.
    pub max_user_ip_connections: usize,
    /// Seconds of silence before an authenticated session is closed; RFC
    /// 9051 §5.4 asks for at least 30 minutes.
    pub idle_timeout_secs: u64,
    /// Seconds of silence allowed before login (short: cheap DoS guard).
    pub preauth_timeout_secs: u64,
    /// Per-user storage quota in bytes (QUOTA, RFC 9208); 0 = unlimited.
    pub quota_bytes: u64,
    /// Allow LOGIN/AUTH PLAIN/USER+PASS without TLS from loopback clients
    /// (the webmail and local tools); never from other addresses.
    pub allow_plaintext_loopback: bool,
}

impl Default for Imap {
    fn default() -> Self {
        Self {
            imap_listen: vec![SocketAddr::from(([0, 0, 0, 0], 143))],
            imaps_listen: vec![SocketAddr::from(([0, 0, 0, 0], 993))],
            pop3_listen: vec![SocketAddr::from(([0, 0, 0, 0], 110))],
            pop3s_listen: vec![SocketAddr::from(([0, 0, 0, 0], 995))],
            max_line_length: 64 * 1024,
            max_literal_size: 64 * 1024 * 1024,
            max_command_size: 72 * 1024 * 1024,
            preauth_max_literal_size: 8 * 1024,
            preauth_max_command_size: 16 * 1024,
            max_search_depth: 64,
            max_connections: 1000,
            max_connections_per_ip: 100,
            max_user_ip_connections: 20,
            idle_timeout_secs: 31 * 60,
            preauth_timeout_secs: 60,
            quota_bytes: 0,
            allow_plaintext_loopback: true,
        }
    }
}
