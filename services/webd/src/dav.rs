//! The DAV request handler: WebDAV (RFC 4918), CalDAV (RFC 4791), CardDAV
//! (RFC 6352), extended MKCOL (RFC 5689) and sync-collection (RFC 6578).
//!
//! Synchronous on purpose: every request is file I/O and (sometimes) an
//! argon2 check, so the HTTP layer runs it on tokio's blocking pool and this
//! module stays free of async and of the HTTP library's types.
//!
//! # URL space
//! ```text
//! /.well-known/caldav, /.well-known/carddav  → 301 /dav/ (RFC 6764 §5)
//! /dav/                                       root: current-user-principal
//! /dav/<user>/                                principal URL = calendar-home-set = addressbook-home-set
//! /dav/<user>/<collection>/                   a calendar, task list, address book or plain collection
//! /dav/<user>/<collection>/<item>             one .ics / .vcf (or any file in a plain collection)
//! /dav/<user>/<owner>~<collection>/           a collection <owner> shared with <user>
//! ```
//! **Invariant:** a request reaches a collection only if the authenticated
//! user owns it or holds a grant on it (directly or through a group);
//! collection and item names are single path segments checked by
//! `outpost-davstore`, so `..` or `/` never reach the file system.

use crate::auth::Authenticator;
use crate::filter::{self, CardFilter, CompFilter, Range};
use crate::xml::{self, CALDAV, CARDDAV, CS, DAV, Element, OUTPOST, PropName};
use outpost_davstore::item::ItemMeta;
use outpost_davstore::{
    self as ds, Access, Collection, Conditions, Error as StoreError, Grant, Props, Store,
};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

/// Characters escaped in hrefs we emit (RFC 3986 path segment).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// Prefix of sync tokens (RFC 6578 §3.2: a URI); the revision follows.
const SYNC_PREFIX: &str = "https://outpost.invalid/ns/sync/";

/// Everything a request needs.
#[derive(Debug)]
pub struct App {
    /// The collections.
    pub store: Store,
    /// Users, passwords and groups.
    pub auth: Arc<dyn Authenticator>,
    /// Largest accepted request body, bytes (also `max-resource-size`).
    pub max_body: usize,
}

/// A request as the handler sees it.
#[derive(Debug, Default)]
pub struct Request {
    /// Method, upper-case.
    pub method: String,
    /// Path (percent-encoded, as received).
    pub path: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Client address for the lockout, if known.
    pub client: Option<String>,
}

impl Request {
    /// A header value by (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Body,
}

/// A response body: one buffer, or the parts of a multistatus, which the
/// HTTP layer sends one after another instead of joining them into a
/// second copy (#7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Bytes as they are.
    Bytes(Vec<u8>),
    /// Parts sent in order.
    Parts(Vec<String>),
}

impl Default for Body {
    fn default() -> Self {
        Body::Bytes(Vec::new())
    }
}

impl Body {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Body::Bytes(b) => b.len(),
            Body::Parts(p) => p.iter().map(String::len).sum(),
        }
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in one buffer (tests, small bodies).
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Body::Bytes(b) => b.clone(),
            Body::Parts(p) => p.concat().into_bytes(),
        }
    }
}

impl Response {
    fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::default(),
        }
    }

    fn text(status: u16, text: &str) -> Response {
        let mut r = Response::new(status);
        r.headers
            .push(("content-type".into(), "text/plain; charset=utf-8".into()));
        r.body = Body::Bytes(format!("{text}\n").into_bytes());
        r
    }

    fn xml(status: u16, body: String) -> Response {
        Response::xml_parts(status, Body::Bytes(body.into_bytes()))
    }

    fn xml_parts(status: u16, body: Body) -> Response {
        let mut r = Response::new(status);
        r.headers.push((
            "content-type".into(),
            "application/xml; charset=utf-8".into(),
        ));
        r.body = body;
        r
    }

    fn multistatus(mut parts: Vec<String>) -> Response {
        parts.insert(0, xml::MULTISTATUS_OPEN.to_string());
        parts.push(xml::MULTISTATUS_CLOSE.to_string());
        Response::xml_parts(207, Body::Parts(parts))
    }

    /// A multistatus of a query, or `403 CALDAV:max-instances` if its
    /// expansion went over a bound (RFC 4791 §9.6.5; Apple's Calendar
    /// Server answers the same way).
    fn query_result(q: &PropQuery, parts: Vec<String>) -> Response {
        if q.exceeded() {
            drop(parts);
            return max_instances();
        }
        Response::multistatus(parts)
    }

    fn error(status: u16, condition: &str) -> Response {
        Response::xml(status, xml::error_body(condition))
    }

    fn header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `/` or `/dav/`.
    Root,
    /// `/dav/<user>/`.
    Home(String),
    /// A collection: owner, name, the URL it was addressed by.
    Coll {
        owner: String,
        name: String,
        href: String,
    },
    /// An item in a collection.
    Item {
        owner: String,
        name: String,
        href: String,
        item: String,
    },
    /// Anything deeper or unknown; the `bool` says whether the parent collection exists.
    Deep(bool),
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Splits a request path into decoded segments (`None` for bad encoding).
fn segments(path: &str) -> Option<Vec<String>> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut out = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let d = percent_decode_str(seg).decode_utf8().ok()?.into_owned();
        if d == "." || d == ".." || d.contains(['/', '\\', '\0']) {
            return None;
        }
        out.push(d);
    }
    Some(out)
}

/// What the request head alone decides, before any body is read (#6).
#[derive(Debug)]
pub enum Gate {
    /// The answer, whatever the body: a redirect, `OPTIONS`, or `401`.
    Answer(Response),
    /// The authenticated user; the request goes on with its body.
    User(String),
}

/// Bounds on recurrence expansion (#7), `[web]` `max_expand_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Instances of one calendar object a `<C:expand>` or free-busy
    /// writes within its range.
    pub max_instances_per_item: usize,
    /// Instances one response writes.
    pub max_instances: usize,
    /// Bytes of expanded calendar data one response writes.
    pub max_expand_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_instances_per_item: 3000,
            max_instances: 10_000,
            max_expand_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What one response has expanded so far, against its [`Limits`].
#[derive(Debug)]
struct Budget {
    limits: Limits,
    instances: Cell<usize>,
    bytes: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn new(limits: Limits) -> Rc<Budget> {
        Rc::new(Budget {
            limits,
            instances: Cell::new(0),
            bytes: Cell::new(0),
            exceeded: Cell::new(false),
        })
    }

    /// Counts `instances` more (and `bytes`); false, and exceeded from
    /// then on, once over a bound.
    fn charge(&self, instances: usize, bytes: usize) -> bool {
        let i = self.instances.get().saturating_add(instances);
        let b = self.bytes.get().saturating_add(bytes);
        self.instances.set(i);
        self.bytes.set(b);
        if instances > self.limits.max_instances_per_item
            || i > self.limits.max_instances
            || b > self.limits.max_expand_bytes
        {
            self.exceeded.set(true);
        }
        !self.exceeded.get()
    }
}

/// `403` with the `CALDAV:max-instances` precondition.
fn max_instances() -> Response {
    Response::error(403, "<C:max-instances/>")
}

impl App {
    /// Handles one request (head and body together), with the default
    /// expansion [`Limits`].
    pub fn handle(&self, req: &Request) -> Response {
        match self.gate(req) {
            Gate::Answer(r) => r,
            Gate::User(user) => self.handle_as(&user, req, &Limits::default()),
        }
    }

