//! Webmail pages: folders with unread counts, the paged message list
//! (sort, search, select many → flags, move, delete), reading (text, or
//! sanitised HTML in a sandboxed frame; attachments; source), and folder
//! management. Everything reads and writes `outpost-store` directly, so an
//! IMAP client sees a change at once and IDLE wakes within its poll.

use super::{Form, Peer, Shell, Signed, Web, blocking, error, page, posted, signed_in};
use askama::Template;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use mail_parser::MimeHeaders as _;
use outpost_imapd::search::{Candidate, Key};
use outpost_store::{Flags, Folder, Mailbox, MessageMeta, StoreFlags};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Messages per list page.
pub const PAGE: usize = 50;

/// Bytes read from a message file for the list (the header section).
const HEAD_BYTES: usize = 64 * 1024;

/// Deepest indent the conversation view shows (deeper replies line up).
const MAX_DEPTH_SHOWN: usize = 8;

/// The first [`HEAD_BYTES`] of a message (enough for its header).
fn head_bytes(folder: &Folder, m: &MessageMeta) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    match std::fs::File::open(folder.path_of(m))
        .and_then(|f| f.take(HEAD_BYTES as u64).read_to_end(&mut buf))
    {
        Ok(_) => Some(buf),
        // Renamed by a concurrent flag change: the slower path finds it.
        Err(_) => folder.read(m.uid).ok().map(|mut b| {
            b.truncate(HEAD_BYTES);
            b
        }),
    }
}

/// Entries the head cache keeps before it starts over.
const MAX_HEADS: usize = 200_000;

/// Folders kept open (each holds its index snapshot).
const MAX_FOLDERS: usize = 4096;

/// What the list shows of a message, parsed once per message file.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Display of the From field.
    pub from: String,
    /// Addresses and names of To and Cc, lower-case (for search).
    pub to: String,
    /// Subject, decoded.
    pub subject: String,
    /// Date header as Unix seconds, if it parses.
    pub date: Option<i64>,
    /// `multipart/mixed` (the usual sign of attachments).
    pub attachment: bool,
}

/// Open folders and parsed heads, shared by every request.
#[derive(Debug, Default)]
pub struct Cache {
    folders: Mutex<HashMap<PathBuf, Arc<Folder>>>,
    heads: Mutex<HashMap<(PathBuf, u32, String), Arc<Head>>>,
}

impl Cache {
    fn folder(&self, dir: PathBuf) -> Arc<Folder> {
        let mut m = self.folders.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_FOLDERS && !m.contains_key(&dir) {
            m.clear();
        }
        m.entry(dir.clone())
            .or_insert_with(|| Arc::new(Folder::new(dir)))
            .clone()
    }

    fn head(&self, folder: &Folder, uidvalidity: u32, m: &MessageMeta) -> Arc<Head> {
        let key = (folder.dir().to_path_buf(), uidvalidity, m.base.clone());
        if let Some(h) = self
            .heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return h.clone();
        }
        let head = Arc::new(read_head(folder, m));
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        if heads.len() >= MAX_HEADS {
            heads.clear();
        }
        heads.insert(key, head.clone());
        head
    }
}

fn read_head(folder: &Folder, m: &MessageMeta) -> Head {
    let buf = head_bytes(folder, m).unwrap_or_default();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(buf.len());
    let Some(msg) = outpost_mime::parse_headers(&buf[..end]) else {
        return Head::default();
    };
    let attachment = msg.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("mixed"))
    });
    Head {
        from: addresses(msg.from(), true),
        to: format!(
            "{} {}",
            addresses(msg.to(), false),
            addresses(msg.cc(), false)
        )
        .to_lowercase(),
        subject: msg
            .subject()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
        date: msg.date().map(|d| d.to_timestamp()),
        attachment,
    }
}

/// A display of an address list: names where given (`short`), else
/// `Name <addr>`.
pub(crate) fn addresses(a: Option<&mail_parser::Address<'_>>, short: bool) -> String {
    let Some(a) = a else { return String::new() };
    let mut out = Vec::new();
    for addr in a.iter() {
        let name = addr.name().unwrap_or("").trim();
        let email = addr.address().unwrap_or("").trim();
        out.push(match (name.is_empty(), short) {
            (true, _) => email.to_string(),
            (false, true) => name.to_string(),
            (false, false) if email.is_empty() => name.to_string(),
            (false, false) => format!("{name} <{email}>"),
        });
    }
    out.join(", ").chars().filter(|c| !c.is_control()).collect()
}

/// One entry of the folder list.
#[derive(Debug)]
pub struct FolderRow {
    /// Stored name (modified UTF-7).
    pub name: String,
    /// Shown name (last level, decoded).
    pub label: String,
    /// Hierarchy depth (0–4).
    pub depth: usize,
    /// Unread messages.
    pub unseen: usize,
    /// The list's URL.
    pub href: String,
    /// Whether it is the current folder.
    pub current: bool,
    /// Its special-use attribute, or "".
    pub special: &'static str,
}

/// The order folders appear in: Inbox, then the special-use ones.
const ORDER: [&str; 6] = ["INBOX", "Drafts", "Sent", "Junk", "Trash", "Archive"];

