//! The web UI's sessions and form checks against the real `outpost-webd`
//! binary (plain HTTP on loopback, raw requests): a session survives a
//! restart, ends on sign-out, on a password change and on a disable; the
//! form sign-in shares the lockout with DAV's Basic logins; and a table of
//! hostile requests gets clear refusals.

use crate::harness::{ALICE, BOB, PASSWORD, bound, daemon_state, request, spawn_ready};
use outpost_directory::{Directory, NewUser};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(t: &std::path::Path, cfg: &std::path::Path) -> (Daemon, SocketAddr) {
    let _ = std::fs::remove_file(t.join("notify.sock"));
    let (child, list) = spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_outpost-webd"))
            .arg("--config")
            .arg(cfg)
            .stderr(Stdio::null()),
        t,
    );
    (Daemon(child), bound(&list, "http"))
}

fn config(t: &std::path::Path) -> std::path::PathBuf {
    let cfg = daemon_state(t, "[web]\nlisten = []\nplain_listen = [\"127.0.0.1:0\"]\n");
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    dir.add_user(&NewUser::new(BOB, PASSWORD)).unwrap();
    cfg
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A row of the hostile table: method, path, headers, body, wanted status.
type Row<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, String, u16);

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Signs in; the session cookie's `name=value`, or the status.
fn sign_in(addr: SocketAddr, user: &str, password: &str) -> Result<String, u16> {
    let (status, headers, _) = request(
        addr,
        "POST",
        "/signin",
        None,
        &[FORM],
        &form(&[("email", user), ("password", password)]),
    );
    if status != 303 {
        return Err(status);
    }
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .expect("a session cookie");
    Ok(cookie)
}

/// `GET /mail/` with `cookie`: the status and the page.
fn inbox(addr: SocketAddr, cookie: &str) -> (u16, String) {
    let (status, _, body) = request(addr, "GET", "/mail/", None, &[("cookie", cookie)], "");
    (status, body)
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..].split('"').next().unwrap().to_string()
}

#[test]
fn sessions_survive_a_restart_and_end_on_sign_out_password_change_and_disable() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let (daemon, addr) = start(t, &cfg);

    assert_eq!(sign_in(addr, ALICE, "wrong password"), Err(401));
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let (status, page) = inbox(addr, &alice);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Inbox"), "{page}");

    // A restart keeps the session (the table is on disk).
    drop(daemon);
    let (daemon, addr) = start(t, &cfg);
    assert_eq!(inbox(addr, &alice).0, 200, "the session survives a restart");

    // Sign-out ends this session only, on the server.
    let other = sign_in(addr, ALICE, PASSWORD).unwrap();
    let (_, page) = inbox(addr, &alice);
    let (status, headers, _) = request(
        addr,
        "POST",
        "/signout",
        None,
        &[FORM, ("cookie", &alice)],
        &form(&[("csrf", &csrf_of(&page))]),
    );
    assert_eq!(status, 303);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0"))
    );
    let (status, _, _) = request(addr, "GET", "/mail/", None, &[("cookie", &alice)], "");
    assert_eq!(status, 303, "the old cookie no longer signs in");
    assert_eq!(inbox(addr, &other).0, 200, "the other session stays");

    // A password change ends every session of the user.
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    dir.set_password(ALICE, "a new password 2").unwrap();
    assert_eq!(
        inbox(addr, &other).0,
        303,
        "a password change ends the session"
    );
    assert_eq!(sign_in(addr, ALICE, PASSWORD), Err(401));
    let again = sign_in(addr, ALICE, "a new password 2").unwrap();
    assert_eq!(inbox(addr, &again).0, 200);

    // A disable ends it too, and a disabled user cannot sign in.
    dir.set_enabled(ALICE, false).unwrap();
    assert_eq!(inbox(addr, &again).0, 303, "a disable ends the session");
    assert_eq!(sign_in(addr, ALICE, "a new password 2"), Err(401));
    drop(daemon);
}

#[test]
fn the_form_shares_the_lockout_and_hostile_requests_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let (_daemon, addr) = start(t, &cfg);

    // Five wrong Basic logins over DAV lock Bob for this client; the form
    // then refuses even his right password.
    for _ in 0..5 {
        let (status, _, _) = request(
            addr,
            "PROPFIND",
            "/dav/",
            None,
            &[("authorization", "Basic Ym9iQG91dHBvc3QubGFuOndyb25n")],
            "",
        );
        assert_eq!(status, 401);
    }
    assert_eq!(
        sign_in(addr, BOB, PASSWORD),
        Err(401),
        "locked by DAV failures"
    );

    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let (_, page) = inbox(addr, &alice);
    let token = csrf_of(&page);
    let big = "x".repeat(300 * 1024);
    let long_cookie = format!("outpost_session={}", "a".repeat(5000));
    let rows: Vec<Row> = vec![
        // CSRF: no token, a wrong one, the right one from another origin,
        // or marked cross-site by the browser.
        (
            "POST",
            "/mail/act",
            vec![FORM, ("cookie", &alice)],
            form(&[("do", "read"), ("uid", "1")]),
            403,
        ),
        (
            "POST",
            "/mail/act",
            vec![FORM, ("cookie", &alice)],
            form(&[("csrf", "forged"), ("do", "read")]),
            403,
        ),
        (
            "POST",
            "/mail/act",
            vec![FORM, ("cookie", &alice), ("origin", "https://evil.example")],
            form(&[("csrf", &token), ("do", "read")]),
            403,
        ),
        (
            "POST",
            "/mail/act",
            vec![FORM, ("cookie", &alice), ("sec-fetch-site", "cross-site")],
            form(&[("csrf", &token), ("do", "read")]),
            403,
        ),
        (
            "POST",
            "/signin",
            vec![FORM, ("origin", "https://evil.example")],
            form(&[("email", ALICE), ("password", PASSWORD)]),
            403,
        ),
        // No session.
        (
            "POST",
            "/mail/act",
            vec![FORM],
            form(&[("csrf", &token), ("do", "read")]),
            403,
        ),
        (
            "GET",
            "/mail/",
            vec![("cookie", long_cookie.as_str())],
            String::new(),
            303,
        ),
        ("GET", "/admin/", vec![], String::new(), 303),
        // Too large a form, before and after the session check.
        ("POST", "/signin", vec![FORM], big.clone(), 413),
        (
            "POST",
            "/mail/act",
            vec![FORM, ("cookie", &alice)],
            big.clone(),
            413,
        ),
        // Bad names and numbers.
        (
            "GET",
            "/mail/?f=../../../etc",
            vec![("cookie", &alice)],
            String::new(),
            404,
        ),
        (
            "GET",
            "/mail/?f=Nope",
            vec![("cookie", &alice)],
            String::new(),
            404,
        ),
        (
            "GET",
            "/mail/msg?f=INBOX&uid=abc",
            vec![("cookie", &alice)],
            String::new(),
            400,
        ),
        (
            "GET",
            "/mail/msg?f=INBOX&uid=99999",
            vec![("cookie", &alice)],
            String::new(),
            404,
        ),
        (
            "GET",
            "/mail/part?f=INBOX&uid=1&part=999999",
            vec![("cookie", &alice)],
            String::new(),
            404,
        ),
        (
            "GET",
            "/mail/?page=999999999999999999999999",
            vec![("cookie", &alice)],
            String::new(),
            400,
        ),
        (
            "POST",
            "/mail/act",
            vec![FORM, ("cookie", &alice)],
            form(&[("csrf", &token), ("do", "explode")]),
            400,
        ),
        (
            "POST",
            "/mail/act",
            vec![FORM, ("cookie", &alice)],
            form(&[("csrf", &token), ("f", "../x"), ("do", "read")]),
            404,
        ),
        // Not a page: DAV answers it (and asks for credentials).
        (
            "GET",
            "/static/../../etc/passwd",
            vec![],
            String::new(),
            401,
        ),
        ("GET", "/static/app.css", vec![], String::new(), 404),
        // A non-admin is refused the console.
        (
            "GET",
            "/admin/",
            vec![("cookie", &alice)],
            String::new(),
            403,
        ),
    ];
    for (method, path, headers, body, want) in rows {
        let (status, _, text) = request(addr, method, path, None, &headers, &body);
        assert_eq!(status, want, "{method} {path} {headers:?}: {text:.300}");
    }
    // Redirects stay on this server's pages.
    let (status, headers, _) = request(
        addr,
        "POST",
        "/signin",
        None,
        &[FORM],
        &form(&[
            ("email", ALICE),
            ("password", PASSWORD),
            ("next", "//evil.example/mail/"),
        ]),
    );
    assert_eq!(status, 303);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "location" && v == "/mail/"),
        "{headers:?}"
    );
    // The server is still up and answers.
    assert_eq!(inbox(addr, &alice).0, 200);
    let (status, _, body) = request(addr, "GET", "/healthz", None, &[], "");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
}

