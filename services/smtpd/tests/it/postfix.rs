//! A private Postfix instance on 127.0.0.1 (its own config, queue and
//! Maildir under a temporary directory; the system's Postfix service is
//! neither used nor touched). Used as the upstream smarthost. The test
//! fails if Postfix is missing (`apt-get install postfix`).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running private Postfix; stopped on drop.
pub struct Postfix {
    pub root: tempfile::TempDir,
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    l.local_addr().unwrap().port()
}

fn id(flag: &str, name: &str) -> String {
    let out = Command::new("id")
        .arg(flag)
        .arg(name)
        .output()
        .expect("running id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Postfix {
    /// Starts Postfix on 127.0.0.1:`port` accepting mail for `remote.example` into one
    /// catch-all Maildir, offering STARTTLS with `tls` (cert, key) if given.
    pub fn start(port: u16, tls: Option<(&Path, &Path)>) -> Postfix {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // Postfix's daemons run as the postfix user and must traverse it.
        std::fs::set_permissions(r, std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["conf", "queue", "data", "vmail"] {
            std::fs::create_dir(r.join(d)).unwrap();
        }
        let (uid, gid) = (id("-u", "postfix"), id("-g", "postfix"));
        assert!(
            !uid.is_empty(),
            "the postfix user is missing: apt-get install postfix"
        );
        let chown = |p: PathBuf| {
            let ok = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(&p)
                .status()
                .unwrap();
            assert!(ok.success());
        };
        chown(r.join("data"));
        chown(r.join("vmail"));
        let mut main = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {q}\n\
             data_directory = {d}\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             myhostname = upstream.test\n\
             mydestination =\n\
             mynetworks = 127.0.0.0/8\n\
             alias_maps =\n\
             alias_database =\n\
             virtual_mailbox_domains = remote.example\n\
             virtual_mailbox_base = {v}\n\
             virtual_mailbox_maps = static:catchall/\n\
             virtual_uid_maps = static:{uid}\n\
             virtual_gid_maps = static:{gid}\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             maillog_file_prefixes = {root}\n\
             maillog_file = {root}/maillog\n",
            q = r.join("queue").display(),
            d = r.join("data").display(),
            v = r.join("vmail").display(),
            root = r.display(),
        );
        if let Some((cert, key)) = tls {
            main.push_str(&format!(
                "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\n",
                cert.display(),
                key.display()
            ));
        }
        std::fs::write(r.join("conf/main.cf"), main).unwrap();
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
            "127.0.0.1:{port} inet n - n - - smtpd\n{}\n",
            services.join("\n")
        );
        std::fs::write(r.join("conf/master.cf"), master).unwrap();
        let pf = Postfix { root };
        let status = Command::new("postfix")
            .arg("-c")
            .arg(pf.root.path().join("conf"))
            .arg("start")
            .status()
            .expect("running postfix (apt-get install postfix)");
        assert!(status.success(), "postfix start failed: {}", pf.log());
        // Wait (bounded) until it accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return pf;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("postfix did not listen on {port}: {}", pf.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("maillog")).unwrap_or_default()
    }

    /// Messages delivered to the catch-all Maildir.
    pub fn delivered(&self) -> Vec<String> {
        crate::common::maildir_messages(&self.root.path().join("vmail/catchall"))
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let conf = self.root.path().join("conf");
        let stopped = Command::new("postfix")
            .arg("-c")
            .arg(&conf)
            .arg("stop")
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
