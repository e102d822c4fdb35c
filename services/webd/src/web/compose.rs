//! Writing mail: the compose form (new, reply, reply all, forward) and
//! *Send*, which goes through the same submission path as SMTP
//! submission (`outpost-submit`: recipient resolution, aliases and groups,
//! quota, the queue for remote recipients, which waits for the link
//! exactly as submitted mail does), plus a copy in Sent and `\Answered`
//! on the message replied to.
//!
//! **Invariant:** a refused send loses nothing: the form comes back with
//! every field as typed and the reason; nothing is delivered, queued or
//! filed until every recipient resolved.

use super::{Form, Peer, Shell, Signed, Web, blocking, check_post, page, read_form_max, signed_in};
use askama::Template;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outpost_store::{Flags, Mailbox, StoreFlags};
use serde::Deserialize;
use std::sync::Arc;

/// Largest compose form (text only; attachments are not uploaded yet).
pub const MAX_COMPOSE: usize = 2 * 1024 * 1024;

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
    };
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
            p.answered = format!("{uid} {f}");
        } else {
            p.heading = "Forward".into();
            p.subject = prefixed("Fwd:", &subject);
            p.body = format!(
                "\n\n-------- Forwarded message --------\nSubject: {subject}\nDate: {date}\nFrom: {from}\nTo: {}\n\n{text}\n",
                super::mail::addresses(msg.to(), false)
            );
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
    /// Cc addresses (Bcc never becomes a header).
    pub cc: &'a [String],
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

/// `POST /mail/send`.
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
    let form = match read_form_max(&web, body, MAX_COMPOSE).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(r) = check_post(&headers, &signed, &form) {
        return r;
    }
    let w = web.clone();
    blocking(move || send_now(&w, &signed, &form, peer))
        .await
        .unwrap_or_else(super::mail::internal)
}

fn send_now(web: &Web, signed: &Signed, form: &Form, peer: Peer) -> Response {
    let user = signed.session.user.clone();
    let field = |k: &str| form.get(k).unwrap_or("").to_string();
    let identities = identities(web, &user);
    let mut back = ComposePage {
        shell: Shell::for_user(signed, "Mail"),
        folders: Vec::new(),
        heading: "New message".into(),
        error: String::new(),
        from: field("from"),
        identities,
        to: field("to"),
        cc: field("cc"),
        bcc: field("bcc"),
        subject: field("subject"),
        body: field("body"),
        in_reply_to: field("in_reply_to"),
        references: field("references"),
        answered: field("answered"),
    };
    let refuse = |mut p: ComposePage, why: String| -> Response {
        if let Ok(mb) = super::mail::mailbox(web, &p.shell.user.clone().unwrap_or_default()) {
            p.folders = super::mail::folder_rows(web, &mb, "");
        }
        p.error = why;
        page(StatusCode::UNPROCESSABLE_ENTITY, &p)
    };
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
            Err(bad) => return refuse(back, format!("{name}: “{bad}” is not an email address.")),
        }
    }
    if rcpts.is_empty() {
        return refuse(back, "Add at least one recipient (To, Cc or Bcc).".into());
    }
    if rcpts.len() > web.config.smtp.max_recipients {
        return refuse(
            back,
            format!(
                "At most {} recipients per message.",
                web.config.smtp.max_recipients
            ),
        );
    }
    let dir = match outpost_directory::Directory::open(&web.config.directory.path) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "opening the directory to send");
            return refuse(
                back,
                "The server cannot send right now (directory unavailable). Try again.".into(),
            );
        }
    };
    let from = back.from.trim().to_ascii_lowercase();
    if !dir.may_send_as(&user, &from).unwrap_or(false) {
        return refuse(back, format!("You cannot send as {from}."));
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
            Err(refusal) => return refuse(back, refusal.text().to_string()),
        }
    }
    let full_name = dir
        .user(&user)
        .ok()
        .flatten()
        .map(|u| u.full_name)
        .unwrap_or_default();
    drop(dir);
    let id = outpost_queue::new_id();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let host = web.config.general.hostname.clone();
    let ids = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|i| i.trim_matches(['<', '>']).to_string())
            .filter(|i| i.contains('@') && i.len() < 250 && i.chars().all(|c| c.is_ascii_graphic()))
            .collect()
    };
    let draft = Draft {
        from: &from,
        full_name: if from == user { &full_name } else { "" },
        to: &lists[0],
        cc: &lists[1],
        subject: back.subject.trim(),
        body: &back.body,
        in_reply_to: ids(&back.in_reply_to),
        references: ids(&back.references),
        message_id: format!("{id}@{host}"),
        date: now as i64,
    };
    let built = match build(&draft) {
        Ok(v) => v,
        Err(e) => return refuse(back, format!("The message could not be built: {e}")),
    };
    let date = chrono::DateTime::from_timestamp(now as i64, 0)
        .map(|d| d.to_rfc2822())
        .unwrap_or_default();
    let mut message = format!(
        "Received: from webmail ([{}])\r\n\tby {host} (Outpost) with HTTPSA id {id};\r\n\t{date}\r\n",
        peer.addr.ip()
    )
    .into_bytes();
    message.extend_from_slice(&built);
    if message.len() as u64 > web.config.smtp.max_message_size {
        return refuse(
            back,
            "The message is larger than the server accepts.".into(),
        );
    }
    // Local copies, then the queue for remote recipients: the same store
    // and queue calls smtpd makes for a submitted message.
    if let Err(e) = outpost_submit::deliver_local(&web.config.general.mail_root, &local, &message) {
        tracing::error!(id = %id, error = %e, "webmail: local delivery failed");
        return refuse(
            back,
            "The server could not store the message. Nothing was sent; try again.".into(),
        );
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
            back.heading = "New message".into();
            return refuse(
                back,
                format!(
                    "The message reached {} local mailbox(es) but could not be queued for {}: try again for those.",
                    local.len(),
                    remote.join(", ")
                ),
            );
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
    // A copy in Sent (without the trace header), and \Answered on the
    // message replied to.
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
        if let Some((uid, f)) = back.answered.split_once(' ')
            && let Ok(uid) = uid.trim().parse::<u32>()
            && let Ok(folder) = mb.folder(&Mailbox::canonical(f))
        {
            let answered = Flags {
                bits: Flags::ANSWERED,
                keywords: Vec::new(),
            };
            let _ = folder.store(&[uid], StoreFlags::Add, &answered, None);
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
    fn replies_quote_and_prefix_once() {
        assert_eq!(prefixed("Re:", "Re: plan"), "Re: plan");
        assert_eq!(prefixed("Re:", "plan"), "Re: plan");
        assert_eq!(quote("a\n\nb"), "> a\n>\n> b");
    }
}