/// One `multipart/form-data` post with curl (a real client): text fields
/// sent verbatim (`--form-string`), files as `(path, file name)`.
fn curl_post(
    addr: SocketAddr,
    cookie: &str,
    fields: &[(&str, &str)],
    files: &[(&std::path::Path, &str)],
    extra: &[&str],
) -> (u16, String, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-i", "--max-time", "30", "-H"])
        .arg(format!("Cookie: {cookie}"));
    for (k, v) in fields {
        c.arg("--form-string").arg(format!("{k}={v}"));
    }
    for (p, name) in files {
        c.arg("-F")
            .arg(format!("attach=@{};filename={name}", p.display()));
    }
    c.args(extra).arg(format!("http://{addr}/mail/send"));
    let out = c.output().expect("curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The last response head (curl prints a 100 Continue first).
    let last = text
        .rfind("HTTP/1.1 ")
        .map(|i| &text[i..])
        .unwrap_or_else(|| panic!("no response: {text:.300}"));
    let status = last[9..12].parse().unwrap_or(0);
    let (head, body) = last.split_once("\r\n\r\n").unwrap_or((last, ""));
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or("")
        .to_string();
    (status, location, body.to_string())
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// A folder's messages of `user`: (uid, flags letters, bytes).
fn messages(t: &std::path::Path, user: &str, folder: &str) -> Vec<(u32, String, Vec<u8>)> {
    let (local, domain) = user.split_once('@').unwrap();
    let mb = outpost_store::Mailbox::open(&t.join("mail"), domain, local).unwrap();
    let Ok(f) = mb.folder(folder) else {
        return Vec::new();
    };
    let snap = f.sync().unwrap().snapshot;
    snap.messages
        .iter()
        .map(|m| (m.uid, m.flags.letters(), f.read(m.uid).unwrap()))
        .collect()
}

/// The attachments of a message: (file name, bytes).
fn attachments_of(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use mail_parser::MimeHeaders as _;
    let m = mail_parser::MessageParser::default().parse(bytes).unwrap();
    m.attachments()
        .map(|p| {
            (
                p.attachment_name().unwrap_or("").to_string(),
                p.contents().to_vec(),
            )
        })
        .collect()
}

/// `keep` values of the compose page (the listed files' part numbers).
fn kept(page: &str) -> Vec<String> {
    page.match_indices("name=\"keep\" value=\"")
        .map(|(i, m)| page[i + m.len()..].split('"').next().unwrap().to_string())
        .collect()
}

/// Attachments and drafts over HTTP with curl: files are saved in a
/// draft (Bcc kept), the draft reopens with every field, sending delivers
/// the files byte for byte and removes the draft, a forward carries the
/// files on; over the limit, a path as file name, a bad body, a part that
/// is no attachment and another user's folder are refused or neutered,
/// and the typed text is never lost.
#[test]
fn attachments_and_drafts_round_trip_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = daemon_state(
        t,
        "[web]\nlisten = []\nplain_listen = [\"127.0.0.1:0\"]\nmax_attachment_bytes = 204800\n",
    );
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    dir.add_user(&NewUser::new(BOB, PASSWORD)).unwrap();
    dir.add_user(&NewUser::new("carol@outpost.lan", PASSWORD))
        .unwrap();
    drop(dir);
    let (_daemon, addr) = start(t, &cfg);
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let token = csrf_of(&inbox(addr, &alice).1);

    // Two files: 150 KB of every byte value, and a small text file.
    let binary: Vec<u8> = (0..150_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let bin_path = t.join("data.bin");
    std::fs::write(&bin_path, &binary).unwrap();
    let txt_path = t.join("notes.txt");
    std::fs::write(&txt_path, "first line\r\nzweite Zeile äöü\n").unwrap();

    let text_fields = |draft: &str, src_uid: &str| -> Vec<(String, String)> {
        vec![
            ("csrf".into(), token.clone()),
            ("from".into(), ALICE.into()),
            ("to".into(), BOB.into()),
            ("cc".into(), String::new()),
            ("bcc".into(), "carol@outpost.lan".into()),
            ("subject".into(), "Site report".into()),
            ("body".into(), "See the files.\nAlice".into()),
            ("draft".into(), draft.into()),
            (
                "src_f".into(),
                if src_uid.is_empty() { "" } else { "Drafts" }.into(),
            ),
            ("src_uid".into(), src_uid.into()),
        ]
    };
    let refs = |v: &[(String, String)]| -> Vec<(String, String)> { v.to_vec() };

    // Save a draft with both files (one named like a path).
    let mut f = refs(&text_fields("", ""));
    f.push(("action".into(), "draft".into()));
    let (status, location, body) = curl_post(
        addr,
        &alice,
        &pairs(&f),
        &[(&bin_path, "../../etc/data.bin"), (&txt_path, "notes.txt")],
        &[],
    );
    assert_eq!(status, 303, "{body:.500}");
    assert!(location.starts_with("/mail/compose?draft="), "{location}");
    let drafts = messages(t, ALICE, "Drafts");
    assert_eq!(drafts.len(), 1);
    let (draft_uid, flags, draft_bytes) = &drafts[0];
    assert!(flags.contains('D') && flags.contains('S'), "{flags}");
    let parsed = mail_parser::MessageParser::default()
        .parse(draft_bytes)
        .unwrap();
    assert_eq!(
        parsed
            .bcc()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("carol@outpost.lan"),
        "a draft keeps its Bcc"
    );
    assert_eq!(
        attachments_of(draft_bytes),
        vec![
            ("data.bin".to_string(), binary.clone()),
            (
                "notes.txt".to_string(),
                b"first line\r\nzweite Zeile \xc3\xa4\xc3\xb6\xc3\xbc\n".to_vec()
            ),
        ],
        "a path is cut to its file name; bytes identical"
    );

    // The draft reopens with every field and both files listed.
    let (status, _, page) = request(addr, "GET", &location, None, &[("cookie", &alice)], "");
    assert_eq!(status, 200);
    for want in [
        "value=\"bob@outpost.lan\"",
        "value=\"carol@outpost.lan\"",
        "value=\"Site report\"",
        "See the files.",
        "data.bin",
        "notes.txt",
        "Draft saved.",
    ] {
        assert!(page.contains(want), "{want} missing: {page:.3000}");
    }
    let keep = kept(&page);
    assert_eq!(keep.len(), 2, "{page:.3000}");

    // Over the limit: the text comes back as typed, nothing is lost.
    let big = t.join("big.bin");
    std::fs::write(&big, vec![7u8; 210_000]).unwrap();
    let d = draft_uid.to_string();
    let mut f = refs(&text_fields(&d, &d));
    f.push(("action".into(), "send".into()));
    let (status, _, page) = curl_post(addr, &alice, &pairs(&f), &[(&big, "big.bin")], &[]);
    assert_eq!(status, 422, "{page:.500}");
    assert!(page.contains("were not attached") && page.contains("value=\"Site report\""));
    assert_eq!(
        messages(t, ALICE, "Drafts").len(),
        1,
        "the draft is untouched"
    );
    // Kept files plus a new one over the limit together: refused too.
    let mut f = refs(&text_fields(&d, &d));
    f.extend(keep.iter().map(|k| ("keep".to_string(), k.clone())));
    f.push(("action".into(), "send".into()));
    let (status, _, page) = curl_post(addr, &alice, &pairs(&f), &[(&bin_path, "again.bin")], &[]);
    assert_eq!(status, 422, "{page:.500}");
    assert!(
        page.contains("at most 200 KB can be attached"),
        "{page:.2000}"
    );
    // A body far over every bound: 413 before it is stored.
    let huge = t.join("huge.bin");
    std::fs::write(&huge, vec![0u8; 3 * 1024 * 1024]).unwrap();
    let (status, _, _) = curl_post(addr, &alice, &pairs(&f), &[(&huge, "huge.bin")], &[]);
    assert_eq!(status, 413);
    // A broken multipart body: 400.
    let (status, _, _) = curl_post(
        addr,
        &alice,
        &[],
        &[],
        &[
            "-H",
            "Content-Type: multipart/form-data; boundary=XYZ",
            "--data-binary",
            "--XYZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc",
        ],
    );
    assert_eq!(status, 400);
    // Another user's folder as the files' source: refused, nothing sent.
    let mut f = refs(&text_fields("", ""));
    f.retain(|(k, _)| k != "src_f" && k != "src_uid");
    f.push(("src_f".into(), "../bob/INBOX".into()));
    f.push(("src_uid".into(), "1".into()));
    f.push(("keep".into(), "1".into()));
    f.push(("action".into(), "send".into()));
    let (status, _, page) = curl_post(addr, &alice, &pairs(&f), &[], &[]);
    assert_eq!(status, 422, "{page:.500}");
    assert!(messages(t, BOB, "INBOX").is_empty());

    // Send the draft with its files; part 0 (the text) is no attachment
    // and is ignored as a `keep`.
    let mut f = refs(&text_fields(&d, &d));
    f.extend(keep.iter().map(|k| ("keep".to_string(), k.clone())));
    f.push(("keep".into(), "0".into()));
    f.push(("action".into(), "send".into()));
    let (status, location, page) = curl_post(addr, &alice, &pairs(&f), &[], &[]);
    assert_eq!(
        (status, location.as_str()),
        (303, "/mail/?notice=sent"),
        "{page:.500}"
    );
    let inbox_bob = messages(t, BOB, "INBOX");
    assert_eq!(inbox_bob.len(), 1);
    let got = &inbox_bob[0].2;
    assert!(
        !String::from_utf8_lossy(got)
            .to_ascii_lowercase()
            .contains("\nbcc:"),
        "no Bcc header leaves"
    );
    assert!(!String::from_utf8_lossy(got).contains("X-Outpost-Answered"));
    let files = attachments_of(got);
    assert_eq!(files.len(), 2);
    assert_eq!(files[0], ("data.bin".to_string(), binary.clone()));
    assert!(messages(t, ALICE, "Drafts").is_empty(), "the draft is gone");
    assert_eq!(messages(t, ALICE, "Sent").len(), 1);

    // Bob forwards it back: the files go along (ticked by default).
    let bob = sign_in(addr, BOB, PASSWORD).unwrap();
    let uid = inbox_bob[0].0;
    let (status, _, page) = request(
        addr,
        "GET",
        &format!("/mail/compose?f=INBOX&forward={uid}"),
        None,
        &[("cookie", &bob)],
        "",
    );
    assert_eq!(status, 200);
    let keep = kept(&page);
    assert_eq!(keep.len(), 2, "{page:.3000}");
    let bob_token = csrf_of(&page);
    let mut f: Vec<(String, String)> = vec![
        ("csrf".into(), bob_token),
        ("from".into(), BOB.into()),
        ("to".into(), ALICE.into()),
        ("subject".into(), "Fwd: Site report".into()),
        ("body".into(), "FYI".into()),
        ("src_f".into(), "INBOX".into()),
        ("src_uid".into(), uid.to_string()),
        ("action".into(), "send".into()),
    ];
    f.push(("keep".into(), keep[0].clone()));
    let (status, _, page) = curl_post(addr, &bob, &pairs(&f), &[], &[]);
    assert_eq!(status, 303, "{page:.500}");
    let back = messages(t, ALICE, "INBOX");
    assert_eq!(back.len(), 1);
    assert_eq!(
        attachments_of(&back[0].2),
        vec![("data.bin".to_string(), binary)],
        "only the ticked file is forwarded, byte for byte"
    );
    // Autosave's JSON answer: the new draft's UID and its files.
    let mut f = refs(&text_fields("", ""));
    f.push(("action".into(), "draft".into()));
    let (status, _, json) = curl_post(
        addr,
        &alice,
        &pairs(&f),
        &[(&txt_path, "notes.txt")],
        &["-H", "Accept: application/json"],
    );
    assert_eq!(status, 200, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["src_f"], "Drafts");
    assert_eq!(v["attachments"][0]["name"], "notes.txt");
    assert!(v["draft"].as_u64().is_some());
}

/// `POST /settings` with `cookie`: the status, the Location and the page.
fn post_settings(addr: SocketAddr, cookie: &str, pairs: &[(&str, &str)]) -> (u16, String, String) {
    let (status, headers, body) = request(
        addr,
        "POST",
        "/settings",
        None,
        &[FORM, ("cookie", cookie)],
        &form(pairs),
    );
    let location = headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (status, location, body)
}

/// Settings and the out-of-office reply over HTTP: the display name,
/// default From and signature reach the compose form; a vacation set on
/// the page answers a webmail sender once; a table of hostile or wrong
/// settings is refused with the typed text kept; and the search box
/// covers every folder, with the rows' actions reaching each folder.
#[test]
fn settings_vacation_and_a_search_of_every_folder_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    dir.add_alias("field@outpost.lan", ALICE).unwrap();
    drop(dir);
    let (_daemon, addr) = start(t, &cfg);
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let (status, _, page) = request(addr, "GET", "/settings", None, &[("cookie", &alice)], "");
    assert_eq!(status, 200);
    let token = csrf_of(&page);
    for label in [
        "Display name",
        "Signature",
        "Default From address",
        "Send automatic replies",
    ] {
        assert!(page.contains(label), "{label} on the page");
    }
    // Signed out: the page asks for a sign-in.
    let (status, _, _) = request(addr, "GET", "/settings", None, &[], "");
    assert_eq!(status, 303);

    let profile = |name: &str, sig: &str, identity: &str| {
        post_settings(
            addr,
            &alice,
            &[
                ("csrf", &token),
                ("op", "profile"),
                ("full_name", name),
                ("signature", sig),
                ("identity", identity),
            ],
        )
    };
    let (status, location, _) = profile(
        "Alice Field",
        "Alice\r\nTent 4, north camp",
        "field@outpost.lan",
    );
    assert_eq!(
        (status, location.as_str()),
        (303, "/settings?notice=profile")
    );
    let (_, _, compose) = request(
        addr,
        "GET",
        "/mail/compose",
        None,
        &[("cookie", &alice)],
        "",
    );
    assert!(
        compose.contains("\n\n-- \nAlice\nTent 4, north camp\n</textarea>"),
        "{compose:.3000}"
    );
    assert!(compose.contains("<option value=\"field@outpost.lan\" selected>"));

    // Refused settings: 422, the reason shown, the typed text kept, the
    // stored settings unchanged.
    let long = "s".repeat(5000);
    let refused: &[(&str, &str, &str, &str)] = &[
        (
            "Alice\r\nBcc: victim@example.org",
            "sig one",
            ALICE,
            "display name",
        ),
        ("Alice", &long, ALICE, "signature"),
        ("Alice", "bell \u{7}", ALICE, "signature"),
        ("Alice", "sig two", BOB, "cannot send as"),
        ("Alice", "sig three", "nobody@example.org", "cannot send as"),
    ];
    for (name, sig, identity, why) in refused {
        let (status, _, page) = profile(name, sig, identity);
        assert_eq!(status, 422, "{name:?} {identity}");
        assert!(
            page.contains("role=\"alert\"") && page.contains(why),
            "{why}: {page:.2000}"
        );
        if sig.len() < 100 && !sig.contains('\u{7}') {
            assert!(page.contains(sig), "typed signature kept");
        }
    }
    let d = Directory::open(&t.join("directory")).unwrap();
    assert_eq!(
        d.settings(ALICE).unwrap().signature,
        "Alice\nTent 4, north camp"
    );
    assert_eq!(d.user(ALICE).unwrap().unwrap().full_name, "Alice Field");
    drop(d);
    // Without the CSRF token, or from another origin: 403.
    let (status, _, _) = post_settings(addr, &alice, &[("op", "profile"), ("full_name", "X")]);
    assert_eq!(status, 403);
    let (status, _, _) = request(
        addr,
        "POST",
        "/settings",
        None,
        &[FORM, ("cookie", &alice), ("origin", "https://evil.example")],
        &form(&[("csrf", &token), ("op", "profile"), ("full_name", "X")]),
    );
    assert_eq!(status, 403);

    // The vacation: refused forms first, then one that is saved.
    let vacation = |enabled: &str, body: &str, first: &str, last: &str, days: &str| {
        post_settings(
            addr,
            &alice,
            &[
                ("csrf", &token),
                ("op", "vacation"),
                ("enabled", enabled),
                ("subject", ""),
                ("body", body),
                ("first", first),
                ("last", last),
                ("days", days),
            ],
        )
    };
    let bad: &[(&str, &str, &str, &str, &str, &str)] = &[
        ("1", "", "", "", "7", "needs a text"),
        ("1", "Away one", "24.12.2026", "", "7", "must be a date"),
        (
            "1",
            "Away two",
            "2026-12-24",
            "2026-12-01",
            "7",
            "before the first",
        ),
        ("1", "Away three", "", "", "0", "from 1 to 365"),
        ("1", "Away four", "", "", "lots", "from 1 to 365"),
        ("1", "bell \u{7}", "", "", "7", "plain text"),
    ];
    for (enabled, body, first, last, days, why) in bad {
        let (status, _, page) = vacation(enabled, body, first, last, days);
        assert_eq!(status, 422, "{why}");
        assert!(page.contains(why), "{why}: {page:.2000}");
        if body.starts_with("Away") {
            assert!(page.contains(body), "typed reply kept");
        }
    }
    assert_eq!(
        Directory::open(&t.join("directory"))
            .unwrap()
            .vacation(ALICE)
            .unwrap(),
        None
    );
    let (status, location, _) = vacation("1", "In the field until Friday.", "2020-01-01", "", "7");
    assert_eq!(
        (status, location.as_str()),
        (303, "/settings?notice=vacation")
    );
    let (_, _, page) = request(addr, "GET", "/settings", None, &[("cookie", &alice)], "");
    assert!(page.contains("In the field until Friday.") && page.contains("value=\"2020-01-01\""));

    // Bob writes from the webmail, twice: one automatic reply.
    let bob = sign_in(addr, BOB, PASSWORD).unwrap();
    let bob_token = csrf_of(&inbox(addr, &bob).1);
    for _ in 0..2 {
        let (status, _, body) = curl_post(
            addr,
            &bob,
            &[
                ("csrf", &bob_token),
                ("action", "send"),
                ("from", BOB),
                ("to", ALICE),
                ("subject", "Water supply"),
                ("body", "How much is left?"),
            ],
            &[],
            &[],
        );
        assert_eq!(status, 303, "{body:.500}");
    }
    let got = messages(t, BOB, "INBOX");
    assert_eq!(got.len(), 1, "one automatic reply");
    let reply = String::from_utf8_lossy(&got[0].2).into_owned();
    assert!(reply.contains("Subject: Auto: Water supply"), "{reply}");
    assert!(reply.contains("Auto-Submitted: auto-replied"));
    assert!(reply.contains("In the field until Friday."));
    assert!(reply.contains("Alice Field"), "the display name: {reply}");

    // A search of every folder finds messages in each; a row's action
    // reaches its own folder.
    let root = t.join("mail");
    let msg = |subject: &str, body: &str| {
        format!(
            "From: Carol <carol@example.org>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\n{body}\r\n"
        )
    };
    for (folder, subject) in [
        ("", "Generator fuel"),
        ("Archive", "Fuel order"),
        ("Archive", "Tents"),
    ] {
        outpost_store::deliver(
            &root,
            "outpost.lan",
            "alice",
            folder,
            msg(subject, "diesel").as_bytes(),
        )
        .unwrap();
    }
    // A word split by a quoted-printable soft break is found decoded.
    let qp = format!(
        "From: carol@example.org\r\nTo: {ALICE}\r\nSubject: Maps\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         more fu=\r\nel needed\r\n"
    );
    outpost_store::deliver(&root, "outpost.lan", "alice", "Archive", qp.as_bytes()).unwrap();
    let search = |q: &str| {
        request(
            addr,
            "GET",
            &format!("/mail/?f=INBOX&q={q}&in=all"),
            None,
            &[("cookie", &alice)],
            "",
        )
        .2
    };
    let page = search("fuel");
    assert!(page.contains("All folders"), "{page:.2000}");
    for s in ["Generator fuel", "Fuel order", "Maps"] {
        assert!(page.contains(s), "{s} found");
    }
    assert!(!page.contains("Tents"));
    let page_inbox = request(
        addr,
        "GET",
        "/mail/?f=INBOX&q=fuel",
        None,
        &[("cookie", &alice)],
        "",
    )
    .2;
    assert!(page_inbox.contains("Generator fuel") && !page_inbox.contains("Fuel order"));
    // Body words count, and every word must match.
    let page = search("diesel+tents");
    assert!(page.contains("Tents") && !page.contains("Fuel order"));
    // Field operators: subject: looks at the subject only, body: at the
    // text only, from: at the sender; an unknown one is a plain word.
    let page = search("subject%3Afuel");
    assert!(
        page.contains("Generator fuel") && page.contains("Fuel order") && !page.contains("Maps")
    );
    let page = search("body%3Afuel");
    assert!(
        page.contains("Maps") && !page.contains("Fuel order"),
        "{page:.3000}"
    );
    let page = search("from%3Acarol+subject%3Atents");
    assert!(page.contains("Tents") && !page.contains("Fuel order"));
    assert!(search("from%3Anobody").contains("No messages."));
    assert!(search("date%3Afuel").contains("No messages."));
    // Hostile searches: long, many words, wildcards and IMAP syntax are
    // plain words.
    for q in [
        "%2A",
        "OR+NOT+ALL",
        &"x".repeat(5000),
        &"qz+".repeat(500),
        "%22%29%28",
    ] {
        let (status, _, page) = request(
            addr,
            "GET",
            &format!("/mail/?q={q}&in=all"),
            None,
            &[("cookie", &alice)],
            "",
        );
        assert_eq!(status, 200);
        assert!(page.contains("No messages."), "{q:.40}");
    }
    // Flag the Archive hit from the all-folder list.
    let uid = messages(t, ALICE, "Archive")
        .into_iter()
        .find(|m| String::from_utf8_lossy(&m.2).contains("Fuel order"))
        .unwrap()
        .0;
    let pick = format!("{uid}:Archive");
    let (status, _, _) = request(
        addr,
        "POST",
        "/mail/act",
        None,
        &[FORM, ("cookie", &alice)],
        &form(&[
            ("csrf", &token),
            ("f", "INBOX"),
            ("do", "flag"),
            ("uid", &pick),
        ]),
    );
    assert_eq!(status, 303);
    let flagged = messages(t, ALICE, "Archive");
    assert!(
        flagged.iter().any(|m| m.0 == uid && m.1.contains('F')),
        "{flagged:?}"
    );
    // A pick naming a folder outside the mailbox is no folder.
    let (status, _, _) = request(
        addr,
        "POST",
        "/mail/act",
        None,
        &[FORM, ("cookie", &alice)],
        &form(&[
            ("csrf", &token),
            ("f", "INBOX"),
            ("do", "flag"),
            ("uid", "1:../../bob"),
        ]),
    );
    assert_eq!(status, 404);
}

/// Address completion: a contact PUT over CardDAV and the directory's
/// users and groups are suggested, contacts first, each address once;
/// another user's contacts never are; a changed card is seen at once;
/// hostile queries answer an empty list, and a signed-out request none.
#[test]
fn address_completion_from_contacts_and_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    let mut dana = NewUser::new("dana@outpost.lan", PASSWORD);
    dana.full_name = "Dana Field".into();
    dir.add_user(&dana).unwrap();
    dir.add_group("field-team@outpost.lan", "Field team")
        .unwrap();
    drop(dir);
    outpost_davstore::create_default_collections(&t.join("dav/collections"), BOB).unwrap();
    let (_daemon, addr) = start(t, &cfg);
    let card = |uid: &str, name: &str, email: &str| {
        format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nEMAIL:{email}\r\nEND:VCARD\r\n"
        )
    };
    let put = |user: &str, name: &str, body: &str| {
        let (status, _, text) = request(
            addr,
            "PUT",
            &format!("/dav/{user}/contacts/{name}.vcf"),
            Some(user),
            &[("content-type", "text/vcard")],
            body,
        );
        assert!(
            status == 201 || status == 204,
            "PUT {name}: {status} {text}"
        );
    };
    put(
        ALICE,
        "erin",
        &card("erin", "Erin Fieldhouse", "erin@example.org"),
    );
    put(
        BOB,
        "secret",
        &card("secret", "Fiona Secret", "fiona@example.net"),
    );
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let ask = |q: &str| -> serde_json::Value {
        let (status, headers, body) = request(
            addr,
            "GET",
            &format!("/mail/addresses?q={q}"),
            None,
            &[("cookie", &alice)],
            "",
        );
        assert_eq!(status, 200, "{q}");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "cache-control" && v.contains("no-store"))
        );
        serde_json::from_str(&body).unwrap()
    };
    let addrs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["address"].as_str().unwrap().to_string())
            .collect()
    };
    let got = ask("fiel");
    assert_eq!(
        addrs(&got),
        [
            "erin@example.org",
            "dana@outpost.lan",
            "field-team@outpost.lan"
        ],
        "{got}"
    );
    assert_eq!(got[0]["name"], "Erin Fieldhouse");
    assert_eq!(addrs(&ask("DANA")), ["dana@outpost.lan"]);
    // Bob's contact is his.
    assert_eq!(addrs(&ask("fiona")), Vec::<String>::new());
    // A card changed over CardDAV is seen at once.
    put(
        ALICE,
        "erin",
        &card("erin", "Erin Fieldhouse", "erin@new.example.org"),
    );
    assert_eq!(addrs(&ask("erin")), ["erin@new.example.org"]);
    // Hostile queries: nothing, never an error.
    for q in ["", "%00", &"x".repeat(5000), "%25", "*", "%3Cscript%3E"] {
        assert_eq!(addrs(&ask(q)), Vec::<String>::new(), "{q:.20}");
    }
    // Signed out: the sign-in page, no list.
    let (status, _, body) = request(addr, "GET", "/mail/addresses?q=dana", None, &[], "");
    assert_eq!(status, 303);
    assert!(!body.contains("dana@"));
}

