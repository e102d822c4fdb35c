//! A private Postfix on 127.0.0.1: its own main.cf/master.cf, queue and
//! virtual Maildirs under a directory of the caller's, so the system's
//! Postfix service is neither used nor touched. The smtpd tests use it as
//! the upstream smarthost; `cargo xtask bench smtp` measures it beside
//! Outpost. Needs Debian's `postfix` (`cargo xtask deps`). Mail Postfix
//! defers is retried within seconds, not its default five minutes: a
//! test waiting for delivery must not fail on one transient deferral.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// What the instance serves.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Listening port on 127.0.0.1.
    pub port: u16,
    /// `myhostname` (its banner and `Received:` name).
    pub hostname: &'a str,
    /// The one virtual mail domain it accepts.
    pub domain: &'a str,
    /// The Maildir (under `vmail/`) every recipient of `domain` lands in.
    pub mailbox: &'a str,
    /// STARTTLS certificate and key, if it offers TLS.
    pub tls: Option<(&'a Path, &'a Path)>,
}

/// A running private Postfix; stopped (or aborted) when dropped.
#[derive(Debug)]
pub struct Postfix {
    root: PathBuf,
    mailbox: String,
}

fn postfix_id(flag: &str) -> Result<String, String> {
    let out = Command::new("id")
        .args([flag, "postfix"])
        .output()
        .map_err(|e| format!("running id: {e}"))?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if id.is_empty() {
        return Err("the postfix user is missing: apt-get install postfix".into());
    }
    Ok(id)
}

impl Postfix {
    /// Writes the configuration under `root` (created; Postfix's daemons
    /// must be able to traverse it), starts Postfix and waits until it
    /// accepts connections.
    pub fn start(root: &Path, o: Options<'_>) -> Result<Postfix, String> {
        let err = |what: &str, e: std::io::Error| format!("{what}: {e}");
        for d in ["conf", "queue", "data", "vmail"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| err("creating dirs", e))?;
        }
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| err("chmod", e))?;
        let (uid, gid) = (postfix_id("-u")?, postfix_id("-g")?);
        for d in ["data", "vmail"] {
            let ok = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(root.join(d))
                .status()
                .map_err(|e| err("running chown", e))?;
            if !ok.success() {
                return Err(format!("chown of the Postfix {d} directory failed"));
            }
        }
        let mut main = format!(
            "compatibility_level = 3.6\nqueue_directory = {q}\ndata_directory = {d}\n\
             mail_owner = postfix\nsetgid_group = postdrop\ninet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\nmyhostname = {host}\nmydestination =\nmynetworks = 127.0.0.0/8\n\
             alias_maps =\nalias_database =\nvirtual_mailbox_domains = {domain}\n\
             virtual_mailbox_base = {v}\nvirtual_mailbox_maps = static:{mailbox}/\n\
             virtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             maillog_file_prefixes = {r}\nmaillog_file = {r}/maillog\n\
             queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n",
            q = root.join("queue").display(),
            d = root.join("data").display(),
            v = root.join("vmail").display(),
            r = root.display(),
            host = o.hostname,
            domain = o.domain,
            mailbox = o.mailbox,
        );
        if let Some((cert, key)) = o.tls {
            main.push_str(&format!(
                "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\n\
                 smtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\n",
                cert.display(),
                key.display()
            ));
        }
        std::fs::write(root.join("conf/main.cf"), main).map_err(|e| err("main.cf", e))?;
        let services = [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "local unix - n n - - local",
            "virtual unix - n n - - virtual",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ];
        let master = format!(
            "127.0.0.1:{} inet n - n - - smtpd\n{}\n",
            o.port,
            services.join("\n")
        );
        std::fs::write(root.join("conf/master.cf"), master).map_err(|e| err("master.cf", e))?;
        let pf = Postfix {
            root: root.to_path_buf(),
            mailbox: o.mailbox.to_string(),
        };
        let started = Command::new("postfix")
            .arg("-c")
            .arg(root.join("conf"))
            .arg("start")
            .status()
            .map_err(|e| err("running postfix (apt-get install postfix)", e))?;
        if !started.success() {
            return Err(format!("postfix start failed: {}", pf.log()));
        }
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", o.port)).is_ok() {
                return Ok(pf);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "postfix did not listen on {}: {}",
            o.port,
            pf.log()
        ))
    }

    /// Its mail log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("maillog")).unwrap_or_default()
    }

    /// A failure summary of its log: how many deliveries were sent,
    /// deferred or bounced, every delivery line that was not `sent`, and
    /// the last lines (a whole log of hundreds of messages is cut off by
    /// test runners before the interesting part).
    pub fn diagnosis(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let count = |s: &str| lines.iter().filter(|l| l.contains(s)).count();
        let mut out = format!(
            "postfix: {} sent, {} deferred, {} bounced\n",
            count("status=sent"),
            count("status=deferred"),
            count("status=bounced")
        );
        for l in lines
            .iter()
            .filter(|l| {
                (l.contains("status=") && !l.contains("status=sent"))
                    || l.contains("warning")
                    || l.contains("fatal")
            })
            .take(40)
        {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("last lines:\n");
        for l in &lines[lines.len().saturating_sub(30)..] {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// The Maildir its mail is delivered to.
    pub fn maildir(&self) -> PathBuf {
        self.root.join("vmail").join(&self.mailbox)
    }

    /// The master process's pid.
    pub fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.root.join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let conf = self.root.join("conf");
        let stopped = Command::new("postfix")
            .arg("-c")
            .arg(&conf)
            .arg("stop")
            .stderr(Stdio::null())
            .status();
        if !matches!(stopped, Ok(s) if s.success()) {
            let _ = Command::new("postfix")
                .arg("-c")
                .arg(&conf)
                .arg("abort")
                .status();
        }
    }
}
