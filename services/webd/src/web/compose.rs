//! Writing mail: the compose form (new, reply, reply all, forward) and
//! *Send*, which goes through the same submission path as SMTP
//! submission (`outpost-submit`: recipient resolution, aliases and groups,
//! quota, the queue for remote recipients, which waits for the link
//! exactly as submitted mail does), plus a copy in Sent and `\Answered`
//! on the message replied to.
//!
//! Attachments: the form is `multipart/form-data` (parsed with `multer`)
//! with an *Attach files* input; files already attached (those of the
//! draft being edited, or of the message forwarded) are listed with a
//! *keep* checkbox each and copied from that message when the new one is
//! built. Their total is bounded by `web.max_attachment_bytes`; at most
//! [`UPLOADS_AT_ONCE`] such forms are parsed at a time, so memory stays
//! bounded (a few times the largest message per slot).
//!
//! Drafts: *Save draft* (and the script's autosave every 30 s) files the
//! message, Bcc and attachments included, in Drafts with `\Draft`, and
//! removes the draft it replaces; opening a draft from the Drafts folder
//! reopens the form; sending removes it.
//!
//! **Invariant:** a refused send loses nothing: the form comes back with
//! every field as typed and the reason (files just uploaded are kept in a
//! draft); nothing is delivered, queued or filed until every recipient
//! resolved.

use super::{Form, Peer, Shell, Signed, Web, blocking, check_post, page, read_form_max, signed_in};
use askama::Template;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outpost_store::{Flags, Mailbox, StoreFlags};
use serde::Deserialize;
use std::sync::Arc;

/// Largest compose form without its files.
pub const MAX_COMPOSE: usize = 2 * 1024 * 1024;

/// Compose forms with files parsed at once (each holds its body and the
/// built message in memory).
pub const UPLOADS_AT_ONCE: usize = 2;

/// The slots of [`UPLOADS_AT_ONCE`].
static UPLOADS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(UPLOADS_AT_ONCE);

/// Form fields (files included) in one compose form.
const MAX_FIELDS: usize = 256;

/// The folder drafts live in.
pub const DRAFTS: &str = "Drafts";

/// An attachment of a message being written.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// File name (no path).
    pub name: String,
    /// `type/subtype`.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A file listed on the compose form.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttachRow {
    /// Part index in the source message.
    pub part: usize,
    /// File name.
    pub name: String,
    /// Human size.
    pub size: String,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    shell: Shell,
    folders: Vec<super::mail::FolderRow>,
    heading: String,
    error: String,
    identities: Vec<String>,
    from: String,
    to: String,
    cc: String,
    bcc: String,
    subject: String,
    body: String,
    in_reply_to: String,
    references: String,
    answered: String,
    /// UID of the draft being edited in Drafts, or "".
    draft: String,
    /// Folder and UID of the message the listed files come from.
    src_f: String,
    src_uid: String,
    attached: Vec<AttachRow>,
    /// `web.max_attachment_bytes`, for people.
    max_attach: String,
    /// The same in bytes, for the script's check.
    max_attach_bytes: usize,
    notice: String,
}

/// Query of the compose page.
#[derive(Debug, Deserialize, Default)]
pub struct ComposeQuery {
    /// Folder of the message replied to or forwarded.
    f: Option<String>,
    /// UID replied to.
    reply: Option<u32>,
    /// Reply to all.
    all: Option<u8>,
    /// UID forwarded.
    forward: Option<u32>,
    /// UID of a draft (in Drafts) to reopen.
    draft: Option<u32>,
    /// `saved` after *Save draft*.
    notice: Option<String>,
}

/// The addresses the user may send as: their own, then their aliases.
fn identities(web: &Web, user: &str) -> Vec<String> {
    let mut out = vec![user.to_string()];
    if let Ok(dir) = outpost_directory::Directory::open(&web.config.directory.path)
        && let Ok(Some(u)) = dir.user(user)
    {
        out.extend(u.aliases);
    }
    out
}

