//! `cargo xtask bench dav`: Outpost's `outpost-webd` and Debian's Radicale
//! side by side on loopback, the same 5,000 events, in one run.
//!
//! Measures (medians of several runs): bulk import (sequential PUTs),
//! initial PROPFIND Depth 1, a one-month calendar-query, initial and
//! incremental sync-collection, a calendar-multiget of 100, and idle RSS.
//! Both servers get plain HTTP on 127.0.0.1 and one connection per request,
//! so the transport is the same for both. Usage:
//! `dav_bench [--events N] [--runs N]` (run by the xtask after a release build).

use base64::Engine as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "bench@outpost.lan";
const PASSWORD: &str = "bench password 1";

/// Kills the child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Target {
    name: &'static str,
    port: u16,
    collection: String,
    pid: u32,
}

fn request(
    t: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let mut s = TcpStream::connect(("127.0.0.1", t.port)).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let status = std::str::from_utf8(&out[..out.len().min(12)])
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body_start = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(out.len());
    (status, out[body_start..].to_vec())
}

fn event(i: usize) -> (String, String) {
    // Spread over 2026: one event per ~1.75 h; every 50th is weekly recurring.
    let minutes = i as i64 * 105;
    let day = minutes / (24 * 60);
    let month = (day / 28).min(11) + 1;
    let dom = day % 28 + 1;
    let hour = (minutes / 60) % 24;
    let uid = format!("bench-{i:05}");
    let rrule = if i.is_multiple_of(50) {
        "RRULE:FREQ=WEEKLY;COUNT=20\r\n"
    } else {
        ""
    };
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Outpost//bench//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:2026{month:02}{dom:02}T{hour:02}0000Z\r\nDURATION:PT45M\r\n\
         {rrule}SUMMARY:Meeting {i}\r\nDESCRIPTION:Benchmark event number {i} with some text.\r\n\
         LOCATION:Room {r}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        r = i % 17
    );
    (format!("{uid}.ics"), ics)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time<F: FnMut() -> (u16, Vec<u8>)>(runs: usize, expect: u16, mut f: F) -> (f64, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (st, body) = f();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(
            st,
            expect,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
        size = body.len();
    }
    (median(times), size)
}

fn wait_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sync_token(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let start = text
        .find("sync-token>")
        .map(|i| i + "sync-token>".len())
        .unwrap_or(0);
    let end = text[start..].find('<').map(|e| start + e).unwrap_or(start);
    text[start..end].to_string()
}

fn start_outpost(tmp: &Path) -> (Guard, Target) {
    let dir = tmp.join("outpost/directory");
    let mut d = outpost_directory::Directory::open(&dir).expect("directory");
    d.add_user(&outpost_directory::NewUser::new(USER, PASSWORD))
        .expect("user");
    let root = tmp.join("outpost/dav/collections");
    outpost_davstore::create_default_collections(&root, USER).expect("collections");
    let port = free_port();
    let cfg = tmp.join("outpost/outpost.toml");
    std::fs::write(
        &cfg,
        format!(
            "[general]\nstate_dir = \"{s}\"\n[tls]\ndir = \"{s}/tls\"\n[directory]\npath = \"{d}\"\n\
             [web]\nlisten = []\nplain_listen = [\"127.0.0.1:{port}\"]\ndav_root = \"{r}\"\n",
            s = tmp.join("outpost").display(),
            d = dir.display(),
            r = root.display()
        ),
    )
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let bin: PathBuf = exe.parent().unwrap().parent().unwrap().join("outpost-webd");
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&cfg)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let pid = child.id();
    wait_port(port);
    (
        Guard(child),
        Target {
            name: "outpost",
            port,
            collection: format!("/dav/{USER}/calendar/"),
            pid,
        },
    )
}

