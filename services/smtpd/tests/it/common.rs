//! Test harness: an in-process smtpd on 127.0.0.1:0 with throw-away state,
//! and a raw-bytes client that compares exact replies.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use outpost_config::Config;
use outpost_directory::{Directory, NewUser};
use outpost_smtpd::{Listener, Server, Shared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running test server and its state directory.
pub struct TestServer {
    pub dir: Arc<tempfile::TempDir>,
    pub mx: SocketAddr,
    pub submission: SocketAddr,
    pub submissions: SocketAddr,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A config rooted in `root`, all listeners on 127.0.0.1:0.
pub fn test_config(root: &Path) -> Config {
    let mut c = Config::default();
    c.general.hostname = "mx.outpost.test".into();
    c.general.domains = vec!["outpost.test".into()];
    c.general.mail_root = root.join("mail");
    c.general.state_dir = root.join("state");
    c.tls.dir = root.join("tls");
    c.directory.path = root.join("directory");
    c.smtp.queue_dir = root.join("queue");
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    c.smtp.mx_listen = vec![any];
    c.smtp.submission_listen = vec![any];
    c.smtp.submissions_listen = vec![any];
    c.smtp.max_message_size = 10_000;
    c.smtp.max_recipients = 3;
    // SPF/DKIM/DMARC lookups stay on loopback: nothing answers on port 9.
    c.smtp.checks.dns_servers = vec![SocketAddr::from(([127, 0, 0, 1], 9))];
    c.smtp.checks.dns_timeout_ms = 200;
    c.smtp.checks.budget_ms = 500;
    c
}

/// Adds the standard users: alice (alias postmaster), bob, and a group.
pub fn seed_users(dir: &Path) {
    let mut d = Directory::open(dir).unwrap();
    let mut alice = NewUser::new("alice@outpost.test", "alice-secret-1");
    alice.aliases = vec!["postmaster@outpost.test".into(), "a@outpost.test".into()];
    d.add_user(&alice).unwrap();
    d.add_user(&NewUser::new("bob@outpost.test", "bob-secret-12"))
        .unwrap();
    d.add_group("team@outpost.test", "Team").unwrap();
    d.add_member("team@outpost.test", "alice@outpost.test")
        .unwrap();
    d.add_member("team@outpost.test", "bob@outpost.test")
        .unwrap();
}

pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    tweak(&mut config);
    seed_users(&config.directory.path);
    start_config(Arc::new(dir), config).await
}

/// Starts a server on an existing state directory and configuration.
pub async fn start_config(dir: Arc<tempfile::TempDir>, config: Config) -> TestServer {
    let shared = Shared::new(config).unwrap();
    let server = Server::bind(shared.clone()).await.unwrap();
    let addr = |k: Listener| {
        server
            .local_addrs()
            .into_iter()
            .find(|(kind, _)| *kind == k)
            .map(|(_, a)| a)
            .unwrap()
    };
    let (mx, submission, submissions) = (
        addr(Listener::Mx),
        addr(Listener::Submission),
        addr(Listener::Submissions),
    );
    let task = tokio::spawn(async move {
        let _ = server.run().await;
    });
    TestServer {
        dir,
        mx,
        submission,
        submissions,
        shared,
        task,
    }
}

impl TestServer {
    /// Stops this server and starts a new one on the same state (new ports).
    pub async fn restart(self) -> TestServer {
        self.task.abort();
        let dir = self.dir.clone();
        let config = self.shared.config.clone();
        drop(self);
        tokio::time::sleep(Duration::from_millis(100)).await;
        start_config(dir, config).await
    }

    /// Messages in `user`'s INBOX (new/), contents sorted.
    pub fn inbox(&self, user: &str) -> Vec<String> {
        maildir_messages(
            &self
                .shared
                .config
                .general
                .mail_root
                .join("outpost.test")
                .join(user),
        )
    }
}

pub fn maildir_messages(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in rd {
            out.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    out.sort();
    out
}

/// Replaces queue ids (`queued as XXXX`) so replies compare exactly.
pub fn normalize(s: &str) -> String {
    let mut out = String::new();
    for line in s.split_inclusive("\r\n") {
        if let Some(pos) = line.find("queued as ") {
            out.push_str(&line[..pos]);
            out.push_str("queued as ID\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A raw client: send bytes, read until as many reply lines as expected.
pub struct Raw {
    pub stream: Box<dyn Io>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream: Box::new(stream),
        }
    }

    /// Implicit TLS (port 465), trusting the server's local CA.
    pub async fn connect_tls(s: &TestServer) -> Raw {
        let config = outpost_tls::client_config(&s.dir.path().join("tls"), None).unwrap();
        let tcp = TcpStream::connect(s.submissions).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .unwrap();
        Raw {
            stream: Box::new(tls),
        }
    }

    /// Reads until `lines` CRLF-terminated lines arrived (5 s at most).
    pub async fn read_lines(&mut self, lines: usize) -> String {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while got.windows(2).filter(|w| w == b"\r\n").count() < lines {
            let mut buf = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("read: {e}"),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Sends `input` and checks that exactly `want` comes back.
    pub async fn check(&mut self, input: &str, want: &str) {
        self.stream.write_all(input.as_bytes()).await.unwrap();
        let n = want.matches("\r\n").count();
        let got = normalize(&self.read_lines(n).await);
        assert_eq!(got, want, "after sending {input:?}");
    }
}

/// Runs a script of (input, exact reply) steps on a fresh connection;
/// the greeting is checked first.
pub async fn script(addr: SocketAddr, steps: &[(&str, &str)]) {
    let mut c = Raw::connect(addr).await;
    c.check("", "220 mx.outpost.test ESMTP Outpost\r\n").await;
    for (input, want) in steps {
        c.check(input, want).await;
    }
}

/// A queue entry from alice to one pending remote recipient, due now.
pub fn envelope(id: &str) -> outpost_smtpd::queue::Envelope {
    let t = crate::now();
    outpost_smtpd::queue::Envelope {
        id: id.into(),
        from: "alice@outpost.test".into(),
        rcpts: vec![outpost_smtpd::queue::QueuedRcpt {
            address: "partner@remote.example".into(),
            state: outpost_smtpd::queue::RcptState::Pending,
            last_error: String::new(),
            notify_never: false,
            orcpt: None,
        }],
        created: t,
        attempts: 0,
        next_attempt: t,
        size: 5,
        envid: None,
        ret_headers_only: false,
        submitter: None,
    }
}