fn quote(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn prefixed(prefix: &str, subject: &str) -> String {
    let lower = subject.trim_start().to_ascii_lowercase();
    if lower.starts_with(&prefix.to_ascii_lowercase()) {
        subject.to_string()
    } else {
        format!("{prefix} {subject}")
    }
}

/// `GET /mail/compose`: a new message, or a reply or forward prefilled.
pub async fn compose(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    uri: axum::http::Uri,
    Query(q): Query<ComposeQuery>,
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
    blocking(move || compose_page(&w, &signed, q))
        .await
        .unwrap_or_else(super::mail::internal)
}

fn compose_page(web: &Web, signed: &Signed, q: ComposeQuery) -> Response {
    let user = &signed.session.user;
    let mut p = ComposePage {
        shell: Shell::for_user(signed, "Mail"),
        folders: Vec::new(),
        heading: "New message".into(),
        error: String::new(),
        identities: identities(web, user),
        from: user.clone(),
        to: String::new(),
        cc: String::new(),
        bcc: String::new(),
        subject: String::new(),
        body: String::new(),
        in_reply_to: String::new(),
        references: String::new(),
        answered: String::new(),
        draft: String::new(),
        src_f: String::new(),
        src_uid: String::new(),
        attached: Vec::new(),
        max_attach: super::mail::human_size(web.config.web.max_attachment_bytes as u64),
        max_attach_bytes: web.config.web.max_attachment_bytes,
        notice: if q.notice.as_deref() == Some("saved") {
            "Draft saved.".into()
        } else {
            String::new()
        },
    };
    if let Some(uid) = q.draft {
        if let Ok((_, _, _, bytes)) = super::mail::load(web, user, DRAFTS, uid)
            && let Some(msg) = outpost_mime::parse(&bytes, web.max_mime_depth)
        {
            p.heading = "Draft".into();
            p.draft = uid.to_string();
            let list = |a: Option<&mail_parser::Address<'_>>| {
                a.map(|a| {
                    a.iter()
                        .filter_map(|x| x.address())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
            };
            if let Some(from) = msg.from().and_then(|a| a.first()).and_then(|a| a.address())
                && p.identities.iter().any(|i| i.eq_ignore_ascii_case(from))
            {
                p.from = from.to_ascii_lowercase();
            }
            p.to = list(msg.to());
            p.cc = list(msg.cc());
            p.bcc = list(msg.bcc());
            p.subject = msg.subject().unwrap_or("").to_string();
            p.body = msg
                .body_text(0)
                .map(|t| t.replace("\r\n", "\n"))
                .unwrap_or_default();
            let ids = |h: &mail_parser::HeaderValue<'_>| -> String {
                h.as_text_list()
                    .map(|l| l.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>())
                    .or_else(|| h.as_text().map(|r| vec![format!("<{r}>")]))
                    .unwrap_or_default()
                    .join(" ")
            };
            p.in_reply_to = ids(msg.in_reply_to());
            p.references = ids(msg.references());
            if let Some(a) = answered_of(&msg) {
                p.answered = a;
            }
            p.src_f = DRAFTS.into();
            p.src_uid = uid.to_string();
            p.attached = attach_rows(&msg);
        } else {
            p.error = "That draft is gone (sent or deleted meanwhile).".into();
        }
    }
    let f = Mailbox::canonical(q.f.as_deref().unwrap_or("INBOX"));
    if let Some(uid) = q.reply.or(q.forward)
        && let Ok((_, _, _, bytes)) = super::mail::load(web, user, &f, uid)
        && let Some(msg) = outpost_mime::parse(&bytes, web.max_mime_depth)
    {
        let subject = msg.subject().unwrap_or("").to_string();
        let from = super::mail::addresses(msg.from(), false);
        let date = msg.date().map(|d| d.to_rfc822()).unwrap_or_default();
        let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
        if q.reply.is_some() {
            p.heading = "Reply".into();
            let reply_to = super::mail::addresses(msg.reply_to(), false);
            p.to = if reply_to.is_empty() {
                from.clone()
            } else {
                reply_to
            };
            if q.all == Some(1) {
                let me: Vec<String> = p
                    .identities
                    .iter()
                    .map(|i| i.to_ascii_lowercase())
                    .collect();
                let others: Vec<String> = [msg.to(), msg.cc()]
                    .into_iter()
                    .flatten()
                    .flat_map(|a| a.iter())
                    .filter_map(|a| a.address())
                    .filter(|a| !me.contains(&a.to_ascii_lowercase()))
                    .map(str::to_string)
                    .collect();
                p.cc = others.join(", ");
            }
            p.subject = prefixed("Re:", &subject);
            p.body = format!("\n\nOn {date}, {from} wrote:\n{}\n", quote(&text));
            p.answered = format!("{uid} {f}");
        } else {
            p.heading = "Forward".into();
            p.subject = prefixed("Fwd:", &subject);
            p.body = format!(
                "\n\n-------- Forwarded message --------\nSubject: {subject}\nDate: {date}\nFrom: {from}\nTo: {}\n\n{text}\n",
                super::mail::addresses(msg.to(), false)
            );
            // The original's files go along unless unticked.
            p.src_f = f.clone();
            p.src_uid = uid.to_string();
            p.attached = attach_rows(&msg);
            // Marked `$Forwarded` once sent (the keyword Thunderbird and
            // Apple Mail use).
            p.answered = format!("{FORWARDED_MARK}{uid} {f}");
        }
        // A reply and a forward both stay in the original's thread
        // (In-Reply-To and References name it, as Gmail and Outlook do).
        if let Some(id) = msg.message_id() {
            p.in_reply_to = format!("<{id}>");
            let mut refs: Vec<String> = msg
                .references()
                .as_text_list()
                .map(|l| l.iter().map(|r| format!("<{r}>")).collect())
                .or_else(|| msg.references().as_text().map(|r| vec![format!("<{r}>")]))
                .unwrap_or_default();
            refs.push(format!("<{id}>"));
            p.references = refs.join(" ");
        }
    }
    // A new message, reply or forward starts from the user's settings:
    // their default From address and their signature (above a quote, as
    // Outlook and Thunderbird put it). A reopened draft has both already.
    if q.draft.is_none()
        && let Ok(dir) = outpost_directory::Directory::open(&web.config.directory.path)
        && let Ok(s) = dir.settings(user)
    {
        if !s.identity.is_empty() && p.identities.contains(&s.identity) {
            p.from = s.identity;
        }
        let sig = s.signature.trim_end();
        if !sig.is_empty() {
            p.body = format!("\n\n-- \n{sig}\n{}", p.body);
        }
    }
    if let Ok(mb) = super::mail::mailbox(web, user) {
        p.folders = super::mail::folder_rows(web, &mb, "");
    }
    page(StatusCode::OK, &p)
}

/// A message as the compose form gives it.
#[derive(Debug)]
pub struct Draft<'a> {
    /// The sending address.
    pub from: &'a str,
    /// Its display name, or "".
    pub full_name: &'a str,
    /// To addresses.
    pub to: &'a [String],
    /// Cc addresses.
    pub cc: &'a [String],
    /// Bcc addresses: a header only in a draft (never in what is sent).
    pub bcc: &'a [String],
    /// Files.
    pub attachments: &'a [Attachment],
    /// `uid folder` of the message a draft answers (kept in the draft as
    /// `X-Outpost-Answered`), or "".
    pub answered: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body (any line ends).
    pub body: &'a str,
    /// Message-IDs replied to (without `<>`).
    pub in_reply_to: Vec<String>,
    /// The thread's Message-IDs (without `<>`).
    pub references: Vec<String>,
    /// This message's Message-ID (without `<>`).
    pub message_id: String,
    /// Unix seconds.
    pub date: i64,
}