    /// Decides what the head of `req` alone can: the well-known
    /// redirects, `OPTIONS`, and authentication (#6: nobody gets a body
    /// read before their credentials are checked). Ignores `req.body`.
    pub fn gate(&self, req: &Request) -> Gate {
        let path = req.path.split('?').next().unwrap_or("");
        if path == "/.well-known/caldav" || path == "/.well-known/carddav" {
            return Gate::Answer(Response::new(301).header("location", "/dav/"));
        }
        if req.method == "OPTIONS" {
            return Gate::Answer(options());
        }
        match self.authenticate(req) {
            Ok(user) => Gate::User(user),
            // #9: every password-check slot taken: later, not "wrong".
            Err(crate::auth::Refusal::Busy) => Gate::Answer(
                Response::text(503, "too many logins at once, try again")
                    .header("retry-after", "5"),
            ),
            Err(crate::auth::Refusal::Invalid) => {
                Gate::Answer(Response::text(401, "authentication required").header(
                    "www-authenticate",
                    "Basic realm=\"Outpost\", charset=\"UTF-8\"",
                ))
            }
        }
    }

    /// Handles a request of `user`, whom [`App::gate`] authenticated.
    pub fn handle_as(&self, user: &str, req: &Request, limits: &Limits) -> Response {
        let path = req.path.split('?').next().unwrap_or("");
        let user = user.to_string();
        // A user who never had a home (created by `outpostctl` rather than
        // the installer) gets the default calendar, task list and address
        // book on first login, as the installer would have made them.
        if let Ok(home) = self.store.home(&user)
            && !home.is_dir()
            && let Err(e) = ds::create_default_collections(self.store.root(), &user)
        {
            return Response::text(500, &format!("creating default collections: {e}"));
        }
        let Some(segs) = segments(path) else {
            return Response::text(400, "bad path");
        };
        let target = match self.resolve(&user, &segs) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let res = match req.method.as_str() {
            "PROPFIND" => self.propfind(&user, req, &target, limits),
            "PROPPATCH" => self.proppatch(&user, req, &target),
            "REPORT" => self.report(&user, req, &target, limits),
            "GET" | "HEAD" => self.get(&user, req, &target),
            "PUT" => self.put(&user, req, &target),
            "DELETE" => self.delete(&user, req, &target),
            "MKCOL" | "MKCALENDAR" => self.mkcol(&user, req, &target),
            "COPY" | "MOVE" => self.copy_move(&user, req, &target),
            "POST" => Response::text(405, "method not allowed"),
            _ => Response::text(501, "not implemented"),
        };
        if req.method == "HEAD" {
            let mut r = res;
            r.headers
                .push(("content-length".into(), r.body.len().to_string()));
            r.body = Body::default();
            return r;
        }
        res
    }

