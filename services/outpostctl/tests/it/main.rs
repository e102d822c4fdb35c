//! `outpostctl` end to end: the real binary against a throw-away config.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut c = outpost_config::Config::default();
        c.general.domains = vec!["outpost.test".into()];
        c.general.mail_root = dir.path().join("mail");
        c.directory.path = dir.path().join("directory");
        c.smtp.queue_dir = dir.path().join("queue");
        c.tls.dir = dir.path().join("tls");
        // Never the machine's /var/lib/outpost (DKIM keys) or clamav.
        c.general.state_dir = dir.path().join("state");
        c.smtp.av.database_dir = dir.path().join("clamav");
        std::fs::write(dir.path().join("outpost.toml"), c.to_toml()).unwrap();
        Env { dir }
    }

    /// Rewrites the configuration with `edit` applied.
    fn configure(&self, edit: impl FnOnce(&mut outpost_config::Config)) {
        let path = self.dir.path().join("outpost.toml");
        let mut c = outpost_config::Config::load(&path).unwrap();
        edit(&mut c);
        std::fs::write(path, c.to_toml()).unwrap();
    }

    /// Where the first-boot notes (file, issue note, console) go in tests.
    fn notes(&self) -> std::path::PathBuf {
        self.dir.path().join("notes")
    }

    /// Runs outpostctl; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        std::fs::create_dir_all(self.notes()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_outpostctl"))
            // Never the real /etc/issue.d or /dev/console.
            .env("OUTPOST_INITIAL_NOTES_DIR", self.notes())
            .arg("--config")
            .arg(self.dir.path().join("outpost.toml"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command may exit before reading (refusals): ignore EPIPE.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn mailbox(&self, user: &str) -> std::path::PathBuf {
        self.dir.path().join("mail/outpost.test").join(user)
    }
}

#[test]
fn user_lifecycle() {
    let e = Env::new();
    let (code, out, err) = e.run(
        &[
            "user",
            "add",
            "Alice@outpost.test",
            "--name",
            "Alice",
            "--alias",
            "ali@outpost.test",
            "--password-stdin",
        ],
        "correct horse\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("added alice@outpost.test (mailbox "),
        "{out}"
    );
    for sub in [
        "cur",
        "new",
        "tmp",
        ".Sent/cur",
        ".Trash/new",
        ".Junk/tmp",
        ".Drafts/cur",
        ".Archive/new",
    ] {
        assert!(e.mailbox("alice").join(sub).is_dir(), "{sub}");
    }
    let (code, out, _) = e.run(&["user", "list"], "");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "ADDRESS             NAME   ROLES  ALIASES           QUOTA  ENABLED  UPSTREAM\n\
         alice@outpost.test  Alice  user   ali@outpost.test  -      yes\n"
    );
    let (_, out, _) = e.run(&["user", "list", "--json"], "");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["address"], "alice@outpost.test");
    assert_eq!(v[0]["aliases"][0], "ali@outpost.test");

    let (code, _, err) = e.run(
        &["user", "passwd", "alice@outpost.test", "--password-stdin"],
        "battery staple\n",
    );
    assert_eq!(code, 0, "{err}");
    let d = outpost_directory::Directory::open(&e.dir.path().join("directory")).unwrap();
    d.authenticate("alice@outpost.test", "battery staple", None)
        .unwrap();

    // del keeps the mail, --purge removes it.
    let (code, out, _) = e.run(&["user", "del", "alice@outpost.test"], "");
    assert_eq!(code, 0);
    assert!(out.contains("mail kept in"), "{out}");
    assert!(e.mailbox("alice").is_dir());
    e.run(
        &["user", "add", "bob@outpost.test", "--password-stdin"],
        "correct horse\n",
    );
    let (code, _, _) = e.run(&["user", "del", "--purge", "bob@outpost.test"], "");
    assert_eq!(code, 0);
    assert!(!e.mailbox("bob").exists());
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let e = Env::new();
    e.run(
        &["user", "add", "alice@outpost.test", "--password-stdin"],
        "correct horse\n",
    );
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["user", "add", "not-an-address", "--password-stdin"],
            "correct horse\n",
            "invalid address \"not-an-address\"",
        ),
        (
            &["user", "add", "alice@outpost.test", "--password-stdin"],
            "correct horse\n",
            "alice@outpost.test exists already; nothing changed",
        ),
        (
            &["user", "add", "carol@outpost.test", "--password-stdin"],
            "short\n",
            "password refused: it must have at least 8 characters; nothing changed",
        ),
        (
            &["user", "add", "carol@elsewhere.example", "--password-stdin"],
            "correct horse\n",
            "elsewhere.example is not a local mail domain",
        ),
        (
            &["user", "add", "carol@outpost.test"],
            "",
            "no terminal to ask for the password: use --password-stdin",
        ),
        (
            &["user", "del", "nobody@outpost.test"],
            "",
            "nobody@outpost.test does not exist; nothing changed",
        ),
        (
            &[
                "user",
                "alias",
                "add",
                "alice@outpost.test",
                "x@outpost.test",
            ],
            "",
            "alice@outpost.test exists already",
        ),
        (&["queue", "delete", "../../etc"], "", "deleting ../../etc"),
    ];
    for (args, stdin, want) in cases {
        let (code, _, err) = e.run(args, stdin);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.starts_with("outpostctl: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
    let (_, out, _) = e.run(&["user", "list", "--json"], "");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(!e.mailbox("carol").exists());
    let (code, _, _) = e.run(&["user", "frobnicate"], "");
    assert_eq!(code, 2, "usage errors exit 2");
}

#[test]
fn groups_aliases_and_queue() {
    let e = Env::new();
    e.run(
        &["user", "add", "alice@outpost.test", "--password-stdin"],
        "correct horse\n",
    );
    let (code, _, err) = e.run(
        &[
            "group",
            "add",
            "team@outpost.test",
            "--name",
            "Team",
            "--member",
            "alice@outpost.test",
            "--member",
            "partner@remote.example",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = e.run(
        &[
            "user",
            "alias",
            "add",
            "info@outpost.test",
            "team@outpost.test",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let d = outpost_directory::Directory::open(&e.dir.path().join("directory")).unwrap();
    let r = d.resolve("info@outpost.test").unwrap();
    assert_eq!(r.local, ["alice@outpost.test"]);
    assert_eq!(r.remote, ["partner@remote.example"]);
    let (_, out, _) = e.run(&["group", "list"], "");
    assert_eq!(
        out,
        "GROUP              NAME  MEMBERS\nteam@outpost.test  Team  alice@outpost.test,partner@remote.example\n"
    );

    // The queue as smtpd writes it.
    let q = outpost_queue::Queue::open(&e.dir.path().join("queue")).unwrap();
    let env = outpost_queue::Envelope {
        id: "ABC123".into(),
        from: "alice@outpost.test".into(),
        rcpts: vec![outpost_queue::QueuedRcpt {
            address: "partner@remote.example".into(),
            state: outpost_queue::RcptState::Pending,
            last_error: "connection refused".into(),
            notify_never: false,
            orcpt: None,
        }],
        created: 1,
        attempts: 2,
        next_attempt: 99,
        size: 42,
        envid: None,
        ret_headers_only: false,
        submitter: None,
    };
    q.enqueue(&env, b"x").unwrap();
    let (_, out, _) = e.run(&["queue", "list"], "");
    assert_eq!(
        out,
        "ID      SIZE  FROM                TO                      ATTEMPTS  LAST ERROR\n\
         ABC123  42    alice@outpost.test  partner@remote.example  2         connection refused\n\
         1 message(s) queued\n"
    );
    let (code, _, _) = e.run(&["queue", "flush"], "");
    assert_eq!(code, 0);
    assert!(Path::new(&e.dir.path().join("queue/.flush")).exists());
    let (code, out, _) = e.run(&["queue", "delete", "ABC123"], "");
    assert_eq!((code, out.as_str()), (0, "deleted 1 message(s)\n"));
    assert!(q.list().unwrap().is_empty());
}

#[test]
fn queue_commands_leave_a_message_being_committed_alone() {
    // #17: `queue list` removed a .msg whose .env smtpd had not renamed
    // into place yet, so the acknowledged message lost its body.
    let e = Env::new();
    let queue = e.dir.path().join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    std::fs::write(queue.join("ABC124.msg"), b"body").unwrap();
    std::fs::write(queue.join("ABC124.env.tmp"), b"{").unwrap();
    for _ in 0..3 {
        let (code, out, _) = e.run(&["queue", "list"], "");
        assert_eq!(
            (code, out.as_str()),
            (
                0,
                "ID  SIZE  FROM  TO  ATTEMPTS  LAST ERROR\n0 message(s) queued\n"
            )
        );
        let (code, _, _) = e.run(&["queue", "flush"], "");
        assert_eq!(code, 0);
    }
    assert_eq!(std::fs::read(queue.join("ABC124.msg")).unwrap(), b"body");
    assert!(queue.join("ABC124.env.tmp").exists());
    // Held entries are named by `queue list`.
    std::fs::create_dir_all(queue.join("held")).unwrap();
    std::fs::write(queue.join("held/ABC125.env"), b"{").unwrap();
    let (_, out, _) = e.run(&["queue", "list"], "");
    assert!(
        out.ends_with(&format!(
            "0 message(s) queued\n1 message(s) held in {}: ABC125\n",
            queue.join("held").display()
        )),
        "{out}"
    );
}

#[test]
fn tls_ca_prints_the_exportable_certificate() {
    let e = Env::new();
    let (code, _, err) = e.run(&["tls", "ca"], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("it is created when a daemon first starts"),
        "{err}"
    );
    outpost_tls::load_or_create(&e.dir.path().join("tls"), &["localhost".to_string()]).unwrap();
    let (code, out, _) = e.run(&["tls", "ca"], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}");
}

#[test]
fn tls_status_warns_when_the_server_certificate_expires_soon() {
    // Regression (#25): nothing told the admin the certificate was about
    // to expire. Issued 820 days ago by the local CA: 4 whole days left.
    let e = Env::new();
    let tls = e.dir.path().join("tls");
    let now = time::OffsetDateTime::now_utc();
    outpost_tls::load_or_create_at(
        &tls,
        &["outpost.test".to_string()],
        outpost_tls::DEFAULT_RENEW_BEFORE,
        now - time::Duration::days(820),
    )
    .unwrap();
    let before = std::fs::read(tls.join("server.crt")).unwrap();
    let (code, out, err) = e.run(&["tls", "status"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("names:       outpost.test\n"), "{out}");
    assert!(out.contains("days left:   4\n"), "{out}");
    assert!(
        out.contains("warning: server certificate expires in 4 days; the daemons renew it"),
        "{out}"
    );
    // `tls ca` keeps stdout for the PEM and warns on stderr.
    let (code, out, err) = e.run(&["tls", "ca"], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}");
    assert!(
        err.contains("warning: server certificate expires in 4 days"),
        "{err}"
    );
    // Status only reads: renewing is the daemons' job.
    assert_eq!(std::fs::read(tls.join("server.crt")).unwrap(), before);
    // Once renewed (what a daemon does at start), no warning.
    outpost_tls::load_or_create(&tls, &["outpost.test".to_string()]).unwrap();
    let (_, out, _) = e.run(&["tls", "status"], "");
    assert!(!out.contains("warning"), "{out}");
}

#[test]
fn tls_status_warns_for_an_admin_certificate_outpost_cannot_renew() {
    let e = Env::new();
    let now = time::OffsetDateTime::now_utc();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["mail.example.org".to_string()]).unwrap();
    params.not_before = now - time::Duration::days(300);
    params.not_after = now + time::Duration::days(10) + time::Duration::hours(1);
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (e.dir.path().join("cert.pem"), e.dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    e.configure(|c| {
        c.tls.cert = Some(cert_path.clone());
        c.tls.key = Some(key_path.clone());
    });
    let (code, out, err) = e.run(&["tls", "status"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("source:      tls.cert"), "{out}");
    assert!(
        out.contains(&format!(
            "warning: server certificate expires in 10 days; Outpost cannot renew tls.cert: replace {}",
            cert_path.display()
        )),
        "{out}"
    );
}

#[test]
fn tls_status_before_any_daemon_ran_says_so() {
    let e = Env::new();
    let (code, _, err) = e.run(&["tls", "status"], "");
    assert_eq!(code, 1);
    assert!(err.contains("server.crt"), "{err}");
}

#[test]
fn first_boot_makes_the_admin_password_and_passwd_retires_its_notes() {
    // Regression (#24): the default site's admin has no password in the
    // image; `outpostctl first-boot` (outpost-firstboot.service) makes one.
    let e = Env::new();
    let admin = "admin@outpost.test";
    {
        let mut d = outpost_directory::Directory::open(&e.dir.path().join("directory")).unwrap();
        d.add_user(&outpost_directory::NewUser {
            password: outpost_directory::Password::Unset,
            ..outpost_directory::NewUser::new(admin, "")
        })
        .unwrap();
    }
    // A console to write to (the real one is /dev/console).
    std::fs::create_dir_all(e.notes()).unwrap();
    std::fs::write(e.notes().join("console"), "").unwrap();
    let (code, out, err) = e.run(&["first-boot"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("{admin}: password made;")),
        "{out}"
    );
    let file = e.notes().join("initial-passwords");
    let text = std::fs::read_to_string(&file).unwrap();
    let pw = text
        .lines()
        .find_map(|l| l.strip_prefix("admin@outpost.test "))
        .unwrap()
        .to_owned();
    assert!(
        !out.contains(&pw) && !err.contains(&pw),
        "never on stdout/stderr (the journal)"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let console = std::fs::read_to_string(e.notes().join("console")).unwrap();
    assert!(
        console.contains(&format!("outpost: initial password of {admin}: {pw}")),
        "{console}"
    );
    let d = outpost_directory::Directory::open(&e.dir.path().join("directory")).unwrap();
    d.login(admin, &pw, None).unwrap();
    // At the next boot: nothing to do.
    let (code, out, _) = e.run(&["first-boot"], "");
    assert_eq!((code, out.as_str()), (0, ""));
    // The admin changes it: the notes go.
    let (code, out, err) = e.run(
        &["user", "passwd", admin, "--password-stdin"],
        "my own long passphrase\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{admin}: first-boot password note removed")),
        "{out}"
    );
    assert!(!file.exists());
    assert!(!e.notes().join("outpost-initial-passwords.issue").exists());
    assert!(d.login(admin, &pw, None).is_err());
}

#[test]
fn user_hash_prints_an_argon2id_hash_for_site_files() {
    let e = Env::new();
    let (code, out, err) = e.run(
        &["user", "hash", "admin@outpost.test", "--password-stdin"],
        "a long and private phrase\n",
    );
    assert_eq!(code, 0, "{err}");
    let hash = out.trim();
    assert!(hash.starts_with("$argon2id$"), "{out}");
    let mut d = outpost_directory::Directory::open(&e.dir.path().join("directory")).unwrap();
    d.add_user(&outpost_directory::NewUser {
        password: outpost_directory::Password::Hash(hash.into()),
        ..outpost_directory::NewUser::new("admin@outpost.test", "")
    })
    .unwrap();
    d.login("admin@outpost.test", "a long and private phrase", None)
        .unwrap();
    let (code, _, err) = e.run(
        &["user", "hash", "admin@outpost.test", "--password-stdin"],
        "admin\n",
    );
    assert_eq!(code, 1);
    assert!(err.contains("password refused"), "{err}");
}

#[test]
fn user_set_domain_aliases_and_status() {
    let e = Env::new();
    e.run(
        &["user", "add", "alice@outpost.test", "--password-stdin"],
        "correct horse\n",
    );
    let (code, out, err) = e.run(
        &[
            "user",
            "set",
            "alice@outpost.test",
            "--name",
            "Alice L",
            "--role",
            "admin",
            "--role",
            "user",
            "--quota",
            "2G",
            "--upstream",
            "alice@company.example",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "alice@outpost.test: name \"Alice L\", roles admin,user, quota 2 GiB, upstream alice@company.example\n"
    );
    let d = || outpost_directory::Directory::open(&e.dir.path().join("directory")).unwrap();
    let u = d().user("alice@outpost.test").unwrap().unwrap();
    assert_eq!((u.quota, u.roles.len()), (2 << 30, 2));
    // The last administrator keeps the role; with a second one it can go.
    let (code, _, err) = e.run(&["user", "set", "alice@outpost.test", "--no-roles"], "");
    assert!(code == 1 && err.contains("last administrator"), "{err}");
    e.run(
        &[
            "user",
            "add",
            "bob@outpost.test",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "correct horse\n",
    );
    // Only what is given changes; bad values are refused and change nothing.
    let (code, _, err) = e.run(&["user", "set", "alice@outpost.test", "--no-roles"], "");
    assert_eq!(code, 0, "{err}");
    let u = d().user("alice@outpost.test").unwrap().unwrap();
    assert!(u.roles.is_empty() && u.quota == 2 << 30 && u.full_name == "Alice L");
    for (args, why) in [
        (vec!["--quota", "lots"], "is not a size"),
        (vec!["--quota=-5"], "is not a size"),
        (vec!["--role", "Bad Role"], "role"),
        (vec!["--upstream", "nope"], "invalid address"),
        (vec!["--name", "a\nb"], "one line"),
    ] {
        let mut a = vec!["user", "set", "alice@outpost.test"];
        a.extend(args.iter());
        let (code, _, err) = e.run(&a, "");
        assert_eq!(code, 1, "{args:?}");
        assert!(
            err.contains(why) && err.contains("nothing changed"),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = e.run(&["user", "set", "nobody@outpost.test", "--name", "N"], "");
    assert!(code == 1 && err.contains("does not exist"), "{err}");
    assert_eq!(d().user("alice@outpost.test").unwrap().unwrap(), u);

    // Domain aliases: added for a local target only, removed again.
    let (code, out, _) = e.run(
        &["domain-alias", "add", "outpost.example", "outpost.test"],
        "",
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "outpost.example -> outpost.test\n")
    );
    let (code, _, err) = e.run(
        &["domain-alias", "add", "x.example", "elsewhere.example"],
        "",
    );
    assert!(
        code == 1 && err.contains("not a local mail domain"),
        "{err}"
    );
    let (code, _, err) = e.run(&["domain-alias", "add", "outpost.test", "outpost.test"], "");
    assert!(code == 1 && err.contains("mail domain of its own"), "{err}");
    let (code, out, _) = e.run(&["domain-alias", "del", "outpost.example"], "");
    assert_eq!((code, out.as_str()), (0, "removed outpost.example\n"));
    let (code, _, err) = e.run(&["domain-alias", "del", "outpost.example"], "");
    assert!(code == 1 && err.contains("does not exist"), "{err}");

    // Status: one listener answering with a greeting, one not at all.
    let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = smtp.local_addr().unwrap();
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::thread::spawn(move || {
        for c in smtp.incoming() {
            let _ = c.unwrap().write_all(b"220 mx ESMTP Outpost\r\n");
        }
    });
    e.configure(|c| {
        c.smtp.mx_listen = vec![up];
        c.smtp.submission_listen = vec![];
        c.smtp.submissions_listen = vec![];
        c.imap.imap_listen = vec![down];
        c.imap.imaps_listen = vec![];
        c.imap.pop3_listen = vec![];
        c.imap.pop3s_listen = vec![];
        c.web.listen = vec![];
        c.web.plain_listen = vec![];
    });
    let (code, out, err) = e.run(&["status"], "");
    assert_eq!(code, 1);
    assert!(err.contains("1 listener(s) not answering"), "{err}");
    assert!(
        out.contains("outpost-smtpd  SMTP (MX)") && out.contains("up     220 mx ESMTP Outpost"),
        "{out}"
    );
    assert!(
        out.contains("outpost-imapd  IMAP") && out.contains("DOWN"),
        "{out}"
    );
}

#[test]
fn dns_prints_the_records_to_publish() {
    let e = Env::new();
    e.configure(|c| c.general.hostname = "mail.outpost.test".into());
    let (code, out, err) = e.run(&["dns"], "");
    assert_eq!(code, 0, "{err}");
    for want in [
        "outpost.test.",
        "IN  MX     10 mail.outpost.test.",
        "IN  TXT    \"v=spf1 mx -all\"",
        "_imaps._tcp.outpost.test.",
        "IN  SRV    0 1 993 mail.outpost.test.",
        "autoconfig.outpost.test.",
    ] {
        assert!(out.contains(want), "{want} in:\n{out}");
    }
    let (code, out, _) = e.run(&["dns", "--json"], "");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "SRV" && r["name"] == "_submissions._tcp.outpost.test.")
    );
}

#[test]
fn dkim_rotate_show_retire_and_the_records_in_dns() {
    let e = Env::new();
    e.configure(|c| c.general.hostname = "mail.outpost.test".into());
    // Before smtpd ever ran: no keys, said plainly, in both commands.
    let (code, out, err) = e.run(&["dkim", "show"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no DKIM keys"), "{out}");
    let (_, out, _) = e.run(&["dns"], "");
    assert!(out.contains("; DKIM: no keys"), "{out}");
    // The first rotate makes the configured selector, then dated ones.
    let (code, out, err) = e.run(&["dkim", "rotate"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("selector outpost is active. Publish"), "{out}");
    assert!(
        out.contains("outpost-rsa._domainkey.outpost.test."),
        "{out}"
    );
    let (code, out, err) = e.run(&["dkim", "rotate"], "");
    assert_eq!(code, 0, "{err}");
    let today = {
        let d = time_today();
        format!("outpost-{d}")
    };
    assert!(
        out.contains(&format!("selector {today} is active (was outpost)")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{today}-rsa._domainkey.outpost.test.")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{today}-ed25519._domainkey.outpost.test.")),
        "{out}"
    );
    assert!(
        !out.contains("outpost-rsa._domainkey"),
        "only the new records: {out}"
    );
    let (code, out, _) = e.run(&["dkim", "rotate"], "");
    assert_eq!(code, 0);
    let second = format!("{today}-2");
    assert!(
        out.contains(&format!("selector {second} is active")),
        "{out}"
    );
    // dns lists every key still published, the active one marked.
    let (code, out, _) = e.run(&["dns"], "");
    assert_eq!(code, 0);
    for s in ["outpost", today.as_str(), second.as_str()] {
        for alg in ["rsa", "ed25519"] {
            let name = format!("{s}-{alg}._domainkey.outpost.test.");
            let line = out
                .lines()
                .find(|l| l.starts_with(&name))
                .unwrap_or_else(|| panic!("{name} in {out}"));
            assert!(
                line.contains(&format!("IN  TXT    \"v=DKIM1; k={alg}; p=")),
                "{line}"
            );
        }
    }
    assert!(!out.contains("; DKIM: no keys"));
    let (_, json, _) = e.run(&["dkim", "show", "--json"], "");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys = v.as_array().unwrap();
    assert_eq!(keys.len(), 6, "{json}");
    assert_eq!(keys[0]["selector"], format!("{second}-rsa"));
    assert_eq!(keys[0]["active"], true);
    assert!(keys[2..].iter().all(|k| k["active"] == false));
    // Hostile or wrong retire: refused, nothing removed.
    for (bad, why) in [
        (second.as_str(), "active selector"),
        ("../../etc/passwd", "not a selector"),
        ("", "not a selector"),
        ("nosuch", "no keys of selector"),
    ] {
        let (code, _, err) = e.run(&["dkim", "retire", bad], "");
        assert_eq!(code, 1, "{bad}");
        assert!(err.contains(why), "{bad}: {err}");
    }
    let (_, json, _) = e.run(&["dkim", "show", "--json"], "");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        6
    );
    let (code, out, err) = e.run(&["dkim", "retire", "outpost"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed the keys of selector outpost"));
    let (_, out, _) = e.run(&["dns"], "");
    assert!(!out.contains("outpost-rsa._domainkey"), "{out}");
    assert!(out.contains(&format!("{second}-rsa._domainkey")));
    // Signing off: dns says so instead of listing keys.
    e.configure(|c| c.smtp.dkim.enabled = false);
    let (_, out, _) = e.run(&["dns"], "");
    assert!(
        out.contains("DKIM signing is off") && !out.contains("_domainkey"),
        "{out}"
    );
}

fn time_today() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y%m%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn av_import_installs_a_signature_file_and_refuses_anything_else() {
    let e = Env::new();
    let db = e.dir.path().join("clamav");
    std::fs::create_dir_all(&db).unwrap();
    let src = e.dir.path().join("usb");
    std::fs::create_dir_all(&src).unwrap();
    let write = |name: &str, body: &[u8]| {
        let p = src.join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    // Hostile or broken input: a clear refusal and nothing installed.
    for (name, body, why) in [
        ("notes.txt", &b"hello"[..], "extension"),
        ("empty.ndb", b"", "empty"),
        ("fake.cvd", b"MZ\x90\x00 not a database", "ClamAV-VDB"),
        ("binary.hdb", b"\x00\x01\x02\xff", "binary"),
    ] {
        let path = write(name, body);
        let (code, _, err) = e.run(&["av", "import", &path], "");
        assert_eq!(code, 1, "{name}");
        assert!(
            err.to_lowercase().contains(&why.to_lowercase()),
            "{name}: {err}"
        );
    }
    let (code, _, err) = e.run(&["av", "import", "/nonexistent/main.cvd"], "");
    assert_eq!(code, 1);
    assert!(!err.is_empty());
    assert_eq!(
        std::fs::read_dir(&db).unwrap().count(),
        0,
        "nothing installed"
    );
    // A body-signature file (hex of a harmless marker).
    let hex: String = b"outpost-av-import-marker"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = write(
        "local.ndb",
        format!("Outpost.Import.Marker:0:*:{hex}\n").as_bytes(),
    );
    // No clamd configured: installed, and the note says nothing scans.
    e.configure(|c| c.smtp.av.clamd = String::new());
    let (code, out, err) = e.run(&["av", "import", &path], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("local.ndb"), "{out}");
    assert!(out.contains("no clamd configured"), "{out}");
    assert_eq!(
        std::fs::read(db.join("local.ndb")).unwrap(),
        std::fs::read(&path).unwrap()
    );
    // clamd configured but down: installed anyway, clamd loads it later.
    e.configure(|c| c.smtp.av.clamd = "127.0.0.1:9".into());
    let (code, out, err) = e.run(&["av", "import", &path], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("next self-check"), "{out}");
    assert_eq!(
        std::fs::read_dir(&db).unwrap().count(),
        1,
        "no temporary left"
    );
}
