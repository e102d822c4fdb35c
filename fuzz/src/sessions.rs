//! The session targets: the bytes a client would send, streamed into a real
//! smtpd, IMAP or POP3 session over an in-memory duplex pipe, then EOF.
//! The session must end by itself after EOF (a session that keeps running
//! is a hang, and a panic is a crash); replies are read and dropped.
//!
//! One tokio runtime per process, current-thread with paused time: idle
//! timeouts, the back-off after a failed login and the argon2 gate's waits
//! then cost no wall time, so the fuzzer runs thousands of sessions a
//! second instead of sleeping. Each target has one server state (config,
//! directory with one user, store, queue) in a temporary directory for the
//! whole run; what sessions deliver is cleaned out every 1,000 runs.

use outpost_config::Config;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const USER: &str = "alice@outpost.lan";
const PASS: &str = "fuzz-pass-1";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a tokio runtime")
    })
}

/// A configuration rooted in `dir`, with one user and a mailbox tree.
fn config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.general.mail_root = dir.join("mail");
    c.general.state_dir = dir.to_path_buf();
    c.tls.dir = dir.join("tls");
    c.directory.path = dir.join("directory");
    c.smtp.queue_dir = dir.join("queue");
    c.smtp.max_message_size = 1024 * 1024;
    std::fs::create_dir_all(&c.directory.path).expect("the directory's folder");
    let mut d = outpost_directory::Directory::open(&c.directory.path).expect("the directory");
    d.add_user(&outpost_directory::NewUser::new(USER, PASS))
        .expect("the fuzz user");
    outpost_store::create_mailbox_tree(&c.general.mail_root, "outpost.lan", "alice")
        .expect("the mailbox tree");
    c
}

/// Removes delivered and queued mail (between sessions only).
fn clean(c: &Config) {
    let user = c.general.mail_root.join("outpost.lan/alice");
    for sub in ["new", "cur", "tmp"] {
        if let Ok(rd) = std::fs::read_dir(user.join(sub)) {
            for e in rd.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(&c.smtp.queue_dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file() {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

struct State<S> {
    shared: Arc<S>,
    config: Config,
    runs: u64,
    _dir: tempfile::TempDir,
}

/// Streams `input` into the session `serve` runs on the other end of a
/// pipe, reads every reply, closes, and requires the session to end.
fn converse<F, Fut>(input: Vec<u8>, serve: F)
where
    F: FnOnce(DuplexStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    runtime().block_on(async move {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let session = tokio::spawn(serve(server));
        let (mut rd, mut wr) = tokio::io::split(client);
        let write = async move {
            for chunk in input.chunks(1009) {
                if wr.write_all(chunk).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        };
        let read = async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        // Virtual time: an hour passes instantly if every task is waiting,
        // so only a session that spins (or waits on something that never
        // comes) reaches it.
        let talk = async { tokio::join!(write, read) };
        if tokio::time::timeout(Duration::from_secs(3 * 3600), talk)
            .await
            .is_err()
        {
            panic!("the session neither read nor closed for three (virtual) hours after EOF");
        }
        match tokio::time::timeout(Duration::from_secs(3600), session).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(_)) => {}
            Err(_) => panic!("the session did not end after the client's EOF"),
        }
    });
}

fn state<S>(
    cell: &'static OnceLock<Mutex<Option<State<S>>>>,
    make: impl FnOnce(Config) -> Arc<S>,
) -> (Arc<S>, bool) {
    let m = cell.get_or_init(|| Mutex::new(None));
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    let st = g.get_or_insert_with(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = config(dir.path());
        let shared = make(config.clone());
        State {
            shared,
            config,
            runs: 0,
            _dir: dir,
        }
    });
    st.runs += 1;
    if st.runs.is_multiple_of(1000) {
        clean(&st.config);
    }
    (st.shared.clone(), true)
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

/// `smtp_session`: odd first byte → the submission listener, else MX.
pub fn smtp(data: &[u8]) {
    use outpost_smtpd::{Listener, Shared, session};
    static CELL: OnceLock<Mutex<Option<State<Shared>>>> = OnceLock::new();
    let (shared, _) = state(&CELL, |c| {
        let _g = runtime().enter();
        Shared::new(c).expect("smtpd state")
    });
    let kind = if data.first().is_some_and(|b| b & 1 == 1) {
        Listener::Submission
    } else {
        Listener::Mx
    };
    converse(data.to_vec(), move |io| async move {
        session::serve(shared, kind, Box::new(io), peer(), false).await;
    });
}

/// The login prefix of the logged-in variants.
fn with_login(data: &[u8], login: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(login.len() + data.len());
    if data.first().is_some_and(|b| b & 1 == 1) {
        v.extend_from_slice(login.as_bytes());
        v.extend_from_slice(&data[1..]);
    } else {
        v.extend_from_slice(data);
    }
    v
}

/// `imap_session`: odd first byte → logged in, INBOX selected.
pub fn imap(data: &[u8]) {
    use outpost_imapd::server::Shared;
    static CELL: OnceLock<Mutex<Option<State<Shared>>>> = OnceLock::new();
    let (shared, _) = state(&CELL, |c| {
        let _g = runtime().enter();
        Shared::new(c).expect("imapd state")
    });
    let input = with_login(
        data,
        &format!("a LOGIN {USER} {PASS}\r\nb SELECT INBOX\r\n"),
    );
    converse(input, move |io| async move {
        outpost_imapd::imap::run(shared, Box::new(io), peer(), false).await;
    });
}

/// `pop3_session`: odd first byte → logged in.
pub fn pop3(data: &[u8]) {
    use outpost_imapd::server::Shared;
    static CELL: OnceLock<Mutex<Option<State<Shared>>>> = OnceLock::new();
    let (shared, _) = state(&CELL, |c| {
        let _g = runtime().enter();
        Shared::new(c).expect("imapd state")
    });
    let input = with_login(data, &format!("USER {USER}\r\nPASS {PASS}\r\n"));
    converse(input, move |io| async move {
        outpost_imapd::pop3::run(shared, Box::new(io), peer(), false).await;
    });
}