    fn authenticate(&self, req: &Request) -> Result<String, crate::auth::Refusal> {
        use base64::Engine as _;
        let invalid = crate::auth::Refusal::Invalid;
        let h = req.header("authorization").ok_or(invalid)?;
        let (scheme, b64) = h.split_once(' ').ok_or(invalid)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(invalid);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| invalid)?;
        let raw = String::from_utf8(raw).map_err(|_| invalid)?;
        let (u, p) = raw.split_once(':').ok_or(invalid)?;
        self.auth.check(u, p, req.client.as_deref())
    }

    /// Access `user` has to `owner`'s collection `name`.
    fn access(&self, user: &str, owner: &str, col: &Collection) -> Option<Access> {
        if user == owner {
            return Some(Access::ReadWrite);
        }
        let mut best = None;
        for g in col.grants() {
            if g.to == user || self.auth.is_member(&g.to, user) {
                if g.access == Access::ReadWrite {
                    return Some(Access::ReadWrite);
                }
                best = Some(Access::Read);
            }
        }
        best
    }

    fn resolve(&self, user: &str, segs: &[String]) -> Result<Target, Response> {
        let forbidden = || Response::text(403, "forbidden");
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match segs.as_slice() {
            [] | ["dav"] => Ok(Target::Root),
            ["dav", home, rest @ ..] => {
                // Addresses are case-insensitive and stored lower-case.
                let home_lc = home.to_ascii_lowercase();
                let home = &home_lc.as_str();
                if ds::check_name(home).is_err() {
                    return Err(Response::text(404, "not found"));
                }
                if *home != user {
                    // Other users' homes are not listable; their collections
                    // are reachable only with a grant (checked below).
                    if rest.is_empty() {
                        return Err(forbidden());
                    }
                }
                let Some((first, rest)) = rest.split_first() else {
                    return Ok(Target::Home(home.to_string()));
                };
                if ds::check_name(first).is_err() {
                    return Err(Response::text(404, "not found"));
                }
                // A binding `<owner>~<collection>` in the user's own home.
                let (owner, name) = match first.rsplit_once('~') {
                    Some((o, n)) if *home == user => (o.to_ascii_lowercase(), n.to_string()),
                    Some(_) => return Err(forbidden()),
                    None => (home.to_string(), first.to_string()),
                };
                let href = format!("/dav/{}/{}/", enc(home), enc(first));
                let exists = match self.store.collection(&owner, &name) {
                    Ok(col) => {
                        if self.access(user, &owner, &col).is_none() {
                            return Err(forbidden());
                        }
                        true
                    }
                    Err(StoreError::NotFound) => {
                        if owner != user {
                            return Err(forbidden());
                        }
                        false
                    }
                    Err(StoreError::BadName(_)) => return Err(Response::text(404, "not found")),
                    Err(e) => return Err(Response::text(500, &e.to_string())),
                };
                // Walk down nested (plain WebDAV) collections as far as they exist.
                let (mut name, mut href, mut rest) = (name, href, rest);
                while exists
                    && let Some((next, more)) = rest.split_first()
                    && ds::check_name(next).is_ok()
                    && self
                        .store
                        .collection(&owner, &format!("{name}/{next}"))
                        .is_ok()
                {
                    name = format!("{name}/{next}");
                    href = format!("{href}{}/", enc(next));
                    rest = more;
                }
                match rest {
                    [] => Ok(Target::Coll { owner, name, href }),
                    [item] if ds::check_name(item).is_ok() => Ok(Target::Item {
                        owner,
                        name,
                        href: format!("{href}{}", enc(item)),
                        item: item.to_string(),
                    }),
                    [item] if item.starts_with('.') => Err(Response::text(404, "not found")),
                    _ => Ok(Target::Deep(false)),
                }
            }
            _ => Err(Response::text(404, "not found")),
        }
    }

    fn col(&self, owner: &str, name: &str) -> Result<Arc<Collection>, Response> {
        self.store.collection(owner, name).map_err(store_error)
    }

    fn writable(&self, user: &str, owner: &str, col: &Collection) -> Result<(), Response> {
        match self.access(user, owner, col) {
            Some(Access::ReadWrite) => Ok(()),
            _ => Err(Response::error(403, "<D:need-privileges/>")),
        }
    }

    // ---------------------------------------------------------------- PROPFIND

    fn propfind(&self, user: &str, req: &Request, target: &Target, limits: &Limits) -> Response {
        let depth = match req.header("depth") {
            Some("0") => 0,
            _ => 1,
        };
        let query = match parse_propfind(&req.body, limits) {
            Ok(q) => q,
            Err(r) => return r,
        };
        let mut parts = Vec::new();
        match target {
            Target::Root => {
                parts.push(self.describe(user, &Res::Root, &query));
            }
            Target::Home(home) => {
                parts.push(self.describe(user, &Res::Home(home.clone()), &query));
                if depth == 1 {
                    for (href, owner, name) in self.home_members(user) {
                        match self.store.collection(&owner, &name) {
                            Ok(col) => parts.push(self.describe(
                                user,
                                &Res::Coll { href, owner, col },
                                &query,
                            )),
                            Err(_) => continue,
                        }
                    }
                }
            }
            Target::Coll { owner, name, href } => {
                let col = match self.col(owner, name) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                parts.push(self.describe(
                    user,
                    &Res::Coll {
                        href: href.clone(),
                        owner: owner.clone(),
                        col: col.clone(),
                    },
                    &query,
                ));
                if depth == 1 {
                    let items: Vec<(String, ItemMeta)> =
                        col.with_items(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
                    for (name, meta) in items {
                        if query.exceeded() {
                            break;
                        }
                        parts.push(self.describe(
                            user,
                            &Res::Item {
                                href: format!("{href}{}", enc(&name)),
                                owner: owner.clone(),
                                col: col.clone(),
                                name,
                                meta,
                            },
                            &query,
                        ));
                    }
                    for child in self.store.children(owner, name).unwrap_or_default() {
                        let Ok(c) = self.store.collection(owner, &format!("{name}/{child}")) else {
                            continue;
                        };
                        parts.push(self.describe(
                            user,
                            &Res::Coll {
                                href: format!("{href}{}/", enc(&child)),
                                owner: owner.clone(),
                                col: c,
                            },
                            &query,
                        ));
                    }
                }
            }
            Target::Item {
                owner,
                name,
                href,
                item,
            } => {
                let col = match self.col(owner, name) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let Some(meta) = col.meta(item) else {
                    return Response::text(404, "not found");
                };
                parts.push(self.describe(
                    user,
                    &Res::Item {
                        href: href.clone(),
                        owner: owner.clone(),
                        col,
                        name: item.clone(),
                        meta,
                    },
                    &query,
                ));
            }
            Target::Deep(_) => return Response::text(404, "not found"),
        }
        Response::query_result(&query, parts)
    }

    /// The user's own collections and the ones shared with them, as
    /// `(href, owner, name)`.
    fn home_members(&self, user: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for name in self.store.list(user).unwrap_or_default() {
            out.push((
                format!("/dav/{}/{}/", enc(user), enc(&name)),
                user.to_string(),
                name,
            ));
        }
        for owner in self.store.users().unwrap_or_default() {
            if owner == user {
                continue;
            }
            for name in self.store.list(&owner).unwrap_or_default() {
                let Ok(col) = self.store.collection(&owner, &name) else {
                    continue;
                };
                if !col.grants().is_empty() && self.access(user, &owner, &col).is_some() {
                    out.push((
                        format!("/dav/{}/{}~{}/", enc(user), enc(&owner), enc(&name)),
                        owner.clone(),
                        name,
                    ));
                }
            }
        }
        out
    }

    fn describe(&self, user: &str, res: &Res, q: &PropQuery) -> String {
        let mut expand = None;
        let names: Vec<PropName> = match q {
            PropQuery::Props(p, e) => {
                expand = e.as_ref();
                p.clone()
            }
            PropQuery::All(include) => {
                let mut all = res.all_props();
                all.extend(include.iter().cloned());
                all
            }
            PropQuery::Names => {
                let all = res.all_props();
                let found: Vec<String> = all.iter().map(PropName::empty).collect();
                return xml::response(&res.href(), &found, &[], &[]);
            }
        };
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for n in &names {
            match self.prop(user, res, n, expand) {
                Some(v) => found.push(v),
                None => missing.push(n.empty()),
            }
        }
        if matches!(q, PropQuery::All(_)) {
            missing.clear();
        }
        xml::response(&res.href(), &found, &missing, &[])
    }

    /// The XML of one property of `res`, or `None` if it has none.
    fn prop(&self, user: &str, res: &Res, n: &PropName, expand: Option<&Expand>) -> Option<String> {
        let principal = format!("/dav/{}/", enc(user));
        let href = |h: &str| format!("<D:href>{}</D:href>", xml::escape(h));
        // Properties every resource has.
        if n.is(DAV, "current-user-principal") {
            return Some(n.with(&href(&principal)));
        }
        if n.is(DAV, "principal-collection-set") {
            return Some(n.with(&href("/dav/")));
        }
        match res {
            Res::Root => {
                if n.is(DAV, "resourcetype") {
                    return Some(n.with("<D:collection/>"));
                }
                None
            }
            Res::Home(home) => {
                let home_href = format!("/dav/{}/", enc(home));
                match (n.ns.as_str(), n.name.as_str()) {
                    (DAV, "resourcetype") => Some(n.with("<D:collection/><D:principal/>")),
                    (DAV, "displayname") => Some(n.with(&xml::escape(home))),
                    (DAV, "principal-URL") | (DAV, "owner") => Some(n.with(&href(&home_href))),
                    (CALDAV, "calendar-home-set") | (CARDDAV, "addressbook-home-set") => {
                        Some(n.with(&href(&home_href)))
                    }
                    (CALDAV, "calendar-user-address-set") => Some(n.with(&format!(
                        "{}{}",
                        href(&format!("mailto:{home}")),
                        href(&home_href)
                    ))),
                    (CALDAV, "calendar-user-type") => Some(n.with("INDIVIDUAL")),
                    (DAV, "current-user-privilege-set") => {
                        Some(n.with(&privileges(Some(Access::ReadWrite))))
                    }
                    (DAV, "supported-report-set") => Some(n.with(&reports(&["sync-collection"]))),
                    _ => None,
                }
            }
            Res::Coll { owner, col, .. } => {
                let props = col.props();
                let tag = props.get(ds::TAG).map(String::as_str);
                let is_cal = tag == Some(ds::TAG_CALENDAR);
                let is_book = tag == Some(ds::TAG_ADDRESSBOOK);
                let access = self.access(user, owner, col);
                match (n.ns.as_str(), n.name.as_str()) {
                    (DAV, "resourcetype") => Some(n.with(if is_cal {
                        "<D:collection/><C:calendar/>"
                    } else if is_book {
                        "<D:collection/><CR:addressbook/>"
                    } else {
                        "<D:collection/>"
                    })),
                    (CS, "getctag") => Some(n.with(&col.rev().to_string())),
                    (DAV, "sync-token") => Some(n.with(&format!("{SYNC_PREFIX}{}", col.rev()))),
                    (DAV, "owner") => Some(n.with(&href(&format!("/dav/{}/", enc(owner))))),
                    (DAV, "current-user-privilege-set") => Some(n.with(&privileges(access))),
                    (DAV, "supported-report-set") if is_cal => Some(n.with(&reports(&[
                        "calendar-query",
                        "calendar-multiget",
                        "free-busy-query",
                        "sync-collection",
                    ]))),
                    (DAV, "supported-report-set") if is_book => Some(n.with(&reports(&[
                        "addressbook-query",
                        "addressbook-multiget",
                        "sync-collection",
                    ]))),
                    (DAV, "supported-report-set") => Some(n.with(&reports(&["sync-collection"]))),
                    (CALDAV, "supported-calendar-component-set") if is_cal => {
                        let comps = props
                            .get(ds::SUPPORTED_COMPONENTS)
                            .cloned()
                            .unwrap_or_else(|| "VEVENT,VTODO,VJOURNAL".into());
                        Some(n.with(
                            &comps
                                .split(',')
                                .map(|c| format!("<C:comp name=\"{}\"/>", xml::escape(c.trim())))
                                .collect::<String>(),
                        ))
                    }
                    (CALDAV, "supported-calendar-data") if is_cal => Some(n.with(
                        "<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>",
                    )),
                    (CARDDAV, "supported-address-data") if is_book => Some(n.with(
                        "<CR:address-data-type content-type=\"text/vcard\" version=\"3.0\"/><CR:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>",
                    )),
                    (CALDAV, "max-resource-size") if is_cal => Some(n.with(&self.max_body.to_string())),
                    (CARDDAV, "max-resource-size") if is_book => Some(n.with(&self.max_body.to_string())),
                    (OUTPOST, "grants") => Some(n.with(&xml::escape(&grants_text(&col.grants())))),
                    (DAV, "displayname") if !props.contains_key("D:displayname") => {
                        Some(n.with(&xml::escape(&res.name())))
                    }
                    _ => {
                        let key = n.key();
                        if key == ds::TAG || key == ds::SUPPORTED_COMPONENTS || key == ds::GRANTS {
                            return None;
                        }
                        props.get(&key).map(|v| n.with(v))
                    }
                }
            }
            Res::Item {
                col,
                name,
                meta,
                owner,
                ..
            } => match (n.ns.as_str(), n.name.as_str()) {
                (DAV, "getetag") => Some(n.with(&xml::escape(&meta.etag()))),
                (DAV, "getcontenttype") => Some(n.with(content_type(col, meta))),
                (DAV, "getcontentlength") => Some(n.with(&meta.size.to_string())),
                (DAV, "resourcetype") => Some(n.empty()),
                (DAV, "getlastmodified") => {
                    let m = std::fs::metadata(col.dir().join(name))
                        .ok()?
                        .modified()
                        .ok()?;
                    Some(n.with(&http_date(m)))
                }
                (DAV, "current-user-privilege-set") => {
                    Some(n.with(&privileges(self.access(user, owner, col))))
                }
                (CALDAV, "calendar-data") if col.is_calendar() => {
                    let (bytes, _) = col.get(name).ok()?;
                    // RFC 4791 §9.6.5: with <C:expand>, instances in the range
                    // as separate components in UTC, without recurrence rules,
                    // within the response's budget (#7).
                    if let Some(x) = expand {
                        let per_item = x.budget.limits.max_instances_per_item;
                        match filter::expand(&bytes, x.range, per_item) {
                            Some(filter::Expanded::Text { text, instances }) => {
                                if !x.budget.charge(instances, text.len()) {
                                    return None;
                                }
                                return Some(n.with(&xml::escape(&text)));
                            }
                            Some(filter::Expanded::TooMany) => {
                                x.budget.charge(usize::MAX, 0);
                                return None;
                            }
                            None => {}
                        }
                    }
                    Some(n.with(&xml::escape(&String::from_utf8_lossy(&bytes))))
                }
                (CARDDAV, "address-data") if col.is_addressbook() => {
                    let (bytes, _) = col.get(name).ok()?;
                    Some(n.with(&xml::escape(&String::from_utf8_lossy(&bytes))))
                }
                _ => meta.props.get(&n.key()).map(|v| n.with(v)),
            },
        }
    }

    // --------------------------------------------------------------- PROPPATCH

    fn proppatch(&self, user: &str, req: &Request, target: &Target) -> Response {
        let root = match xml::parse(&req.body) {
            Ok(r) if r.is(DAV, "propertyupdate") => r,
            _ => return Response::text(400, "expected DAV:propertyupdate"),
        };
        let mut changes: Vec<(PropName, Option<String>)> = Vec::new();
        for op in root.elems() {
            let set = op.is(DAV, "set");
            if !set && !op.is(DAV, "remove") {
                continue;
            }
            for prop in op.elems().filter(|e| e.is(DAV, "prop")) {
                for p in prop.elems() {
                    let name = PropName::new(&p.ns, &p.name);
                    changes.push((name, set.then(|| p.inner_xml())));
                }
            }
        }
        let (href, is_item) = match target {
            Target::Coll { href, .. } => (href.clone(), false),
            Target::Item { href, .. } => (href.clone(), true),
            Target::Home(_) | Target::Root => {
                let forb: Vec<String> = changes.iter().map(|(n, _)| n.empty()).collect();
                return Response::multistatus(vec![xml::response(&req.path, &[], &[], &forb)]);
            }
            Target::Deep(_) => return Response::text(404, "not found"),
        };
        let protected = |n: &PropName| {
            (n.ns == DAV
                && matches!(
                    n.name.as_str(),
                    "resourcetype"
                        | "getetag"
                        | "getcontentlength"
                        | "getlastmodified"
                        | "sync-token"
                        | "current-user-principal"
                        | "current-user-privilege-set"
                        | "supported-report-set"
                        | "owner"
                        | "lockdiscovery"
                        | "supportedlock"
                        | "creationdate"
                ))
                || n.is(CS, "getctag")
                || (n.ns == CALDAV && n.name.starts_with("supported-"))
                || (n.ns == CARDDAV && n.name.starts_with("supported-"))
                || n.is(CALDAV, "calendar-data")
                || n.is(CARDDAV, "address-data")
        };
        let bad: Vec<&PropName> = changes
            .iter()
            .map(|(n, _)| n)
            .filter(|n| protected(n))
            .collect();
        let (owner, name) = match target {
            Target::Coll { owner, name, .. } | Target::Item { owner, name, .. } => (owner, name),
            _ => return Response::text(500, "unreachable"),
        };
        let col = match self.col(owner, name) {
            Ok(c) => c,
            Err(r) => return r,
        };
        // Collection properties (and grants) are the owner's; item dead
        // properties follow write access.
        let allowed = if is_item {
            self.writable(user, owner, &col).is_ok()
        } else {
            user == owner
        };
        if !allowed || !bad.is_empty() {
            let mut forb = Vec::new();
            let mut dep = Vec::new();
            for (n, _) in &changes {
                if !allowed || protected(n) {
                    forb.push(n.empty());
                } else {
                    dep.push(n.empty());
                }
            }
            let mut r = xml::response(&href, &[], &[], &forb);
            if !dep.is_empty() {
                r = r.replace(
                    "</D:response>",
                    &format!(
                        "<D:propstat><D:prop>{}</D:prop><D:status>HTTP/1.1 424 Failed Dependency</D:status></D:propstat></D:response>",
                        dep.concat()
                    ),
                );
            }
            return Response::multistatus(vec![r]);
        }
        let mut store_changes: Vec<(String, Option<String>)> = Vec::new();
        for (n, v) in &changes {
            if n.is(OUTPOST, "grants") && !is_item {
                let text = v.as_deref().map(unescape_text).unwrap_or_default();
                let grants = match parse_grants(&text) {
                    Ok(g) => g,
                    Err(e) => return Response::text(400, &e),
                };
                let json = serde_json::to_string(&grants).unwrap_or_else(|_| "[]".into());
                store_changes.push((ds::GRANTS.to_string(), (!grants.is_empty()).then_some(json)));
            } else {
                store_changes.push((n.key(), v.clone()));
            }
        }
        let result = match target {
            Target::Item { item, .. } => col.set_item_props(item, &store_changes).map(|_| ()),
            _ => col.set_props(&store_changes),
        };
        if let Err(e) = result {
            return store_error(e);
        }
        let ok: Vec<String> = changes.iter().map(|(n, _)| n.empty()).collect();
        Response::multistatus(vec![xml::response(&href, &ok, &[], &[])])
    }

    // ------------------------------------------------------------------ REPORT

    fn report(&self, user: &str, req: &Request, target: &Target, limits: &Limits) -> Response {
        let root = match xml::parse(&req.body) {
            Ok(r) => r,
            Err(e) => return Response::text(400, &e.to_string()),
        };
        let (owner, name, href) = match target {
            Target::Coll { owner, name, href } => (owner, name, href),
            Target::Item {
                owner,
                name,
                href,
                item,
            } => {
                // A REPORT on an item: evaluate on the collection, restricted to it.
                let col = match self.col(owner, name) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let Some(meta) = col.meta(item) else {
                    return Response::text(404, "not found");
                };
                let q = report_props(&root, limits);
                let res = Res::Item {
                    href: href.clone(),
                    owner: owner.clone(),
                    col,
                    name: item.clone(),
                    meta,
                };
                let parts = vec![self.describe(user, &res, &q)];
                return Response::query_result(&q, parts);
            }
            Target::Home(_) | Target::Root => {
                if root.is(DAV, "principal-search-property-set") {
                    return Response::xml(
                        200,
                        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:principal-search-property-set xmlns:D=\"DAV:\"/>\n".into(),
                    );
                }
                return Response::multistatus(Vec::new());
            }
            Target::Deep(_) => return Response::text(404, "not found"),
        };
        let col = match self.col(owner, name) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let q = report_props(&root, limits);
        let item_res = |name: &str, meta: ItemMeta| Res::Item {
            href: format!("{href}{}", enc(name)),
            owner: owner.clone(),
            col: col.clone(),
            name: name.to_string(),
            meta,
        };
        match (root.ns.as_str(), root.name.as_str()) {
            (CALDAV, "calendar-multiget") | (CARDDAV, "addressbook-multiget") => {
                let mut parts = Vec::new();
                for h in root.elems().filter(|e| e.is(DAV, "href")) {
                    if q.exceeded() {
                        break;
                    }
                    let h = h.text();
                    // Compare decoded paths: clients may send `%40` for `@`,
                    // or an absolute URL (RFC 4918 §8.3).
                    let decoded = |p: &str| segments(strip_authority(p)).unwrap_or_default();
                    let (hs, cs) = (decoded(h.trim()), decoded(href));
                    let item = hs.last().cloned().unwrap_or_default();
                    let inside = hs.len() == cs.len() + 1 && hs.starts_with(&cs);
                    match col.meta(&item) {
                        Some(meta) if inside || !h.contains('/') => {
                            let mut res = item_res(&item, meta);
                            if let Res::Item { href: rh, .. } = &mut res {
                                *rh = h.trim().to_string();
                            }
                            parts.push(self.describe(user, &res, &q));
                        }
                        _ => parts.push(xml::status_response(h.trim(), "404 Not Found")),
                    }
                }
                Response::query_result(&q, parts)
            }
            (CALDAV, "calendar-query") => {
                let Some(f) = root
                    .child(CALDAV, "filter")
                    .and_then(|f| f.child(CALDAV, "comp-filter"))
                else {
                    return Response::error(403, "<C:valid-filter/>");
                };
                let f = CompFilter::parse(f);
                let candidates: Vec<(String, ItemMeta)> = col.with_items(|m| {
                    m.iter()
                        .filter(|(_, meta)| f.prefilter(meta))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                });
                let mut parts = Vec::new();
                for (name, meta) in candidates {
                    if q.exceeded() {
                        break;
                    }
                    let Ok((bytes, _)) = col.get(&name) else {
                        continue;
                    };
                    if f.matches(&bytes) {
                        parts.push(self.describe(user, &item_res(&name, meta), &q));
                    }
                }
                Response::query_result(&q, parts)
            }
            (CARDDAV, "addressbook-query") => {
                let f = root.child(CARDDAV, "filter").map(CardFilter::parse);
                let limit = root
                    .child(CARDDAV, "limit")
                    .and_then(|l| l.child(CARDDAV, "nresults"))
                    .and_then(|n| n.text().trim().parse::<usize>().ok());
                let items: Vec<(String, ItemMeta)> =
                    col.with_items(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
                let mut parts = Vec::new();
                for (name, meta) in items {
                    if limit.is_some_and(|l| parts.len() >= l) {
                        break;
                    }
                    let ok = match &f {
                        None => true,
                        Some(f) if f.props.is_empty() => true,
                        Some(f) => col.get(&name).map(|(b, _)| f.matches(&b)).unwrap_or(false),
                    };
                    if ok {
                        parts.push(self.describe(user, &item_res(&name, meta), &q));
                    }
                }
                Response::query_result(&q, parts)
            }
            (DAV, "sync-collection") => {
                let token = root
                    .child(DAV, "sync-token")
                    .map(|t| t.text())
                    .unwrap_or_default();
                let token = token.trim();
                let since = if token.is_empty() {
                    None
                } else {
                    match token
                        .strip_prefix(SYNC_PREFIX)
                        .and_then(|r| r.parse::<u64>().ok())
                    {
                        Some(r) => Some(r),
                        None => return Response::error(403, "<D:valid-sync-token/>"),
                    }
                };
                let changes = match col.changes_since(since) {
                    Ok(c) => c,
                    Err(StoreError::InvalidSyncToken) => {
                        return Response::error(403, "<D:valid-sync-token/>");
                    }
                    Err(e) => return store_error(e),
                };
                let mut parts = Vec::new();
                for (name, meta) in changes.changed {
                    if q.exceeded() {
                        break;
                    }
                    parts.push(self.describe(user, &item_res(&name, meta), &q));
                }
                for name in changes.deleted {
                    parts.push(xml::status_response(
                        &format!("{href}{}", enc(&name)),
                        "404 Not Found",
                    ));
                }
                parts.push(format!(
                    "<D:sync-token>{SYNC_PREFIX}{}</D:sync-token>",
                    changes.rev
                ));
                Response::query_result(&q, parts)
            }
            (CALDAV, "free-busy-query") => {
                let Some(tr) = root.child(CALDAV, "time-range") else {
                    return Response::text(400, "free-busy-query needs a time-range");
                };
                let r = time_range(tr);
                if r.start == i64::MIN || r.end == i64::MAX {
                    return Response::text(400, "free-busy-query needs start and end");
                }
                if self.access(user, owner, &col).is_none() {
                    return Response::error(403, "<D:need-privileges/>");
                }
                let candidates: Vec<String> = col.with_items(|m| {
                    m.iter()
                        .filter(|(_, meta)| {
                            meta.kinds & ds::item::VEVENT != 0 && meta.may_overlap(r.start, r.end)
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                });
                // Free-busy periods count against the expansion bounds
                // like expanded instances (#7).
                let budget = Budget::new(*limits);
                let mut periods = Vec::new();
                for name in candidates {
                    if let Ok((bytes, _)) = col.get(&name) {
                        let busy = filter::busy(&bytes, r, limits.max_instances_per_item);
                        let Some(busy) = busy else {
                            return max_instances();
                        };
                        if !budget.charge(busy.len(), busy.len() * 50) {
                            return max_instances();
                        }
                        periods.extend(busy);
                    }
                }
                periods.sort();
                let mut body = format!(
                    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Outpost//webd//EN\r\nBEGIN:VFREEBUSY\r\nDTSTAMP:{}\r\nDTSTART:{}\r\nDTEND:{}\r\n",
                    filter::format_utc(now_secs()),
                    filter::format_utc(r.start),
                    filter::format_utc(r.end)
                );
                for (s, e) in periods {
                    body.push_str(&format!(
                        "FREEBUSY:{}/{}\r\n",
                        filter::format_utc(s),
                        filter::format_utc(e)
                    ));
                }
                body.push_str("END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
                let mut resp = Response::new(200);
                resp.headers
                    .push(("content-type".into(), "text/calendar; charset=utf-8".into()));
                resp.body = Body::Bytes(body.into_bytes());
                resp
            }
            _ => Response::error(403, "<D:supported-report/>"),
        }
    }

    // ----------------------------------------------------------- GET PUT DELETE

    fn get(&self, user: &str, _req: &Request, target: &Target) -> Response {
        match target {
            Target::Item {
                owner, name, item, ..
            } => {
                let col = match self.col(owner, name) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let _ = user;
                match col.get(item) {
                    Ok((bytes, meta)) => {
                        let mut r = Response::new(200);
                        r.headers
                            .push(("content-type".into(), content_type(&col, &meta).into()));
                        r.headers.push(("etag".into(), meta.etag()));
                        r.body = Body::Bytes(bytes);
                        r
                    }
                    Err(e) => store_error(e),
                }
            }
            Target::Coll { owner, name, .. } => {
                let col = match self.col(owner, name) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let names: Vec<String> = col.with_items(|m| m.keys().cloned().collect());
                Response::text(200, &names.join("\n")).header("etag", &format!("\"{}\"", col.rev()))
            }
            Target::Root | Target::Home(_) => Response::text(200, "Outpost CalDAV/CardDAV server"),
            Target::Deep(_) => Response::text(404, "not found"),
        }
    }

    fn put(&self, user: &str, req: &Request, target: &Target) -> Response {
        let (owner, name, item) = match target {
            Target::Item {
                owner, name, item, ..
            } => (owner, name, item),
            Target::Deep(_) => return Response::text(409, "parent collection does not exist"),
            _ => return Response::text(405, "method not allowed"),
        };
        let col = match self.store.collection(owner, name) {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                return Response::text(409, "parent collection does not exist");
            }
            Err(e) => return store_error(e),
        };
        if let Err(r) = self.writable(user, owner, &col) {
            return r;
        }
        let cond = conditions(req);
        match col.put(item, &req.body, &cond) {
            Ok((meta, created)) => {
                Response::new(if created { 201 } else { 204 }).header("etag", &meta.etag())
            }
            Err(e) => store_error(e),
        }
    }

    fn delete(&self, user: &str, req: &Request, target: &Target) -> Response {
        match target {
            Target::Item {
                owner, name, item, ..
            } => {
                let col = match self.col(owner, name) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                if let Err(r) = self.writable(user, owner, &col) {
                    return r;
                }
                match col.delete(item, &conditions(req)) {
                    Ok(()) => Response::new(204),
                    Err(e) => store_error(e),
                }
            }
            Target::Coll { owner, name, href } => {
                if owner != user || href.contains('~') {
                    return Response::error(403, "<D:need-privileges/>");
                }
                match self.store.delete(owner, name) {
                    Ok(()) => Response::new(204),
                    Err(e) => store_error(e),
                }
            }
            Target::Deep(_) => Response::text(404, "not found"),
            _ => Response::text(403, "forbidden"),
        }
    }

    // ------------------------------------------------------------------- MKCOL

    fn mkcol(&self, user: &str, req: &Request, target: &Target) -> Response {
        // RFC 4918 §9.3: a body MKCOL does not understand is 415, checked
        // before anything else (litmus `mkcol_with_body`).
        if !req.body.is_empty() && xml::parse(&req.body).is_err() {
            return Response::text(415, "MKCOL body must be XML (RFC 5689)");
        }
        let (owner, name): (&String, String) = match target {
            Target::Coll { owner, name, href } if owner == user && !href.contains('~') => {
                (owner, name.clone())
            }
            Target::Coll { .. } => return Response::text(403, "forbidden"),
            Target::Item {
                owner,
                name,
                item,
                href,
            } => {
                // MKCOL inside a collection: allowed in plain WebDAV
                // collections only; calendars and address books hold items.
                let Ok(parent) = self.store.collection(owner, name) else {
                    return Response::text(409, "parent collection does not exist");
                };
                if owner != user || href.contains('~') {
                    return Response::text(403, "forbidden");
                }
                if parent.meta(item).is_some() {
                    return Response::text(405, "a resource exists there");
                }
                if parent.is_calendar() || parent.is_addressbook() {
                    return Response::text(
                        403,
                        "calendars and address books cannot hold collections",
                    );
                }
                (owner, format!("{name}/{item}"))
            }
            Target::Deep(_) => return Response::text(409, "parent collection does not exist"),
            _ => return Response::text(405, "method not allowed"),
        };
        let name = &name;
        if self.store.collection(owner, name).is_ok() {
            return Response::text(405, "already exists");
        }
        let calendar = req.method == "MKCALENDAR";
        let mut props = Props::new();
        if calendar {
            props.insert(ds::TAG.into(), ds::TAG_CALENDAR.into());
        }
        let mut sets: Vec<(PropName, String)> = Vec::new();
        if !req.body.is_empty() {
            let root = match xml::parse(&req.body) {
                Ok(r) => r,
                Err(_) => return Response::text(415, "MKCOL body must be XML (RFC 5689)"),
            };
            let ok_root = if calendar {
                root.is(CALDAV, "mkcalendar")
            } else {
                root.is(DAV, "mkcol")
            };
            if !ok_root {
                return Response::text(415, "unsupported MKCOL body");
            }
            for set in root.elems().filter(|e| e.is(DAV, "set")) {
                for prop in set.elems().filter(|e| e.is(DAV, "prop")) {
                    for p in prop.elems() {
                        if p.is(DAV, "resourcetype") {
                            if p.child(CALDAV, "calendar").is_some() {
                                props.insert(ds::TAG.into(), ds::TAG_CALENDAR.into());
                            } else if p.child(CARDDAV, "addressbook").is_some() {
                                props.insert(ds::TAG.into(), ds::TAG_ADDRESSBOOK.into());
                            }
                        } else if p.is(CALDAV, "supported-calendar-component-set") {
                            let comps: Vec<String> = p
                                .elems()
                                .filter(|c| c.is(CALDAV, "comp"))
                                .filter_map(|c| c.attr("name").map(str::to_ascii_uppercase))
                                .collect();
                            if !comps.is_empty() {
                                props.insert(ds::SUPPORTED_COMPONENTS.into(), comps.join(","));
                            }
                        } else {
                            sets.push((PropName::new(&p.ns, &p.name), p.inner_xml()));
                        }
                    }
                }
            }
        }
        if props.get(ds::TAG).map(String::as_str) == Some(ds::TAG_CALENDAR) {
            props
                .entry(ds::SUPPORTED_COMPONENTS.into())
                .or_insert_with(|| "VEVENT,VTODO,VJOURNAL".into());
        }
        for (n, v) in sets {
            props.insert(n.key(), v);
        }
        match self.store.create(owner, name, &props) {
            Ok(_) => Response::new(201),
            Err(StoreError::Exists) => Response::text(405, "already exists"),
            Err(e) => store_error(e),
        }
    }

    // --------------------------------------------------------------- COPY/MOVE

    fn copy_move(&self, user: &str, req: &Request, target: &Target) -> Response {
        let is_move = req.method == "MOVE";
        let Some(dest) = req.header("destination") else {
            return Response::text(400, "Destination header required");
        };
        // Absolute URI or absolute path (RFC 4918 §10.3); only the path counts.
        let dest_path = strip_authority(dest);
        let overwrite = req
            .header("overwrite")
            .map(|v| !v.eq_ignore_ascii_case("F"))
            .unwrap_or(true);
        let Some(segs) = segments(dest_path) else {
            return Response::text(400, "bad Destination");
        };
        let dtarget = match self.resolve(user, &segs) {
            Ok(t) => t,
            Err(_) => return Response::text(403, "destination forbidden"),
        };
        match (target, &dtarget) {
            (
                Target::Item {
                    owner, name, item, ..
                },
                Target::Item {
                    owner: downer,
                    name: dname,
                    item: ditem,
                    ..
                },
            ) => {
                let src = match self.col(owner, name) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                let dst = match self.store.collection(downer, dname) {
                    Ok(c) => c,
                    Err(StoreError::NotFound) => {
                        return Response::text(409, "destination collection missing");
                    }
                    Err(e) => return store_error(e),
                };
                if is_move && let Err(r) = self.writable(user, owner, &src) {
                    return r;
                }
                if let Err(r) = self.writable(user, downer, &dst) {
                    return r;
                }
                if owner == downer && name == dname {
                    if item == ditem {
                        return Response::text(403, "source and destination are the same");
                    }
                    if is_move {
                        return match src.rename_item(item, ditem, overwrite) {
                            Ok((_, created)) => Response::new(if created { 201 } else { 204 }),
                            Err(e) => store_error(e),
                        };
                    }
                }
                let (bytes, meta) = match src.get(item) {
                    Ok(x) => x,
                    Err(e) => return store_error(e),
                };
                let cond = if overwrite {
                    Conditions::default()
                } else {
                    Conditions {
                        if_none_match: Some(vec!["*".into()]),
                        ..Default::default()
                    }
                };
                let created = match dst.put(ditem, &bytes, &cond) {
                    Ok((_, c)) => c,
                    Err(e) => return store_error(e),
                };
                if !meta.props.is_empty() {
                    let ch: Vec<(String, Option<String>)> = meta
                        .props
                        .iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect();
                    let _ = dst.set_item_props(ditem, &ch);
                }
                if is_move && let Err(e) = src.delete(item, &Conditions::default()) {
                    return store_error(e);
                }
                Response::new(if created { 201 } else { 204 })
            }
            (
                Target::Coll { owner, name, href },
                d @ (Target::Coll { .. } | Target::Item { .. }),
            ) => {
                // A collection destination: an existing collection, or a new
                // name inside an existing (plain) collection.
                let (downer, dname, dhref, dest_item) = match d {
                    Target::Coll { owner, name, href } => (owner, name.clone(), href, None),
                    Target::Item {
                        owner,
                        name,
                        href,
                        item,
                    } => (
                        owner,
                        format!("{name}/{item}"),
                        href,
                        Some((name.clone(), item.clone())),
                    ),
                    _ => return Response::text(500, "unreachable"),
                };
                if owner != user || downer != user || href.contains('~') || dhref.contains('~') {
                    return Response::error(403, "<D:need-privileges/>");
                }
                if *name == dname || dname.starts_with(&format!("{name}/")) {
                    return Response::text(403, "cannot copy or move a collection into itself");
                }
                let mut existed = self.store.collection(downer, &dname).is_ok();
                if let Some((parent, item)) = &dest_item {
                    let Ok(p) = self.store.collection(downer, parent) else {
                        return Response::text(409, "destination parent missing");
                    };
                    if p.is_calendar() || p.is_addressbook() {
                        return Response::text(
                            403,
                            "calendars and address books cannot hold collections",
                        );
                    }
                    if p.meta(item).is_some() {
                        if !overwrite {
                            return Response::text(412, "destination exists");
                        }
                        if let Err(e) = p.delete(item, &Conditions::default()) {
                            return store_error(e);
                        }
                        existed = true;
                    }
                }
                if self.store.collection(downer, &dname).is_ok() {
                    if !overwrite {
                        return Response::text(412, "destination exists");
                    }
                    if let Err(e) = self.store.delete(downer, &dname) {
                        return store_error(e);
                    }
                }
                let status = if existed { 204 } else { 201 };
                if is_move {
                    return match self.store.rename(owner, name, &dname) {
                        Ok(()) => Response::new(status),
                        Err(e) => store_error(e),
                    };
                }
                match self.copy_tree(owner, name, &dname, req.header("depth") != Some("0")) {
                    Ok(()) => Response::new(status),
                    Err(r) => r,
                }
            }
            (_, Target::Deep(_)) => Response::text(409, "destination parent missing"),
            (
                Target::Item { .. },
                Target::Coll {
                    owner: downer,
                    name: dname,
                    href: dhref,
                },
            ) if overwrite && dname.contains('/') => {
                // Overwriting a (nested) collection with a resource: delete
                // it, then copy/move as to a new resource (RFC 4918 §9.8.4).
                if downer != user || dhref.contains('~') {
                    return Response::error(403, "<D:need-privileges/>");
                }
                if let Err(e) = self.store.delete(downer, dname) {
                    return store_error(e);
                }
                let mut r = self.copy_move(user, req, target);
                if r.status == 201 {
                    r.status = 204;
                }
                r
            }
            (Target::Item { .. }, Target::Coll { .. }) if !overwrite => {
                Response::text(412, "destination exists")
            }
            (Target::Item { .. }, Target::Coll { .. }) => {
                Response::text(409, "cannot copy between an item and a collection")
            }
            _ => Response::text(403, "forbidden"),
        }
    }
}

impl App {
    /// Copies collection `from` to the new collection `to` (properties,
    /// and with `deep` its items and nested collections), grants excepted.
    fn copy_tree(&self, owner: &str, from: &str, to: &str, deep: bool) -> Result<(), Response> {
        let src = self.col(owner, from)?;
        let mut props = src.props();
        props.remove(ds::GRANTS);
        let dst = self.store.create(owner, to, &props).map_err(store_error)?;
        if !deep {
            return Ok(());
        }
        let names: Vec<String> = src.with_items(|m| m.keys().cloned().collect());
        for n in names {
            if let Ok((bytes, meta)) = src.get(&n) {
                dst.put(&n, &bytes, &Conditions::default())
                    .map_err(store_error)?;
                if !meta.props.is_empty() {
                    let ch: Vec<(String, Option<String>)> = meta
                        .props
                        .iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect();
                    dst.set_item_props(&n, &ch).map_err(store_error)?;
                }
            }
        }
        for child in self.store.children(owner, from).unwrap_or_default() {
            self.copy_tree(
                owner,
                &format!("{from}/{child}"),
                &format!("{to}/{child}"),
                true,
            )?;
        }
        Ok(())
    }
}

/// A resource being described in a multistatus.
enum Res {
    Root,
    Home(String),
    Coll {
        href: String,
        owner: String,
        col: Arc<Collection>,
    },
    Item {
        href: String,
        owner: String,
        col: Arc<Collection>,
        name: String,
        meta: ItemMeta,
    },
}

impl Res {
    fn href(&self) -> String {
        match self {
            Res::Root => "/dav/".into(),
            Res::Home(u) => format!("/dav/{}/", enc(u)),
            Res::Coll { href, .. } | Res::Item { href, .. } => href.clone(),
        }
    }

    fn name(&self) -> String {
        match self {
            Res::Coll { col, .. } => col
                .dir()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        }
    }

    /// Properties returned by `allprop` and listed by `propname`.
    fn all_props(&self) -> Vec<PropName> {
        let d = |n: &str| PropName::new(DAV, n);
        match self {
            Res::Root => vec![d("resourcetype"), d("current-user-principal")],
            Res::Home(_) => vec![
                d("resourcetype"),
                d("displayname"),
                d("principal-URL"),
                d("current-user-principal"),
                PropName::new(CALDAV, "calendar-home-set"),
                PropName::new(CARDDAV, "addressbook-home-set"),
                PropName::new(CALDAV, "calendar-user-address-set"),
            ],
            Res::Coll { col, .. } => {
                let mut v = vec![
                    d("resourcetype"),
                    d("displayname"),
                    d("sync-token"),
                    PropName::new(CS, "getctag"),
                ];
                if col.is_calendar() {
                    v.push(PropName::new(CALDAV, "supported-calendar-component-set"));
                }
                for k in col.props().keys() {
                    if k == ds::TAG
                        || k == ds::SUPPORTED_COMPONENTS
                        || k == ds::GRANTS
                        || k == "D:displayname"
                    {
                        continue;
                    }
                    if let Some(n) = PropName::from_key(k) {
                        v.push(n);
                    }
                }
                v
            }
            Res::Item { meta, .. } => {
                let mut v = vec![
                    d("resourcetype"),
                    d("getetag"),
                    d("getcontenttype"),
                    d("getcontentlength"),
                    d("getlastmodified"),
                ];
                v.extend(meta.props.keys().filter_map(|k| PropName::from_key(k)));
                v
            }
        }
    }
}

/// The `start`/`end` attributes of a `time-range` or `expand` element;
/// a missing or unparsable bound is open.
fn time_range(e: &xml::Element) -> Range {
    let bound = |name: &str| e.attr(name).and_then(filter::parse_utc);
    Range {
        start: bound("start").unwrap_or(i64::MIN),
        end: bound("end").unwrap_or(i64::MAX),
    }
}

/// What a PROPFIND (or REPORT) asks for.
#[derive(Debug, Clone)]
enum PropQuery {
    /// Named properties, and the `C:expand` of `calendar-data`, if any.
    Props(Vec<PropName>, Option<Expand>),
    /// allprop, plus `include`d properties.
    All(Vec<PropName>),
    Names,
}

impl PropQuery {
    /// Whether an expansion went over its bounds (the response is then
    /// `403 CALDAV:max-instances`, and the rest need not be computed).
    fn exceeded(&self) -> bool {
        match self {
            PropQuery::Props(_, Some(x)) => x.budget.exceeded.get(),
            _ => false,
        }
    }
}

/// A `<C:expand>`: its range, and the budget of the whole response.
#[derive(Debug, Clone)]
struct Expand {
    range: Range,
    budget: Rc<Budget>,
}

fn parse_propfind(body: &[u8], limits: &Limits) -> Result<PropQuery, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PropQuery::All(Vec::new()));
    }
    let root = xml::parse(body).map_err(|e| Response::text(400, &e.to_string()))?;
    if !root.is(DAV, "propfind") {
        return Err(Response::text(400, "expected DAV:propfind"));
    }
    Ok(prop_query(&root, limits).unwrap_or(PropQuery::All(Vec::new())))
}

