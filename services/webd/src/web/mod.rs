//! The web UI on the HTTPS listener: one `axum` router for the pages
//! (sign-in, webmail) and, behind them, the DAV handler for `/dav/`, the
//! well-known URLs and every other path, exactly as before.
//!
//! Pages are rendered on the server (`askama` templates, checked at
//! compile time) and work without JavaScript; `static/app.js` only adds
//! shortcuts. Every page response carries the security headers
//! ([`security_headers`]: a CSP with no inline script, `nosniff`,
//! `frame-ancestors 'none'`, HSTS) and is compressed (br/gzip).
//!
//! **Invariant:** a page that shows or changes a user's data runs only for
//! a live session ([`signed_in`]: the row exists and has not expired, the
//! account is enabled and its credential generation is the one signed in
//! with); a state-changing request also needs the session's CSRF token
//! and, when the browser sends one, a same-origin `Origin`
//! ([`check_post`]). No form body is read before the session is checked.
//! **API boundary:** handlers do their store and directory work on the
//! blocking pool; sockets stay in `server`.

pub mod admin;
pub mod assets;
pub mod compose;
pub mod mail;
pub mod onboard;
pub mod people;
pub mod sanitize;
pub mod session;
pub mod settings;

use crate::auth::{Account, Refusal};
use crate::dav::App;
use crate::server::Options;
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use session::{COOKIE, Session, Sessions};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything the pages need.
#[derive(Debug)]
pub struct Web {
    /// The DAV application (store, authenticator, body limit).
    pub dav: Arc<App>,
    /// Listener options (body bounds, spool).
    pub opts: Arc<Options>,
    /// The session table.
    pub sessions: Sessions,
    /// `general.mail_root`.
    pub mail_root: PathBuf,
    /// The whole configuration (sending needs `[smtp]` and `[directory]`).
    pub config: Arc<outpost_config::Config>,
    /// The local CA's certificate, when Outpost made it.
    pub ca_path: Option<PathBuf>,
    /// `general.max_mime_depth`.
    pub max_mime_depth: usize,
    /// Open folders and parsed message heads, shared by requests.
    pub cache: mail::Cache,
    /// Learning from moves into and out of Junk (None: no rspamd
    /// controller configured).
    pub trainer: Option<outpost_hygiene::train::Trainer>,
    /// DKIM signing of webmail sends and out-of-office replies, with the
    /// keys smtpd makes (None: `[smtp.dkim]` off).
    pub signer: Option<outpost_hygiene::dkim::Signer>,
}

/// The connection a request came on (set by `server` for every request).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
}

/// The application menu: a page of the shell per entry (calendar,
/// contacts, tasks and files join here).
pub const NAV: &[(&str, &str)] = &[("Mail", "/mail/"), ("Settings", "/settings")];

/// The parts of the page frame every template shows.
#[derive(Debug, Default)]
pub struct Shell {
    /// The signed-in user (none on the sign-in page).
    pub user: Option<String>,
    /// The session's CSRF token.
    pub csrf: String,
    /// Stylesheet URL.
    pub css: &'static str,
    /// Script URL.
    pub js: &'static str,
    /// Application menu.
    pub nav: Vec<(&'static str, &'static str)>,
    /// The current application's menu label.
    pub app: &'static str,
    /// The current mail folder (for the search box).
    pub folder: String,
    /// The current search.
    pub query: String,
    /// The search covers every folder.
    pub all_folders: bool,
    /// A one-line status message.
    pub notice: String,
}

impl Shell {
    fn new() -> Shell {
        Shell {
            css: assets::path_of("app.css"),
            js: assets::path_of("app.js"),
            ..Shell::default()
        }
    }

