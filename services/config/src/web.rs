//! `[web]`: settings of `outpost-webd` (HTTPS: CalDAV, CardDAV, WebDAV).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The HTTPS daemon (`outpost-webd`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// HTTPS listeners.
    pub listen: Vec<SocketAddr>,
    /// Plain-HTTP listeners, for loopback clients only (the web UI's own
    /// proxying and tests); requests from other addresses are refused.
    pub plain_listen: Vec<SocketAddr>,
    /// Plain-HTTP listeners for anyone that answer Thunderbird's
    /// autoconfig and send every other request to HTTPS (the installer
    /// sets `0.0.0.0:80`, so `http://<host>.local` works); empty: none.
    pub redirect_listen: Vec<SocketAddr>,
    /// Root of the DAV collections; empty: `<general.state_dir>/dav/collections`.
    pub dav_root: Option<PathBuf>,
    /// Largest request body (and calendar object) in bytes; larger is 413.
    pub max_body_bytes: usize,
    /// Concurrent connections in total.
    pub max_connections: usize,
    /// Concurrent connections from one client address; 0 = no limit.
    pub max_connections_per_ip: usize,
    /// Seconds a connection may stay idle before it is closed.
    pub idle_timeout_secs: u64,
    /// Longest silence in seconds while a request body arrives, and the
    /// grace period before [`Web::body_min_rate`] applies; a body that
    /// misses either is answered `408` and its connection closed.
    pub body_timeout_secs: u64,
    /// Slowest average rate, bytes per second, at which a request body may
    /// arrive: the body's deadline is `body_timeout_secs` plus one second
    /// for every `body_min_rate` bytes received (0: no rate, only the
    /// silence timeout).
    pub body_min_rate: u64,
    /// Bytes of a request body kept in memory while it arrives; the rest
    /// is spooled to an unlinked file in `<general.state_dir>/web/spool`
    /// (at least 1024).
    pub body_buffer_bytes: usize,
    /// Instances of one calendar object that a time range or `<C:expand>`
    /// considers (the `CALDAV:max-instances` property, RFC 4791 §5.2.8).
    pub max_expand_instances_per_item: usize,
    /// Expanded instances in one response; more gets `403` with
    /// `CALDAV:max-instances`.
    pub max_expand_instances: usize,
    /// Bytes of expanded calendar data in one response; more gets `403`
    /// with `CALDAV:max-instances`.
    pub max_expand_bytes: usize,
    /// A web session ends after this long without a request.
    pub session_idle_secs: u64,
    /// A web session ends this long after sign-in, however busy.
    pub session_max_secs: u64,
    /// Bytes of files one message written in the webmail may carry
    /// (before encoding; base64 makes them a third larger, and the whole
    /// message must stay within `smtp.max_message_size`).
    pub max_attachment_bytes: usize,
}

impl Default for Web {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 443))],
            plain_listen: Vec::new(),
            redirect_listen: Vec::new(),
            dav_root: None,
            max_body_bytes: 16 * 1024 * 1024,
            max_connections: 1000,
            max_connections_per_ip: 100,
            idle_timeout_secs: 300,
            body_timeout_secs: 30,
            body_min_rate: 1024,
            body_buffer_bytes: 64 * 1024,
            max_expand_instances_per_item: 3000,
            max_expand_instances: 10_000,
            max_expand_bytes: 16 * 1024 * 1024,
            session_idle_secs: 8 * 3600,
            session_max_secs: 7 * 86400,
            max_attachment_bytes: 18 * 1024 * 1024,
        }
    }
}
