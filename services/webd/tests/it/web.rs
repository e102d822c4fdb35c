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