    /// The frame for `signed`, in application `app`.
    pub fn for_user(signed: &Signed, app: &'static str) -> Shell {
        let mut nav: Vec<_> = NAV.to_vec();
        if signed.account.roles.iter().any(|r| r == "admin") {
            nav.push(("Admin", "/admin/"));
        }
        Shell {
            user: Some(signed.session.user.clone()),
            csrf: signed.session.csrf.clone(),
            nav,
            app,
            ..Shell::new()
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    shell: Shell,
    next: String,
    email: String,
    error: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    shell: Shell,
    heading: String,
    detail: String,
}

/// A rendered page, or a plain 500 if the template fails.
pub fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// An error page.
pub fn error(status: StatusCode, shell: Shell, heading: &str, detail: &str) -> Response {
    page(
        status,
        &ErrorPage {
            shell,
            heading: heading.into(),
            detail: detail.into(),
        },
    )
}

/// The router: pages first, DAV for the rest.
pub fn router(web: Arc<Web>) -> Router {
    let pages = Router::new()
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/mail", get(|| async { Redirect::to("/mail/") }))
        .route("/mail/", get(mail::list))
        .route("/mail/msg", get(mail::message))
        .route("/mail/html", get(mail::html_frame))
        .route("/mail/raw", get(mail::raw))
        .route("/mail/part", get(mail::part))
        .route("/mail/act", post(mail::act))
        .route("/mail/folders", get(mail::manage).post(mail::folders))
        .route("/mail/compose", get(compose::compose))
        .route("/mail/send", post(compose::send))
        .route("/mail/addresses", get(people::addresses))
        .route("/settings", get(settings::show).post(settings::save))
        .route("/admin", get(|| async { Redirect::to("/admin/") }))
        .route("/admin/", get(admin::console))
        .route("/admin/act", post(admin::act))
        .route("/admin/user", get(admin::user_page))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(onboard::autoconfig),
        )
        .route("/mail/config-v1.1.xml", get(onboard::autoconfig))
        .route(
            "/autodiscover/autodiscover.xml",
            post(onboard::autodiscover).get(onboard::autodiscover),
        )
        .route(
            "/Autodiscover/Autodiscover.xml",
            post(onboard::autodiscover).get(onboard::autodiscover),
        )
        .route(
            "/autodiscover/autodiscover.json",
            get(onboard::autodiscover_json),
        )
        .route(
            "/autodiscover/autodiscover.json/{*rest}",
            get(onboard::autodiscover_json),
        )
        .route(
            "/Autodiscover/Autodiscover.json/{*rest}",
            get(onboard::autodiscover_json),
        )
        .route("/mobileconfig", get(onboard::profile))
        .route("/healthz", get(healthz))
        .route("/ca.crt", get(ca))
        .route("/static/{file}", get(asset))
        .layer(axum::middleware::map_response(security_headers))
        .layer(tower_http::compression::CompressionLayer::new());
    Router::new()
        .route("/", get(root).fallback(dav))
        .merge(pages)
        .fallback(dav)
        .with_state(web)
}

/// The DAV handler for every path the pages do not claim.
async fn dav(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    req: Request,
) -> Response {
    crate::server::dav(
        web.dav.clone(),
        web.opts.clone(),
        req,
        peer.addr,
        peer.secure,
    )
    .await
}

/// The header of a page part and of the request for one.
pub const PART: &str = "x-outpost-part";

/// The CSP of every page: scripts and styles from this server only, no
/// inline script, no plugins, no framing by anyone, forms and the
/// scripts' requests (draft autosave, address completion) to this server.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        if !h.contains_key(&k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    };
    // A page part (`X-Outpost-Part`) is fetched by the page's script and
    // put into that page, whose policy governs it; no navigation can ask
    // for one (it takes a request header), so the document headers stay
    // off it and it is never stored.
    if h.contains_key(PART) {
        set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(h, header::CACHE_CONTROL, "no-store");
        return resp;
    }
    set(h, header::CONTENT_SECURITY_POLICY, PAGE_CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    // `same-origin`, not `no-referrer`: with `no-referrer` Chromium sends
    // `Origin: null` on form posts, and the CSRF check needs the origin.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(
        h,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000; includeSubDomains",
    );
    set(h, header::CACHE_CONTROL, "no-store");
    resp
}

/// A session's cookie token from the request head.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=')
                && k == COOKIE
                && !val.is_empty()
                && val.len() <= 64
            {
                return Some(val.to_string());
            }
        }
    }
    None
}

/// A signed-in request.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The cookie's token.
    pub token: String,
    /// The session.
    pub session: Session,
    /// The account as the directory has it now.
    pub account: Account,
}

/// Runs `f` on the blocking pool, in the request's span.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .ok()
}

/// The live session of the request, or the answer to give instead: the
/// sign-in page (a `GET`) or `403` (anything else). A session whose
/// account was disabled, deleted or given a new password since is ended.
pub async fn signed_in(
    web: &Arc<Web>,
    peer: Peer,
    headers: &HeaderMap,
    method: &axum::http::Method,
    path_and_query: &str,
) -> Result<Signed, Response> {
    if !peer.secure && !peer.addr.ip().is_loopback() {
        return Err((StatusCode::FORBIDDEN, "HTTPS required\n").into_response());
    }
    let refuse = || -> Response {
        if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
            let next = percent_encoding::utf8_percent_encode(
                path_and_query,
                percent_encoding::NON_ALPHANUMERIC,
            );
            Redirect::to(&format!("/signin?next={next}")).into_response()
        } else {
            error(
                StatusCode::FORBIDDEN,
                Shell::new(),
                "Signed out",
                "Your session has ended. Sign in again.",
            )
        }
    };
    let Some(token) = cookie_token(headers) else {
        return Err(refuse());
    };
    let w = web.clone();
    let found = blocking(move || -> Result<Option<Signed>, String> {
        let Some(session) = w.sessions.get(&token).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        match w.dav.auth.account(&session.user) {
            Some(account) if account.enabled && account.generation == session.generation => {
                Ok(Some(Signed {
                    token,
                    session,
                    account,
                }))
            }
            _ => {
                w.sessions.delete(&token).map_err(|e| e.to_string())?;
                Ok(None)
            }
        }
    })
    .await;
    match found {
        Some(Ok(Some(s))) => {
            tracing::Span::current().record("user", s.session.user.as_str());
            Ok(s)
        }
        Some(Ok(None)) => Err(refuse()),
        Some(Err(e)) => {
            tracing::error!(error = %e, "reading the session table");
            Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response())
        }
        None => Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()),
    }
}