/// The admin console's directory actions over HTTP, each the call
/// `outpostctl` makes: a user's name, roles, quota and upstream edited
/// (the last administrator keeps the role), groups with members that then
/// receive mail through the submission path, domain aliases, and the
/// services table; a table of bad values each refused with "nothing
/// changed" and the directory as it was; a non-admin 403.
#[test]
fn the_console_edits_users_groups_and_domain_aliases() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    let mut admin = NewUser::new("admin@outpost.lan", PASSWORD);
    admin.roles = vec!["admin".into()];
    dir.add_user(&admin).unwrap();
    drop(dir);
    let (_daemon, addr) = start(t, &cfg);
    let a = sign_in(addr, "admin@outpost.lan", PASSWORD).unwrap();
    let (status, _, page) = request(addr, "GET", "/admin/", None, &[("cookie", &a)], "");
    assert_eq!(status, 200);
    let token = csrf_of(&page);
    // The services table: webd's own plain listener answers.
    assert!(
        page.contains("Services") && page.contains("outpost-webd"),
        "{page:.3000}"
    );
    // The DNS records to publish, as `outpostctl dns` prints them.
    assert!(
        page.contains("DNS records") && page.contains("_imaps._tcp.outpost.lan."),
        "{page:.3000}"
    );
    let act = |pairs: &[(&str, &str)]| -> String {
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(pairs);
        let (status, headers, _) = request(
            addr,
            "POST",
            "/admin/act",
            None,
            &[FORM, ("cookie", &a)],
            &form(&all),
        );
        assert_eq!(status, 303, "{pairs:?}");
        let loc = headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone())
            .unwrap();
        let notice = loc.split_once("notice=").map(|x| x.1).unwrap_or("");
        percent_encoding::percent_decode_str(notice)
            .decode_utf8_lossy()
            .into_owned()
    };
    let d = || Directory::open(&t.join("directory")).unwrap();

    // The only administrator keeps the role.
    let said = act(&[
        ("op", "user_set"),
        ("address", "admin@outpost.lan"),
        ("name", ""),
        ("roles", "user"),
        ("quota", ""),
        ("upstream", ""),
    ]);
    assert!(
        said.contains("last administrator") && said.ends_with("nothing changed"),
        "{said}"
    );
    // Edit Bob.
    let (status, _, page) = request(
        addr,
        "GET",
        &format!("/admin/user?address={BOB}"),
        None,
        &[("cookie", &a)],
        "",
    );
    assert_eq!(status, 200);
    assert!(page.contains("Save changes") && page.contains("Quota"));
    let said = act(&[
        ("op", "user_set"),
        ("address", BOB),
        ("name", "Bob Builder"),
        ("roles", "user, admin"),
        ("quota", "500M"),
        ("upstream", "bob@company.example"),
    ]);
    assert!(
        said.starts_with("bob@outpost.lan: name \"Bob Builder\", roles admin,user, quota 500 MiB"),
        "{said}"
    );
    let bob = d().user(BOB).unwrap().unwrap();
    assert_eq!(
        (bob.quota, bob.upstream.as_str()),
        (500 << 20, "bob@company.example")
    );
    let (status, _, _) = request(
        addr,
        "GET",
        "/admin/user?address=nobody@outpost.lan",
        None,
        &[("cookie", &a)],
        "",
    );
    assert_eq!(status, 404);

    // Refusals change nothing.
    let before = d().user(BOB).unwrap().unwrap();
    for (field, value, why) in [
        ("quota", "lots", "is not a size"),
        ("quota", "99999999999T", "is not a size"),
        ("roles", "Bad Role!", "role"),
        ("upstream", "not an address", "invalid address"),
        ("name", "Bob\r\nBcc: x@y", "one line"),
    ] {
        let mut pairs = vec![
            ("op", "user_set"),
            ("address", BOB),
            ("name", "Bob Builder"),
            ("roles", "user, admin"),
            ("quota", "500M"),
            ("upstream", "bob@company.example"),
        ];
        pairs.retain(|(k, _)| *k != field);
        pairs.push((field, value));
        let said = act(&pairs);
        assert!(
            said.contains(why) && said.ends_with("nothing changed"),
            "{field}={value:?}: {said}"
        );
    }
    assert_eq!(d().user(BOB).unwrap().unwrap(), before);
    // With Bob an admin, admin may drop the role.
    act(&[
        ("op", "user_set"),
        ("address", "admin@outpost.lan"),
        ("name", ""),
        ("roles", "user"),
        ("quota", ""),
        ("upstream", ""),
    ]);
    // admin is no admin any more: the console is closed to them at once.
    let (status, _, _) = request(addr, "GET", "/admin/", None, &[("cookie", &a)], "");
    assert_eq!(status, 403);
    let mut dir = d();
    dir.update_user(
        "admin@outpost.lan",
        &outpost_directory::UserUpdate {
            roles: Some(vec!["admin".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    drop(dir);

    // Groups: created with members, edited, deleted.
    let said = act(&[
        ("op", "group_add"),
        ("address", "crew@outpost.lan"),
        ("name", "Crew"),
        ("members", &format!("{ALICE}, {BOB}")),
    ]);
    assert_eq!(said, "added group crew@outpost.lan with 2 members");
    assert_eq!(d().resolve("crew@outpost.lan").unwrap().local, [ALICE, BOB]);
    for (pairs, why) in [
        (
            vec![
                ("op", "group_add"),
                ("address", "crew@outpost.lan"),
                ("name", ""),
                ("members", ""),
            ],
            "exists already",
        ),
        (
            vec![
                ("op", "group_add"),
                ("address", "crew2@elsewhere.example"),
                ("name", ""),
                ("members", ""),
            ],
            "not a local mail domain",
        ),
        (
            vec![
                ("op", "group_add"),
                ("address", "crew3@outpost.lan"),
                ("name", ""),
                ("members", "good@outpost.lan, bad address"),
            ],
            "invalid address",
        ),
        (
            vec![
                ("op", "member_add"),
                ("address", "crew@outpost.lan"),
                ("member", "<script>"),
            ],
            "invalid address",
        ),
        (
            vec![
                ("op", "member_del"),
                ("address", "crew@outpost.lan"),
                ("member", "nobody@outpost.lan"),
            ],
            "does not exist",
        ),
        (
            vec![("op", "group_del"), ("address", "ghost@outpost.lan")],
            "does not exist",
        ),
    ] {
        let said = act(&pairs);
        assert!(
            said.contains(why) && said.ends_with("nothing changed"),
            "{pairs:?}: {said}"
        );
    }
    assert!(
        d().group("crew3@outpost.lan").unwrap().is_none(),
        "no half-made group"
    );
    act(&[
        ("op", "member_del"),
        ("address", "crew@outpost.lan"),
        ("member", BOB),
    ]);
    act(&[
        ("op", "member_add"),
        ("address", "crew@outpost.lan"),
        ("member", "partner@remote.example"),
    ]);
    let g = d().group("crew@outpost.lan").unwrap().unwrap();
    assert_eq!(g.members, [ALICE, "partner@remote.example"]);
    let (_, _, page) = request(addr, "GET", "/admin/", None, &[("cookie", &a)], "");
    assert!(page.contains("crew@outpost.lan") && page.contains("partner@remote.example"));
    assert_eq!(
        act(&[("op", "group_del"), ("address", "crew@outpost.lan")]),
        "deleted group crew@outpost.lan"
    );

    // Domain aliases.
    assert_eq!(
        act(&[
            ("op", "domain_alias_add"),
            ("alias_domain", "Outpost.Example"),
            ("target_domain", "outpost.lan")
        ]),
        "outpost.example -> outpost.lan"
    );
    assert_eq!(d().resolve("alice@outpost.example").unwrap().local, [ALICE]);
    for (alias, target, why) in [
        ("x.example", "elsewhere.example", "not a local mail domain"),
        ("outpost.lan", "outpost.lan", "mail domain of its own"),
        ("outpost.example", "outpost.lan", "exists already"),
        ("bad domain", "outpost.lan", "invalid address"),
    ] {
        let said = act(&[
            ("op", "domain_alias_add"),
            ("alias_domain", alias),
            ("target_domain", target),
        ]);
        assert!(
            said.contains(why) && said.ends_with("nothing changed"),
            "{alias}: {said}"
        );
    }
    assert_eq!(
        act(&[
            ("op", "domain_alias_del"),
            ("alias_domain", "outpost.example")
        ]),
        "removed outpost.example"
    );
    assert!(
        act(&[
            ("op", "domain_alias_del"),
            ("alias_domain", "outpost.example")
        ])
        .ends_with("nothing changed")
    );

    // A non-admin gets 403 for the pages and the actions.
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let (status, _, _) = request(
        addr,
        "GET",
        &format!("/admin/user?address={BOB}"),
        None,
        &[("cookie", &alice)],
        "",
    );
    assert_eq!(status, 403);
    let alice_token = csrf_of(&inbox(addr, &alice).1);
    let (status, _, _) = request(
        addr,
        "POST",
        "/admin/act",
        None,
        &[FORM, ("cookie", &alice)],
        &form(&[
            ("csrf", &alice_token),
            ("op", "group_add"),
            ("address", "x@outpost.lan"),
        ]),
    );
    assert_eq!(status, 403);
    assert!(d().group("x@outpost.lan").unwrap().is_none());
}

/// The conversation view (`sort=threads`): imapd's THREAD=REFERENCES
/// over the folder, the thread with the newest message first, replies
/// indented, a count on each thread's first row; hostile threading
/// headers (a reference loop, a self reference, a chain 300 deep, 500
/// references in one header) still give a page, with every message
/// listed once and the indent capped.
#[test]
fn the_conversation_view_threads_by_references() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let (_daemon, addr) = start(t, &cfg);
    let root = t.join("mail");
    let put = |id: &str, refs: &str, subject: &str| {
        let refs = if refs.is_empty() {
            String::new()
        } else {
            format!("References: {refs}\r\n")
        };
        let m = format!(
            "From: carol@example.org\r\nTo: {ALICE}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{refs}\r\nbody\r\n"
        );
        outpost_store::deliver(&root, "outpost.lan", "alice", "", m.as_bytes()).unwrap();
    };
    put("plan@x", "", "Water plan");
    put("other@x", "", "Unrelated");
    put("r1@x", "<plan@x>", "Re: Water plan");
    put("r2@x", "<plan@x> <r1@x>", "Re: Water plan");
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let list = |q: &str| {
        let (status, _, page) = request(
            addr,
            "GET",
            &format!("/mail/?f=INBOX{q}"),
            None,
            &[("cookie", &alice)],
            "",
        );
        assert_eq!(status, 200, "{q}");
        page
    };
    let page = list("&sort=threads");
    let at = |s: &str| {
        page.find(s)
            .unwrap_or_else(|| panic!("{s} listed: {page:.3000}"))
    };
    // The water thread (newest message r2) first, then Unrelated.
    assert!(at(">Water plan</a>") < at("Unrelated"));
    assert!(page.contains("aria-label=\"3 messages in the conversation\""));
    assert_eq!(page.matches("reply depth-1").count(), 1);
    assert_eq!(page.matches("reply depth-2").count(), 1);
    assert!(page.contains("aria-current=\"true\">Conversations</a>"));
    // The plain list has no indent.
    assert!(!list("").contains("depth-"));

    // Hostile threading headers.
    put("loop-a@x", "<loop-b@x>", "Loop");
    put("loop-b@x", "<loop-a@x>", "Re: Loop");
    put("self@x", "<self@x>", "Self");
    for i in 0..300 {
        let refs = if i == 0 {
            String::new()
        } else {
            format!("<deep{}@x>", i - 1)
        };
        put(&format!("deep{i}@x"), &refs, "Deep");
    }
    let many: String = (0..500).map(|i| format!("<m{i}@x> ")).collect();
    put("many@x", &many, "Many");
    let mut seen = 0;
    let mut capped = 0;
    // 308 messages: 7 pages of 50.
    for p in 1..=7 {
        let page = list(&format!("&sort=threads&page={p}"));
        seen += page.matches("name=\"uid\" value=").count();
        capped += page.matches("reply depth-8").count();
        assert!(!page.contains("depth-9"));
    }
    assert_eq!(seen, 4 + 2 + 1 + 300 + 1, "every message once");
    assert!(capped >= 290, "deep replies line up at the cap ({capped})");
}

/// A user changes their own password in Settings: the current one is
/// checked under the shared lockout, the new one against the policy; this
/// session stays, the others end; a first-boot note of the old password
/// is removed; a table of wrong forms changes nothing.
#[test]
fn a_user_changes_their_password_and_other_sessions_end() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let notes = t.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let note = notes.join(outpost_directory::initial::FILE_NAME);
    std::fs::write(&note, format!("{ALICE} {PASSWORD}\n")).unwrap();
    let _ = std::fs::remove_file(t.join("notify.sock"));
    let (child, list) = spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_outpost-webd"))
            .arg("--config")
            .arg(&cfg)
            .env("OUTPOST_INITIAL_NOTES_DIR", &notes)
            .stderr(Stdio::null()),
        t,
    );
    let _daemon = Daemon(child);
    let addr = bound(&list, "http");
    let here = sign_in(addr, ALICE, PASSWORD).unwrap();
    let other = sign_in(addr, ALICE, PASSWORD).unwrap();
    let token = csrf_of(&inbox(addr, &here).1);
    let change = |current: &str, new: &str, again: &str| {
        post_settings(
            addr,
            &here,
            &[
                ("csrf", &token),
                ("op", "password"),
                ("current", current),
                ("new", new),
                ("again", again),
            ],
        )
    };
    let fresh = "a brand new passphrase 7";
    let long = "p".repeat(2000);
    for (current, new, again, why) in [
        ("not it", fresh, fresh, "current password is wrong"),
        (PASSWORD, fresh, "something else", "differ"),
        (PASSWORD, "short", "short", "New password refused"),
        (PASSWORD, &long, &long, "too long"),
    ] {
        let (status, _, page) = change(current, new, again);
        assert_eq!(status, 422, "{why}");
        assert!(
            page.contains(why) && page.contains("role=\"alert\""),
            "{why}: {page:.2000}"
        );
        assert!(!page.contains(new) || new.len() < 6, "no password echoed");
    }
    assert!(sign_in(addr, ALICE, PASSWORD).is_ok(), "nothing changed");
    assert!(note.exists());
    let (status, location, _) = change(PASSWORD, fresh, fresh);
    assert_eq!(
        (status, location.as_str()),
        (303, "/settings?notice=password")
    );
    // This session stays; the other one has ended.
    assert_eq!(inbox(addr, &here).0, 200);
    assert_eq!(inbox(addr, &other).0, 303);
    assert_eq!(sign_in(addr, ALICE, PASSWORD), Err(401));
    assert!(sign_in(addr, ALICE, fresh).is_ok());
    assert!(
        !note.exists(),
        "the first-boot note of the old password is gone"
    );
    // Guessing the current password from a session runs into the lockout:
    // after the budget, even the right one is refused.
    for _ in 0..6 {
        change("guess", "x y z w v u 1", "x y z w v u 1");
    }
    let (status, _, page) = change(
        fresh,
        "another new passphrase 8",
        "another new passphrase 8",
    );
    assert_eq!(status, 422);
    assert!(page.contains("current password is wrong"));
    assert!(
        sign_in(addr, ALICE, fresh).is_err(),
        "locked from this address"
    );
}