/// The RFC 5322 message of `d` (mail-builder: encoded words, quoted-
/// printable or base64 as the text needs, CRLF line ends).
pub fn build(d: &Draft<'_>) -> std::io::Result<Vec<u8>> {
    use mail_builder::headers::address::Address;
    let one = |name: &str, addr: &str| {
        Address::new_address(
            (!name.is_empty()).then(|| name.to_string()),
            addr.to_string(),
        )
    };
    let list = |v: &[String]| Address::new_list(v.iter().map(|a| one("", a)).collect());
    // No control character reaches a header (a CR LF in the subject
    // would start a header of the sender's choosing).
    let subject: String = d
        .subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut b = mail_builder::MessageBuilder::new()
        .from(one(d.full_name, d.from))
        .subject(subject)
        .date(d.date)
        .message_id(d.message_id.clone())
        .text_body(d.body.replace("\r\n", "\n"));
    if !d.to.is_empty() {
        b = b.to(list(d.to));
    }
    if !d.cc.is_empty() {
        b = b.cc(list(d.cc));
    }
    if !d.bcc.is_empty() {
        b = b.bcc(list(d.bcc));
    }
    // Percent-encoded: mail-parser does not decode encoded words in a
    // header it does not know, and a folder name may be UTF-8.
    if !d.answered.is_empty() {
        let v =
            percent_encoding::utf8_percent_encode(d.answered, percent_encoding::NON_ALPHANUMERIC);
        b = b.header(
            "X-Outpost-Answered",
            mail_builder::headers::raw::Raw::new(v.to_string()),
        );
    }
    for a in d.attachments {
        b = b.attachment(a.content_type.as_str(), a.name.as_str(), a.bytes.as_slice());
    }
    if let Some(first) = d.in_reply_to.first() {
        b = b.in_reply_to(first.clone());
    }
    if !d.references.is_empty() {
        b = b.references(mail_builder::headers::message_id::MessageId::new_list(
            d.references.clone().into_iter(),
        ));
    }
    b.write_to_vec()
}

/// Splits an address field (`a@x, Name <b@y>; c@z`) into addresses;
/// `Err` names the first entry that is not one.
pub fn parse_addresses(field: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in field.split([',', ';']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let addr = match (part.rfind('<'), part.rfind('>')) {
            (Some(a), Some(b)) if a < b => &part[a + 1..b],
            _ => part,
        }
        .trim();
        let ok = addr.len() <= 254
            && addr.matches('@').count() == 1
            && !addr.starts_with('@')
            && !addr.ends_with('@')
            && addr
                .chars()
                .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c));
        if !ok {
            return Err(part.to_string());
        }
        let addr = addr.to_ascii_lowercase();
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

/// `uid folder` of the message a draft answers (`X-Outpost-Answered`).
/// The start of the `answered` field of a forward (then it names the
/// message to mark `$Forwarded`, not `\Answered`).
const FORWARDED_MARK: &str = "fwd ";

fn answered_of(msg: &mail_parser::Message<'_>) -> Option<String> {
    let raw = msg.header("X-Outpost-Answered")?.as_text()?.trim();
    let v = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    let v: String = v.chars().filter(|c| !c.is_control()).collect();
    (!v.is_empty()).then_some(v)
}

/// The files listed on the compose form for `msg` (its attachments).
fn attach_rows(msg: &mail_parser::Message<'_>) -> Vec<AttachRow> {
    msg.attachments
        .iter()
        .map(|&i| {
            let p = &msg.parts[i as usize];
            AttachRow {
                part: i as usize,
                name: super::mail::attachment_name(p, i as usize),
                size: super::mail::human_size(p.contents().len() as u64),
            }
        })
        .collect()
}

/// A file name from a browser: the last path component (old browsers
/// send `C:\fakepath\…`), no control characters, at most 200 characters.
fn upload_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim().trim_start_matches('.').trim();
    if clean.is_empty() {
        "attachment".into()
    } else {
        clean.into()
    }
}

/// A content type from a browser if it is a plain `type/subtype`.
fn upload_type(raw: Option<&str>) -> String {
    match raw {
        Some(t)
            if t.len() <= 100
                && t.matches('/').count() == 1
                && !t.starts_with('/')
                && !t.ends_with('/')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b)) =>
        {
            t.to_ascii_lowercase()
        }
        _ => "application/octet-stream".into(),
    }
}

/// Why a compose form could not be read.
enum ReadError {
    /// An answer to send as is.
    Answer(Response),
    /// The files are over the limit; the text fields arrived.
    TooLarge(Form),
}

