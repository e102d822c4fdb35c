//! The upstream smarthost for the relay tests: a private Postfix on
//! 127.0.0.1 (`outpost_testkit::postfix`) accepting mail for
//! `remote.example` into one catch-all Maildir. The test fails if Postfix
//! is missing (`apt-get install postfix`).

use std::net::SocketAddr;
use std::path::Path;

use outpost_testkit::postfix::Options;

/// A running private Postfix and its directory; stopped on drop.
pub struct Postfix {
    pf: outpost_testkit::postfix::Postfix,
    _root: tempfile::TempDir,
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    l.local_addr().unwrap().port()
}

impl Postfix {
    /// Starts Postfix on 127.0.0.1:`port`, offering STARTTLS with `tls`
    /// (cert, key) if given.
    pub fn start(port: u16, tls: Option<(&Path, &Path)>) -> Postfix {
        let root = tempfile::tempdir().unwrap();
        let pf = outpost_testkit::postfix::Postfix::start(
            root.path(),
            Options {
                port,
                hostname: "upstream.test",
                domain: "remote.example",
                mailbox: "catchall",
                tls,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Postfix { pf, _root: root }
    }

    pub fn log(&self) -> String {
        self.pf.log()
    }

    pub fn diagnosis(&self) -> String {
        self.pf.diagnosis()
    }

    /// Messages delivered to the catch-all Maildir.
    pub fn delivered(&self) -> Vec<String> {
        crate::common::maildir_messages(&self.pf.maildir())
    }
}