/// Whether a state-changing request comes from this site: `Origin`, when
/// present, names the host the request was sent to, and `Sec-Fetch-Site`,
/// when present, is not `cross-site`/`same-site`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("");
    origin == format!("https://{host}") || origin == format!("http://{host}")
}

/// The CSRF check of a form post: same origin, and the session's token.
/// `Some` is the refusal to send.
pub fn check_post(headers: &HeaderMap, signed: &Signed, form: &Form) -> Option<Response> {
    let token = form.get("csrf").unwrap_or("");
    if same_origin(headers) && session::same_secret(token, &signed.session.csrf) {
        None
    } else {
        tracing::warn!(user = %signed.session.user, "form refused: CSRF check failed");
        Some(error(
            StatusCode::FORBIDDEN,
            Shell::for_user(signed, "Mail"),
            "Request refused",
            "This form did not come from this page (its security token is missing or old). Go back, reload and try again.",
        ))
    }
}

/// The form of a state-changing post by `signed`: read within the body
/// bounds, then the CSRF check ([`check_post`]). `Err` is the answer to
/// send instead.
pub async fn posted(
    web: &Web,
    signed: &Signed,
    headers: &HeaderMap,
    body: Body,
) -> Result<Form, Response> {
    let form = read_form(web, body).await?;
    match check_post(headers, signed, &form) {
        Some(r) => Err(r),
        None => Ok(form),
    }
}

/// A decoded `application/x-www-form-urlencoded` body (names may repeat).
#[derive(Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Largest ordinary form body.
pub const MAX_FORM: usize = 256 * 1024;

/// Reads a form body within the listener's body bounds and [`MAX_FORM`].
pub async fn read_form(web: &Web, body: Body) -> Result<Form, Response> {
    read_form_max(web, body, MAX_FORM).await
}

/// Reads a form body of at most `max` bytes within the listener's time
/// and rate bounds.
pub async fn read_form_max(web: &Web, body: Body, max: usize) -> Result<Form, Response> {
    let limits = crate::body::Limits {
        max,
        buffer: max,
        timeout: web.opts.body_timeout,
        min_rate: web.opts.body_min_rate,
        spool_dir: web.opts.spool_dir.clone(),
    };
    match crate::body::receive(body, &limits).await {
        Ok(r) => {
            let bytes = r.into_vec().map_err(|_| {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
            })?;
            Ok(Form(
                form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ))
        }
        Err(crate::body::Error::TooLarge) => {
            Err((StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response())
        }
        Err(crate::body::Error::Timeout) => {
            Err((StatusCode::REQUEST_TIMEOUT, "form too slow\n").into_response())
        }
        Err(_) => Err((StatusCode::BAD_REQUEST, "bad form body\n").into_response()),
    }
}

/// A local redirect target from a form or query (`/mail/…` only, so no
/// open redirect).
pub fn local_target(next: &str, default: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && (next.starts_with("/mail/") || next.starts_with("/admin/"));
    if ok { next.into() } else { default.into() }
}

fn session_cookie(token: &str, max_age: u64) -> String {
    format!("{COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax")
}

async fn root(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: axum::http::Method,
) -> Response {
    match signed_in(&web, peer, &headers, &method, "/mail/").await {
        Ok(_) => Redirect::to("/mail/").into_response(),
        Err(_) => Redirect::to("/signin").into_response(),
    }
}

async fn signin_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let next = q.get("next").map(String::as_str).unwrap_or("");
    page(
        StatusCode::OK,
        &SignInPage {
            shell: Shell::new(),
            next: local_target(next, "/mail/"),
            email: String::new(),
            error: String::new(),
        },
    )
}