/// Reads a compose form: `multipart/form-data` (text fields and files,
/// empty file inputs skipped) or, from old scripts, url-encoded.
async fn read_compose(
    web: &Arc<Web>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Form, Vec<Attachment>), ReadError> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Ok(boundary) = multer::parse_boundary(ct) else {
        return read_form_max(web, body, MAX_COMPOSE)
            .await
            .map(|f| (f, Vec::new()))
            .map_err(ReadError::Answer);
    };
    let max_files = web.config.web.max_attachment_bytes;
    // The body may hold the files, the text and the multipart framing; a
    // larger one is refused before it is stored.
    let max = max_files
        .saturating_add(MAX_COMPOSE)
        .saturating_add(256 * 1024);
    let limits = crate::body::Limits {
        max,
        buffer: web.opts.body_buffer,
        timeout: web.opts.body_timeout,
        min_rate: web.opts.body_min_rate,
        spool_dir: web.opts.spool_dir.clone(),
    };
    let received = match crate::body::receive(body, &limits).await {
        Ok(r) => r,
        Err(crate::body::Error::TooLarge) => {
            return Err(ReadError::Answer(super::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Shell::new(),
                "Too large",
                &format!(
                    "Attachments may total at most {}. Go back and attach fewer or smaller files.",
                    super::mail::human_size(max_files as u64)
                ),
            )));
        }
        Err(crate::body::Error::Timeout) => {
            return Err(ReadError::Answer(
                (StatusCode::REQUEST_TIMEOUT, "form too slow\n").into_response(),
            ));
        }
        Err(_) => {
            return Err(ReadError::Answer(
                (StatusCode::BAD_REQUEST, "bad form body\n").into_response(),
            ));
        }
    };
    let bytes = match blocking(move || received.into_vec()).await {
        Some(Ok(b)) => bytes::Bytes::from(b),
        _ => {
            return Err(ReadError::Answer(
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
            ));
        }
    };
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let (mut form, mut files, mut total, mut over) = (Form::default(), Vec::new(), 0usize, false);
    let bad = || ReadError::Answer((StatusCode::BAD_REQUEST, "bad form body\n").into_response());
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err(bad()),
        };
        if form.0.len() + files.len() >= MAX_FIELDS {
            return Err(bad());
        }
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.essence_str().to_string());
        let data = field.bytes().await.map_err(|_| bad())?;
        match file_name {
            Some(f) if name == "attach" => {
                if f.is_empty() && data.is_empty() {
                    continue;
                }
                total += data.len();
                if total > max_files {
                    over = true;
                    continue;
                }
                files.push(Attachment {
                    name: upload_name(&f),
                    content_type: upload_type(content_type.as_deref()),
                    bytes: data.to_vec(),
                });
            }
            Some(_) => {}
            None => match String::from_utf8(data.to_vec()) {
                Ok(v) => form.0.push((name, v)),
                Err(_) => return Err(bad()),
            },
        }
    }
    if over {
        Err(ReadError::TooLarge(form))
    } else {
        Ok((form, files))
    }
}

/// `POST /mail/send`: *Send*, *Discard* (`action=discard`) or *Save
/// draft* (`action=draft`; the
/// autosave asks with `Accept: application/json` and gets the new draft's
/// UID and files as JSON).
pub async fn send(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    body: Body,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/mail/compose").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // A form with files holds a slot until its message is built and filed.
    let multipart = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let slot = if multipart {
        match UPLOADS.acquire().await {
            Ok(p) => Some(p),
            Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "busy\n").into_response(),
        }
    } else {
        None
    };
    let (form, uploads, too_large) = match read_compose(&web, &headers, body).await {
        Ok((f, u)) => (f, u, false),
        Err(ReadError::TooLarge(f)) => (f, Vec::new(), true),
        Err(ReadError::Answer(r)) => return r,
    };
    if let Some(r) = check_post(&headers, &signed, &form) {
        return r;
    }
    let json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("application/json"));
    let w = web.clone();
    if form.get("action") == Some("discard") {
        // *Discard*: the saved draft goes (expunged, as a send removes
        // it); an unsaved message is simply dropped.
        let user = signed.session.user.clone();
        let draft = form.get("draft").and_then(|d| d.trim().parse::<u32>().ok());
        drop(slot);
        return blocking(move || {
            if let Some(uid) = draft
                && let Ok(mb) = super::mail::mailbox(&w, &user)
                && let Ok(drafts) = mb.folder(DRAFTS)
            {
                let _ = drafts.expunge(Some(&[uid]), false);
            }
            Redirect::to("/mail/?notice=discarded").into_response()
        })
        .await
        .unwrap_or_else(super::mail::internal);
    }
    let answer = blocking(move || {
        let mut c = Composed::from_form(&w, &signed, &form);
        if too_large {
            return c.refuse(
                &w,
                format!(
                    "The files were not attached: together they are larger than {}. Nothing else was lost.",
                    super::mail::human_size(w.config.web.max_attachment_bytes as u64)
                ),
            );
        }
        let saving = form.get("action") == Some("draft");
        let attachments = match c.gather(&w, &form, uploads, !saving) {
            Ok(a) => a,
            Err(why) => return c.refuse(&w, why),
        };
        if saving {
            match save_draft(&w, &signed.session.user, &c, &attachments) {
                Ok(uid) if json => draft_json(&w, &signed.session.user, uid),
                Ok(uid) => Redirect::to(&format!("/mail/compose?draft={uid}&notice=saved"))
                    .into_response(),
                Err(why) if json => json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({ "error": why }),
                ),
                Err(why) => c.refuse(&w, why),
            }
        } else {
            send_now(&w, &signed, c, attachments, peer)
        }
    })
    .await
    .unwrap_or_else(super::mail::internal);
    drop(slot);
    answer
}