/// *Discard* removes the saved draft (and only a draft: the uid names a
/// message of Drafts, nothing else); an unsaved message is dropped.
#[test]
fn discard_removes_the_draft() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let (_daemon, addr) = start(t, &cfg);
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let token = csrf_of(&inbox(addr, &alice).1);
    outpost_store::deliver(
        &t.join("mail"),
        "outpost.lan",
        "alice",
        "",
        b"Subject: keep me\r\n\r\nx\r\n",
    )
    .unwrap();
    let (status, location, _) = curl_post(
        addr,
        &alice,
        &[
            ("csrf", &token),
            ("action", "draft"),
            ("to", BOB),
            ("subject", "Half done"),
            ("body", "..."),
        ],
        &[],
        &[],
    );
    assert_eq!(status, 303);
    let uid = location
        .split("draft=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(messages(t, ALICE, "Drafts").len(), 1);
    // The INBOX message's uid as a "draft": Drafts is the only folder touched.
    let inbox_uid = messages(t, ALICE, "INBOX")[0].0.to_string();
    let (status, location, _) = curl_post(
        addr,
        &alice,
        &[
            ("csrf", &token),
            ("action", "discard"),
            ("draft", &inbox_uid),
        ],
        &[],
        &[],
    );
    assert_eq!(
        (status, location.as_str()),
        (303, "/mail/?notice=discarded")
    );
    assert_eq!(messages(t, ALICE, "INBOX").len(), 1);
    let (status, _, _) = curl_post(
        addr,
        &alice,
        &[("csrf", &token), ("action", "discard"), ("draft", &uid)],
        &[],
        &[],
    );
    assert_eq!(status, 303);
    assert!(messages(t, ALICE, "Drafts").is_empty());
    // Without the token: refused, nothing removed.
    curl_post(
        addr,
        &alice,
        &[("csrf", &token), ("action", "draft"), ("subject", "Again")],
        &[],
        &[],
    );
    let (status, _, _) = curl_post(
        addr,
        &alice,
        &[("action", "discard"), ("draft", "1")],
        &[],
        &[],
    );
    assert_eq!(status, 403);
    assert_eq!(messages(t, ALICE, "Drafts").len(), 1);
    let (_, _, page) = request(
        addr,
        "GET",
        "/mail/?notice=discarded",
        None,
        &[("cookie", &alice)],
        "",
    );
    assert!(page.contains("Message discarded."));
}