fn label(name: &str) -> String {
    if name == "INBOX" {
        return "Inbox".into();
    }
    let decoded = outpost_imap_proto::utf7::decode(name).unwrap_or_else(|| name.to_string());
    decoded.rsplit('.').next().unwrap_or(&decoded).to_string()
}

fn folder_href(name: &str) -> String {
    format!("/mail/?f={}", utf8_percent_encode(name, NON_ALPHANUMERIC))
}

pub(crate) fn mailbox(web: &Web, user: &str) -> Result<Mailbox, String> {
    let (local, domain) = user.rsplit_once('@').ok_or("bad user")?;
    Mailbox::open(&web.mail_root, domain, local).map_err(|e| e.to_string())
}

pub(crate) fn folder_rows(web: &Web, mb: &Mailbox, current: &str) -> Vec<FolderRow> {
    let mut names = mb.list().unwrap_or_else(|_| vec!["INBOX".into()]);
    names.sort_by_key(|n| {
        (
            ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()),
            n.clone(),
        )
    });
    names
        .into_iter()
        .filter_map(|name: String| {
            let dir = mb.folder_dir(&name).ok()?;
            let f = web.cache.folder(dir);
            let unseen = f
                .sync()
                .map(|s| {
                    s.snapshot
                        .messages
                        .iter()
                        .filter(|m| !m.flags.has(Flags::SEEN))
                        .count()
                })
                .unwrap_or(0);
            Some(FolderRow {
                label: label(&name),
                depth: if ORDER.contains(&name.as_str()) {
                    0
                } else {
                    name.matches('.').count().min(4)
                },
                unseen,
                href: folder_href(&name),
                current: name == current,
                special: if name == "INBOX" {
                    "inbox"
                } else {
                    Mailbox::special_use(&name).unwrap_or("")
                },
                name,
            })
        })
        .collect()
}

/// Query of the list page.
#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    /// Folder (stored name); INBOX by default.
    pub f: Option<String>,
    /// Page, from 1.
    pub page: Option<usize>,
    /// `date` (newest first, the default), `oldest`, `from`, `subject`, `size`.
    pub sort: Option<String>,
    /// Search words (from, to, cc, subject and body).
    pub q: Option<String>,
    /// `all`: search every folder, not only `f`.
    #[serde(rename = "in")]
    pub scope: Option<String>,
    /// A status to show (`sent`).
    pub notice: Option<String>,
}

/// A row of the list.
#[derive(Debug)]
pub struct Row {
    /// Indent in the conversation view (0 elsewhere).
    depth: usize,
    /// Messages in the thread, on a thread's first row (conversation
    /// view); 0 elsewhere.
    thread: usize,
    /// The checkbox value: `UID` in one folder, `UID:FOLDER` in a search
    /// of every folder.
    pick: String,
    /// The folder's label (shown in a search of every folder).
    folder: String,
    from: String,
    subject: String,
    date: String,
    iso: String,
    size: String,
    seen: bool,
    flagged: bool,
    attachment: bool,
    href: String,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    shell: Shell,
    folders: Vec<FolderRow>,
    folder_label: String,
    rows: Vec<Row>,
    range: String,
    prev: Option<String>,
    next: Option<String>,
    sorts: Vec<(&'static str, String, bool)>,
    back: String,
    emptiable: bool,
    all_folders: bool,
}

pub(crate) fn human_size(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{} KB", n.div_ceil(1024)),
        n => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
    }
}

fn show_date(t: i64) -> (String, String) {
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(d) => (
            d.format("%Y-%m-%d %H:%M").to_string(),
            d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        None => (String::new(), String::new()),
    }
}

fn list_url(folder: &str, sort: &str, q: &str, all: bool, page: usize) -> String {
    let mut u = folder_href(folder);
    if sort != "date" {
        u.push_str(&format!("&sort={sort}"));
    }
    if !q.is_empty() {
        u.push_str(&format!("&q={}", utf8_percent_encode(q, NON_ALPHANUMERIC)));
        if all {
            u.push_str("&in=all");
        }
    }
    if page > 1 {
        u.push_str(&format!("&page={page}"));
    }
    u
}

/// The search box's words as IMAP SEARCH keys, evaluated by imapd's
/// evaluator (`outpost_imapd::search`): each word must be in From, To,
/// Cc, Subject or the body (decoded where it is base64 or
/// quoted-printable). A word written `subject:x`, `from:x`, `to:x`,
/// `cc:x` or `body:x` (Gmail's and Outlook's syntax) looks in that field
/// only; `subject:` and the address fields are answered from the header
/// cache without reading the messages.
fn search_key(query: &str) -> Key {
    let or = |a: Key, b: Key| Key::Or(Box::new(a), Box::new(b));
    Key::And(
        query
            .to_lowercase()
            .split_whitespace()
            .take(MAX_SEARCH_WORDS)
            .map(|w| {
                let h = |n: &str, w: &str| Key::Header(n.into(), w.into());
                if let Some((field, v)) = w.split_once(':')
                    && !v.is_empty()
                {
                    match field {
                        "subject" | "from" | "to" | "cc" => return h(field, v),
                        "body" => return Key::Body(v.into()),
                        _ => {}
                    }
                }
                or(
                    or(h("from", w), h("subject", w)),
                    or(or(h("to", w), h("cc", w)), Key::Body(w.into())),
                )
            })
            .collect(),
    )
}

