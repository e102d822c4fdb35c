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
}

impl Default for Web {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 443))],
            plain_listen: Vec::new(),
            dav_root: None,
            max_body_bytes: 16 * 1024 * 1024,
            max_connections: 1000,
            max_connections_per_ip: 100,
            idle_timeout_secs: 300,
        }
    }
}
