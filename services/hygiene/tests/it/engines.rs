//! Private rspamd and clamd instances for the tests: each on loopback (TCP
//! ports the kernel picked, or a unix socket), with its configuration,
//! databases and log in a directory of its own, offline.
//!
//! Each engine runs under a small `sh` guard whose standard input is a
//! pipe from the test process: when the test process ends (however it
//! ends), the pipe closes, and the guard stops the engine and removes its
//! directory. So nothing outlives the test binary, and one engine can be
//! shared by the tests of one binary (`cargo test`) through a `OnceLock`,
//! while under nextest (a process per test) each test starts its own.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running engine; dropping it (or the process ending) stops it.
#[derive(Debug)]
pub struct Guard {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing stdin makes the guard shell stop the engine; wait for it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Fails (never skips) when an engine is not installed.
fn require(bin: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(bin);
        if p.exists() {
            return p;
        }
    }
    panic!("{bin} is not installed: run `cargo xtask deps` (ci/packages.txt lists it)")
}

/// Starts `argv` under the guard shell, which removes `dir` afterwards.
fn guarded(dir: &Path, log: &Path, argv: &[String]) -> Guard {
    let quoted: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    // fd 3 keeps the pipe: an asynchronous list's stdin is /dev/null.
    let script = format!(
        "exec 3<&0; {cmd} >>{log} 2>&1 & p=$!; \
         ( read x <&3; kill $p 2>/dev/null; \
           while kill -0 $p 2>/dev/null; do sleep 0.05; done; rm -rf {dir} ) & \
         wait $p",
        cmd = quoted.join(" "),
        log = shell_quote(&log.display().to_string()),
        dir = shell_quote(&dir.display().to_string()),
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning sh");
    let stdin = child.stdin.take().unwrap();
    Guard {
        child,
        stdin: Some(stdin),
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

/// Whether `addr` answers `GET /ping` with rspamd's `pong`.
fn pong(addr: SocketAddr) -> bool {
    use std::io::Write;
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.starts_with("HTTP/1.") && r.contains("pong")
}

/// A private rspamd: the normal worker and the controller on loopback.
#[derive(Debug)]
pub struct Rspamd {
    pub normal: SocketAddr,
    pub controller: SocketAddr,
    /// The controller's password (loopback is not a `secure_ip`).
    pub password: &'static str,
    pub started_in: Duration,
    _guard: Guard,
}

/// The controller's password in the test configuration.
pub const PASSWORD: &str = "hygiene-test";

impl Rspamd {
    /// The one rspamd of this test process.
    pub fn shared() -> &'static Rspamd {
        static R: OnceLock<Rspamd> = OnceLock::new();
        R.get_or_init(Rspamd::start)
    }

    /// A new rspamd (for tests that change its state, like learning).
    pub fn start() -> Rspamd {
        let bin = require("rspamd");
        let mut last = String::new();
        // The ports are picked free and then released; another process may
        // take one in between: then rspamd cannot bind, and we retry.
        for _ in 0..5 {
            match start_rspamd(&bin) {
                Ok(r) => return r,
                Err(e) => last = e,
            }
        }
        panic!("rspamd did not start: {last}")
    }
}

fn start_rspamd(bin: &Path) -> Result<Rspamd, String> {
    let dir = tempfile::Builder::new()
        .prefix("outpost-rspamd-")
        .tempdir()
        .unwrap()
        .keep();
    let local = dir.join("local");
    for d in ["local/local.d", "local/override.d", "db", "run", "log"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let normal: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let controller: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let d = dir.display();
    let files = [
        (
            "override.d/worker-normal.inc",
            format!("bind_socket = \"{normal}\";\ncount = 1;\n"),
        ),
        (
            "override.d/worker-controller.inc",
            // Loopback is not trusted (secure_ip is a TEST-NET address), so
            // the tests show the Password header working.
            format!(
                "bind_socket = \"{controller}\";\ncount = 1;\nsecure_ip = \"192.0.2.254\";\n\
                 password = \"{PASSWORD}\";\nenable_password = \"{PASSWORD}\";\n"
            ),
        ),
        ("override.d/worker-proxy.inc", "enabled = false;\n".into()),
        ("override.d/worker-fuzzy.inc", "enabled = false;\n".into()),
        (
            "override.d/logging.inc",
            format!("type = \"file\";\nfilename = \"{d}/log/rspamd.log\";\nlevel = \"info\";\n"),
        ),
        (
            "local.d/options.inc",
            // Offline and quick: DNS to a port nobody answers on (fails at
            // once), a four-entry TLD list instead of the 9,600-suffix one
            // (compiling that took 10 s at each start), no hyperscan
            // (its compile runs for minutes in the background on 2 cores),
            // and GTUBE honoured (rspamd 3.4 ignores it unless
            // enable_test_patterns is set).
            format!(
                "dns {{ nameserver = [\"127.0.0.1:1\"]; timeout = 0.1s; retransmits = 1; }}\n\
                 url_tld = \"{d}/tld.dat\";\n\
                 disable_hyperscan = true;\n\
                 enable_test_patterns = true;\n"
            ),
        ),
        // Host-name heuristics only say "DNS is down" here.
        ("local.d/hfilter.conf", "enabled = false;\n".into()),
        (
            "override.d/classifier-bayes.conf",
            // rspamd 3.4 still has the sqlite3 Bayes backend (deprecated,
            // but it needs no redis); a token counts once seen in two
            // learned messages (min_token_hits is 2, not configurable).
            // The learn cache ("already learned") must be moved too: its
            // default is /var/lib/rspamd/learn_cache.sqlite whatever DBDIR
            // says, shared by every instance on the machine.
            format!(
                "backend = \"sqlite3\";\nmin_learns = 1;\nmin_tokens = 5;\n\
                 statfile {{ symbol = \"BAYES_HAM\"; spam = false; path = \"{d}/db/bayes.ham.sqlite\"; }}\n\
                 statfile {{ symbol = \"BAYES_SPAM\"; spam = true; path = \"{d}/db/bayes.spam.sqlite\"; }}\n\
                 cache {{ path = \"{d}/db/learn_cache.sqlite\"; }}\n"
            ),
        ),
    ];
    for (name, text) in files {
        std::fs::write(local.join(name), text).unwrap();
    }
    std::fs::write(dir.join("tld.dat"), "com\norg\nnet\nexample\n").unwrap();

    let log = dir.join("log/stdout.log");
    let mut argv = vec![bin.display().to_string(), "-f".into()];
    if is_root() {
        // rspamd refuses to run as root unless told whom to run as.
        argv.extend(["-u", "root", "-g", "root"].map(String::from));
    }
    argv.extend([
        "-c".into(),
        "/etc/rspamd/rspamd.conf".into(),
        format!("--var=LOCAL_CONFDIR={}", local.display()),
        format!("--var=DBDIR={d}/db"),
        format!("--var=RUNDIR={d}/run"),
        format!("--var=LOGDIR={d}/log"),
    ]);
    let started = Instant::now();
    let mut guard = guarded(&dir, &log, &argv);
    let deadline = started + Duration::from_secs(60);
    loop {
        if pong(normal) && pong(controller) {
            return Ok(Rspamd {
                normal,
                controller,
                password: PASSWORD,
                started_in: started.elapsed(),
                _guard: guard,
            });
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            return Err(format!(
                "rspamd exited ({status}):\n{}\n{}",
                tail(&log),
                tail(&dir.join("log/rspamd.log"))
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "rspamd not ready after 60 s:\n{}",
                tail(&dir.join("log/rspamd.log"))
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The EICAR test file, put together at run time so the repository never
/// holds it (scanners on a developer's machine would flag the source).
pub fn eicar() -> Vec<u8> {
    let parts = [
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
        "EICAR-STANDARD-",
        "ANTIVIRUS-TEST-FILE!$H+H*",
    ];
    parts.concat().into_bytes()
}

/// A private clamd on a unix socket, its database one `.ndb` signature
/// for the EICAR string (Debian ships no signatures, and clamd refuses to
/// start on an empty database).
#[derive(Debug)]
pub struct Clamd {
    pub socket: PathBuf,
    /// clamd's `StreamMaxLength`.
    pub stream_max: u64,
    pub started_in: Duration,
    _guard: Guard,
}

/// The name of the test signature as clamd reports it (clamd appends
/// `.UNOFFICIAL` to signatures not from a signed database).
pub const EICAR_SIGNATURE: &str = "Outpost.Test.EICAR.UNOFFICIAL";

impl Clamd {
    /// The one clamd of this test process.
    pub fn shared() -> &'static Clamd {
        static C: OnceLock<Clamd> = OnceLock::new();
        C.get_or_init(Clamd::start)
    }

    pub fn start() -> Clamd {
        let bin = require("clamd");
        let dir = tempfile::Builder::new()
            .prefix("outpost-clamd-")
            .tempdir()
            .unwrap()
            .keep();
        let db = dir.join("db");
        std::fs::create_dir_all(&db).unwrap();
        let hex: String = eicar().iter().map(|b| format!("{b:02x}")).collect();
        // Target type 0 (any file), any offset: found in a mail's decoded
        // parts too (an .hdb whole-file hash would not match a message).
        std::fs::write(
            db.join("outpost-test.ndb"),
            format!("Outpost.Test.EICAR:0:*:{hex}\n"),
        )
        .unwrap();
        let socket = dir.join("clamd.sock");
        let stream_max: u64 = 1024 * 1024;
        let conf = dir.join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\nLocalSocket {}\nDatabaseDirectory {}\nLogFile {}\n\
                 PidFile {}\nTemporaryDirectory {}\nStreamMaxLength {}\nSelfCheck 3600\n",
                socket.display(),
                db.display(),
                dir.join("clamd.log").display(),
                dir.join("clamd.pid").display(),
                dir.display(),
                stream_max,
            ),
        )
        .unwrap();
        let log = dir.join("stdout.log");
        let argv = vec![
            bin.display().to_string(),
            "-c".into(),
            conf.display().to_string(),
        ];
        let started = Instant::now();
        let mut guard = guarded(&dir, &log, &argv);
        let deadline = started + Duration::from_secs(60);
        loop {
            if ping_clamd(&socket) {
                return Clamd {
                    socket,
                    stream_max,
                    started_in: started.elapsed(),
                    _guard: guard,
                };
            }
            if let Ok(Some(status)) = guard.child.try_wait() {
                panic!(
                    "clamd exited ({status}):\n{}\n{}",
                    tail(&log),
                    tail(&dir.join("clamd.log"))
                );
            }
            assert!(
                Instant::now() < deadline,
                "clamd not ready after 60 s:\n{}",
                tail(&log)
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

fn ping_clamd(socket: &Path) -> bool {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"zPING\0").is_err() {
        return false;
    }
    let mut r = Vec::new();
    let _ = s.read_to_end(&mut r);
    r.starts_with(b"PONG")
}
