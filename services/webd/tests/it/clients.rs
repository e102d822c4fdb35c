//! Real clients against the webd started by `cargo xtask serve`, as a user
//! would run them: Debian's `litmus` WebDAV suite (over serve's loopback
//! plain-HTTP listener: litmus cannot be given a CA), `vdirsyncer` two-way
//! sync and the Python `caldav` library (both over HTTPS, verifying serve's
//! CA). Each fails (does not skip) when its tool is missing: `cargo xtask
//! deps` installs them (ci/packages.txt, `# dav`).

use crate::harness::{ALICE, PASSWORD, request};
use outpost_testkit::Served;

/// serve with Alice.
fn serve() -> Served {
    Served::start(&[(ALICE, PASSWORD)])
}

/// `https://localhost:PORT` (the name serve's certificate carries).
fn https(s: &Served) -> String {
    format!("https://localhost:{}", s.addr("https").port())
}
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs a command with a deadline, killing it when it overruns.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e} (run `cargo xtask deps`)"));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} timed out after {limit:?}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn litmus_basic_copymove_props() {
    let s = serve();
    let url = format!("http://{}/dav/{ALICE}/", s.addr("http"));
    let tmp = tempfile::tempdir().unwrap();
    let out = run_bounded(
        Command::new("litmus")
            .args(["-k", &url, ALICE, PASSWORD])
            .env("TESTS", "basic copymove props")
            .current_dir(tmp.path()),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    // Per-suite summary lines: "<- summary for `basic': of 14 tests run: 12 passed, 2 failed. 85.7%".
    let passed = |suite: &str| -> u32 {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("summary for `{suite}'")))
            .unwrap_or_else(|| panic!("no summary for {suite}\n{text}"));
        let after = line.split("tests run: ").nth(1).unwrap_or("");
        after.split(' ').next().unwrap_or("0").parse().unwrap_or(0)
    };
    assert_eq!(passed("basic"), 16, "{text}");
    assert_eq!(passed("copymove"), 13, "{text}");
    assert_eq!(passed("props"), 30, "{text}");
    assert_eq!(text.matches(" 0 failed").count(), 3, "{text}");
}

/// A Python with the `caldav` library: a venv under the target folder,
/// made once with pip (PyPI is one of the reachable registries; a venv
/// because Debian's own Python refuses system-wide pip installs, PEP 668).
fn caldav_python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dav-pyenv");
    let py = venv.join("bin/python3");
    let ok = Command::new(&py)
        .args(["-c", "import caldav"])
        .status()
        .map(|s| s.success());
    if ok.unwrap_or(false) {
        return py;
    }
    let out = run_bounded(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "python3 -m venv (apt-get install python3-venv): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_bounded(
        Command::new(&py).args(["-m", "pip", "install", "--quiet", "caldav"]),
        Duration::from_secs(300),
    );
    assert!(
        out.status.success(),
        "pip install caldav: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    py
}

#[test]
fn python_caldav_discovery_recurrence_tasks_freebusy() {
    let python = caldav_python();
    let s = serve();
    let url = format!("{}/dav/", https(&s));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/caldav_client.py");
    let ca = s.ca().display().to_string();
    let out = run_bounded(
        Command::new(&python).args([script, &url, ALICE, PASSWORD, &ca]),
        Duration::from_secs(120),
    );
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("all ok"), "{text}");
}

