//! `cargo xtask bench web`: the webmail of `outpost-webd` and Roundcube
//! (Debian's `roundcube` 1.6 with its SQLite backend, on a private Dovecot)
//! serve copies of the same generated 10,000-message INBOX on loopback, in
//! one run (issue 12). One client, curl with a cookie jar, signs in to each
//! and times the first message list, opening a message and a search by
//! subject (medians of `OUTPOST_BENCH_RUNS`, default 20, after 3 warm-ups,
//! each series on one connection when the server keeps it open), checks
//! that every answer holds the expected rows, message or hit count, and
//! counts the bytes on the wire with `Accept-Encoding: gzip, br`. Prints the
//! figures, the ratios Roundcube/Outpost (above 1: Outpost faster or
//! smaller), webd's RSS after the run and the issue's budgets (a list page
//! under 60 KB and 50 ms, JS under 100 KB compressed) as met or not;
//! results also go to `target/bench-web/results.txt`.
//!
//! Outpost is built in release mode and started as its unit starts it,
//! HTTPS on 127.0.0.1:33443 with its local CA (curl trusts `tls/ca.crt`).
//! Roundcube runs under PHP's built-in server (`php -S`, opcache on) from
//! Debian's tree (`/var/lib/roundcube/public_html`) with a private
//! configuration directory (`ROUNDCUBE_CONFIG_DIR`, read by Roundcube's
//! `program/include/iniset.php`; the SQLite database, logs and temporary
//! files under `target/bench-web/roundcube`): nothing under `/etc` or
//! `/var/lib` is touched. `php -S` cannot compress (Roundcube turns
//! `zlib.output_compression` off and flushes its headers before an output
//! handler could add `Content-Encoding`), so Roundcube's bytes on the wire
//! are its headers plus its body compressed by `gzip -6`, which is what
//! Apache's `mod_deflate` (on in Debian, asked for by Roundcube's
//! `.htaccess`) sends; its scripts are counted the same way.

use super::fixture::{self, Corpus, Guard, MESSAGES, PASS, USER, sh, tree_rss, wait_port};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const OUTPOST: u16 = 33443;
const DOVECOT: u16 = 34143;
const ROUNDCUBE: u16 = 34080;
const WARMUP: usize = 3;
const PAGE: usize = 50;
/// A word that only subjects contain (`fixture`'s TOPICS, never a body
/// word), so Outpost's search (From, To, Cc, Subject and text) and
/// Roundcube's subject search must find the same messages.
const SEARCH: &str = "quarterly";
/// Debian's `INSTALL_PATH` for Roundcube.
const RC_ROOT: &str = "/var/lib/roundcube";
const PHP: &str = "/usr/bin/php";
/// The issue's budgets: bytes of a list page on the wire, its server time,
/// compressed JS (1 KB = 1,000 bytes).
const BUDGET_LIST_BYTES: u64 = 60_000;
const BUDGET_LIST_MS: f64 = 50.0;
const BUDGET_JS_BYTES: u64 = 100_000;
/// curl's `--write-out` for each transfer: status, seconds, header bytes,
/// body bytes as received (before decoding).
const WRITE_OUT: &str = "%{http_code} %{time_total} %{size_header} %{size_download}\n";

/// One client of one product: curl with its own cookie jar, CA and host.
struct Curl {
    base: String,
    args: Vec<String>,
    jar: PathBuf,
    scratch: PathBuf,
}

/// One answer as the client saw it.
struct Reply {
    status: u16,
    head: String,
    /// The body, decoded.
    body: Vec<u8>,
    /// Bytes received: the header, and the body as sent.
    header_bytes: u64,
    body_bytes: u64,
    ms: f64,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn wire(&self) -> u64 {
        self.header_bytes + self.body_bytes
    }
}

impl Curl {
    fn new(dir: &Path, base: String, args: Vec<String>) -> Result<Curl> {
        std::fs::create_dir_all(dir)?;
        Ok(Curl {
            base,
            args,
            jar: dir.join("cookies"),
            scratch: dir.to_path_buf(),
        })
    }

    /// curl as a browser asks: compressed, cookies kept.
    fn command(&self, headers: &[&str]) -> Command {
        let mut c = Command::new("curl");
        c.args(["-sS", "--compressed", "-H", "Accept-Encoding: gzip, br"])
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .args(&self.args);
        for h in headers {
            c.args(["-H", h]);
        }
        c
    }