/// Words of a search that count (the rest are ignored).
const MAX_SEARCH_WORDS: usize = 16;

/// Which of `metas` match `key`, evaluated on both cores (as imapd's
/// SEARCH is) when there are many: a text search reads every message.
fn search_all(
    open: &[(String, Arc<Folder>, Arc<outpost_store::Snapshot>)],
    metas: &[(usize, &MessageMeta)],
    key: &Key,
) -> Vec<bool> {
    let eval = |part: &[(usize, &MessageMeta)]| -> Vec<bool> {
        // The sequence number is the message's place in its folder (no
        // key of the search box uses it).
        part.iter()
            .map(|(i, m)| matches(&open[*i].1, m, 0, key))
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    // Header keys are answered from the (locked) header cache: one
    // thread does that fastest; only reading messages gains from more.
    if metas.len() < 256 || threads < 2 || !reads_messages(key) {
        return eval(metas);
    }
    let chunk = metas.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = metas
            .chunks(chunk)
            .map(|c| (c.len(), s.spawn(move || eval(c))))
            .collect();
        parts
            .into_iter()
            .flat_map(|(n, h)| h.join().unwrap_or_else(|_| vec![false; n]))
            .collect()
    })
}

/// Whether evaluating `key` reads message contents (a text search), not
/// only the header cache.
fn reads_messages(key: &Key) -> bool {
    match key {
        Key::Body(_) | Key::Text(_) => true,
        Key::Header(name, _) => !matches!(name.as_str(), "subject" | "from" | "to" | "cc" | "bcc"),
        Key::Not(k) => reads_messages(k),
        Key::Or(a, b) => reads_messages(a) || reads_messages(b),
        Key::And(v) => v.iter().any(reads_messages),
        _ => false,
    }
}

/// Whether message `m` of `folder` matches `key`.
fn matches(folder: &Folder, m: &MessageMeta, seq: u32, key: &Key) -> bool {
    let load = || {
        folder
            .read_message(m)
            .ok()
            .or_else(|| folder.read(m.uid).ok())
    };
    let mut c = Candidate::new(m, seq, false, &load);
    outpost_imapd::search::matches(key, &mut c)
}

/// `GET /mail/`: the message list.
pub async fn list(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    uri: axum::http::Uri,
    Query(q): Query<ListQuery>,
) -> Response {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let signed = match signed_in(&web, peer, &headers, &method, &pq).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // A search reads every message of the folder: a few at once per
    // process, the rest wait their turn.
    let _permit = if q.q.as_deref().is_some_and(|q| !q.trim().is_empty()) {
        SEARCHES.acquire().await.ok()
    } else {
        None
    };
    let w = web.clone();
    // The page's script asks for the list part only (a search, a sort or
    // another page while the page is open), as Roundcube's AJAX does.
    let part = headers.get(super::PART).is_some_and(|v| v == "list");
    blocking(move || list_page(&w, &signed, q, part))
        .await
        .unwrap_or_else(internal)
}

/// Searches running at once in the process.
static SEARCHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub(crate) fn internal() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