fn prop_query(root: &Element, limits: &Limits) -> Option<PropQuery> {
    if let Some(p) = root.child(DAV, "prop") {
        let expand = p
            .child(CALDAV, "calendar-data")
            .and_then(|d| d.child(CALDAV, "expand"))
            .map(|e| Expand {
                range: time_range(e),
                budget: Budget::new(*limits),
            });
        return Some(PropQuery::Props(
            p.elems().map(|e| PropName::new(&e.ns, &e.name)).collect(),
            expand,
        ));
    }
    if root.child(DAV, "propname").is_some() {
        return Some(PropQuery::Names);
    }
    if root.child(DAV, "allprop").is_some() {
        let include = root
            .child(DAV, "include")
            .map(|i| i.elems().map(|e| PropName::new(&e.ns, &e.name)).collect())
            .unwrap_or_default();
        return Some(PropQuery::All(include));
    }
    None
}

fn report_props(root: &Element, limits: &Limits) -> PropQuery {
    prop_query(root, limits).unwrap_or(PropQuery::Props(vec![PropName::new(DAV, "getetag")], None))
}

/// The path of an absolute URI (`https://host/dav/…` → `/dav/…`), or the
/// input if it is already a path.
fn strip_authority(uri: &str) -> &str {
    match uri.find("://") {
        Some(i) => uri[i + 3..]
            .find('/')
            .map(|j| &uri[i + 3 + j..])
            .unwrap_or("/"),
        None => uri,
    }
}

