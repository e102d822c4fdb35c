//! Private rspamd and clamd instances: each on loopback (TCP ports given
//! or picked free, or a unix socket), with its configuration, databases
//! and log in a directory of the caller's, offline. outpost-hygiene's
//! tests, `cargo xtask serve` and `cargo xtask bench smtp` start them here.
//!
//! Each engine runs under a small `sh` guard whose standard input is a
//! pipe from this process: when the process ends (however it ends), the
//! pipe closes and the guard stops the engine (and, for [`Rspamd::temp`]
//! and [`Clamd::temp`], removes its directory). So nothing outlives the
//! test binary or serve, and one engine can be shared by the tests of one
//! binary (`cargo test`) through [`Rspamd::shared`], while under nextest
//! (a process per test) each test starts its own.
//!
//! The rspamd configuration is made for tests: no network (DNS goes to a
//! port nobody answers on), GTUBE honoured, Bayes on sqlite3 (no redis).
//! clamd's database is by default one signature for the EICAR test string
//! ([`write_test_database`]); Debian ships none, and clamd refuses to start
//! on an empty database.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The controller's password in the rspamd configuration written here.
pub const RSPAMD_PASSWORD: &str = "hygiene-test";

/// The name of the test signature as clamd reports it (clamd appends
/// `.UNOFFICIAL` to signatures not from a signed database).
pub const EICAR_SIGNATURE: &str = "Outpost.Test.EICAR.UNOFFICIAL";

/// The file [`write_test_database`] writes.
pub const EICAR_DATABASE_FILE: &str = "outpost-test.ndb";