fn list_page(web: &Web, signed: &Signed, q: ListQuery, part: bool) -> Response {
    let name = Mailbox::canonical(q.f.as_deref().unwrap_or("INBOX"));
    let sort = q.sort.clone().unwrap_or_else(|| "date".into());
    let query =
        q.q.clone()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(200)
            .collect::<String>();
    let mut shell = Shell::for_user(signed, "Mail");
    shell.folder = name.clone();
    shell.query = query.clone();
    match q.notice.as_deref() {
        Some("sent") => shell.notice = "Message sent.".into(),
        Some("discarded") => shell.notice = "Message discarded.".into(),
        _ => {}
    }
    let mb = match mailbox(web, &signed.session.user) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "opening a mailbox");
            return internal();
        }
    };
    let folders = folder_rows(web, &mb, &name);
    let Some(dir) = folders
        .iter()
        .find(|f| f.current)
        .and_then(|_| mb.folder_dir(&name).ok())
    else {
        return error(
            StatusCode::NOT_FOUND,
            shell,
            "No such folder",
            "That folder does not exist (any more).",
        );
    };
    let all = !query.is_empty() && q.scope.as_deref() == Some("all");
    shell.all_folders = all;
    // The folders listed: the current one, or every folder for a search
    // of all of them.
    let mut open: Vec<(String, Arc<Folder>, Arc<outpost_store::Snapshot>)> = Vec::new();
    let searched: Vec<(String, PathBuf)> = if all {
        folders
            .iter()
            .filter_map(|f| Some((f.name.clone(), mb.folder_dir(&f.name).ok()?)))
            .collect()
    } else {
        vec![(name.clone(), dir)]
    };
    for (fname, dir) in searched {
        let folder = web.cache.folder(dir);
        match folder.sync() {
            Ok(s) => open.push((fname, folder, s.snapshot)),
            // A folder deleted under a search of all of them is skipped.
            Err(e) if all => tracing::warn!(folder = %fname, error = %e, "reading a folder"),
            Err(e) => {
                tracing::error!(error = %e, "reading a folder");
                return internal();
            }
        }
    }
    // (folder index, message) for every message listed.
    let mut metas: Vec<(usize, &MessageMeta)> = open
        .iter()
        .enumerate()
        .flat_map(|(i, (_, _, snap))| snap.messages.iter().map(move |m| (i, m)))
        .collect();
    if !query.is_empty() {
        let key = search_key(&query);
        let hits = search_all(&open, &metas, &key);
        let mut n = 0;
        metas.retain(|_| {
            n += 1;
            hits[n - 1]
        });
    }
    let head_of = |i: usize, m: &MessageMeta| web.cache.head(&open[i].1, open[i].2.uidvalidity, m);
    let mut heads: HashMap<(usize, u32), Arc<Head>> = HashMap::new();
    if sort == "from" || sort == "subject" {
        for (i, m) in &metas {
            heads.insert((*i, m.uid), head_of(*i, m));
        }
    }
    match sort.as_str() {
        "oldest" => metas.sort_by_key(|(i, m)| (m.internal_date, *i, m.uid)),
        "size" => metas.sort_by_key(|(i, m)| (std::cmp::Reverse(m.size), *i, m.uid)),
        "from" => metas.sort_by_cached_key(|(i, m)| {
            (
                heads[&(*i, m.uid)].from.to_lowercase(),
                std::cmp::Reverse(m.internal_date),
            )
        }),
        "subject" => metas.sort_by_cached_key(|(i, m)| {
            (
                crate::web::mail::base_subject(&heads[&(*i, m.uid)].subject),
                std::cmp::Reverse(m.internal_date),
            )
        }),
        _ => metas.sort_by_key(|(i, m)| std::cmp::Reverse((m.internal_date, *i, m.uid))),
    }
    // The conversation view: imapd's THREAD=REFERENCES over the listed
    // messages, the thread with the newest message first, each thread's
    // messages in reply order, indented by depth.
    let mut depth: Vec<(usize, usize)> = Vec::new();
    if sort == "threads" {
        let items: Vec<outpost_imapd::thread::Item> = metas
            .iter()
            .enumerate()
            .map(|(k, (i, m))| {
                let f = &open[*i].1;
                let s = outpost_imapd::cache::get(&m.base, || head_bytes(f, m));
                let d = if s.date == 0 { m.internal_date } else { s.date };
                (k as u32, s, d)
            })
            .collect();
        let mut threads = outpost_imapd::thread::references_threads(&items);
        threads.sort_by_cached_key(|t| {
            std::cmp::Reverse(
                t.iter()
                    .map(|(k, _)| {
                        let m = metas[*k as usize].1;
                        (m.internal_date, m.uid)
                    })
                    .max(),
            )
        });
        let mut ordered = Vec::with_capacity(metas.len());
        for t in &threads {
            for (j, (k, d)) in t.iter().enumerate() {
                ordered.push(metas[*k as usize]);
                depth.push(((*d).min(MAX_DEPTH_SHOWN), if j == 0 { t.len() } else { 0 }));
            }
        }
        metas = ordered;
    }
    let total = metas.len();
    let pages = total.div_ceil(PAGE).max(1);
    let page_no = q.page.unwrap_or(1).clamp(1, pages);
    let start = (page_no - 1) * PAGE;
    let shown = &metas[start.min(total)..(start + PAGE).min(total)];
    let back = list_url(&name, &sort, &query, all, page_no);
    let rows = shown
        .iter()
        .enumerate()
        .map(|(n, (i, m))| {
            let (depth, thread) = depth.get(start + n).copied().unwrap_or((0, 0));
            let fname = &open[*i].0;
            let head = heads
                .get(&(*i, m.uid))
                .cloned()
                .unwrap_or_else(|| head_of(*i, m));
            let (date, iso) = show_date(head.date.unwrap_or(m.internal_date));
            Row {
                depth,
                thread,
                pick: if all {
                    format!("{}:{fname}", m.uid)
                } else {
                    m.uid.to_string()
                },
                folder: label(fname),
                from: if head.from.is_empty() {
                    "(unknown sender)".into()
                } else {
                    head.from.clone()
                },
                subject: if head.subject.is_empty() {
                    "(no subject)".into()
                } else {
                    head.subject.clone()
                },
                date,
                iso,
                size: human_size(m.size),
                seen: m.flags.has(Flags::SEEN),
                flagged: m.flags.has(Flags::FLAGGED),
                attachment: head.attachment,
                // A draft opens in the compose form.
                href: if fname == super::compose::DRAFTS {
                    format!("/mail/compose?draft={}", m.uid)
                } else {
                    format!(
                        "/mail/msg?f={}&uid={}&back={}",
                        utf8_percent_encode(fname, NON_ALPHANUMERIC),
                        m.uid,
                        utf8_percent_encode(&back, NON_ALPHANUMERIC)
                    )
                },
            }
        })
        .collect();
    let sorts = [
        ("Newest", "date"),
        ("Oldest", "oldest"),
        ("From", "from"),
        ("Subject", "subject"),
        ("Size", "size"),
        ("Conversations", "threads"),
    ]
    .into_iter()
    .filter(|(_, s)| !(all && *s == "threads"))
    .map(|(l, s)| (l, list_url(&name, s, &query, all, 1), s == sort))
    .collect();
    let range = if total == 0 {
        String::new()
    } else {
        format!("{}–{} of {total}", start + 1, start + shown.len())
    };
    let folder_label = label(&name);
    let p = ListPage {
        emptiable: !all && (name == "Trash" || name == "Junk"),
        all_folders: all,
        shell,
        folders,
        folder_label,
        rows,
        range,
        prev: (page_no > 1).then(|| list_url(&name, &sort, &query, all, page_no - 1)),
        next: (page_no < pages).then(|| list_url(&name, &sort, &query, all, page_no + 1)),
        sorts,
        back,
    };
    if part {
        let mut r = page(
            StatusCode::OK,
            &ListPart {
                shell: &p.shell,
                folder_label: &p.folder_label,
                rows: &p.rows,
                range: &p.range,
                prev: &p.prev,
                next: &p.next,
                sorts: &p.sorts,
                back: &p.back,
                all_folders: p.all_folders,
            },
        );
        r.headers_mut()
            .insert(super::PART, axum::http::HeaderValue::from_static("list"));
        r.headers_mut().insert(
            header::VARY,
            axum::http::HeaderValue::from_static("x-outpost-part"),
        );
        return r;
    }
    page(StatusCode::OK, &p)
}