async fn signin(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !peer.secure && !peer.addr.ip().is_loopback() {
        return (StatusCode::FORBIDDEN, "HTTPS required\n").into_response();
    }
    if !same_origin(&headers) {
        return error(
            StatusCode::FORBIDDEN,
            Shell::new(),
            "Request refused",
            "Sign in from this server's own page.",
        );
    }
    let form = match read_form(&web, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let email = form.get("email").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("").to_string();
    let next = local_target(form.get("next").unwrap_or(""), "/mail/");
    let w = web.clone();
    let client = peer.addr.ip().to_string();
    let (e2, p2) = (email.clone(), password);
    let outcome = blocking(move || -> Result<(String, Session), Refusal> {
        if e2.is_empty() || e2.len() > 320 || p2.len() > 1024 {
            return Err(Refusal::Invalid);
        }
        let user = w.dav.auth.sign_in(&e2, &p2, Some(&client))?;
        let account = w.dav.auth.account(&user).ok_or(Refusal::Invalid)?;
        w.sessions.create(&user, account.generation).map_err(|e| {
            tracing::error!(error = %e, "creating a session");
            Refusal::Busy
        })
    })
    .await;
    match outcome {
        Some(Ok((token, s))) => {
            tracing::Span::current().record("user", s.user.as_str());
            let max_age = web.sessions.absolute().as_secs();
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, next),
                    (header::SET_COOKIE, session_cookie(&token, max_age)),
                ],
            )
                .into_response()
        }
        Some(Err(Refusal::Busy)) | None => {
            let mut r = page(
                StatusCode::SERVICE_UNAVAILABLE,
                &SignInPage {
                    shell: Shell::new(),
                    next,
                    email,
                    error: "The server is busy. Try again in a few seconds.".into(),
                },
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        Some(Err(Refusal::Invalid)) => page(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                shell: Shell::new(),
                next,
                email,
                error: "Wrong email address or password (or the account is locked or disabled)."
                    .into(),
            },
        ),
    }
}

async fn signout(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: axum::http::Method,
    body: Body,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/").await {
        Ok(s) => s,
        Err(_) => return Redirect::to("/signin").into_response(),
    };
    if let Err(r) = posted(&web, &signed, &headers, body).await {
        return r;
    }
    let w = web.clone();
    let token = signed.token.clone();
    let _ = blocking(move || w.sessions.delete(&token)).await;
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/signin".to_string()),
            (header::SET_COOKIE, session_cookie("", 0)),
        ],
    )
        .into_response()
}

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "ok\n").into_response()
}

async fn ca(State(web): State<Arc<Web>>) -> Response {
    let Some(path) = web.ca_path.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "this server uses an administrator's certificate, not Outpost's local CA\n",
        )
            .into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(pem) => (
            [
                (header::CONTENT_TYPE, "application/x-x509-ca-cert"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"outpost-ca.crt\"",
                ),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            pem,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no local CA yet\n").into_response(),
    }
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match assets::get(&format!("/static/{file}")) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn only_same_origin_posts_pass() {
        assert!(same_origin(&h(&[("host", "mail.lan")])));
        assert!(same_origin(&h(&[
            ("host", "mail.lan:10443"),
            ("origin", "https://mail.lan:10443"),
            ("sec-fetch-site", "same-origin")
        ])));
        for bad in [
            vec![("host", "mail.lan"), ("origin", "https://evil.example")],
            vec![("host", "mail.lan"), ("origin", "null")],
            vec![
                ("host", "mail.lan"),
                ("origin", "https://mail.lan.evil.example"),
            ],
            vec![("host", "mail.lan"), ("sec-fetch-site", "cross-site")],
            vec![("host", "mail.lan"), ("sec-fetch-site", "same-site")],
            vec![("origin", "https://mail.lan")],
        ] {
            assert!(!same_origin(&h(&bad)), "{bad:?}");
        }
    }

    #[test]
    fn redirect_targets_stay_on_the_pages() {
        assert_eq!(local_target("/mail/?f=Sent", "/mail/"), "/mail/?f=Sent");
        for bad in [
            "https://evil.example/",
            "//evil.example/mail/",
            "/\\evil.example",
            "/dav/",
            "",
            "/mail/\r\nSet-Cookie: x=1",
            "mail/",
        ] {
            assert_eq!(local_target(bad, "/mail/"), "/mail/", "{bad:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(
            cookie_token(&h(&[("cookie", "a=b; outpost_session=tok; c=d")])).as_deref(),
            Some("tok")
        );
        assert_eq!(cookie_token(&h(&[("cookie", "outpost_session=")])), None);
        assert_eq!(
            cookie_token(&h(&[("cookie", "xoutpost_session=tok")])),
            None
        );
        let long = format!("outpost_session={}", "a".repeat(65));
        assert_eq!(cookie_token(&h(&[("cookie", &long)])), None);
        let c = session_cookie("tok", 60);
        for want in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(c.contains(want), "{c}");
        }
    }
}
