//! DKIM signing and the SPF/DKIM/DMARC checks against real DNS: a private
//! dnsmasq on loopback publishes the records; dkimpy (PyPI) verifies what
//! Outpost signs.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outpost_config::hygiene::Checks;
use outpost_hygiene::checks::{Checker, Disposition};
use outpost_hygiene::dkim;

/// A dnsmasq answering only the given TXT records (authoritatively for
/// nothing else: every other name is refused, no upstream).
struct Dns {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dnsmasq(records: &[(String, String)]) -> Dns {
    assert!(
        Path::new("/usr/sbin/dnsmasq").exists(),
        "dnsmasq is missing: run `cargo xtask deps`"
    );
    for _ in 0..20 {
        // A free UDP port (dnsmasq serves TCP on the same one).
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("/usr/sbin/dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--except-interface=nonexistent",
            "--user=root",
            "--pid-file",
            "--log-facility=-",
            // Authoritative for the test names: what is not listed is
            // NXDOMAIN (not REFUSED, which resolvers treat as an error).
            "--local=/test/",
            "--local=/example/",
            "--local=/example.org/",
            "--local=/lan/",
        ])
        .arg(format!("--port={port}"));
        for (name, text) in records {
            // dnsmasq's TXT syntax: name,"string","string" (each ≤ 255).
            let parts: Vec<String> = text
                .as_bytes()
                .chunks(255)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            cmd.arg(format!("--txt-record={name},{}", parts.join(",")));
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start dnsmasq");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child.stderr.take().unwrap().read_to_string(&mut err).ok();
                assert!(
                    err.contains("Address in use") || err.contains("in use"),
                    "dnsmasq exited {status}: {err}"
                );
                break;
            }
            if std::net::TcpStream::connect(addr).is_ok() {
                return Dns { child, addr };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("dnsmasq did not start");
}

fn keys(dir: &Path) -> dkim::KeyDir {
    let cfg = dkim::KeyDir {
        dir: dir.join("dkim"),
        selector: "outpost".into(),
    };
    dkim::ensure(&cfg).unwrap();
    cfg
}

fn records(cfg: &dkim::KeyDir, domain: &str, spf: &str, dmarc: &str) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = dkim::published(cfg)
        .unwrap()
        .into_iter()
        .map(|p| (format!("{}._domainkey.{domain}", p.selector), p.record))
        .collect();
    r.push((domain.to_string(), spf.to_string()));
    r.push((format!("_dmarc.{domain}"), dmarc.to_string()));
    r
}

const MESSAGE: &str = "From: Alice <alice@outpost.test>\r\nTo: bob@example.org\r\nSubject: Field report\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <r1@outpost.test>\r\n\r\nAll quiet at the outpost.\r\n";

fn signed(cfg: &dkim::KeyDir, message: &str) -> String {
    let signer = dkim::Signer::start(cfg).unwrap();
    let sig = signer.sign(&[message.as_bytes()], "outpost.test").unwrap();
    format!("{sig}{message}")
}

fn checker(dns: SocketAddr) -> Checker {
    let cfg = Checks {
        dns_servers: vec![dns],
        dns_timeout_ms: 1000,
        budget_ms: 5000,
        ..Checks::default()
    };
    Checker::new(&cfg, "mx.outpost.lan")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

#[test]
fn keys_are_made_once_private_and_rotate_without_a_restart() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let cfg = keys(t.path());
    // Idempotent; files 0600 in a 0700 folder.
    assert_eq!(dkim::ensure(&cfg).unwrap(), "outpost");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cfg.dir), 0o700);
    assert_eq!(mode(&cfg.dir.join("outpost-rsa.key")), 0o600);
    assert_eq!(mode(&cfg.dir.join("outpost-ed25519.key")), 0o600);
    let before = std::fs::read(cfg.dir.join("outpost-rsa.key")).unwrap();
    dkim::ensure(&cfg).unwrap();
    assert_eq!(
        before,
        std::fs::read(cfg.dir.join("outpost-rsa.key")).unwrap()
    );

    let p = dkim::published(&cfg).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].selector, "outpost-rsa");
    assert!(
        p[0].record.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"),
        "{}",
        p[0].record
    );
    assert!(p[1].record.starts_with("v=DKIM1; k=ed25519; p="));
    // An Ed25519 public key is 32 bytes: 44 base64 characters.
    assert_eq!(p[1].record.len(), "v=DKIM1; k=ed25519; p=".len() + 44);

    let signer = dkim::Signer::start(&cfg).unwrap();
    let first = signer.sign(&[MESSAGE.as_bytes()], "outpost.test").unwrap();
    assert!(
        first.contains("s=outpost-rsa") && first.contains("s=outpost-ed25519"),
        "{first}"
    );
    assert!(first.contains("a=rsa-sha256") && first.contains("a=ed25519-sha256"));
    assert!(first.contains("d=outpost.test"));

    // Rotation: a new dated selector, active at once for the running
    // signer; the old keys stay published until retired.
    let new = dkim::rotate(&cfg, "20261207").unwrap();
    assert_eq!(new, "outpost-20261207");
    assert_eq!(
        dkim::rotate(&cfg, "20261207").unwrap(),
        "outpost-20261207-2"
    );
    let next = signer.sign(&[MESSAGE.as_bytes()], "outpost.test").unwrap();
    assert!(next.contains("s=outpost-20261207-2-rsa"), "{next}");
    assert_eq!(
        dkim::selectors(&cfg).unwrap(),
        ["outpost-20261207-2", "outpost", "outpost-20261207"]
    );
    assert_eq!(dkim::published(&cfg).unwrap().len(), 6);
    let e = dkim::retire(&cfg, "outpost-20261207-2").unwrap_err();
    assert!(e.to_string().contains("active selector"), "{e}");
    dkim::retire(&cfg, "outpost").unwrap();
    assert!(dkim::retire(&cfg, "outpost").is_err());
    assert!(dkim::retire(&cfg, "../etc").is_err());
    assert_eq!(
        dkim::selectors(&cfg).unwrap(),
        ["outpost-20261207-2", "outpost-20261207"]
    );
}