    /// One request; a non-empty `form` makes it a POST.
    fn fetch(&self, path: &str, headers: &[&str], form: &[(&str, &str)]) -> Result<Reply> {
        let (head, body) = (self.scratch.join("head"), self.scratch.join("body"));
        let mut c = self.command(headers);
        for (k, v) in form {
            c.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        c.arg("-D")
            .arg(&head)
            .arg("-o")
            .arg(&body)
            .args(["-w", WRITE_OUT])
            .arg(format!("{}{path}", self.base));
        let out = sh(&mut c)?;
        let t = transfer(out.lines().next().unwrap_or(""))?;
        Ok(Reply {
            status: t.status,
            head: std::fs::read_to_string(&head)?,
            body: std::fs::read(&body)?,
            header_bytes: t.header_bytes,
            body_bytes: t.body_bytes,
            ms: t.ms,
        })
    }

    /// `WARMUP + runs` GETs of `path` from one curl process (one connection
    /// if the server keeps it); the times in ms of the last `runs`, each
    /// answered 200.
    fn series(&self, path: &str, headers: &[&str], runs: usize) -> Result<Vec<f64>> {
        let mut c = self.command(headers);
        c.args(["-w", WRITE_OUT]);
        for _ in 0..WARMUP + runs {
            c.args(["-o", "/dev/null"])
                .arg(format!("{}{path}", self.base));
        }
        let out = sh(&mut c)?;
        let mut times = Vec::new();
        for line in out.lines() {
            let t = transfer(line)?;
            if t.status != 200 {
                bail!(
                    "{}{path} answered {} during the timed runs",
                    self.base,
                    t.status
                );
            }
            times.push(t.ms);
        }
        if times.len() != WARMUP + runs {
            bail!("curl reported {} transfers for {path}", times.len());
        }
        Ok(times.split_off(WARMUP))
    }
}

/// One `WRITE_OUT` line.
struct Transfer {
    status: u16,
    ms: f64,
    header_bytes: u64,
    body_bytes: u64,
}

fn transfer(line: &str) -> Result<Transfer> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let parse = || -> Option<Transfer> {
        Some(Transfer {
            status: f.first()?.parse().ok()?,
            ms: f.get(1)?.parse::<f64>().ok()? * 1000.0,
            header_bytes: f.get(2)?.parse().ok()?,
            body_bytes: f.get(3)?.parse().ok()?,
        })
    };
    parse().with_context(|| format!("reading curl's figures {line:?}"))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// Bytes of `data` after `gzip -6` (zlib's default level, mod_deflate's).
fn gzip_len(data: &[u8], scratch: &Path) -> Result<u64> {
    let file = scratch.join("gzip-input");
    std::fs::write(&file, data)?;
    let out = Command::new("gzip")
        .args(["-6", "-c"])
        .arg(&file)
        .stderr(Stdio::inherit())
        .output()
        .context("running gzip")?;
    if !out.status.success() {
        bail!("gzip failed on {}", file.display());
    }
    Ok(out.stdout.len() as u64)
}

/// What one product measured.
#[derive(Default)]
struct Figures {
    /// Signing in, then the first list on a server that has not read the
    /// mailbox yet (for Roundcube: the mail page and its list request).
    signin_ms: f64,
    cold_list_ms: f64,
    list_ms: f64,
    open_ms: f64,
    search_ms: f64,
    /// Roundcube only: the mail page its list request fills in.
    shell_ms: Option<f64>,
    /// The search over From, To, Cc, Subject and text (Outpost's plain
    /// search box; Roundcube's `_headers=subject,from,to,cc,body`).
    fields_search_ms: Option<f64>,
    list_bytes: u64,
    /// Outpost only: the list as the page's script fetches it for a sort
    /// or another page (`X-Outpost-Part: list`), Roundcube's list request's
    /// counterpart.
    list_part_bytes: Option<u64>,
    open_bytes: u64,
    search_bytes: u64,
    shell_bytes: Option<u64>,
    search_hits: usize,
    /// JS the list page loads: compressed as sent, and decoded.
    js_bytes: u64,
    js_raw: u64,
    js_files: usize,
    /// The subject of the message opened (the list's first row).
    opened: String,
}

fn outpost(c: &Curl, corpus: &Corpus, hits: usize, runs: usize) -> Result<Figures> {
    let origin = format!("Origin: {}", c.base);
    let signin = c.fetch(
        "/signin",
        &[&origin],
        &[("email", USER), ("password", PASS)],
    )?;
    if signin.status != 303 || !signin.head.contains("outpost_session=") {
        bail!(
            "outpost: sign-in answered {} without a session:\n{}",
            signin.status,
            signin.head
        );
    }
    let list_path = "/mail/?f=INBOX";
    let list = c.fetch(list_path, &[], &[])?;
    let list_part = c.fetch(list_path, &["X-Outpost-Part: list"], &[])?;
    outpost_rows(&list_part, &list_part.text(), MESSAGES).context("outpost: the list part")?;
    let page = list.text();
    outpost_rows(&list, &page, MESSAGES).context("outpost: the message list")?;
    // The newest message, the one a user opens first.
    let href = between(&page, "href=\"/mail/msg?", "\"").context("outpost: no message link")?;
    let uid = between(href, "uid=", "&")
        .or_else(|| href.split("uid=").nth(1))
        .context("outpost: no uid in the message link")?;
    let subject = between(&page, &format!("{href}\">"), "</a>")
        .map(strip_tags)
        .context("outpost: no subject in the first row")?;
    let open_path = format!("/mail/msg?f=INBOX&uid={uid}");
    let open = c.fetch(&open_path, &[], &[])?;
    let msg = open.text();
    if open.status != 200
        || !msg.contains(&format!("<h1>{subject}</h1>"))
        || !msg.contains("Field Unit")
    {
        bail!(
            "outpost: message {uid} ({subject:?}) answered {} without its subject and sender",
            open.status
        );
    }
    // By subject (`subject:` searches that field only, from the header
    // cache), and over every field as the plain search box does.
    // Both as the page's script asks once the page is open (the list
    // part only, `X-Outpost-Part: list`), which is what Roundcube's search
    // request is to its page.
    let search_path = format!("/mail/?f=INBOX&q=subject%3A{SEARCH}");
    let fields_path = format!("/mail/?f=INBOX&q={SEARCH}");
    let part = "X-Outpost-Part: list";
    let fields = c.fetch(&fields_path, &[part], &[])?;
    outpost_rows(&fields, &fields.text(), hits).context("outpost: the search of every field")?;
    let fields_search_ms = median(&c.series(&fields_path, &[part], runs)?);
    let search = c.fetch(&search_path, &[part], &[])?;
    outpost_rows(&search, &search.text(), hits).context("outpost: the search")?;
    if search.text().contains("<html") {
        bail!("outpost: the list part came back as a whole page");
    }
    let js =
        between(&page, "<script src=\"", "\"").context("outpost: no script on the list page")?;
    let script = c.fetch(js, &[], &[])?;
    if script.status != 200 || script.body.is_empty() {
        bail!("outpost: {js} answered {}", script.status);
    }
    known_subject(corpus, &subject)?;
    Ok(Figures {
        signin_ms: signin.ms,
        cold_list_ms: list.ms,
        list_ms: median(&c.series(list_path, &[], runs)?),
        open_ms: median(&c.series(&open_path, &[], runs)?),
        search_ms: median(&c.series(&search_path, &[part], runs)?),
        shell_ms: None,
        fields_search_ms: Some(fields_search_ms),
        list_bytes: list.wire(),
        list_part_bytes: Some(list_part.wire()),
        open_bytes: open.wire(),
        search_bytes: search.wire(),
        shell_bytes: None,
        search_hits: hits,
        js_bytes: script.body_bytes,
        js_raw: script.body.len() as u64,
        js_files: 1,
        opened: subject,
    })
}

/// Checks an Outpost list page: 200, "1–50 of TOTAL", a page of rows.
fn outpost_rows(r: &Reply, page: &str, total: usize) -> Result<()> {
    let shown = total.min(PAGE);
    let range = format!("1–{shown} of {total}");
    let rows = page.matches("name=\"uid\"").count();
    if r.status != 200 || !page.contains(&range) || rows != shown {
        bail!(
            "answered {} with {rows} rows, expected {shown} rows and {range:?}",
            r.status
        );
    }
    Ok(())
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut tag = false;
    for ch in s.chars() {
        match ch {
            '<' => tag = true,
            '>' => tag = false,
            c if !tag => out.push(c),
            _ => {}
        }
    }
    // The badges ("file") come before the subject.
    out.trim().trim_start_matches("file ").trim().to_string()
}

fn known_subject(corpus: &Corpus, subject: &str) -> Result<()> {
    if !corpus.subjects.iter().any(|s| s == subject) {
        bail!("{subject:?} is not a generated subject");
    }
    Ok(())
}

fn roundcube(c: &Curl, corpus: &Corpus, hits: usize, runs: usize) -> Result<Figures> {
    let scratch = &c.scratch;
    // Roundcube's bytes: its headers and its body as mod_deflate sends it.
    let wire = |r: &Reply| -> Result<u64> { Ok(r.header_bytes + gzip_len(&r.body, scratch)?) };
    let login = c.fetch("/?_task=login", &[], &[])?;
    let token = between(&login.text(), "name=\"_token\" value=\"", "\"")
        .context("roundcube: no _token on the login page")?
        .to_string();
    let post = c.fetch(
        "/?_task=login",
        &[],
        &[
            ("_token", &token),
            ("_task", "login"),
            ("_action", "login"),
            ("_timezone", "UTC"),
            ("_url", ""),
            ("_user", USER),
            ("_pass", PASS),
        ],
    )?;
    if post.status != 302 || !post.head.contains("roundcube_sessauth=") {
        bail!("roundcube: login answered {}:\n{}", post.status, post.head);
    }
    let shell_path = "/?_task=mail&_mbox=INBOX";
    let shell = c.fetch(shell_path, &[], &[])?;
    let shell_page = shell.text();
    let request = between(&shell_page, "\"request_token\":\"", "\"")
        .context("roundcube: no request_token on the mail page")?;
    let ajax = format!("X-Roundcube-Request: {request}");
    let list_path = "/?_task=mail&_action=list&_mbox=INBOX&_remote=1&_unlock=0";
    let list = c.fetch(list_path, &[&ajax], &[])?;
    let json = list.text();
    roundcube_rows(&list, &json, MESSAGES).context("roundcube: the message list")?;
    let row = between(&json, "this.add_message_row(", "},").context("roundcube: no row")?;
    let uid = row.split(',').next().unwrap_or("");
    // The rows are script inside a JSON string: their quotes are escaped.
    let subject = between(row, r#"\"subject\":\""#, r#"\""#)
        .context("roundcube: no subject in the first row")?
        .to_string();
    let open_path = format!("/?_task=mail&_action=show&_uid={uid}&_mbox=INBOX");
    let open = c.fetch(&open_path, &[], &[])?;
    let msg = open.text();
    if open.status != 200 || !msg.contains(&subject) || !msg.contains("Field Unit") {
        bail!(
            "roundcube: message {uid} ({subject:?}) answered {} without its subject and sender",
            open.status
        );
    }
    let search_path = |headers: &str| {
        format!(
            "/?_task=mail&_action=search&_q={SEARCH}&_headers={headers}&_mbox=INBOX&_filter=ALL&_scope=base&_remote=1&_unlock=0"
        )
    };
    let (subject_path, fields_path) = (
        search_path("subject"),
        search_path("subject,from,to,cc,body"),
    );
    let fields = c.fetch(&fields_path, &[&ajax], &[])?;
    roundcube_rows(&fields, &fields.text(), hits)
        .context("roundcube: the search of every field")?;
    let fields_search_ms = median(&c.series(&fields_path, &[&ajax], runs)?);
    // The subject search last: Roundcube keeps the last search in the session.
    let search = c.fetch(&subject_path, &[&ajax], &[])?;
    roundcube_rows(&search, &search.text(), hits).context("roundcube: the search")?;
    let (mut js_bytes, mut js_raw, mut js_files) = (0, 0, 0);
    for src in shell_page.split("<script src=\"").skip(1) {
        let src = src.split('"').next().unwrap_or("");
        let script = c.fetch(&format!("/{src}"), &[], &[])?;
        if script.status != 200 || script.body.is_empty() {
            bail!("roundcube: {src} answered {}", script.status);
        }
        js_bytes += gzip_len(&script.body, scratch)?;
        js_raw += script.body.len() as u64;
        js_files += 1;
    }
    known_subject(corpus, &subject)?;
    Ok(Figures {
        signin_ms: post.ms,
        cold_list_ms: shell.ms + list.ms,
        list_ms: median(&c.series(list_path, &[&ajax], runs)?),
        open_ms: median(&c.series(&open_path, &[], runs)?),
        search_ms: median(&c.series(&subject_path, &[&ajax], runs)?),
        shell_ms: Some(median(&c.series(shell_path, &[], runs)?)),
        fields_search_ms: Some(fields_search_ms),
        list_bytes: wire(&list)?,
        list_part_bytes: None,
        open_bytes: wire(&open)?,
        search_bytes: wire(&search)?,
        shell_bytes: Some(wire(&shell)?),
        search_hits: hits,
        js_bytes,
        js_raw,
        js_files,
        opened: subject,
    })
}

/// Checks a Roundcube list or search answer: 200, `messagecount` TOTAL and
/// a page of rows.
fn roundcube_rows(r: &Reply, json: &str, total: usize) -> Result<()> {
    let shown = total.min(PAGE);
    let count = format!("\"messagecount\":{total},");
    let rows = json.matches("this.add_message_row(").count();
    if r.status != 200 || !json.contains(&count) || rows != shown {
        bail!(
            "answered {} with {rows} rows, expected {shown} rows and {count}: {}",
            r.status,
            json.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

/// Roundcube's private configuration directory: Debian's defaults, and
/// a `config.inc.php` naming the private Dovecot, an SQLite file, no
/// plugins, logs and temporary files under `dir`.
fn roundcube_config(dir: &Path) -> Result<PathBuf> {
    let config = dir.join("config");
    for d in ["config", "logs", "temp"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    for f in ["defaults.inc.php", "mimetypes.php"] {
        std::os::unix::fs::symlink(Path::new(RC_ROOT).join("config").join(f), config.join(f))
            .with_context(|| format!("linking Roundcube's {f}"))?;
    }
    std::fs::write(
        config.join("config.inc.php"),
        format!(
            "<?php\n// Written by cargo xtask bench web.\n$config = [];\n\
$config['db_dsnw'] = 'sqlite:///{d}/roundcube.db?mode=0640';\n\
$config['imap_host'] = '127.0.0.1:{DOVECOT}';\n$config['smtp_host'] = '';\n\
$config['des_key'] = 'bench-web-des-key-24chrs';\n$config['plugins'] = [];\n\
$config['skin'] = 'elastic';\n$config['mail_pagesize'] = {PAGE};\n\
$config['enable_spellcheck'] = false;\n$config['enable_installer'] = false;\n\
$config['log_driver'] = 'file';\n$config['log_dir'] = '{d}/logs/';\n$config['temp_dir'] = '{d}/temp/';\n",
            d = dir.display()
        ),
    )?;
    Ok(config)
}

pub fn run() -> Result<()> {
    let runs: usize = std::env::var("OUTPOST_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let ws = crate::ci::root();
    fixture::ports_free(&[OUTPOST, DOVECOT, ROUNDCUBE])?;
    fixture::require(&[
        (fixture::DOVECOT, "dovecot-imapd"),
        (PHP, "php-cli"),
        ("/var/lib/roundcube/public_html/index.php", "roundcube"),
        ("/usr/bin/curl", "curl"),
    ])?;
    if !sh(Command::new(PHP).arg("-m"))?
        .lines()
        .any(|m| m == "pdo_sqlite")
    {
        bail!("PHP has no pdo_sqlite: install roundcube-sqlite3 (cargo xtask deps)");
    }
    eprintln!("bench web: building release binaries");
    sh(crate::ci::cargo_command().current_dir(&ws).args([
        "build",
        "--release",
        "-p",
        "outpost-webd",
        "-p",
        "outpostctl",
        "--bins",
    ]))?;
    let rel = crate::ci::target_dir().join("release");
    let dir = ws.join("target/bench-web");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let corpus = fixture::corpus(&dir, "web")?;
    let hits = corpus
        .subjects
        .iter()
        .filter(|s| s.to_lowercase().contains(SEARCH))
        .count();

    // Outpost: webd as outpost-webd.service starts it.
    let config = fixture::outpost_config(
        &dir,
        &rel,
        &format!("[web]\nlisten = [\"127.0.0.1:{OUTPOST}\"]\n"),
    )?;
    let log = std::fs::File::create(dir.join("outpost-webd.log"))?;
    let webd = Guard(
        Command::new(rel.join("outpost-webd"))
            .arg("--config")
            .arg(&config)
            .stderr(log)
            .spawn()
            .context("starting outpost-webd")?,
    );
    wait_port(OUTPOST, "outpost-webd")?;

    // Roundcube on the private Dovecot.
    let dovecot = fixture::start_dovecot(&dir, &corpus.dovecot, DOVECOT, None)?;
    let rc = dir.join("roundcube");
    let rc_config = roundcube_config(&rc)?;
    let php = Guard(
        Command::new(PHP)
            .env("ROUNDCUBE_CONFIG_DIR", &rc_config)
            // As under Apache or php-fpm, where opcache is on by default.
            .args(["-d", "opcache.enable_cli=1", "-S"])
            .arg(format!("127.0.0.1:{ROUNDCUBE}"))
            .arg("-t")
            .arg(Path::new(RC_ROOT).join("public_html"))
            .stdout(std::fs::File::create(rc.join("php-server.log"))?)
            .stderr(std::fs::File::create(rc.join("php-server.err"))?)
            .spawn()
            .context("starting php -S")?,
    );
    wait_port(ROUNDCUBE, "php -S (Roundcube)")?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_start = (
        tree_rss(webd.0.id()),
        tree_rss(php.0.id()) + tree_rss(dovecot.0.id()),
    );

    let oc = Curl::new(
        &dir.join("client-outpost"),
        format!("https://localhost:{OUTPOST}"),
        vec![
            "--cacert".into(),
            dir.join("tls/ca.crt").display().to_string(),
            "--resolve".into(),
            format!("localhost:{OUTPOST}:127.0.0.1"),
        ],
    )?;
    let rcc = Curl::new(
        &dir.join("client-roundcube"),
        format!("http://127.0.0.1:{ROUNDCUBE}"),
        Vec::new(),
    )?;
    eprintln!("bench web: Outpost ({runs} runs of each request)");
    let o = outpost(&oc, &corpus, hits, runs)?;
    eprintln!("bench web: Roundcube ({runs} runs of each request)");
    let r = roundcube(&rcc, &corpus, hits, runs)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_end = (
        tree_rss(webd.0.id()),
        tree_rss(php.0.id()) + tree_rss(dovecot.0.id()),
    );
    drop(php);
    drop(dovecot);
    drop(webd);

    let report = report(&o, &r, runs, rss_start, rss_end)?;
    print!("{report}");
    std::fs::write(dir.join("results.txt"), &report)?;
    Ok(())
}

fn report(
    o: &Figures,
    r: &Figures,
    runs: usize,
    rss_start: (u64, u64),
    rss_end: (u64, u64),
) -> Result<String> {
    let mut s = String::new();
    writeln!(
        s,
        "Webmail benchmark: {MESSAGES}-message INBOX, loopback, medians of {runs} after {WARMUP} warm-ups\n\
(ratio Roundcube/Outpost > 1: Outpost faster or smaller)"
    )?;
    writeln!(
        s,
        "{:<40} {:>10} {:>10} {:>8}",
        "", "outpost", "roundcube", "ratio"
    )?;
    let shell_list = r.shell_ms.unwrap_or(f64::NAN) + r.list_ms;
    let fields = r.fields_search_ms.unwrap_or(f64::NAN);
    let o_fields = o.fields_search_ms.unwrap_or(f64::NAN);
    for (label, a, b) in [
        ("first message list (ms)", o.list_ms, r.list_ms),
        ("  Roundcube: mail page + list (ms)", o.list_ms, shell_list),
        ("open a message (ms)", o.open_ms, r.open_ms),
        ("search by subject (ms)", o.search_ms, r.search_ms),
        ("search from, to, cc, subject, text (ms)", o_fields, fields),
        ("cold: sign-in (ms, once)", o.signin_ms, r.signin_ms),
        (
            "cold: then the first list (ms, once)",
            o.cold_list_ms,
            r.cold_list_ms,
        ),
    ] {
        writeln!(s, "{label:<40} {a:>10.2} {b:>10.2} {:>8.2}", b / a)?;
    }
    let shell_list_bytes = r.shell_bytes.unwrap_or(0) + r.list_bytes;
    for (label, a, b) in [
        (
            "message list, bytes on the wire",
            o.list_bytes,
            r.list_bytes,
        ),
        (
            "  Roundcube: mail page + list",
            o.list_bytes,
            shell_list_bytes,
        ),
        (
            "  Outpost: the list part (script)",
            o.list_part_bytes.unwrap_or(0),
            r.list_bytes,
        ),
        ("open a message, bytes", o.open_bytes, r.open_bytes),
        ("search, bytes", o.search_bytes, r.search_bytes),
        ("JS, compressed (bytes)", o.js_bytes, r.js_bytes),
        ("JS, uncompressed (bytes)", o.js_raw, r.js_raw),
    ] {
        writeln!(
            s,
            "{label:<40} {a:>10} {b:>10} {:>8.2}",
            b as f64 / a as f64
        )?;
    }
    for (label, a, b) in [
        ("JS files", o.js_files as u64, r.js_files as u64),
        ("search hits", o.search_hits as u64, r.search_hits as u64),
        ("RSS at start (KiB)", rss_start.0, rss_start.1),
        ("RSS after the run (KiB)", rss_end.0, rss_end.1),
    ] {
        writeln!(s, "{label:<40} {a:>10} {b:>10}")?;
    }
    writeln!(
        s,
        "Opened: {:?} (outpost), {:?} (roundcube); searched: {SEARCH:?}, a word only subjects hold.\n\
Outpost: HTTPS, one keep-alive connection per series, Brotli as negotiated; searches as the\n\
page's script makes them (the list part only); RSS of outpost-webd (no IMAP server needed).\n\
Roundcube: php -S (a connection per request), its headers plus gzip -6 of the body as mod_deflate\n\
sends it; its list is the AJAX request the mail page makes; RSS of php -S and Dovecot.",
        o.opened, r.opened
    )?;
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    writeln!(s, "Budgets (issue 12, 1 KB = 1,000 bytes):")?;
    writeln!(
        s,
        "  list page under 60 KB on the wire: {} ({} bytes)",
        met(o.list_bytes < BUDGET_LIST_BYTES),
        o.list_bytes
    )?;
    writeln!(
        s,
        "  list page under 50 ms server time: {} ({:.2} ms, the request's latency on loopback: server time\n    \
plus a negligible transport overhead; {:.0} ms for the very first list after start)",
        met(o.list_ms < BUDGET_LIST_MS),
        o.list_ms,
        o.cold_list_ms
    )?;
    writeln!(
        s,
        "  total JS under 100 KB compressed:  {} ({} bytes)",
        met(o.js_bytes < BUDGET_JS_BYTES),
        o.js_bytes
    )?;
    writeln!(
        s,
        "Goal: at least 5x faster than Roundcube, and smaller on the wire:"
    )?;
    for (label, x) in [
        ("first message list", r.list_ms / o.list_ms),
        ("open a message", r.open_ms / o.open_ms),
        ("search by subject", r.search_ms / o.search_ms),
    ] {
        writeln!(s, "  {label:<34} {:>7} ({x:.1}x faster)", met(x >= 5.0))?;
    }
    for (label, a, b) in [
        (
            "list page vs mail page + list",
            o.list_bytes,
            shell_list_bytes,
        ),
        ("list page vs the list request", o.list_bytes, r.list_bytes),
        (
            "list part vs the list request",
            o.list_part_bytes.unwrap_or(u64::MAX),
            r.list_bytes,
        ),
        ("open a message", o.open_bytes, r.open_bytes),
        ("search", o.search_bytes, r.search_bytes),
        ("JS", o.js_bytes, r.js_bytes),
    ] {
        writeln!(s, "  {label:<34} {:>7} ({a} against {b} bytes)", met(a < b))?;
    }
    Ok(s)
}
