//! The `dav_request` target: whole requests through `outpost-webd`'s DAV
//! handler on a real `outpost-davstore` tree (a calendar, an address book
//! and a file collection, two users, one grant), as the HTTPS server would
//! pass them after reading the request.
//!
//! Input format: `METHOD PATH\n`, header lines `name: value\n`, an empty
//! line, then the body. Every request carries alice's credentials, so the
//! fuzzer spends its time past authentication.

use base64::Engine;
use outpost_webd::auth::Authenticator;
use outpost_webd::dav::{App, Request};
use std::sync::{Arc, Mutex, OnceLock};

/// Two users with fixed passwords and no groups: no argon2 per request.
#[derive(Debug)]
struct FixedAuth;

impl Authenticator for FixedAuth {
    fn authenticate(&self, user: &str, password: &str, _client: Option<&str>) -> Option<String> {
        let user = user.to_ascii_lowercase();
        (["alice@outpost.lan", "bob@outpost.lan"].contains(&user.as_str()) && password == "pw")
            .then_some(user)
    }

    fn is_member(&self, _group: &str, _user: &str) -> bool {
        false
    }
}

struct Fixture {
    app: App,
    _dir: tempfile::TempDir,
    runs: u64,
}

fn basic(user: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"));
    format!("Basic {b}")
}

fn make_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    user: &str,
) -> Request {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    h.push(("authorization".into(), basic(user)));
    Request {
        method: method.into(),
        path: path.into(),
        headers: h,
        body: body.to_vec(),
        client: Some("127.0.0.1".into()),
    }
}

fn setup() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = outpost_davstore::Store::open(dir.path().join("dav")).expect("opening the store");
    let app = App {
        store,
        auth: Arc::new(FixedAuth),
        max_body: 1024 * 1024,
    };
    let a = "alice@outpost.lan";
    let ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let vcf = b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Bob\r\nN:;Bob;;;\r\nEMAIL:bob@outpost.lan\r\nEND:VCARD\r\n";
    for r in [
        make_request("MKCALENDAR", &format!("/dav/{a}/cal/"), &[], b"", a),
        make_request(
            "MKCOL",
            &format!("/dav/{a}/book/"),
            &[("content-type", "application/xml")],
            br#"<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><C:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"#,
            a,
        ),
        make_request("MKCOL", &format!("/dav/{a}/files/"), &[], b"", a),
        make_request("PUT", &format!("/dav/{a}/cal/e1.ics"), &[("content-type", "text/calendar")], ics, a),
        make_request("PUT", &format!("/dav/{a}/book/c1.vcf"), &[("content-type", "text/vcard")], vcf, a),
        make_request("PUT", &format!("/dav/{a}/files/note.txt"), &[], b"hello", a),
    ] {
        let resp = app.handle(&r);
        assert!(resp.status < 300, "fixture request {} {} got {}", r.method, r.path, resp.status);
    }
    Fixture {
        app,
        _dir: dir,
        runs: 0,
    }
}

/// Splits the input into a request; `None` if it has no request line.
fn parse(data: &[u8]) -> Option<Request> {
    let text = String::from_utf8_lossy(data);
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], text[i + 2..].as_bytes().to_vec()),
        None => (&text[..], Vec::new()),
    };
    let mut lines = head.lines();
    let (method, path) = lines.next()?.split_once(' ')?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| k != "authorization")
        .collect::<Vec<_>>();
    let mut r = make_request(
        &method.to_ascii_uppercase(),
        path,
        &[],
        &body,
        "alice@outpost.lan",
    );
    r.headers.splice(0..0, headers);
    Some(r)
}

/// Runs one request. The fixture is rebuilt every 5,000 runs, so what the
/// fuzzer wrote (or deleted) does not pile up.
pub fn request(data: &[u8]) {
    static FIX: OnceLock<Mutex<Option<Fixture>>> = OnceLock::new();
    let Some(req) = parse(data) else { return };
    let cell = FIX.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|f| f.runs >= 5000) {
        *guard = Some(setup());
    }
    let Some(fix) = guard.as_mut() else { return };
    fix.runs += 1;
    let resp = fix.app.handle(&req);
    assert!(
        (100..600).contains(&resp.status),
        "status {} out of range",
        resp.status
    );
}