/// What a search, a sort or another page changes on [`ListPage`] (the
/// heading, the list's back link, the sort links, the rows and the page
/// links, each an element with an id), for the page's script to put in
/// place; the rest of the page stays.
#[derive(Template)]
#[template(path = "list_part.html")]
struct ListPart<'a> {
    shell: &'a Shell,
    folder_label: &'a str,
    rows: &'a [Row],
    range: &'a str,
    prev: &'a Option<String>,
    next: &'a Option<String>,
    sorts: &'a [(&'static str, String, bool)],
    back: &'a str,
    all_folders: bool,
}

/// The subject without `Re:`/`Fwd:` prefixes, lower-case (for sorting).
pub fn base_subject(s: &str) -> String {
    let mut s = s.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let cut = ["re:", "fwd:", "fw:", "aw:", "wg:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match cut {
            Some(n) => s = s[n..].trim_start(),
            None => break,
        }
    }
    s.to_lowercase()
}

/// Query naming one message.
#[derive(Debug, Deserialize)]
pub struct MsgQuery {
    f: String,
    uid: u32,
    back: Option<String>,
    images: Option<u8>,
    part: Option<usize>,
}

/// An attachment of the message page.
#[derive(Debug)]
pub struct AttachmentRow {
    name: String,
    kind: String,
    size: String,
    href: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    shell: Shell,
    folders: Vec<FolderRow>,
    uid: u32,
    subject: String,
    from: String,
    to: String,
    cc: String,
    date: String,
    flagged: bool,
    text: String,
    html_frame: Option<String>,
    blocked: usize,
    allow_images: String,
    attachments: Vec<AttachmentRow>,
    source: String,
    back: String,
    reply: String,
    reply_all: String,
    forward: String,
}

/// A message as [`load`] finds it: the user's mailbox, the folder, the
/// index entry and the bytes.
type Loaded = (Mailbox, Arc<Folder>, MessageMeta, Vec<u8>);

/// The message `uid` of folder `f` of the signed-in user: its folder, its
/// index entry and its bytes.
pub(crate) fn load(web: &Web, user: &str, f: &str, uid: u32) -> Result<Loaded, &'static str> {
    let mb = mailbox(web, user).map_err(|_| "mailbox")?;
    let dir = mb
        .folder_dir(&Mailbox::canonical(f))
        .map_err(|_| "folder")?;
    if !dir.join("cur").is_dir() {
        return Err("folder");
    }
    let folder = web.cache.folder(dir);
    let snap = folder.sync().map_err(|_| "folder")?.snapshot;
    let m = snap
        .position(uid)
        .map(|i| snap.messages[i].clone())
        .ok_or("message")?;
    let bytes = folder.read(uid).map_err(|_| "message")?;
    Ok((mb, folder, m, bytes))
}

fn not_found(signed: &Signed) -> Response {
    error(
        StatusCode::NOT_FOUND,
        Shell::for_user(signed, "Mail"),
        "Message not found",
        "It may have been moved or deleted meanwhile.",
    )
}

fn msg_url(kind: &str, f: &str, uid: u32) -> String {
    format!(
        "/mail/{kind}?f={}&uid={uid}",
        utf8_percent_encode(f, NON_ALPHANUMERIC)
    )
}

/// Whether the message has an HTML body of its own (not one mail-parser
/// made from text).
fn has_html(msg: &mail_parser::Message<'_>) -> bool {
    msg.html_body
        .first()
        .and_then(|&i| msg.parts.get(i as usize))
        .is_some_and(|p| matches!(p.body, mail_parser::PartType::Html(_)))
}

/// `GET /mail/msg`: one message (marks it read).
pub async fn message(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    uri: axum::http::Uri,
    Query(q): Query<MsgQuery>,
) -> Response {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let signed = match signed_in(&web, peer, &headers, &method, &pq).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || message_page(&w, &signed, q))
        .await
        .unwrap_or_else(internal)
}