/// Runs `script` with python3, the document on its standard input; the
/// script prints `ok` when its checks pass.
fn python_checks(script: &str, doc: &[u8]) -> String {
    use std::io::Write as _;
    let mut c = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    c.stdin.take().unwrap().write_all(doc).unwrap();
    let out = c.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Clients that set themselves up: Thunderbird's autoconfig (HTTPS and
/// the port-80 listener), Outlook's POX and JSON autodiscover, the Apple
/// profile (parsed with Python's plistlib and ElementTree), and the
/// redirect to HTTPS; hostile hosts, paths and bodies get safe answers.
#[test]
fn autoconfig_autodiscover_and_the_apple_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = daemon_state(
        t,
        "[smtp]\nsubmissions_listen = [\"127.0.0.1:10465\"]\nsubmission_listen = [\"127.0.0.1:10587\"]\n\
         [imap]\nimaps_listen = [\"127.0.0.1:10993\"]\nimap_listen = []\npop3_listen = []\npop3s_listen = []\n\
         [web]\nlisten = [\"127.0.0.1:0\"]\nplain_listen = [\"127.0.0.1:0\"]\nredirect_listen = [\"127.0.0.1:0\"]\n",
    );
    let _ = std::fs::remove_file(t.join("notify.sock"));
    let (child, list) = spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_outpost-webd"))
            .arg("--config")
            .arg(&cfg)
            .stderr(Stdio::null()),
        t,
    );
    let _daemon = Daemon(child);
    let addr = bound(&list, "http");
    let redirect = bound(&list, "redirect");

    // Thunderbird, on HTTPS's plain twin and on port 80.
    for a in [addr, redirect] {
        for path in [
            "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40outpost.lan",
            "/mail/config-v1.1.xml?emailaddress=alice%40outpost.lan",
        ] {
            let (status, headers, body) = request(a, "GET", path, None, &[], "");
            assert_eq!(status, 200, "{path}");
            assert!(
                headers
                    .iter()
                    .any(|(k, v)| k == "content-type" && v.starts_with("application/xml"))
            );
            let said = python_checks(
                "import sys, xml.etree.ElementTree as E\n\
                 r = E.fromstring(sys.stdin.buffer.read())\n\
                 assert r.tag == 'clientConfig' and r.get('version') == '1.1'\n\
                 p = r.find('emailProvider')\n\
                 assert [d.text for d in p.findall('domain')] == ['outpost.lan']\n\
                 i = p.find(\"incomingServer[@type='imap']\")\n\
                 assert (i.find('hostname').text, i.find('port').text, i.find('socketType').text) == ('outpost.lan', '10993', 'SSL')\n\
                 assert i.find('username').text == 'alice@outpost.lan'\n\
                 o = [(s.find('port').text, s.find('socketType').text) for s in p.findall(\"outgoingServer[@type='smtp']\")]\n\
                 assert o == [('10465', 'SSL'), ('10587', 'STARTTLS')], o\n\
                 print('ok')\n",
                body.as_bytes(),
            );
            assert_eq!(said.trim(), "ok", "{path}: {said}\n{body}");
        }
    }
    // A hostile address is not echoed.
    let (_, _, body) = request(
        addr,
        "GET",
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=%3Cscript%3E%40x.y",
        None,
        &[],
        "",
    );
    assert!(!body.contains("<script>") && body.contains("%EMAILADDRESS%"));

    // Port 80 sends everything else to HTTPS, keeping the path.
    // (A raw request: the harness always says `Host: localhost`.)
    let raw = |method: &str, path: &str, host: &str| -> (u16, String) {
        use std::io::{Read as _, Write as _};
        let mut c = std::net::TcpStream::connect(redirect).unwrap();
        write!(c, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        let status = out[9..12].parse().unwrap();
        let l = out
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap_or("")
            .to_string();
        (status, l)
    };
    let (status, l) = raw("GET", "/mail/?f=INBOX", "collab.local");
    assert_eq!(status, 301);
    // (The test's HTTPS listener is on port 0: its config says so.)
    assert_eq!(l, "https://collab.local:0/mail/?f=INBOX");
    let (status, l) = raw("GET", "/", "collab.local:80");
    assert_eq!((status, l.as_str()), (301, "https://collab.local:0/"));
    let (status, l) = raw("POST", "/dav/x", "collab.local");
    assert_eq!((status, l.as_str()), (308, "https://collab.local:0/dav/x"));
    // A host that is no host name falls back to the server's; a path
    // that would leave the host is cut; a control byte is a 400.
    assert_eq!(
        raw("GET", "/", "evil.example/x"),
        (301, "https://outpost.lan:0/".into())
    );
    assert_eq!(
        raw("GET", "//evil.example/", "ok.lan"),
        (301, "https://ok.lan:0/".into())
    );
    assert_eq!(raw("GET", "/", "a\u{7f}b").0, 400);

    // Outlook POX, with and without Basic credentials.
    let req = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>alice@outpost.lan</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
    for (path, user) in [
        ("/autodiscover/autodiscover.xml", None),
        ("/Autodiscover/Autodiscover.xml", Some(ALICE)),
    ] {
        let (status, _, body) = request(
            addr,
            "POST",
            path,
            user,
            &[("content-type", "text/xml")],
            req,
        );
        assert_eq!(status, 200, "{path}");
        let said = python_checks(
            "import sys, xml.etree.ElementTree as E\n\
             n = {'a': 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006', 'o': 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'}\n\
             r = E.fromstring(sys.stdin.buffer.read())\n\
             acc = r.find('o:Response/o:Account', n)\n\
             assert acc.find('o:AccountType', n).text == 'email' and acc.find('o:Action', n).text == 'settings'\n\
             p = {x.find('o:Type', n).text: (x.find('o:Server', n).text, x.find('o:Port', n).text, x.find('o:LoginName', n).text) for x in acc.findall('o:Protocol', n)}\n\
             assert p == {'IMAP': ('outpost.lan', '10993', 'alice@outpost.lan'), 'SMTP': ('outpost.lan', '10465', 'alice@outpost.lan')}, p\n\
             print('ok')\n",
            body.as_bytes(),
        );
        assert_eq!(said.trim(), "ok", "{said}\n{body}");
    }
    let big = "x".repeat(20_000);
    let (status, _, _) = request(
        addr,
        "POST",
        "/autodiscover/autodiscover.xml",
        None,
        &[],
        &big,
    );
    assert_eq!(status, 413);
    let (status, _, body) = request(
        addr,
        "POST",
        "/autodiscover/autodiscover.xml",
        None,
        &[],
        "<<<not xml",
    );
    assert_eq!(status, 200);
    assert!(!body.contains("<LoginName>"));

    // Autodiscover v2 (JSON).
    let (status, _, body) = request(
        addr,
        "GET",
        "/autodiscover/autodiscover.json/v1.0/alice@outpost.lan?Protocol=AutodiscoverV1",
        None,
        &[],
        "",
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Protocol"], "AutodiscoverV1");
    assert!(
        v["Url"]
            .as_str()
            .unwrap()
            .ends_with("/autodiscover/autodiscover.xml")
    );
    let (status, _, body) = request(
        addr,
        "GET",
        "/autodiscover/autodiscover.json?Email=alice@outpost.lan&Protocol=ActiveSync%3Cx%3E",
        None,
        &[],
        "",
    );
    assert_eq!(status, 400);
    assert!(body.contains("InvalidProtocol") && !body.contains('<'));

    // The Apple profile: a signed-in user, or Basic; nobody else.
    let (status, _, _) = request(addr, "GET", "/mobileconfig", None, &[], "");
    assert_eq!(status, 303);
    let (status, _, _) = request(addr, "GET", "/mobileconfig", Some(BOB), &[], "");
    assert_eq!(status, 401, "Bob does not exist here");
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    for (user, headers) in [
        (Some(ALICE), vec![]),
        (None, vec![("cookie", alice.as_str())]),
    ] {
        let (status, h, body) = request(addr, "GET", "/mobileconfig", user, &headers, "");
        assert_eq!(status, 200);
        assert!(
            h.iter()
                .any(|(k, v)| k == "content-type" && v == "application/x-apple-aspen-config")
        );
        let said = python_checks(
            "import sys, plistlib\n\
             p = plistlib.loads(sys.stdin.buffer.read())\n\
             assert p['PayloadType'] == 'Configuration'\n\
             kinds = {x['PayloadType']: x for x in p['PayloadContent']}\n\
             assert set(kinds) == {'com.apple.mail.managed', 'com.apple.caldav.account', 'com.apple.carddav.account', 'com.apple.security.root'}, kinds.keys()\n\
             m = kinds['com.apple.mail.managed']\n\
             assert (m['IncomingMailServerHostName'], m['IncomingMailServerPortNumber'], m['IncomingMailServerUseSSL']) == ('outpost.lan', 10993, True)\n\
             assert (m['OutgoingMailServerPortNumber'], m['EmailAddress']) == (10465, 'alice@outpost.lan')\n\
             assert kinds['com.apple.caldav.account']['CalDAVPrincipalURL'] == '/dav/alice@outpost.lan/'\n\
             assert kinds['com.apple.security.root']['PayloadContent'][:1] == b'\\x30'\n\
             assert len({x['PayloadUUID'] for x in p['PayloadContent']}) == 4\n\
             print('ok')\n",
            body.as_bytes(),
        );
        assert_eq!(said.trim(), "ok", "{said}\n{body:.2000}");
    }
}

/// The DKIM records of the keys in `<state>/dkim`, for dkimpy.
fn dkim_records(state: &std::path::Path, domain: &str) -> Vec<(String, String)> {
    let keys = outpost_hygiene::dkim::KeyDir {
        dir: state.join("dkim"),
        selector: "outpost".into(),
    };
    outpost_hygiene::dkim::published(&keys)
        .unwrap()
        .into_iter()
        .map(|p| (format!("{}._domainkey.{domain}", p.selector), p.record))
        .collect()
}

#[test]
fn webmail_sends_and_out_of_office_replies_are_dkim_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = config(t);
    let mut dir = Directory::open(&t.join("directory")).unwrap();
    let away = outpost_directory::Vacation {
        enabled: true,
        subject: "Away".into(),
        body: "Back on Monday.".into(),
        ..Default::default()
    };
    dir.set_vacation(BOB, &away).unwrap();
    drop(dir);
    // Before smtpd made keys, webd sends unsigned (it never makes keys:
    // one process alone does).
    let (daemon, addr) = start(t, &cfg);
    let alice = sign_in(addr, ALICE, PASSWORD).unwrap();
    let token = csrf_of(&inbox(addr, &alice).1);
    let send_to = |to: &str, subject: &str| {
        let f = [
            ("csrf", token.as_str()),
            ("from", ALICE),
            ("to", to),
            ("subject", subject),
            ("body", "The generator needs diesel by Friday.\nAlice"),
            ("action", "send"),
        ];
        let (status, location, page) = curl_post(addr, &alice, &f, &[], &[]);
        assert_eq!(
            (status, location.as_str()),
            (303, "/mail/?notice=sent"),
            "{page:.500}"
        );
    };
    let send = |subject: &str| send_to(BOB, subject);
    // (To Alice herself: Bob answers a sender once a week.)
    send_to(ALICE, "unsigned");
    let got = messages(t, ALICE, "INBOX");
    assert_eq!(got.len(), 1);
    assert!(!String::from_utf8_lossy(&got[0].2).contains("DKIM-Signature"));
    assert!(!t.join("dkim").exists(), "webd made no keys");

    // smtpd's first start makes the keys; webd signs from the next send.
    let keys = outpost_hygiene::dkim::KeyDir {
        dir: t.join("dkim"),
        selector: "outpost".into(),
    };
    outpost_hygiene::dkim::ensure(&keys).unwrap();
    send("Diesel");
    let records = dkim_records(t, "outpost.lan");
    let got = messages(t, BOB, "INBOX");
    let signed = &got.last().unwrap().2;
    let text = String::from_utf8_lossy(signed);
    assert!(text.contains("Subject: Diesel"), "{text:.400}");
    assert!(text.contains("d=outpost.lan") && text.contains("s=outpost-ed25519"));
    assert_eq!(
        outpost_testkit::dkimpy::verify(signed, &records).unwrap(),
        [true, true],
        "{text:.1500}"
    );
    // A changed body no longer verifies (the check can fail).
    let changed = text.replace("diesel by Friday", "diesel by Monday");
    assert_eq!(
        outpost_testkit::dkimpy::verify(changed.as_bytes(), &records).unwrap(),
        [false, false]
    );
    // Bob's out-of-office reply reached Alice, signed for Bob's domain.
    let replies: Vec<Vec<u8>> = messages(t, ALICE, "INBOX")
        .into_iter()
        .map(|m| m.2)
        .filter(|m| String::from_utf8_lossy(m).contains("Back on Monday."))
        .collect();
    assert!(!replies.is_empty(), "no out-of-office reply");
    let reply = replies.last().unwrap();
    assert!(String::from_utf8_lossy(reply).contains("DKIM-Signature"));
    assert_eq!(
        outpost_testkit::dkimpy::verify(reply, &records).unwrap(),
        [true, true],
        "{}",
        String::from_utf8_lossy(reply)
    );

    // A rotation is followed without a restart.
    let new = outpost_hygiene::dkim::rotate(&keys, "20261207").unwrap();
    send("after the rotation");
    let got = messages(t, BOB, "INBOX");
    let signed = &got.last().unwrap().2;
    assert!(String::from_utf8_lossy(signed).contains(&format!("s={new}-rsa")));
    assert_eq!(
        outpost_testkit::dkimpy::verify(signed, &dkim_records(t, "outpost.lan")).unwrap(),
        [true, true]
    );
    drop(daemon);
}