/// `outpostctl dkim rotate` runs as root; the daemon owning the state
/// folder must still read the new keys.
#[test]
fn keys_made_by_root_belong_to_the_state_folder_owner() {
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    std::fs::create_dir(&state).unwrap();
    if std::os::unix::fs::chown(&state, Some(65534), Some(65534)).is_err() {
        eprintln!("skipped: not root (cannot give the state folder another owner)");
        return;
    }
    let cfg = dkim::KeyDir {
        dir: state.join("dkim"),
        selector: "outpost".into(),
    };
    dkim::ensure(&cfg).unwrap();
    let s = dkim::rotate(&cfg, "20261207").unwrap();
    for p in [
        cfg.dir.clone(),
        cfg.dir.join("active"),
        cfg.dir.join("outpost-rsa.key"),
        cfg.dir.join(format!("{s}-ed25519.key")),
    ] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
    }
}

#[test]
fn a_lost_key_or_a_bad_active_file_is_an_error_not_a_new_key() {
    let t = tempfile::tempdir().unwrap();
    let cfg = keys(t.path());
    std::fs::remove_file(cfg.dir.join("outpost-ed25519.key")).unwrap();
    let e = dkim::ensure(&cfg).unwrap_err().to_string();
    assert!(e.contains("outpost-ed25519.key: missing"), "{e}");
    std::fs::write(cfg.dir.join("active"), "../../x\n").unwrap();
    let e = dkim::ensure(&cfg).unwrap_err().to_string();
    assert!(e.contains("not a selector"), "{e}");
    std::fs::write(cfg.dir.join("active"), "outpost\n").unwrap();
    std::fs::write(cfg.dir.join("outpost-ed25519.key"), "garbage").unwrap();
    let e = dkim::Signer::start(&cfg).unwrap_err().to_string();
    assert!(e.contains("not a PEM key"), "{e}");
}