/// The answer to an autosave: the draft's UID and its files.
fn draft_json(web: &Web, user: &str, uid: u32) -> Response {
    let attached = super::mail::load(web, user, DRAFTS, uid)
        .ok()
        .and_then(|(_, _, _, bytes)| {
            outpost_mime::parse(&bytes, web.max_mime_depth).map(|m| attach_rows(&m))
        })
        .unwrap_or_default();
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "draft": uid,
            "src_f": DRAFTS,
            "src_uid": uid,
            "attachments": attached,
        }),
    )
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// The compose form as posted, and the page to send back when refused.
struct Composed {
    page: ComposePage,
}

impl Composed {
    fn from_form(web: &Web, signed: &Signed, form: &Form) -> Composed {
        let field = |k: &str| form.get(k).unwrap_or("").to_string();
        let user = signed.session.user.clone();
        let draft = form
            .get("draft")
            .and_then(|d| d.trim().parse::<u32>().ok())
            .map(|d| d.to_string())
            .unwrap_or_default();
        Composed {
            page: ComposePage {
                shell: Shell::for_user(signed, "Mail"),
                folders: Vec::new(),
                heading: if draft.is_empty() {
                    "New message".into()
                } else {
                    "Draft".into()
                },
                error: String::new(),
                from: field("from"),
                identities: identities(web, &user),
                to: field("to"),
                cc: field("cc"),
                bcc: field("bcc"),
                subject: field("subject"),
                body: field("body"),
                in_reply_to: field("in_reply_to"),
                references: field("references"),
                answered: field("answered"),
                draft,
                src_f: field("src_f"),
                src_uid: field("src_uid"),
                attached: Vec::new(),
                max_attach: super::mail::human_size(web.config.web.max_attachment_bytes as u64),
                max_attach_bytes: web.config.web.max_attachment_bytes,
                notice: String::new(),
            },
        }
    }

    /// The form back with `why`. Files already attached stay listed; the
    /// ones just uploaded are first kept in a draft, so nothing is lost.
    fn refuse(mut self, web: &Web, why: String) -> Response {
        let user = self.page.shell.user.clone().unwrap_or_default();
        if let Ok(mb) = super::mail::mailbox(web, &user) {
            self.page.folders = super::mail::folder_rows(web, &mb, "");
        }
        if let Ok(uid) = self.src_uid()
            && let Ok((_, _, _, bytes)) = super::mail::load(web, &user, &self.page.src_f, uid)
            && let Some(msg) = outpost_mime::parse(&bytes, web.max_mime_depth)
        {
            self.page.attached = attach_rows(&msg);
        }
        self.page.error = why;
        page(StatusCode::UNPROCESSABLE_ENTITY, &self.page)
    }

    fn src_uid(&self) -> Result<u32, ()> {
        self.page.src_uid.trim().parse().map_err(drop)
    }