fn options() -> Response {
    Response::new(200)
        .header("dav", "1, 3, extended-mkcol, calendar-access, addressbook")
        .header(
            "allow",
            "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, COPY, MOVE, REPORT",
        )
        .header("content-length", "0")
}

fn conditions(req: &Request) -> Conditions {
    let list = |h: &str| -> Vec<String> {
        h.split(',')
            .map(|t| t.trim().trim_start_matches("W/").to_string())
            .collect()
    };
    Conditions {
        if_match: req.header("if-match").map(list),
        if_none_match: req.header("if-none-match").map(list),
    }
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound => Response::text(404, "not found"),
        StoreError::BadName(_) => Response::text(403, "bad name"),
        StoreError::Exists => Response::text(405, "already exists"),
        StoreError::PreconditionFailed => Response::text(412, "precondition failed"),
        StoreError::Invalid(e) => {
            let _ = e;
            Response::error(403, "<C:valid-calendar-data/><CR:valid-address-data/>")
        }
        StoreError::UidConflict(h) => Response::error(
            409,
            &format!(
                "<C:no-uid-conflict><D:href>{}</D:href></C:no-uid-conflict>",
                xml::escape(&h)
            ),
        ),
        StoreError::UnsupportedComponent => {
            Response::error(403, "<C:supported-calendar-component/>")
        }
        StoreError::InvalidSyncToken => Response::error(403, "<D:valid-sync-token/>"),
        StoreError::Io(p, err) => Response::text(500, &format!("{}: {err}", p.display())),
    }
}