/// How long an engine may take to answer its first ping by default.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of an installed engine binary (`rspamd`, `clamd`,
/// `clamav-milter`), or none.
pub fn installed(bin: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

fn require(bin: &str) -> Result<PathBuf, String> {
    installed(bin).ok_or_else(|| {
        format!("{bin} is not installed: run `cargo xtask deps` (ci/packages.txt lists it)")
    })
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

/// Writes the EICAR-only test database into `dir` (created): one `.ndb`
/// signature, target type 0 (any file) at any offset, so it is found in a
/// mail's raw text and its decoded parts (an `.hdb` whole-file hash would
/// not match inside a message). Returns the file written.
pub fn write_test_database(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let hex: String = eicar().iter().map(|b| format!("{b:02x}")).collect();
    let file = dir.join(EICAR_DATABASE_FILE);
    std::fs::write(&file, format!("Outpost.Test.EICAR:0:*:{hex}\n"))?;
    Ok(file)
}

/// A running engine process under its guard shell.
#[derive(Debug)]
struct Guard {
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

/// Starts `argv` under the guard shell, output appended to `log`; the
/// guard removes `remove` (if any) once the engine has stopped.
fn guarded(log: &Path, argv: &[String], remove: Option<&Path>) -> Result<Guard, String> {
    let quoted: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    let cleanup = remove
        .map(|d| format!("; rm -rf {}", shell_quote(&d.display().to_string())))
        .unwrap_or_default();
    // fd 3 keeps the pipe: an asynchronous list's stdin is /dev/null.
    let script = format!(
        "exec 3<&0; {cmd} >>{log} 2>&1 & p=$!; \
         ( read x <&3; kill $p 2>/dev/null; \
           while kill -0 $p 2>/dev/null; do sleep 0.05; done{cleanup} ) & \
         wait $p",
        cmd = quoted.join(" "),
        log = shell_quote(&log.display().to_string()),
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawning sh: {e}"))?;
    let stdin = child.stdin.take();
    Ok(Guard { child, stdin })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The last lines of a log file, for error messages.
fn tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    format!(
        "--- {} ---\n{}",
        p.display(),
        lines[lines.len().saturating_sub(30)..].join("\n")
    )
}

fn free_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("picking a free port: {e}"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

fn kept_tempdir(prefix: &str) -> Result<PathBuf, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map(|d| d.keep())
        .map_err(|e| format!("creating a temporary directory: {e}"))
}

/// Waits until `ready()` holds, the engine exits, or `timeout` passes; the
/// errors carry the tails of `logs`.
fn wait_ready(
    name: &str,
    guard: &mut Guard,
    timeout: Duration,
    logs: &[PathBuf],
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let started = Instant::now();
    let tails = || logs.iter().map(|l| tail(l)).collect::<Vec<_>>().join("\n");
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            return Err(format!("{name} exited ({status}):\n{}", tails()));
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "{name} not ready after {} s:\n{}",
                timeout.as_secs(),
                tails()
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
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
    /// The normal worker (`/checkv2`): `[smtp.spam] rspamd`.
    pub normal: SocketAddr,
    /// The controller (`/learnspam`, `/learnham`): `[smtp.spam] controller`.
    pub controller: SocketAddr,
    /// The controller's password (loopback is not a `secure_ip`).
    pub password: &'static str,
    /// The proxy worker in milter mode, if asked for ([`RspamdOptions`]).
    pub milter: Option<SocketAddr>,
    /// From spawning to both workers answering.
    pub started_in: Duration,
    /// Its directory (configuration, databases, `log/rspamd.log`).
    pub dir: PathBuf,
    guard: Guard,
}

/// Where a private rspamd listens.
#[derive(Debug, Clone, Copy, Default)]
pub struct RspamdOptions {
    /// The normal worker's address; none: a free port.
    pub normal: Option<SocketAddr>,
    /// The controller's address; none: a free port.
    pub controller: Option<SocketAddr>,
    /// Also run the proxy worker in milter mode here (Postfix's
    /// `smtpd_milters`), scanning through the normal worker.
    pub milter: Option<SocketAddr>,
    /// Readiness timeout; none: [`READY_TIMEOUT`].
    pub timeout: Option<Duration>,
}

impl Rspamd {
    /// The one rspamd of this test process (panics if it cannot start).
    pub fn shared() -> &'static Rspamd {
        static R: OnceLock<Rspamd> = OnceLock::new();
        R.get_or_init(Rspamd::temp)
    }

    /// A new rspamd in a temporary directory removed when it stops, for
    /// tests that change its state (learning). Panics if it cannot start.
    pub fn temp() -> Rspamd {
        let bin = require("rspamd").unwrap_or_else(|e| panic!("{e}"));
        let mut last = String::new();
        // A fresh directory per attempt: a failed one is removed by its
        // guard, in the background.
        for _ in 0..5 {
            let attempt = kept_tempdir("outpost-rspamd-").and_then(|dir| {
                start_rspamd(&bin, &dir, RspamdOptions::default(), true).inspect_err(|_| {
                    let _ = std::fs::remove_dir_all(&dir);
                })
            });
            match attempt {
                Ok(r) => return r,
                Err(e) => last = e,
            }
        }
        panic!("rspamd did not start: {last}")
    }

    /// Starts rspamd under `dir` (created; reused: its Bayes databases
    /// stay) on free loopback ports and waits until both workers answer.
    pub fn start(dir: &Path) -> Result<Rspamd, String> {
        Rspamd::start_with(dir, RspamdOptions::default())
    }

    /// Starts rspamd under `dir` as `options` say. Ports picked free are
    /// released before rspamd binds them, so another process may take one
    /// in between: then it is retried on new ones.
    pub fn start_with(dir: &Path, options: RspamdOptions) -> Result<Rspamd, String> {
        let bin = require("rspamd")?;
        let picked = options.normal.is_none() || options.controller.is_none();
        let mut last = String::new();
        for _ in 0..if picked { 5 } else { 1 } {
            match start_rspamd(&bin, dir, options, false) {
                Ok(r) => return Ok(r),
                Err(e) => last = e,
            }
        }
        Err(format!("rspamd did not start: {last}"))
    }

    /// `Err` with the log's tail if rspamd has exited.
    pub fn check(&mut self) -> Result<(), String> {
        match self.guard.child.try_wait() {
            Ok(Some(status)) => Err(format!(
                "rspamd exited ({status}):\n{}",
                tail(&self.dir.join("log/rspamd.log"))
            )),
            _ => Ok(()),
        }
    }
}

fn start_rspamd(
    bin: &Path,
    dir: &Path,
    options: RspamdOptions,
    remove: bool,
) -> Result<Rspamd, String> {
    let local = dir.join("local");
    for d in ["local/local.d", "local/override.d", "db", "run", "log"] {
        std::fs::create_dir_all(dir.join(d))
            .map_err(|e| format!("creating {}: {e}", dir.join(d).display()))?;
    }
    let normal = options.normal.map_or_else(free_addr, Ok)?;
    let controller = options.controller.map_or_else(free_addr, Ok)?;
    let d = dir.display();
    let proxy = match options.milter {
        // rspamd's proxy in milter mode scans through the normal worker
        // (self_scan would run every check in the proxy process too).
        Some(m) => format!(
            "bind_socket = \"{m}\";\nmilter = yes;\ntimeout = 120s;\n\
             upstream \"local\" {{ default = yes; self_scan = no; hosts = \"{normal}\"; }}\n\
             count = 1;\n"
        ),
        None => "enabled = false;\n".into(),
    };
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
                 password = \"{RSPAMD_PASSWORD}\";\nenable_password = \"{RSPAMD_PASSWORD}\";\n"
            ),
        ),
        ("override.d/worker-proxy.inc", proxy),
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
        std::fs::write(local.join(name), text).map_err(|e| format!("writing {name}: {e}"))?;
    }
    std::fs::write(dir.join("tld.dat"), "com\norg\nnet\nexample\n")
        .map_err(|e| format!("writing tld.dat: {e}"))?;

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
    let mut guard = guarded(&log, &argv, remove.then_some(dir))?;
    let milter = options.milter;
    wait_ready(
        "rspamd",
        &mut guard,
        options.timeout.unwrap_or(READY_TIMEOUT),
        &[log.clone(), dir.join("log/rspamd.log")],
        || pong(normal) && pong(controller) && milter.is_none_or(|m| TcpStream::connect(m).is_ok()),
    )?;
    Ok(Rspamd {
        normal,
        controller,
        password: RSPAMD_PASSWORD,
        milter,
        started_in: started.elapsed(),
        dir: dir.to_path_buf(),
        guard,
    })
}