#[test]
fn signed_mail_passes_forged_mail_fails_and_dmarc_is_honoured() {
    let t = tempfile::tempdir().unwrap();
    let cfg = keys(t.path());
    let mut recs = records(
        &cfg,
        "outpost.test",
        "v=spf1 ip4:127.0.0.1 -all",
        "v=DMARC1; p=reject",
    );
    // A second domain that only quarantines, signed by nobody.
    recs.push(("soft.test".into(), "v=spf1 ip4:127.0.0.1 -all".into()));
    recs.push(("_dmarc.soft.test".into(), "v=DMARC1; p=quarantine".into()));
    let dns = dnsmasq(&recs);
    let c = checker(dns.addr);
    let rt = rt();

    // Signed, from the right address: everything passes.
    let good = signed(&cfg, MESSAGE);
    let o = rt.block_on(c.check(
        good.as_bytes(),
        LOCAL,
        "mail.outpost.test",
        "alice@outpost.test",
    ));
    assert_eq!(o.disposition, Disposition::Deliver, "{}", o.header);
    assert!(
        o.header
            .starts_with("Authentication-Results: mx.outpost.lan;"),
        "{}",
        o.header
    );
    for want in ["dkim=pass", "spf=pass", "dmarc=pass"] {
        assert!(o.header.contains(want), "{want}: {}", o.header);
    }
    // Both signatures verify (RSA and Ed25519).
    assert_eq!(o.header.matches("dkim=pass").count(), 2, "{}", o.header);
    assert!(
        o.summary.contains("dkim=pass") && o.summary.contains("dmarc=pass"),
        "{}",
        o.summary
    );

    // The body changed on the way: DKIM fails; SPF still passes, so
    // DMARC passes on SPF alignment.
    let tampered = good.replace("All quiet", "Send money");
    let o = rt.block_on(c.check(
        tampered.as_bytes(),
        LOCAL,
        "mail.outpost.test",
        "alice@outpost.test",
    ));
    // (mail-auth says `neutral (body hash did not verify)`, RFC 6376
    // §3.9's PERMFAIL; either way not a pass.)
    assert!(!o.header.contains("dkim=pass"), "{}", o.header);
    assert!(
        o.header.contains("body hash did not verify"),
        "{}",
        o.header
    );
    assert_eq!(o.disposition, Disposition::Deliver);

    // Forged: unsigned, from an address SPF does not allow → DMARC fail
    // under p=reject → 550.
    let o = rt.block_on(c.check(
        MESSAGE.as_bytes(),
        OTHER,
        "evil.example",
        "alice@outpost.test",
    ));
    assert!(
        o.header.contains("spf=fail") && o.header.contains("dmarc=fail"),
        "{}",
        o.header
    );
    match &o.disposition {
        Disposition::Reject(r) => assert!(
            r.starts_with("550 5.7.1") && r.contains("outpost.test"),
            "{r}"
        ),
        d => panic!("{d:?}: {}", o.header),
    }
    // The same with rejecting turned off: Junk.
    let soft = Checker::new(
        &Checks {
            dns_servers: vec![dns.addr],
            dmarc_reject: false,
            ..Checks::default()
        },
        "mx.outpost.lan",
    );
    let o = rt.block_on(soft.check(
        MESSAGE.as_bytes(),
        OTHER,
        "evil.example",
        "alice@outpost.test",
    ));
    assert_eq!(o.disposition, Disposition::Junk, "{}", o.header);

    // p=quarantine → Junk.
    let q = MESSAGE.replace("alice@outpost.test", "carol@soft.test");
    let o = rt.block_on(c.check(q.as_bytes(), OTHER, "evil.example", "carol@soft.test"));
    assert_eq!(o.disposition, Disposition::Junk, "{}", o.header);

    // A domain with no records at all: none, delivered.
    let n = MESSAGE.replace("alice@outpost.test", "dave@nowhere.test");
    let o = rt.block_on(c.check(n.as_bytes(), OTHER, "x.example", "dave@nowhere.test"));
    assert_eq!(o.disposition, Disposition::Deliver, "{}", o.header);
    assert!(o.header.contains("dmarc=none"), "{}", o.header);
}