fn message_page(web: &Web, signed: &Signed, q: MsgQuery) -> Response {
    let name = Mailbox::canonical(&q.f);
    let Ok((mb, folder, meta, bytes)) = load(web, &signed.session.user, &name, q.uid) else {
        return not_found(signed);
    };
    if !meta.flags.has(Flags::SEEN) {
        let seen = Flags {
            bits: Flags::SEEN,
            keywords: Vec::new(),
        };
        let _ = folder.store(&[q.uid], StoreFlags::Add, &seen, None);
    }
    let mut shell = Shell::for_user(signed, "Mail");
    shell.folder = name.clone();
    let folders = folder_rows(web, &mb, &name);
    let back = super::local_target(q.back.as_deref().unwrap_or(""), &folder_href(&name));
    let source = msg_url("raw", &name, q.uid);
    let Some(msg) = outpost_mime::parse(&bytes, web.max_mime_depth) else {
        // Nested deeper than every daemon parses: shown as its source.
        return page(
            StatusCode::OK,
            &MessagePage {
                shell,
                folders,
                uid: q.uid,
                subject: "(message too deeply nested to show)".into(),
                from: String::new(),
                to: String::new(),
                cc: String::new(),
                date: String::new(),
                flagged: meta.flags.has(Flags::FLAGGED),
                text: String::from_utf8_lossy(&bytes).into_owned(),
                html_frame: None,
                blocked: 0,
                allow_images: String::new(),
                attachments: Vec::new(),
                source,
                back,
                reply: String::new(),
                reply_all: String::new(),
                forward: String::new(),
            },
        );
    };
    let subject = msg.subject().unwrap_or("(no subject)").to_string();
    let (date, _) = show_date(
        msg.date()
            .map(|d| d.to_timestamp())
            .unwrap_or(meta.internal_date),
    );
    let html = has_html(&msg);
    let (html_frame, blocked) = if html {
        let clean = clean_html(&msg, q.images == Some(1));
        let mut frame = msg_url("html", &name, q.uid);
        if q.images == Some(1) {
            frame.push_str("&images=1");
        }
        (Some(frame), clean.blocked)
    } else {
        (None, 0)
    };
    let text = if html {
        String::new()
    } else {
        msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
    };
    let attachments = msg
        .attachments
        .iter()
        .filter_map(|&i| {
            let p = msg.parts.get(i as usize)?;
            let name = attachment_name(p, i as usize);
            Some(AttachmentRow {
                kind: content_type(p),
                size: human_size(p.contents().len() as u64),
                href: format!("{}&part={i}", msg_url("part", &q.f, q.uid)),
                name,
            })
        })
        .collect();
    let allow_images = format!(
        "{}&images=1&back={}",
        msg_url("msg", &name, q.uid),
        utf8_percent_encode(&back, NON_ALPHANUMERIC)
    );
    page(
        StatusCode::OK,
        &MessagePage {
            shell,
            folders,
            uid: q.uid,
            subject,
            from: addresses(msg.from(), false),
            to: addresses(msg.to(), false),
            cc: addresses(msg.cc(), false),
            date,
            flagged: meta.flags.has(Flags::FLAGGED),
            text,
            html_frame,
            blocked,
            allow_images,
            attachments,
            source,
            back,
            reply: compose_url("reply", &name, q.uid, false),
            reply_all: compose_url("reply", &name, q.uid, true),
            forward: compose_url("forward", &name, q.uid, false),
        },
    )
}

fn compose_url(kind: &str, f: &str, uid: u32, all: bool) -> String {
    format!(
        "/mail/compose?f={}&{kind}={uid}{}",
        utf8_percent_encode(f, NON_ALPHANUMERIC),
        if all { "&all=1" } else { "" }
    )
}

pub(crate) fn content_type(p: &mail_parser::MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => match ct.subtype() {
            Some(s) => format!("{}/{}", ct.ctype(), s),
            None => ct.ctype().to_string(),
        }
        .to_ascii_lowercase(),
        None => "application/octet-stream".into(),
    }
}

pub(crate) fn attachment_name(p: &mail_parser::MessagePart<'_>, i: usize) -> String {
    let raw = p.attachment_name().unwrap_or("");
    // A file name, not a path; no control characters.
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    if clean.is_empty() {
        format!("attachment-{i}")
    } else {
        clean
    }
}

fn clean_html(msg: &mail_parser::Message<'_>, remote: bool) -> super::sanitize::Clean {
    let mut inline = HashMap::new();
    let mut budget = super::sanitize::MAX_INLINE_BYTES;
    for p in &msg.parts {
        if let Some(id) = p.content_id() {
            let ct = content_type(p);
            let data = p.contents();
            if ct.starts_with("image/") && data.len() <= budget {
                budget -= data.len();
                let b64 = base64::engine::general_purpose::STANDARD.encode(data);
                inline.insert(
                    id.trim_matches(['<', '>']).to_string(),
                    format!("data:{ct};base64,{b64}"),
                );
            }
        }
    }
    let html = msg.body_html(0).map(|h| h.into_owned()).unwrap_or_default();
    super::sanitize::html(&html, inline, remote)
}

/// The CSP of everything that shows a message's own content: nothing
/// runs, nothing loads but the message's own inline images (and remote
/// images when the user allowed them), and a sandbox even when opened
/// outside its frame.
fn content_csp(remote: bool) -> String {
    format!(
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src data:{}; style-src 'unsafe-inline'; frame-ancestors 'self'",
        if remote { " https: http:" } else { "" }
    )
}

