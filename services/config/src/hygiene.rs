//! `[smtp.dkim]`, `[smtp.checks]`, `[smtp.spam]`, `[smtp.av]` and
//! `[smtp.attachments]`: what smtpd does to make mail trustworthy (signs
//! what leaves, checks what arrives, filters spam, viruses and
//! executables). Implemented by `outpost-hygiene`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// DKIM signing (RFC 6376, RFC 8463).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dkim {
    /// Sign mail submitted by users (what leaves for the smarthost or the
    /// Internet, and, with `sign_local`, mail between local users).
    pub enabled: bool,
    /// Where the keys live (created at first start, 0600); unset:
    /// `<general.state_dir>/dkim`, so `/var/lib/outpost/dkim`.
    pub key_dir: Option<PathBuf>,
    /// The selector's base name: the keys are published at
    /// `<selector>-ed25519._domainkey.<domain>` and
    /// `<selector>-rsa._domainkey.<domain>`; `outpostctl dkim rotate`
    /// makes a new dated selector from it.
    pub selector: String,
    /// The signing domain (`d=`); empty: the From address's domain when it
    /// is one of Outpost's domains, else the primary domain.
    pub domain: String,
    /// Also sign mail whose every recipient is local.
    pub sign_local: bool,
}

impl Default for Dkim {
    fn default() -> Self {
        Self {
            enabled: true,
            key_dir: None,
            selector: "outpost".into(),
            domain: String::new(),
            sign_local: true,
        }
    }
}

/// SPF, DKIM, DMARC and ARC checks of mail arriving on the MX.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Checks {
    /// Check mail from outside and add one `Authentication-Results`.
    pub enabled: bool,
    /// DNS servers to ask; empty: the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
    /// Longest wait for one DNS answer, in milliseconds.
    pub dns_timeout_ms: u64,
    /// Longest time all the checks of one message may take, in
    /// milliseconds; what is unanswered by then is `temperror` and the
    /// mail is accepted.
    pub budget_ms: u64,
    /// Honour a sender domain's DMARC `p=reject` with a 550 (`quarantine`
    /// always delivers to Junk).
    pub dmarc_reject: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            enabled: true,
            dns_servers: Vec::new(),
            dns_timeout_ms: 2000,
            budget_ms: 8000,
            dmarc_reject: true,
        }
    }
}

/// The spam engine (rspamd's HTTP protocol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spam {
    /// rspamd's normal worker (`/checkv2`); none: no spam check.
    pub rspamd: Option<SocketAddr>,
    /// rspamd's controller worker (`/learnspam`, `/learnham`); none: no
    /// learning from users' Junk moves.
    pub controller: Option<SocketAddr>,
    /// The controller's password (`enable_password`); empty: none (the
    /// controller trusts loopback through `secure_ip`).
    pub password: String,
    /// Longest wait for the engine in seconds; then the mail is accepted
    /// and tagged unchecked.
    pub timeout_secs: u64,
    /// Score at or above which mail is delivered to Junk.
    pub junk_score: f64,
    /// Score at or above which mail is refused with 550.
    pub reject_score: f64,
    /// Check mail submitted by signed-in users too.
    pub check_submission: bool,
}

impl Default for Spam {
    fn default() -> Self {
        Self {
            rspamd: None,
            controller: None,
            password: String::new(),
            timeout_secs: 20,
            junk_score: 6.0,
            reject_score: 15.0,
            check_submission: false,
        }
    }
}

/// What smtpd does when the virus scanner cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AvFailure {
    /// `451 4.7.1`: the sender retries later (nothing is lost).
    Tempfail,
    /// Accept, with `X-Virus-Status: unchecked`.
    AcceptAndTag,
}

/// The virus scanner (clamd's `INSTREAM`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Av {
    /// clamd's socket: a path (`/run/clamav/clamd.ctl`) or `HOST:PORT`;
    /// empty: no virus scan.
    pub clamd: String,
    /// Longest wait for a verdict in seconds.
    pub timeout_secs: u64,
    /// Largest message streamed to clamd (clamd's `StreamMaxLength` must be
    /// at least this); larger mail is scanned up to it.
    pub max_scan_bytes: u64,
    /// clamd down or too slow.
    pub on_failure: AvFailure,
    /// Where `outpostctl av import` puts signature files (clamd's
    /// `DatabaseDirectory`).
    pub database_dir: PathBuf,
}

impl Default for Av {
    fn default() -> Self {
        Self {
            clamd: String::new(),
            timeout_secs: 60,
            max_scan_bytes: 25 * 1024 * 1024,
            on_failure: AvFailure::Tempfail,
            database_dir: "/var/lib/clamav".into(),
        }
    }
}

/// Attachments refused whatever the virus scanner says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Attachments {
    /// Refuse mail carrying an attachment of a blocked type.
    pub enabled: bool,
    /// File name extensions (lower case, without the dot), also inside
    /// zip archives.
    pub block_extensions: Vec<String>,
    /// Also refuse a part whose content is an executable (Windows PE,
    /// ELF, Mach-O, shell script), whatever it is called.
    pub block_sniffed: bool,
}

impl Default for Attachments {
    fn default() -> Self {
        let ext = [
            "ade", "adp", "app", "bat", "chm", "cmd", "com", "cpl", "dll", "exe", "hta", "inf",
            "ins", "isp", "jar", "js", "jse", "lib", "lnk", "mde", "msc", "msi", "msix", "msp",
            "mst", "pif", "ps1", "reg", "scr", "sct", "shb", "shs", "sys", "vb", "vbe", "vbs",
            "vxd", "wsc", "wsf", "wsh",
        ];
        Self {
            enabled: true,
            block_extensions: ext.iter().map(|s| s.to_string()).collect(),
            block_sniffed: true,
        }
    }
}