    /// The files of the new message: those ticked `keep` of the source
    /// message, then the uploads; `Err` when over the limit. With
    /// `keep_uploads`, new uploads are first filed in a draft.
    fn gather(
        &mut self,
        web: &Web,
        form: &Form,
        uploads: Vec<Attachment>,
        keep_uploads: bool,
    ) -> Result<Vec<Attachment>, String> {
        let user = self.page.shell.user.clone().unwrap_or_default();
        let mut out = Vec::new();
        let keep: Vec<usize> = form.all("keep").filter_map(|k| k.parse().ok()).collect();
        if !keep.is_empty() {
            let uid = self
                .src_uid()
                .map_err(|_| "The attached files are gone.".to_string())?;
            let (_, _, _, bytes) =
                super::mail::load(web, &user, &self.page.src_f, uid).map_err(|_| {
                    "The message the attached files came from is gone; attach them again."
                        .to_string()
                })?;
            let msg = outpost_mime::parse(&bytes, web.max_mime_depth)
                .ok_or_else(|| "The attached files cannot be read.".to_string())?;
            for i in keep {
                if msg.attachments.contains(&(i as u32)) {
                    let p = &msg.parts[i];
                    out.push(Attachment {
                        name: super::mail::attachment_name(p, i),
                        content_type: upload_type(Some(&super::mail::content_type(p))),
                        bytes: p.contents().to_vec(),
                    });
                }
            }
        }
        let had = out.len();
        out.extend(uploads);
        let total: usize = out.iter().map(|a| a.bytes.len()).sum();
        let max = web.config.web.max_attachment_bytes;
        if total > max {
            return Err(format!(
                "The files together are {}; at most {} can be attached.",
                super::mail::human_size(total as u64),
                super::mail::human_size(max as u64)
            ));
        }
        if keep_uploads && out.len() > had {
            // New uploads of a send: kept in a draft at once, so a refusal
            // further on (a bad address) does not lose them (a draft save
            // files them itself).
            if let Ok(uid) = save_draft(web, &user, self, &out) {
                self.page.draft = uid.to_string();
                self.page.src_f = DRAFTS.into();
                self.page.src_uid = uid.to_string();
            }
        }
        Ok(out)
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Message-IDs of a threading field (`<a@b> <c@d>`), without `<>`.
fn message_ids(s: &str) -> Vec<String> {
    s.split_whitespace()
        .map(|i| i.trim_matches(['<', '>']).to_string())
        .filter(|i| i.contains('@') && i.len() < 250 && i.chars().all(|c| c.is_ascii_graphic()))
        .collect()
}

/// Files `c` in Drafts (`\Draft \Seen`) and removes the draft it replaces;
/// returns the new draft's UID. Addresses are kept as typed where they
/// parse (a draft may be unfinished).
fn save_draft(
    web: &Web,
    user: &str,
    c: &Composed,
    attachments: &[Attachment],
) -> Result<u32, String> {
    let p = &c.page;
    let lenient = |s: &str| -> Vec<String> {
        s.split([',', ';'])
            .filter_map(|a| parse_addresses(a).ok())
            .flatten()
            .collect()
    };
    let (to, cc, bcc) = (lenient(&p.to), lenient(&p.cc), lenient(&p.bcc));
    let from = p.from.trim().to_ascii_lowercase();
    let from = if p.identities.contains(&from) {
        from
    } else {
        user.to_string()
    };
    let host = &web.config.general.hostname;
    let draft = Draft {
        from: &from,
        full_name: "",
        to: &to,
        cc: &cc,
        bcc: &bcc,
        attachments,
        answered: &p.answered,
        subject: p.subject.trim(),
        body: &p.body,
        in_reply_to: message_ids(&p.in_reply_to),
        references: message_ids(&p.references),
        message_id: format!("{}@{host}", outpost_queue::new_id()),
        date: now_secs() as i64,
    };
    let bytes = build(&draft).map_err(|e| format!("The draft could not be built: {e}"))?;
    if bytes.len() as u64 > web.config.smtp.max_message_size {
        return Err("The draft is larger than the server keeps.".into());
    }
    let mb =
        super::mail::mailbox(web, user).map_err(|_| "Your mailbox is unavailable.".to_string())?;
    if !mb.folder_dir(DRAFTS).is_ok_and(|d| d.join("cur").is_dir()) {
        let _ = mb.create(DRAFTS);
    }
    let folder = mb
        .folder(DRAFTS)
        .map_err(|_| "The Drafts folder is unavailable.".to_string())?;
    let flags = Flags {
        bits: Flags::DRAFT | Flags::SEEN,
        keywords: Vec::new(),
    };
    let (_, uid) = folder.append(&bytes, &flags, None).map_err(|e| {
        tracing::error!(error = %e, "webmail: saving a draft");
        "The draft could not be saved; try again.".to_string()
    })?;
    if let Ok(old) = p.draft.parse::<u32>()
        && old != uid
    {
        let _ = folder.expunge(Some(&[old]), false);
    }
    Ok(uid)
}

fn send_now(
    web: &Web,
    signed: &Signed,
    c: Composed,
    attachments: Vec<Attachment>,
    peer: Peer,
) -> Response {
    let user = signed.session.user.clone();
    let back = &c.page;
    let mut rcpts: Vec<String> = Vec::new();
    let mut lists = Vec::new();
    let fields = [
        ("To", back.to.clone()),
        ("Cc", back.cc.clone()),
        ("Bcc", back.bcc.clone()),
    ];
    for (name, value) in fields {
        match parse_addresses(&value) {
            Ok(list) => {
                for a in &list {
                    if !rcpts.contains(a) {
                        rcpts.push(a.clone());
                    }
                }
                lists.push(list);
            }
            Err(bad) => {
                return c.refuse(web, format!("{name}: “{bad}” is not an email address."));
            }
        }
    }
    if rcpts.is_empty() {
        return c.refuse(web, "Add at least one recipient (To, Cc or Bcc).".into());
    }
    if rcpts.len() > web.config.smtp.max_recipients {
        let why = format!(
            "At most {} recipients per message.",
            web.config.smtp.max_recipients
        );
        return c.refuse(web, why);
    }
    let dir = match outpost_directory::Directory::open(&web.config.directory.path) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "opening the directory to send");
            return c.refuse(
                web,
                "The server cannot send right now (directory unavailable). Try again.".into(),
            );
        }
    };
    let from = back.from.trim().to_ascii_lowercase();
    if !dir.may_send_as(&user, &from).unwrap_or(false) {
        return c.refuse(web, format!("You cannot send as {from}."));
    }
    let mut local: Vec<String> = Vec::new();
    let mut remote: Vec<String> = Vec::new();
    for r in &rcpts {
        match outpost_submit::resolve(&web.config, &dir, r, true) {
            Ok(res) => {
                for l in res.local {
                    if !local.contains(&l) {
                        local.push(l);
                    }
                }
                for x in res.remote {
                    if !remote.contains(&x) {
                        remote.push(x);
                    }
                }
            }
            Err(refusal) => {
                let why = refusal.text().to_string();
                return c.refuse(web, why);
            }
        }
    }
    let full_name = dir
        .user(&user)
        .ok()
        .flatten()
        .map(|u| u.full_name)
        .unwrap_or_default();
    let id = outpost_queue::new_id();
    let now = now_secs();
    let host = web.config.general.hostname.clone();
    let draft = Draft {
        from: &from,
        full_name: if from == user { &full_name } else { "" },
        to: &lists[0],
        cc: &lists[1],
        bcc: &[],
        attachments: &attachments,
        answered: "",
        subject: back.subject.trim(),
        body: &back.body,
        in_reply_to: message_ids(&back.in_reply_to),
        references: message_ids(&back.references),
        message_id: format!("{id}@{host}"),
        date: now as i64,
    };
    let built = match build(&draft) {
        Ok(v) => v,
        Err(e) => return c.refuse(web, format!("The message could not be built: {e}")),
    };
    drop(attachments);
    let sign_fn = web.signer.as_ref().map(|s| s.as_fn());
    let sign = sign_fn.as_ref().map(|f| f as &outpost_submit::Sign);
    // Signed as smtpd signs a submitted message (over the message, not
    // the trace field).
    let signature = outpost_submit::dkim_sign(
        &web.config,
        &dir,
        sign,
        Some(&from),
        remote.is_empty(),
        &[&built],
    );
    drop(dir);
    let date = chrono::DateTime::from_timestamp(now as i64, 0)
        .map(|d| d.to_rfc2822())
        .unwrap_or_default();
    let mut message = format!(
        "Received: from webmail ([{}])\r\n\tby {host} (Outpost) with HTTPSA id {id};\r\n\t{date}\r\n",
        peer.addr.ip()
    )
    .into_bytes();
    message.extend_from_slice(signature.as_bytes());
    message.extend_from_slice(&built);
    if message.len() as u64 > web.config.smtp.max_message_size {
        return c.refuse(
            web,
            format!(
                "The message is {} with its files encoded; the server accepts at most {}.",
                super::mail::human_size(message.len() as u64),
                super::mail::human_size(web.config.smtp.max_message_size)
            ),
        );
    }
    // Local copies, then the queue for remote recipients: the same store
    // and queue calls smtpd makes for a submitted message.
    if let Err(e) = outpost_submit::deliver_local(&web.config.general.mail_root, &local, &message) {
        tracing::error!(id = %id, error = %e, "webmail: local delivery failed");
        return c.refuse(
            web,
            "The server could not store the message. Nothing was sent; try again.".into(),
        );
    }
    // Local recipients on vacation answer, as they do mail from SMTP.
    if !local.is_empty()
        && let Ok(mut dir) = outpost_directory::Directory::open(&web.config.directory.path)
    {
        outpost_submit::vacation::answer(&web.config, &mut dir, &local, &from, &message, now, sign);
    }
    if !remote.is_empty() {
        let env = outpost_queue::Envelope {
            id: id.clone(),
            from: from.clone(),
            rcpts: remote
                .iter()
                .map(|a| outpost_queue::QueuedRcpt {
                    address: a.clone(),
                    state: outpost_queue::RcptState::Pending,
                    last_error: String::new(),
                    notify_never: false,
                    orcpt: None,
                })
                .collect(),
            created: now,
            attempts: 0,
            next_attempt: now,
            size: message.len() as u64,
            envid: None,
            ret_headers_only: false,
            submitter: Some(user.clone()),
        };
        let queued = outpost_queue::Queue::open(&web.config.smtp.queue_dir)
            .and_then(|q| q.enqueue(&env, &message));
        if let Err(e) = queued {
            tracing::error!(id = %id, error = %e, "webmail: queueing failed");
            let why = format!(
                "The message reached {} local mailbox(es) but could not be queued for {}: try again for those.",
                local.len(),
                remote.join(", ")
            );
            return c.refuse(web, why);
        }
    }
    tracing::info!(
        target: "outpost::mail",
        id = %id,
        from = from.as_str(),
        to = rcpts.join(",").as_str(),
        size = message.len(),
        local = local.len(),
        remote = remote.len(),
        result = "queued",
        "message submitted from the webmail"
    );
    // A copy in Sent (without the trace header), \Answered on the message
    // replied to, and the draft it was written in is gone.
    if let Ok(mb) = super::mail::mailbox(web, &user) {
        if !mb.folder_dir("Sent").is_ok_and(|d| d.join("cur").is_dir()) {
            let _ = mb.create("Sent");
        }
        if let Ok(sent) = mb.folder("Sent") {
            let seen = Flags {
                bits: Flags::SEEN,
                keywords: Vec::new(),
            };
            if let Err(e) = sent.append(&built, &seen, Some(now as i64)) {
                tracing::warn!(id = %id, error = %e, "webmail: the Sent copy failed");
            }
        }
        // The original: `\Answered` after a reply, `$Forwarded` after a
        // forward.
        let (forwarded, original) = match back.answered.strip_prefix(FORWARDED_MARK) {
            Some(rest) => (true, rest),
            None => (false, back.answered.as_str()),
        };
        if let Some((uid, f)) = original.split_once(' ')
            && let Ok(uid) = uid.trim().parse::<u32>()
            && let Ok(folder) = mb.folder(&Mailbox::canonical(f))
        {
            let mark = if forwarded {
                Flags {
                    bits: 0,
                    keywords: vec!["$Forwarded".into()],
                }
            } else {
                Flags {
                    bits: Flags::ANSWERED,
                    keywords: Vec::new(),
                }
            };
            let _ = folder.store(&[uid], StoreFlags::Add, &mark, None);
        }
        if let Ok(d) = back.draft.parse::<u32>()
            && let Ok(drafts) = mb.folder(DRAFTS)
        {
            let _ = drafts.expunge(Some(&[d]), false);
        }
    }
    Redirect::to("/mail/?notice=sent").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_fields_split_and_refuse_what_is_not_an_address() {
        assert_eq!(
            parse_addresses("Bob <Bob@Outpost.lan>, carol@example.org; ; bob@outpost.lan").unwrap(),
            ["bob@outpost.lan", "carol@example.org"]
        );
        assert_eq!(parse_addresses("  ").unwrap(), Vec::<String>::new());
        for bad in [
            "bob",
            "@x",
            "x@",
            "a@b@c",
            "a b@c",
            "a@b\r\nBcc: evil@x",
            "<>",
            "\"a\"@b",
        ] {
            assert!(parse_addresses(bad).is_err(), "{bad:?}");
        }
    }

    /// A composed message parses back with mail-parser as it was typed:
    /// UTF-8 subject and body, every address, threading headers, no Bcc.
    #[test]
    fn a_composed_message_parses_back() {
        let to = vec![
            "bob@outpost.lan".to_string(),
            "dana@example.net".to_string(),
        ];
        let cc = vec!["carol@example.org".to_string()];
        let bytes = build(&Draft {
            from: "alice@outpost.lan",
            full_name: "Alice Ärger",
            to: &to,
            cc: &cc,
            bcc: &[],
            attachments: &[],
            answered: "",
            subject: "Grüße – plan for Monday",
            body: "Line one\r\nZweite Zeile: äöü ß\r\n.\r\nFrom the start\n",
            in_reply_to: vec!["q1@outpost.lan".into()],
            references: vec!["q0@outpost.lan".into(), "q1@outpost.lan".into()],
            message_id: "ID1@outpost.lan".into(),
            date: 1_800_000_000,
        })
        .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.to_ascii_lowercase().contains("bcc"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 998));
        let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(m.subject(), Some("Grüße – plan for Monday"));
        let from = m.from().unwrap().first().unwrap();
        assert_eq!(
            (from.name(), from.address()),
            (Some("Alice Ärger"), Some("alice@outpost.lan"))
        );
        let to: Vec<_> = m.to().unwrap().iter().filter_map(|a| a.address()).collect();
        assert_eq!(to, ["bob@outpost.lan", "dana@example.net"]);
        assert_eq!(
            m.cc().unwrap().first().unwrap().address(),
            Some("carol@example.org")
        );
        assert_eq!(m.message_id(), Some("ID1@outpost.lan"));
        assert_eq!(m.in_reply_to().as_text(), Some("q1@outpost.lan"));
        assert_eq!(
            m.references().as_text_list().map(|l| l.to_vec()),
            Some(vec!["q0@outpost.lan".into(), "q1@outpost.lan".into()])
        );
        assert_eq!(m.date().unwrap().to_timestamp(), 1_800_000_000);
        assert_eq!(
            m.body_text(0).unwrap().replace("\r\n", "\n"),
            "Line one\nZweite Zeile: äöü ß\n.\nFrom the start\n"
        );
    }

    #[test]
    fn a_subject_cannot_inject_headers() {
        let to = vec!["bob@outpost.lan".to_string()];
        let bytes = build(&Draft {
            from: "alice@outpost.lan",
            full_name: "",
            to: &to,
            cc: &[],
            bcc: &[],
            attachments: &[],
            answered: "",
            subject: "hi\r\nBcc: evil@example.org\r\nX-Evil: 1",
            body: "x",
            in_reply_to: Vec::new(),
            references: Vec::new(),
            message_id: "ID2@outpost.lan".into(),
            date: 1_800_000_000,
        })
        .unwrap();
        let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert!(m.header("Bcc").is_none() && m.header("X-Evil").is_none());
        assert_eq!(m.subject(), Some("hi  Bcc: evil@example.org  X-Evil: 1"));
    }

    #[test]
    fn uploaded_names_and_types_are_neutered() {
        assert_eq!(upload_name("C:\\fakepath\\Bericht ä.pdf"), "Bericht ä.pdf");
        assert_eq!(upload_name("../../etc/passwd"), "passwd");
        assert_eq!(upload_name("..\u{0}.\r\nx.txt"), "x.txt");
        assert_eq!(upload_name(""), "attachment");
        assert_eq!(upload_name("..."), "attachment");
        assert_eq!(upload_name(&"a".repeat(500)).len(), 200);
        assert_eq!(upload_type(Some("Image/PNG")), "image/png");
        for bad in [
            None,
            Some("text/html; charset=utf-8"),
            Some("text"),
            Some("/x"),
            Some("a/b/c"),
            Some("text/html\r\nX-Evil: 1"),
        ] {
            assert_eq!(upload_type(bad), "application/octet-stream", "{bad:?}");
        }
    }

    /// Files built into a message parse back byte for byte, with their
    /// names; a draft keeps Bcc and the message it answers.
    #[test]
    fn attachments_and_draft_headers_parse_back() {
        use mail_parser::MimeHeaders as _;
        let to = vec!["bob@outpost.lan".to_string()];
        let bcc = vec!["carol@outpost.lan".to_string()];
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let files = vec![
            Attachment {
                name: "Übersicht 2026.bin".into(),
                content_type: "application/octet-stream".into(),
                bytes: binary.clone(),
            },
            Attachment {
                name: "a.txt".into(),
                content_type: "text/plain".into(),
                bytes: b"no final newline".to_vec(),
            },
        ];
        let bytes = build(&Draft {
            from: "alice@outpost.lan",
            full_name: "",
            to: &to,
            cc: &[],
            bcc: &bcc,
            attachments: &files,
            answered: "7 Projekte/Übersicht",
            subject: "files",
            body: "see attached",
            in_reply_to: Vec::new(),
            references: Vec::new(),
            message_id: "ID3@outpost.lan".into(),
            date: 1_800_000_000,
        })
        .unwrap();
        assert!(bytes.split(|&b| b == b'\n').all(|l| l.len() <= 998));
        let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let got: Vec<_> = m
            .attachments()
            .map(|p| {
                (
                    p.attachment_name().unwrap().to_string(),
                    p.contents().to_vec(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("Übersicht 2026.bin".to_string(), binary),
                ("a.txt".to_string(), b"no final newline".to_vec())
            ]
        );
        assert_eq!(m.body_text(0).as_deref(), Some("see attached"));
        assert_eq!(
            m.bcc().unwrap().first().unwrap().address(),
            Some("carol@outpost.lan")
        );
        assert_eq!(answered_of(&m).as_deref(), Some("7 Projekte/Übersicht"));
    }

    #[test]
    fn replies_quote_and_prefix_once() {
        assert_eq!(prefixed("Re:", "Re: plan"), "Re: plan");
        assert_eq!(prefixed("Re:", "plan"), "Re: plan");
        assert_eq!(quote("a\n\nb"), "> a\n>\n> b");
    }
}