/// `GET /mail/html`: the sanitised HTML body, for the message page's
/// sandboxed frame.
pub async fn html_frame(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<MsgQuery>,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || {
        let Ok((_, _, _, bytes)) = load(&w, &signed.session.user, &q.f, q.uid) else {
            return not_found(&signed);
        };
        let remote = q.images == Some(1);
        let html = outpost_mime::parse(&bytes, w.max_mime_depth)
            .map(|m| clean_html(&m, remote).html)
            .unwrap_or_default();
        let doc = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><base target=\"_blank\"></head><body>{html}</body></html>"
        );
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                (header::CONTENT_SECURITY_POLICY, content_csp(remote)),
                (header::X_FRAME_OPTIONS, "SAMEORIGIN".to_string()),
            ],
            doc,
        )
            .into_response()
    })
    .await
    .unwrap_or_else(internal)
}

/// `GET /mail/raw`: the message source as plain text.
pub async fn raw(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<MsgQuery>,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || match load(&w, &signed.session.user, &q.f, q.uid) {
        Ok((_, _, _, bytes)) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (header::CONTENT_SECURITY_POLICY, content_csp(false)),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(&signed),
    })
    .await
    .unwrap_or_else(internal)
}

/// `Content-Disposition: attachment` with an ASCII fallback and the
/// RFC 6266 / RFC 8187 UTF-8 name.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /mail/part`: one attachment, as a download.
pub async fn part(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<MsgQuery>,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || {
        let Ok((_, _, _, bytes)) = load(&w, &signed.session.user, &q.f, q.uid) else {
            return not_found(&signed);
        };
        let Some(msg) = outpost_mime::parse(&bytes, w.max_mime_depth) else {
            return not_found(&signed);
        };
        let Some(i) = q.part.filter(|i| msg.attachments.contains(&(*i as u32))) else {
            return not_found(&signed);
        };
        let p = &msg.parts[i];
        let ct = content_type(p);
        // The type as the sender gave it, if it is a plain token pair.
        let ct = if ct
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b))
            && ct.contains('/')
        {
            ct
        } else {
            "application/octet-stream".into()
        };
        (
            [
                (header::CONTENT_TYPE, ct),
                (
                    header::CONTENT_DISPOSITION,
                    disposition(&attachment_name(p, i)),
                ),
                (header::CONTENT_SECURITY_POLICY, content_csp(false)),
            ],
            p.contents().to_vec(),
        )
            .into_response()
    })
    .await
    .unwrap_or_else(internal)
}

/// `POST /mail/act`: flags, move, delete, empty for the selected messages.
pub async fn act(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    body: Body,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = match posted(&web, &signed, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || act_on(&w, &signed, &form))
        .await
        .unwrap_or_else(internal)
}

fn act_on(web: &Web, signed: &Signed, form: &Form) -> Response {
    let name = Mailbox::canonical(form.get("f").unwrap_or("INBOX"));
    let back = super::local_target(form.get("back").unwrap_or(""), &folder_href(&name));
    // `UID` picks a message of folder `f`; `UID:FOLDER` one of any folder
    // (the rows of a search of every folder).
    let mut picked: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for v in form.all("uid") {
        let (uid, folder) = match v.split_once(':') {
            Some((u, f)) => (u, Mailbox::canonical(f)),
            None => (v, name.clone()),
        };
        if let Ok(uid) = uid.parse::<u32>() {
            picked.entry(folder).or_default().push(uid);
        }
    }
    let what = form.get("do").unwrap_or("");
    // With nothing picked the folder and the action are still checked
    // (an unknown one is refused, not silently done to nothing).
    if what == "empty" || picked.is_empty() {
        picked = [(name.clone(), Vec::new())].into();
    }
    let Ok(mb) = mailbox(web, &signed.session.user) else {
        return internal();
    };
    let mut result: Result<(), String> = Ok(());
    for (fname, mut uids) in picked {
        uids.sort_unstable();
        uids.dedup();
        let Ok(dir) = mb.folder_dir(&fname) else {
            return not_found(signed);
        };
        if !dir.join("cur").is_dir() {
            return not_found(signed);
        }
        let folder = web.cache.folder(dir);
        result = act_in(
            web,
            &signed.session.user,
            &mb,
            (&folder, &fname),
            &uids,
            what,
            form,
        );
        if result.is_err() {
            break;
        }
    }
    match result {
        Ok(()) => Redirect::to(&back).into_response(),
        Err(e) => {
            tracing::warn!(action = what, error = %e, "webmail action failed");
            error(
                StatusCode::BAD_REQUEST,
                Shell::for_user(signed, "Mail"),
                "That did not work",
                &e,
            )
        }
    }
}