fn start_radicale(tmp: &Path) -> (Guard, Target) {
    let port = free_port();
    let child = Command::new("radicale")
        .args(["--config", "", "--server-hosts"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--storage-filesystem-folder")
        .arg(tmp.join("radicale"))
        .args(["--auth-type", "none", "--logging-level", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting radicale (apt-get install radicale)");
    let pid = child.id();
    wait_port(port);
    let t = Target {
        name: "radicale",
        port,
        collection: format!("/{USER}/calendar/"),
        pid,
    };
    let (st, body) = request(&t, "MKCALENDAR", &t.collection, &[], b"");
    assert_eq!(
        st,
        201,
        "radicale MKCALENDAR: {}",
        String::from_utf8_lossy(&body)
    );
    (Guard(child), t)
}

fn main() {
    let mut events = 5000usize;
    let mut runs = 5usize;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--events" => events = args[i + 1].parse().expect("--events N"),
            "--runs" => runs = args[i + 1].parse().expect("--runs N"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (_g1, outpost) = start_outpost(tmp.path());
    let (_g2, radicale) = start_radicale(tmp.path());
    let items: Vec<(String, String)> = (0..events).map(event).collect();
    let mut rows: Vec<(String, f64, f64, String)> = Vec::new();
    let mut results: Vec<Vec<f64>> = Vec::new();
    let mut notes = Vec::new();

    for t in [&outpost, &radicale] {
        let idle_start = outpost_testkit::rss_kib(t.pid);
        let mut r = Vec::new();
        // Bulk import: every event once, sequential PUTs.
        let start = Instant::now();
        for (name, ics) in &items {
            let (st, _) = request(
                t,
                "PUT",
                &format!("{}{name}", t.collection),
                &[("Content-Type", "text/calendar")],
                ics.as_bytes(),
            );
            assert!(st == 201 || st == 204, "{} PUT {name}: {st}", t.name);
        }
        r.push(start.elapsed().as_secs_f64() * 1000.0);

        let propfind = br#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/></d:prop></d:propfind>"#;
        let (ms, size) = time(runs, 207, || {
            request(t, "PROPFIND", &t.collection, &[("Depth", "1")], propfind)
        });
        r.push(ms);
        notes.push(format!("{} PROPFIND body {size} bytes", t.name));

        let query = br#"<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20260301T000000Z" end="20260401T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"#;
        let (ms, size) = time(runs, 207, || {
            request(t, "REPORT", &t.collection, &[("Depth", "1")], query)
        });
        r.push(ms);
        let text = String::from_utf8_lossy(
            &request(t, "REPORT", &t.collection, &[("Depth", "1")], query).1,
        )
        .into_owned();
        let matches = text.matches("<D:href>").count() + text.matches("<href>").count();
        notes.push(format!(
            "{} one-month query: {matches} matches, {size} bytes",
            t.name
        ));

        let sync0 = br#"<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#;
        let (ms, _) = time(runs, 207, || {
            request(t, "REPORT", &t.collection, &[], sync0)
        });
        r.push(ms);

        // Incremental: 10 changed items since the last token.
        let mut incr = Vec::new();
        for round in 0..runs {
            let (_, body) = request(t, "REPORT", &t.collection, &[], sync0);
            let token = sync_token(&body);
            for (name, ics) in items.iter().skip(round * 10).take(10) {
                let edited = ics.replace("some text", &format!("edited text {round}"));
                request(
                    t,
                    "PUT",
                    &format!("{}{name}", t.collection),
                    &[("Content-Type", "text/calendar")],
                    edited.as_bytes(),
                );
            }
            let body = format!(
                r#"<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
            );
            let start = Instant::now();
            let (st, resp) = request(t, "REPORT", &t.collection, &[], body.as_bytes());
            incr.push(start.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(st, 207, "{}", String::from_utf8_lossy(&resp));
        }
        r.push(median(incr));

        let mut mg = String::from(
            r#"<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>"#,
        );
        for (name, _) in items.iter().step_by(events / 100).take(100) {
            mg.push_str(&format!("<d:href>{}{name}</d:href>", t.collection));
        }
        mg.push_str("</c:calendar-multiget>");
        let (ms, _) = time(runs, 207, || {
            request(t, "REPORT", &t.collection, &[("Depth", "1")], mg.as_bytes())
        });
        r.push(ms);

        std::thread::sleep(Duration::from_millis(500));
        r.push(idle_start as f64);
        r.push(outpost_testkit::rss_kib(t.pid) as f64);
        results.push(r);
    }

    let labels = [
        format!("bulk import of {events} events (ms)"),
        format!("PROPFIND Depth 1, {events} items (ms)"),
        "calendar-query, one month (ms)".into(),
        "sync-collection, initial (ms)".into(),
        "sync-collection, 10 changes (ms)".into(),
        "calendar-multiget of 100 (ms)".into(),
        "RSS idle at start (KiB)".into(),
        "RSS after the run (KiB)".into(),
    ];
    for (i, l) in labels.iter().enumerate() {
        let (o, r) = (results[0][i], results[1][i]);
        rows.push((l.clone(), o, r, format!("{:.1}x", r / o.max(1e-9))));
    }
    println!(
        "dav benchmark: outpost-webd vs Radicale {} on 127.0.0.1, {events} events, median of {runs} runs",
        radicale_version()
    );
    println!(
        "{:<40} {:>12} {:>12} {:>10}",
        "measure", "outpost", "radicale", "ratio"
    );
    for (l, o, r, ratio) in rows {
        println!("{l:<40} {o:>12.1} {r:>12.1} {ratio:>10}");
    }
    for n in notes {
        println!("note: {n}");
    }
}

fn radicale_version() -> String {
    Command::new("radicale")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