/// Where and how a private clamd runs.
#[derive(Debug, Clone, Default)]
pub struct ClamdOptions {
    /// Its `DatabaseDirectory`; none: `<dir>/db` with the EICAR-only test
    /// database ([`write_test_database`]).
    pub db_dir: Option<PathBuf>,
    /// Listen on this TCP address; none: the unix socket
    /// `<dir>/clamd.sock`.
    pub tcp: Option<SocketAddr>,
    /// `StreamMaxLength` in bytes; none: 1 MiB.
    pub stream_max: Option<u64>,
    /// Readiness timeout (a real database takes a while to load); none:
    /// [`READY_TIMEOUT`].
    pub timeout: Option<Duration>,
}

/// A private clamd.
#[derive(Debug)]
pub struct Clamd {
    /// What `[smtp.av] clamd` takes: the socket path or `HOST:PORT`.
    pub address: String,
    /// The unix socket, when it listens on one.
    pub socket: Option<PathBuf>,
    /// The TCP address, when it listens on one.
    pub tcp: Option<SocketAddr>,
    /// Its `DatabaseDirectory`.
    pub db_dir: PathBuf,
    /// clamd's `StreamMaxLength`.
    pub stream_max: u64,
    /// From spawning to the first `PONG`.
    pub started_in: Duration,
    /// Its directory (configuration, `clamd.log`).
    pub dir: PathBuf,
    guard: Guard,
}