/// Does `what` to messages `uids` of folder `name`.
fn act_in(
    web: &Web,
    user: &str,
    mb: &Mailbox,
    (folder, name): (&Folder, &str),
    uids: &[u32],
    what: &str,
    form: &Form,
) -> Result<(), String> {
    let flag = |bit| Flags {
        bits: bit,
        keywords: Vec::new(),
    };
    match what {
        "read" => folder
            .store(uids, StoreFlags::Add, &flag(Flags::SEEN), None)
            .map(drop),
        "unread" => folder
            .store(uids, StoreFlags::Remove, &flag(Flags::SEEN), None)
            .map(drop),
        "flag" => folder
            .store(uids, StoreFlags::Add, &flag(Flags::FLAGGED), None)
            .map(drop),
        "unflag" => folder
            .store(uids, StoreFlags::Remove, &flag(Flags::FLAGGED), None)
            .map(drop),
        "delete" if name == "Trash" => folder.expunge(Some(uids), false).map(drop),
        "delete" => return move_to(web, user, mb, (folder, name), uids, "Trash"),
        "move" => {
            let to = Mailbox::canonical(form.get("to").unwrap_or(""));
            if to == name {
                return Ok(());
            }
            return move_to(web, user, mb, (folder, name), uids, &to);
        }
        "empty" if name == "Trash" || name == "Junk" => {
            let all: Vec<u32> = folder
                .sync()
                .map_err(|e| e.to_string())?
                .snapshot
                .messages
                .iter()
                .map(|m| m.uid)
                .collect();
            folder.expunge(Some(&all), false).map(drop)
        }
        _ => return Err("unknown action".into()),
    }
    .map_err(|e| e.to_string())
}

/// Moves `uids` of `from` (the folder and its name) into folder `to`
/// (created if it is a special one): copy, then expunge, as IMAP MOVE
/// does. Into or out of Junk, the messages train the spam engine (as
/// imapd's MOVE does; `outpost_hygiene::train`).
fn move_to(
    web: &Web,
    user: &str,
    mb: &Mailbox,
    (from, from_name): (&Folder, &str),
    uids: &[u32],
    to: &str,
) -> Result<(), String> {
    let dir = mb.folder_dir(to).map_err(|e| e.to_string())?;
    if !dir.join("cur").is_dir() {
        if Mailbox::special_use(to).is_some() {
            mb.create(to).map_err(|e| e.to_string())?;
        } else {
            return Err(format!("no folder {to:?}"));
        }
    }
    let dest = web.cache.folder(dir);
    if let Some(trainer) = &web.trainer
        && let Some(spam) = outpost_hygiene::train::verdict(
            Mailbox::special_use(from_name),
            Mailbox::special_use(to),
        )
    {
        for &uid in uids {
            trainer.offer(user, spam, || from.read(uid).ok());
        }
    }
    from.copy_to(uids, &dest).map_err(|e| e.to_string())?;
    from.expunge(Some(uids), false).map_err(|e| e.to_string())?;
    Ok(())
}

#[derive(Template)]
#[template(path = "manage.html")]
struct ManagePage {
    shell: Shell,
    folders: Vec<FolderRow>,
}

/// `GET /mail/folders`: create, rename, delete folders.
pub async fn manage(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/folders").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || {
        let Ok(mb) = mailbox(&w, &signed.session.user) else {
            return internal();
        };
        let mut shell = Shell::for_user(&signed, "Mail");
        shell.folder = "INBOX".into();
        shell.notice = q
            .get("notice")
            .map(|n| n.chars().take(200).collect())
            .unwrap_or_default();
        page(
            StatusCode::OK,
            &ManagePage {
                folders: folder_rows(&w, &mb, ""),
                shell,
            },
        )
    })
    .await
    .unwrap_or_else(internal)
}

/// `POST /mail/folders`: `op` = create | rename | delete.
pub async fn folders(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    body: Body,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/folders").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = match posted(&web, &signed, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || {
        let Ok(mb) = mailbox(&w, &signed.session.user) else {
            return internal();
        };
        let name = form.get("name").unwrap_or("").trim().to_string();
        let protected =
            |n: &str| Mailbox::canonical(n) == "INBOX" || Mailbox::special_use(n).is_some();
        let result = match form.get("op").unwrap_or("") {
            "create" => mb
                .create(&outpost_imap_proto::utf7::encode(&name))
                .map(|()| format!("Folder “{name}” created.")),
            "rename" if protected(&name) => Ok("That folder cannot be renamed.".to_string()),
            "rename" => {
                let to = form.get("to").unwrap_or("").trim().to_string();
                mb.rename(&name, &outpost_imap_proto::utf7::encode(&to))
                    .map(|()| format!("Folder renamed to “{to}”."))
            }
            "delete" if protected(&name) => Ok("That folder cannot be deleted.".to_string()),
            "delete" => mb.delete(&name).map(|()| "Folder deleted.".to_string()),
            _ => Ok("Unknown operation.".to_string()),
        };
        let notice = match result {
            Ok(n) => n,
            Err(e) => format!("That did not work: {e}"),
        };
        Redirect::to(&format!(
            "/mail/folders?notice={}",
            utf8_percent_encode(&notice, NON_ALPHANUMERIC)
        ))
        .into_response()
    })
    .await
    .unwrap_or_else(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_sort_without_reply_prefixes() {
        assert_eq!(base_subject("Re: Fwd: RE: Plan"), "plan");
        assert_eq!(base_subject("  plan "), "plan");
        assert_eq!(base_subject("Reply needed"), "reply needed");
    }

    #[test]
    fn attachment_names_are_file_names() {
        assert_eq!(
            disposition("résumé \"final\".pdf"),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%2Epdf"
        );
        assert_eq!(human_size(1), "1 B");
        assert_eq!(human_size(1500), "2 KB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MB");
    }
}