fn content_type(col: &Collection, meta: &ItemMeta) -> &'static str {
    use ds::item::{VCARD, VEVENT, VJOURNAL, VTODO};
    if meta.kinds & VCARD != 0 {
        "text/vcard; charset=utf-8"
    } else if meta.kinds & VEVENT != 0 {
        "text/calendar; charset=utf-8; component=VEVENT"
    } else if meta.kinds & VTODO != 0 {
        "text/calendar; charset=utf-8; component=VTODO"
    } else if meta.kinds & VJOURNAL != 0 {
        "text/calendar; charset=utf-8; component=VJOURNAL"
    } else if col.is_calendar() {
        "text/calendar; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

fn privileges(access: Option<Access>) -> String {
    let p = |n: &str| format!("<D:privilege><D:{n}/></D:privilege>");
    match access {
        Some(Access::ReadWrite) => [
            "read",
            "write",
            "write-properties",
            "write-content",
            "bind",
            "unbind",
            "read-current-user-privilege-set",
        ]
        .iter()
        .map(|n| p(n))
        .collect(),
        Some(Access::Read) => ["read", "read-current-user-privilege-set"]
            .iter()
            .map(|n| p(n))
            .collect(),
        None => String::new(),
    }
}

fn reports(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            let prefix = if *n == "sync-collection" {
                "D"
            } else if n.starts_with("addressbook") {
                "CR"
            } else {
                "C"
            };
            format!("<D:supported-report><D:report><{prefix}:{n}/></D:report></D:supported-report>")
        })
        .collect()
}

fn grants_text(grants: &[Grant]) -> String {
    grants
        .iter()
        .map(|g| {
            format!(
                "{}={}",
                g.to,
                match g.access {
                    Access::Read => "read",
                    Access::ReadWrite => "read-write",
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `O:grants` text: `bob@outpost.lan=read, team@outpost.lan=read-write`.
fn parse_grants(text: &str) -> Result<Vec<Grant>, String> {
    let mut out = Vec::new();
    for part in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (to, access) = part
            .split_once('=')
            .ok_or_else(|| format!("grant {part:?}: expected ADDRESS=read|read-write"))?;
        let access = match access.trim() {
            "read" => Access::Read,
            "read-write" => Access::ReadWrite,
            other => return Err(format!("grant {part:?}: unknown access {other:?}")),
        };
        out.push(Grant {
            to: to.trim().to_ascii_lowercase(),
            access,
        });
    }
    Ok(out)
}

/// Undoes [`xml::escape`] on text content captured with `inner_xml`.
fn unescape_text(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 9110 §5.6.7 IMF-fixdate.
fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}