fn ical(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T100000Z\r\nDTEND:20260310T110000Z\r\n\
         SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn vcard(uid: &str, name: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
}

#[test]
fn vdirsyncer_two_way_calendar_and_contacts() {
    let s = serve();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mut cfg = format!("[general]\nstatus_path = \"{}/status/\"\n", t.display());
    for (pair, coll, ext, kind) in [
        ("cal", "calendar", ".ics", "caldav"),
        ("card", "contacts", ".vcf", "carddav"),
    ] {
        std::fs::create_dir_all(t.join(pair)).unwrap();
        cfg.push_str(&format!(
            "\n[pair {pair}]\na = \"{pair}_local\"\nb = \"{pair}_remote\"\ncollections = null\n\
             conflict_resolution = \"a wins\"\n\n[storage {pair}_local]\ntype = \"filesystem\"\n\
             path = \"{}/{pair}/\"\nfileext = \"{ext}\"\n\n[storage {pair}_remote]\ntype = \"{kind}\"\n\
             url = \"{}/dav/{ALICE}/{coll}/\"\nusername = \"{ALICE}\"\npassword = \"{PASSWORD}\"\n\
             verify = \"{}\"\n",
            t.display(),
            https(&s),
            s.ca().display()
        ));
    }
    let cfg_path = t.join("config");
    std::fs::write(&cfg_path, cfg).unwrap();
    let vds = |args: &[&str]| {
        let out = run_bounded(
            Command::new("vdirsyncer")
                .arg("-c")
                .arg(&cfg_path)
                .args(args)
                .stdin(std::process::Stdio::null()),
            Duration::from_secs(120),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "vdirsyncer {args:?}: {text}");
    };
    let put = |path: &str, body: &str| {
        let (st, _, b) = request(
            s.addr("http"),
            "PUT",
            &format!("/dav/{ALICE}/{path}"),
            Some(ALICE),
            &[],
            body,
        );
        assert!(st == 201 || st == 204, "PUT {path}: {st} {b}");
    };
    let get = |path: &str| {
        request(
            s.addr("http"),
            "GET",
            &format!("/dav/{ALICE}/{path}"),
            Some(ALICE),
            &[],
            "",
        )
    };
    let local = |pair: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(t.join(pair))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        v.sort();
        v
    };

    // Creates on both sides.
    put("calendar/r1.ics", &ical("r1", "Remote one"));
    put("contacts/r1.vcf", &vcard("r1", "Remote One"));
    std::fs::write(t.join("cal/l1.ics"), ical("l1", "Local one")).unwrap();
    std::fs::write(t.join("card/l1.vcf"), vcard("l1", "Local One")).unwrap();
    vds(&["discover"]);
    vds(&["sync"]);
    assert!(
        local("cal").iter().any(|c| c.contains("Remote one")),
        "{:?}",
        local("cal")
    );
    assert!(
        local("card").iter().any(|c| c.contains("Remote One")),
        "{:?}",
        local("card")
    );
    assert_eq!(get("calendar/l1.ics").0, 200);
    assert_eq!(get("contacts/l1.vcf").0, 200);

    // Edits on both sides.
    put("calendar/r1.ics", &ical("r1", "Remote one edited"));
    std::fs::write(t.join("cal/l1.ics"), ical("l1", "Local one edited")).unwrap();
    put("contacts/r1.vcf", &vcard("r1", "Remote Edited"));
    std::fs::write(t.join("card/l1.vcf"), vcard("l1", "Local Edited")).unwrap();
    vds(&["sync"]);
    assert!(
        local("cal").iter().any(|c| c.contains("Remote one edited")),
        "{:?}",
        local("cal")
    );
    assert!(
        local("card").iter().any(|c| c.contains("Remote Edited")),
        "{:?}",
        local("card")
    );
    assert!(get("calendar/l1.ics").2.contains("Local one edited"));
    assert!(get("contacts/l1.vcf").2.contains("Local Edited"));

    // Deletes on both sides.
    assert_eq!(
        request(
            s.addr("http"),
            "DELETE",
            &format!("/dav/{ALICE}/calendar/r1.ics"),
            Some(ALICE),
            &[],
            ""
        )
        .0,
        204
    );
    assert_eq!(
        request(
            s.addr("http"),
            "DELETE",
            &format!("/dav/{ALICE}/contacts/r1.vcf"),
            Some(ALICE),
            &[],
            ""
        )
        .0,
        204
    );
    std::fs::remove_file(t.join("cal/l1.ics")).unwrap();
    std::fs::remove_file(t.join("card/l1.vcf")).unwrap();
    vds(&["sync"]);
    assert!(local("cal").is_empty(), "{:?}", local("cal"));
    assert!(local("card").is_empty(), "{:?}", local("card"));
    assert_eq!(get("calendar/l1.ics").0, 404);
    assert_eq!(get("contacts/l1.vcf").0, 404);
}