#[test]
fn with_no_dns_at_all_every_check_is_temperror_and_mail_is_delivered() {
    let t = tempfile::tempdir().unwrap();
    let cfg = keys(t.path());
    let good = signed(&cfg, MESSAGE);
    // Nothing answers on this port (bound, never read: a black hole).
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = Checker::new(
        &Checks {
            dns_servers: vec![hole.local_addr().unwrap()],
            dns_timeout_ms: 300,
            budget_ms: 1500,
            ..Checks::default()
        },
        "mx.outpost.lan",
    );
    let started = Instant::now();
    let o = rt().block_on(c.check(good.as_bytes(), OTHER, "evil.example", "alice@outpost.test"));
    assert_eq!(o.disposition, Disposition::Deliver, "{}", o.header);
    assert!(o.header.contains("temperror"), "{}", o.header);
    assert!(
        !o.header.contains("=pass") && !o.header.contains("=fail"),
        "{}",
        o.header
    );
    // Bounded by the budget (plus scheduling slack), not by retries.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // DNS now counts as down: the next message does not wait at all.
    let started = Instant::now();
    let o = rt().block_on(c.check(good.as_bytes(), OTHER, "evil.example", "alice@outpost.test"));
    assert!(
        o.header.contains("temperror (no DNS answer)"),
        "{}",
        o.header
    );
    assert_eq!(o.disposition, Disposition::Deliver);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn hostile_messages_never_break_the_results_field() {
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = Checker::new(
        &Checks {
            dns_servers: vec![hole.local_addr().unwrap()],
            dns_timeout_ms: 100,
            budget_ms: 500,
            ..Checks::default()
        },
        "mx.outpost.lan",
    );
    let rt = rt();
    let many_sigs = format!(
        "{}From: a@b.example\r\n\r\nx\r\n",
        "DKIM-Signature: v=1; a=rsa-sha256; d=b.example; s=s; h=from; bh=AA==; b=AA==\r\n"
            .repeat(200)
    );
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("empty", Vec::new(), "h", "a@b.example"),
        (
            "no header end",
            b"From: a@b.example".to_vec(),
            "h",
            "a@b.example",
        ),
        (
            "binary",
            (0..=255u8).cycle().take(4096).collect(),
            "h",
            "a@b.example",
        ),
        (
            "garbage signature",
            b"DKIM-Signature: ;;;===\r\nFrom: a@b.example\r\n\r\nx".to_vec(),
            "h",
            "a@b.example",
        ),
        (
            "many signatures",
            many_sigs.into_bytes(),
            "h",
            "a@b.example",
        ),
        (
            "hostile helo",
            MESSAGE.as_bytes().to_vec(),
            "x;\r\n dkim=pass",
            "a@b.example",
        ),
        (
            "hostile sender",
            MESSAGE.as_bytes().to_vec(),
            "h",
            "a\"b;\r\nc@d.example",
        ),
        ("null sender", MESSAGE.as_bytes().to_vec(), "h", ""),
    ];
    for (name, msg, helo, from) in cases {
        let o = rt.block_on(c.check(&msg, OTHER, helo, from));
        assert_eq!(o.disposition, Disposition::Deliver, "{name}: {}", o.header);
        assert!(
            o.header
                .starts_with("Authentication-Results: mx.outpost.lan;"),
            "{name}: {}",
            o.header
        );
        assert!(o.header.ends_with("\r\n"), "{name}");
        // Every line after the first is a folded continuation: the
        // sender's text never starts a field of its own.
        for line in o.header.trim_end().split("\r\n").skip(1) {
            assert!(
                line.starts_with([' ', '\t']),
                "{name}: {line:?} in {}",
                o.header
            );
        }
        assert!(!o.header.contains("dkim=pass"), "{name}: {}", o.header);
    }
}

#[test]
fn dkimpy_verifies_both_signatures_and_refuses_a_changed_message() {
    let t = tempfile::tempdir().unwrap();
    let cfg = keys(t.path());
    let good = signed(&cfg, MESSAGE);
    let bad = good.replace("Field report", "Field repart");
    let keys: Vec<(String, String)> = dkim::published(&cfg)
        .unwrap()
        .into_iter()
        .map(|p| (format!("{}._domainkey.outpost.test", p.selector), p.record))
        .collect();
    let verify = |m: &str| outpost_testkit::dkimpy::verify(m.as_bytes(), &keys).unwrap();
    assert_eq!(verify(&good), [true, true]);
    assert_eq!(verify(&bad), [false, false]);
}