impl Clamd {
    /// The one clamd of this test process (unix socket, EICAR-only
    /// database; panics if it cannot start).
    pub fn shared() -> &'static Clamd {
        static C: OnceLock<Clamd> = OnceLock::new();
        C.get_or_init(Clamd::temp)
    }

    /// A new clamd on a unix socket with the EICAR-only database, in a
    /// temporary directory removed when it stops. Panics if it cannot
    /// start.
    pub fn temp() -> Clamd {
        let started = kept_tempdir("outpost-clamd-").and_then(|dir| {
            Clamd::start_in(&dir, &ClamdOptions::default(), true).inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&dir);
            })
        });
        started.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts clamd under `dir` (created) on the unix socket
    /// `<dir>/clamd.sock`, with `db_dir` as its database (none: the
    /// EICAR-only test database in `<dir>/db`), and waits for its `PONG`.
    pub fn start(dir: &Path, db_dir: Option<&Path>) -> Result<Clamd, String> {
        Clamd::start_with(
            dir,
            &ClamdOptions {
                db_dir: db_dir.map(Path::to_path_buf),
                ..ClamdOptions::default()
            },
        )
    }

    /// Starts clamd under `dir` as `options` say.
    pub fn start_with(dir: &Path, options: &ClamdOptions) -> Result<Clamd, String> {
        Clamd::start_in(dir, options, false)
    }

    fn start_in(dir: &Path, options: &ClamdOptions, remove: bool) -> Result<Clamd, String> {
        let bin = require("clamd")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let db = match &options.db_dir {
            Some(db) => db.clone(),
            None => {
                let db = dir.join("db");
                write_test_database(&db).map_err(|e| format!("writing the test database: {e}"))?;
                db
            }
        };
        let stream_max = options.stream_max.unwrap_or(1024 * 1024);
        let socket = options.tcp.is_none().then(|| dir.join("clamd.sock"));
        let listen = match (&socket, options.tcp) {
            (Some(s), _) => format!("LocalSocket {}\n", s.display()),
            (None, Some(a)) => format!("TCPSocket {}\nTCPAddr {}\n", a.port(), a.ip()),
            (None, None) => unreachable!("a socket when there is no TCP address"),
        };
        if let Some(s) = &socket {
            // A socket left by a clamd that was killed: clamd refuses to
            // start on it.
            let _ = std::fs::remove_file(s);
        }
        let conf = dir.join("clamd.conf");
        let clamd_log = dir.join("clamd.log");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\n{listen}DatabaseDirectory {}\nLogFile {}\n\
                 PidFile {}\nTemporaryDirectory {}\nStreamMaxLength {}\nSelfCheck 3600\n",
                db.display(),
                clamd_log.display(),
                dir.join("clamd.pid").display(),
                dir.display(),
                stream_max,
            ),
        )
        .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let log = dir.join("stdout.log");
        let argv = vec![
            bin.display().to_string(),
            "-c".into(),
            conf.display().to_string(),
        ];
        let started = Instant::now();
        let mut guard = guarded(&log, &argv, remove.then_some(dir))?;
        let tcp = options.tcp;
        wait_ready(
            "clamd",
            &mut guard,
            options.timeout.unwrap_or(READY_TIMEOUT),
            &[log, clamd_log],
            || ping_clamd(socket.as_deref(), tcp),
        )?;
        let address = match (&socket, tcp) {
            (Some(s), _) => s.display().to_string(),
            (None, Some(a)) => a.to_string(),
            (None, None) => unreachable!("a socket when there is no TCP address"),
        };
        Ok(Clamd {
            address,
            socket,
            tcp,
            db_dir: db,
            stream_max,
            started_in: started.elapsed(),
            dir: dir.to_path_buf(),
            guard,
        })
    }

    /// `Err` with the log's tail if clamd has exited.
    pub fn check(&mut self) -> Result<(), String> {
        match self.guard.child.try_wait() {
            Ok(Some(status)) => Err(format!(
                "clamd exited ({status}):\n{}",
                tail(&self.dir.join("clamd.log"))
            )),
            _ => Ok(()),
        }
    }
}

/// Whether clamd answers `zPING` with `PONG`.
fn ping_clamd(socket: Option<&Path>, tcp: Option<SocketAddr>) -> bool {
    use std::io::Write;
    fn ask(mut s: impl Read + Write) -> bool {
        if s.write_all(b"zPING\0").is_err() {
            return false;
        }
        let mut r = Vec::new();
        let _ = s.read_to_end(&mut r);
        r.starts_with(b"PONG")
    }
    match (socket, tcp) {
        (Some(p), _) => std::os::unix::net::UnixStream::connect(p).is_ok_and(|s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            ask(s)
        }),
        (None, Some(a)) => {
            TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok_and(|s| {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                ask(s)
            })
        }
        (None, None) => false,
    }
}
