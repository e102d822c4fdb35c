//! One SMTP session (RFC 5321), generic over the stream so plain TCP, a
//! STARTTLS-upgraded stream (RFC 3207) and implicit TLS (RFC 8314) share
//! one path.
//!
//! Bytes → `smtp-proto` (I/O-free parser) → [`Request`] → apply. Replies are
//! collected and written when the input buffer is drained, which is what
//! PIPELINING (RFC 2920) needs. Every read is bounded by the idle timeout
//! (RFC 5321 §4.5.3.2.7) or, during DATA, the data timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use outpost_daemon::BoxStream;
use outpost_directory::AuthError;
use smtp_proto::request::receiver::{DataReceiver, LineReceiver, RequestReceiver};
use smtp_proto::{Error as ProtoError, MailFrom, RcptTo, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::Instrument as _;

use crate::queue::{Envelope, QueuedRcpt, RcptState};
use crate::spool::{Body, Spool};
use crate::{Listener, Shared};

/// Bad commands tolerated before the connection is closed.
const MAX_ERRORS: u32 = 20;
/// Runs a connection to its end (errors only end the connection). `tls`:
/// the stream is already TLS (port 465, handshake done by the listener).
pub async fn serve(
    shared: Arc<Shared>,
    kind: Listener,
    stream: BoxStream,
    peer: SocketAddr,
    tls: bool,
) {
    let mut s = Session::new(shared.clone(), kind, peer);
    if tls {
        s.tls = true;
        let _ = s.run(stream, true).await;
        return;
    }
    if let Ok(Outcome::StartTls(tcp)) = s.run(stream, true).await {
        let handshake = Duration::from_secs(shared.config.tls.handshake_timeout_secs.max(1));
        let Ok(Ok(tls)) = tokio::time::timeout(handshake, shared.tls.accept(tcp)).await else {
            return;
        };
        // RFC 3207 §4.2: forget everything learned before TLS.
        tracing::Span::current().record("starttls", true);
        s.tls = true;
        s.helo = None;
        s.tx = None;
        let _ = s.run(tls, false).await;
    }
}

/// How [`Session::run`] ended.
enum Outcome<S> {
    /// The client quit, timed out or went away.
    Closed,
    /// The client asked for STARTTLS and got `220`: here is the stream back
    /// for the handshake.
    StartTls(S),
}

enum State {
    Command,
    Data(DataReceiver),
    AuthPlain(LineReceiver<()>),
    AuthLoginUser(LineReceiver<()>),
    AuthLoginPass(LineReceiver<()>, String),
}

/// One accepted recipient.
struct Rcpt {
    address: String,
    /// Local mailboxes (user addresses) it expands to.
    local: Vec<String>,
    /// Remote addresses it expands to (itself, or alias/group targets).
    remote: Vec<String>,
    notify_never: bool,
    orcpt: Option<String>,
}

struct Transaction {
    from: String,
    rcpts: Vec<Rcpt>,
    envid: Option<String>,
    ret_headers_only: bool,
}

/// The recipients of a transaction for a log event: the first few, then
/// how many more (a transaction may have thousands).
fn rcpt_list(tx: &Transaction) -> String {
    const SHOWN: usize = 8;
    let mut s = String::new();
    for (i, r) in tx.rcpts.iter().take(SHOWN).enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&outpost_daemon::log::client_str(&r.address));
    }
    if tx.rcpts.len() > SHOWN {
        s.push_str(&format!(" (+{} more)", tx.rcpts.len() - SHOWN));
    }
    s
}

struct Session {
    shared: Arc<Shared>,
    kind: Listener,
    peer: SocketAddr,
    tls: bool,
    helo: Option<String>,
    esmtp: bool,
    user: Option<String>,
    auth_failures: u32,
    errors: u32,
    tx: Option<Transaction>,
    state: State,
    /// The DATA being received (#10): a buffer, then a spool file.
    spool: Option<Spool>,
    /// Scratch for the data receiver's output of one read.
    chunk: Vec<u8>,
    too_big: bool,
    quit: bool,
    starttls: bool,
    /// The connection's span: the user is recorded there, not on the
    /// per-command span the login happens in.
    conn: tracing::Span,
}

type Out = Vec<u8>;

fn reply(out: &mut Out, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl Session {
    fn new(shared: Arc<Shared>, kind: Listener, peer: SocketAddr) -> Session {
        Session {
            shared,
            kind,
            peer,
            tls: false,
            helo: None,
            esmtp: false,
            user: None,
            auth_failures: 0,
            errors: 0,
            tx: None,
            state: State::Command,
            spool: None,
            chunk: Vec::new(),
            too_big: false,
            quit: false,
            starttls: false,
            conn: tracing::Span::current(),
        }
    }

    fn hostname(&self) -> &str {
        &self.shared.config.general.hostname
    }

    async fn run<S>(&mut self, mut stream: S, greet: bool) -> std::io::Result<Outcome<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut out: Out = Vec::with_capacity(1024);
        if greet {
            reply(&mut out, &format!("220 {} ESMTP Outpost", self.hostname()));
        }
        let mut req = RequestReceiver::default();
        let mut buf = vec![0u8; 64 * 1024];
        let smtp = &self.shared.config.smtp;
        let idle = Duration::from_secs(smtp.idle_timeout_secs);
        let data_timeout = Duration::from_secs(smtp.data_timeout_secs);
        loop {
            if !out.is_empty() {
                stream.write_all(&out).await?;
                stream.flush().await?;
                out.clear();
            }
            if self.quit {
                let _ = stream.shutdown().await;
                return Ok(Outcome::Closed);
            }
            if self.starttls {
                self.starttls = false;
                return Ok(Outcome::StartTls(stream));
            }
            let wait = if matches!(self.state, State::Data(_)) {
                data_timeout
            } else {
                idle
            };
            // A shutdown ends the session between transactions' commands
            // (RFC 5321 §3.8: 421); a DATA transfer in flight finishes
            // and is answered first, within the daemon's grace period.
            let sd = self.shared.shutdown.clone();
            let between = matches!(self.state, State::Command);
            let read = tokio::select! {
                r = tokio::time::timeout(wait, stream.read(&mut buf)) => r,
                _ = sd.wait(), if between => {
                    let msg = format!("421 4.3.2 {} Service shutting down\r\n", self.hostname());
                    let _ = stream.write_all(msg.as_bytes()).await;
                    let _ = stream.flush().await;
                    return Ok(Outcome::Closed);
                }
            };
            let n = match read {
                Err(_) => {
                    let msg = format!("421 4.4.2 {} Error: timeout exceeded\r\n", self.hostname());
                    let _ = stream.write_all(msg.as_bytes()).await;
                    return Ok(Outcome::Closed);
                }
                Ok(Ok(0)) => return Ok(Outcome::Closed),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(e),
            };
            let mut iter = buf[..n].iter();
            while !self.quit && !self.starttls {
                let before = iter.len();
                match &mut self.state {
                    State::Command => match req.ingest(&mut iter) {
                        Ok(request) => {
                            let request = request.into_owned();
                            // A span per command: events of this command
                            // (login, queued message) carry its verb.
                            let span = tracing::info_span!("cmd", name = request.name());
                            self.command(request, &mut out).instrument(span).await;
                        }
                        Err(ProtoError::NeedsMoreData { .. }) => break,
                        Err(e) => {
                            self.protocol_error(e, &mut out);
                            if iter.len() == before {
                                // Nothing consumed: drop the rest rather
                                // than loop on it.
                                break;
                            }
                        }
                    },
                    State::Data(dr) => {
                        let done = dr.ingest(&mut iter, &mut self.chunk);
                        if let Some(spool) = &mut self.spool {
                            let total = spool.len() + self.chunk.len() as u64;
                            if total > self.shared.config.smtp.max_message_size {
                                // Keep reading to the final dot but stop storing.
                                self.too_big = true;
                                self.spool = None;
                            } else {
                                spool.push(&self.chunk).await;
                            }
                        }
                        self.chunk.clear();
                        if !done {
                            break;
                        }
                        self.state = State::Command;
                        self.finish_data(&mut out).await;
                    }
                    State::AuthPlain(lr)
                    | State::AuthLoginUser(lr)
                    | State::AuthLoginPass(lr, _) => {
                        if !lr.ingest(&mut iter) {
                            break;
                        }
                        let line = String::from_utf8_lossy(&lr.buf).trim().to_string();
                        let state = std::mem::replace(&mut self.state, State::Command);
                        self.auth_continue(state, &line, &mut out).await;
                    }
                }
                if iter.len() == 0 {
                    break;
                }
            }
            // RFC 3207 §4.2 / CVE-2011-0411: bytes pipelined after STARTTLS
            // are discarded, never read as commands inside TLS.
        }
    }

    fn protocol_error(&mut self, e: ProtoError, out: &mut Out) {
        self.errors += 1;
        let text = match e {
            ProtoError::UnknownCommand => "500 5.5.2 Error: command not recognized".to_string(),
            ProtoError::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax".into(),
            ProtoError::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax".into(),
            ProtoError::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {syntax}"),
            ProtoError::InvalidParameter { param } => {
                format!("501 5.5.4 Invalid parameter {param}")
            }
            ProtoError::UnsupportedParameter { param } => {
                format!("504 5.5.4 Unsupported parameter {param}")
            }
            ProtoError::ResponseTooLong => "500 5.5.2 Error: line too long".into(),
            _ => "500 5.5.2 Error: bad syntax".into(),
        };
        reply(out, &text);
        if self.errors >= MAX_ERRORS {
            reply(out, "421 4.7.0 Too many errors, closing connection");
            self.quit = true;
        }
    }

    async fn command(&mut self, request: Request<String>, out: &mut Out) {
        match request {
            Request::Ehlo { host } => {
                self.helo = Some(host);
                self.esmtp = true;
                self.tx = None;
                self.ehlo(out);
            }
            Request::Helo { host } => {
                self.helo = Some(host);
                self.esmtp = false;
                self.tx = None;
                reply(out, &format!("250 {}", self.hostname()));
            }
            Request::Lhlo { .. } => reply(out, "500 5.5.1 Error: LHLO is LMTP"),
            Request::StartTls => {
                if self.tls || self.kind == Listener::Submissions {
                    reply(out, "554 5.5.1 Error: TLS already active");
                } else {
                    reply(out, "220 2.0.0 Ready to start TLS");
                    self.starttls = true;
                }
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response, out).await,
            Request::Mail { from } => self.mail(from, out).await,
            Request::Rcpt { to } => self.rcpt(to, out).await,
            Request::Data => match &self.tx {
                None => reply(out, "503 5.5.1 Error: need MAIL command"),
                Some(tx) if tx.rcpts.is_empty() => {
                    reply(out, "554 5.5.1 Error: no valid recipients")
                }
                Some(_) => {
                    reply(out, "354 End data with <CR><LF>.<CR><LF>");
                    let smtp = &self.shared.config.smtp;
                    self.spool = Some(Spool::new(
                        self.shared.queue.spool_dir(),
                        smtp.data_buffer_bytes,
                    ));
                    self.too_big = false;
                    self.state = State::Data(DataReceiver::new());
                }
            },
            Request::Bdat { .. } => reply(out, "502 5.5.1 Error: command not implemented"),
            Request::Rset => {
                self.tx = None;
                reply(out, "250 2.0.0 Ok");
            }
            Request::Noop { .. } => reply(out, "250 2.0.0 Ok"),
            Request::Quit => {
                reply(out, "221 2.0.0 Bye");
                self.quit = true;
            }
            Request::Vrfy { .. } => reply(
                out,
                "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Request::Help { .. } => reply(out, "214 2.0.0 See RFC 5321"),
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => reply(out, "502 5.5.1 Error: command not implemented"),
        }
    }

    fn ehlo(&self, out: &mut Out) {
        let mut lines = vec![
            self.hostname().to_string(),
            "PIPELINING".into(),
            format!("SIZE {}", self.shared.config.smtp.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "DSN".into(),
        ];
        if !self.tls {
            lines.push("STARTTLS".into());
        }
        if self.kind != Listener::Mx && self.tls && self.user.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            reply(out, &format!("250{sep}{l}"));
        }
    }

    async fn auth(&mut self, mechanism: u64, initial: String, out: &mut Out) {
        if self.kind == Listener::Mx {
            return reply(out, "503 5.5.1 Error: authentication not enabled");
        }
        if !self.tls {
            return reply(out, "530 5.7.0 Must issue a STARTTLS command first");
        }
        if self.user.is_some() {
            return reply(out, "503 5.5.1 Error: already authenticated");
        }
        if self.tx.is_some() {
            return reply(out, "503 5.5.1 Error: MAIL transaction in progress");
        }
        match mechanism {
            smtp_proto::AUTH_PLAIN => {
                if initial.is_empty() {
                    reply(out, "334 ");
                    self.state = State::AuthPlain(LineReceiver::new(()));
                } else {
                    self.auth_plain(&initial, out).await;
                }
            }
            smtp_proto::AUTH_LOGIN => {
                if initial.is_empty() {
                    reply(out, "334 VXNlcm5hbWU6");
                    self.state = State::AuthLoginUser(LineReceiver::new(()));
                } else {
                    self.auth_login_user(&initial, out);
                }
            }
            _ => reply(out, "504 5.5.4 Unrecognized authentication type"),
        }
    }

    async fn auth_continue(&mut self, state: State, line: &str, out: &mut Out) {
        if line == "*" {
            // RFC 4954 §4: the client cancels the exchange.
            return reply(out, "501 5.0.0 Authentication cancelled");
        }
        match state {
            State::AuthPlain(_) => self.auth_plain(line, out).await,
            State::AuthLoginUser(_) => self.auth_login_user(line, out),
            State::AuthLoginPass(_, user) => match B64.decode(line) {
                Ok(p) => {
                    let pass = String::from_utf8_lossy(&p).into_owned();
                    self.verify("LOGIN", user, pass, out).await;
                }
                Err(_) => reply(out, "501 5.5.2 Cannot decode response"),
            },
            _ => {}
        }
    }

    fn auth_login_user(&mut self, line: &str, out: &mut Out) {
        match B64.decode(line) {
            Ok(u) => {
                let user = String::from_utf8_lossy(&u).into_owned();
                reply(out, "334 UGFzc3dvcmQ6");
                self.state = State::AuthLoginPass(LineReceiver::new(()), user);
            }
            Err(_) => reply(out, "501 5.5.2 Cannot decode response"),
        }
    }

    async fn auth_plain(&mut self, b64: &str, out: &mut Out) {
        let decoded = if b64 == "=" {
            Ok(Vec::new())
        } else {
            B64.decode(b64)
        };
        let Ok(decoded) = decoded else {
            return reply(out, "501 5.5.2 Cannot decode response");
        };
        // RFC 4616: [authzid] NUL authcid NUL passwd.
        let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
        if parts.len() != 3 {
            return reply(out, "501 5.5.2 Cannot decode response");
        }
        let authz = String::from_utf8_lossy(parts[0]).into_owned();
        let user = String::from_utf8_lossy(parts[1]).into_owned();
        let pass = String::from_utf8_lossy(parts[2]).into_owned();
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(&user) {
            // No proxy authorisation: nobody may act as someone else.
            self.log_login("PLAIN", &user, Err("authzid differs"));
            self.auth_failed(out, "535 5.7.8 Authentication credentials invalid");
            return;
        }
        self.verify("PLAIN", user, pass, out).await;
    }

    async fn verify(&mut self, mech: &'static str, user: String, pass: String, out: &mut Out) {
        let given = user.clone();
        let result = self.shared.authenticate(user, pass, self.peer).await;
        match result {
            Ok(u) => {
                self.log_login(mech, &u.address, Ok(()));
                self.user = Some(u.address);
                reply(out, "235 2.7.0 Authentication successful");
            }
            Err(e) => {
                let why = match &e {
                    AuthError::Invalid => "invalid",
                    AuthError::Locked(_) => "locked",
                    AuthError::Disabled => "disabled",
                    // The gate's refusal: the same reason word as imapd
                    // and webd log.
                    AuthError::Unavailable(d) if d == "busy" => "busy",
                    AuthError::Unavailable(_) => "unavailable",
                };
                self.log_login(mech, &given, Err(why));
                if let AuthError::Unavailable(detail) = &e
                    && detail != "busy"
                {
                    tracing::warn!(error = %detail, "password check unavailable");
                }
                match e {
                    AuthError::Locked(_) | AuthError::Unavailable(_) => {
                        self.auth_failed(out, "454 4.7.0 Temporary authentication failure")
                    }
                    AuthError::Invalid | AuthError::Disabled => {
                        self.auth_failed(out, "535 5.7.8 Authentication credentials invalid")
                    }
                }
            }
        }
    }

    /// The `outpost::auth` event of this attempt.
    fn log_login(&self, mech: &str, user: &str, outcome: Result<(), &str>) {
        outpost_daemon::log::login_on(&self.conn, "smtp", mech, user, self.peer.ip(), outcome);
    }

    fn auth_failed(&mut self, out: &mut Out, text: &str) {
        self.auth_failures += 1;
        reply(out, text);
        if self.auth_failures >= self.shared.config.smtp.max_auth_failures_per_session {
            reply(out, "421 4.7.0 Too many failed authentication attempts");
            self.quit = true;
        }
    }

    async fn mail(&mut self, from: MailFrom<String>, out: &mut Out) {
        if self.helo.is_none() {
            return reply(out, "503 5.5.1 Error: send HELO/EHLO first");
        }
        if self.tx.is_some() {
            return reply(out, "503 5.5.1 Error: nested MAIL command");
        }
        if self.kind != Listener::Mx && self.user.is_none() {
            if !self.tls {
                return reply(out, "530 5.7.0 Must issue a STARTTLS command first");
            }
            return reply(out, "530 5.7.0 Authentication required");
        }
        if from.size as u64 > self.shared.config.smtp.max_message_size {
            return reply(
                out,
                "552 5.3.4 Message size exceeds fixed maximum message size",
            );
        }
        // #20: a decoded ENVID ends up in bounces; xtext can encode CR LF.
        if from
            .env_id
            .as_deref()
            .is_some_and(|e| !crate::text::printable(e))
        {
            return reply(out, "501 5.5.4 Invalid parameter ENVID");
        }
        let address = from.address.to_lowercase();
        if let Some(user) = self.user.clone() {
            let allowed = !address.is_empty() && self.may_send_as(&user, &address).await;
            if !allowed {
                return reply(
                    out,
                    &format!(
                        "553 5.7.1 <{address}>: Sender address rejected: not owned by user {user}"
                    ),
                );
            }
        }
        self.tx = Some(Transaction {
            from: address,
            rcpts: Vec::new(),
            envid: from.env_id,
            ret_headers_only: from.flags & smtp_proto::MAIL_RET_HDRS != 0,
        });
        reply(out, "250 2.1.0 Ok");
    }

    async fn may_send_as(&self, user: &str, address: &str) -> bool {
        let shared = self.shared.clone();
        let (user, address) = (user.to_string(), address.to_string());
        tokio::task::spawn_blocking(move || {
            let dir = shared.directory.lock().unwrap_or_else(|e| e.into_inner());
            dir.may_send_as(&user, &address).unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    async fn rcpt(&mut self, to: RcptTo<String>, out: &mut Out) {
        let Some(tx) = &self.tx else {
            return reply(out, "503 5.5.1 Error: need MAIL command");
        };
        if to
            .orcpt
            .as_deref()
            .is_some_and(|o| !crate::text::printable(o))
        {
            return reply(out, "501 5.5.4 Invalid parameter ORCPT");
        }
        if tx.rcpts.len() >= self.shared.config.smtp.max_recipients {
            return reply(out, "452 4.5.3 Error: too many recipients");
        }
        let mut address = to.address.to_lowercase();
        // RFC 5321 §4.5.1: "postmaster" without a domain must be accepted.
        if address == "postmaster" {
            address = format!("postmaster@{}", self.shared.config.primary_domain());
        }
        // The submission path's rules (outpost-submit), shared with the
        // webmail: aliases and groups, quota, relaying only when signed in.
        let shared = self.shared.clone();
        let addr = address.clone();
        let authenticated = self.user.is_some();
        let looked_up = tokio::task::spawn_blocking(move || {
            let dir = shared.directory.lock().unwrap_or_else(|e| e.into_inner());
            outpost_submit::resolve(&shared.config, &dir, &addr, authenticated)
        })
        .await;
        let (local, remote) = match looked_up {
            Ok(Ok(r)) => (r.local, r.remote),
            Ok(Err(refusal)) => {
                if refusal.is_temporary() {
                    tracing::error!(rcpt = address.as_str(), reply = %refusal, "directory lookup failed");
                    return reply(out, "451 4.3.0 Error: temporary directory failure");
                }
                return reply(out, &refusal.reply);
            }
            Err(e) => {
                tracing::error!(rcpt = address.as_str(), error = %e, "directory lookup failed");
                return reply(out, "451 4.3.0 Error: temporary directory failure");
            }
        };
        if let Some(tx) = &mut self.tx {
            tx.rcpts.push(Rcpt {
                address,
                local,
                remote,
                notify_never: to.flags & smtp_proto::RCPT_NOTIFY_NEVER != 0,
                orcpt: to.orcpt,
            });
        }
        reply(out, "250 2.1.5 Ok");
    }

    async fn finish_data(&mut self, out: &mut Out) {
        let Some(tx) = self.tx.take() else { return };
        let spool = self.spool.take();
        if self.too_big {
            self.too_big = false;
            return reply(
                out,
                "552 5.3.4 Message size exceeds fixed maximum message size",
            );
        }
        let spooled = match spool {
            Some(spool) => spool.finish().await,
            None => Err(std::io::Error::other("no DATA in progress")),
        };
        let mut body = match spooled {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(from = tx.from.as_str(), error = %e, "spooling DATA failed");
                return reply(
                    out,
                    "451 4.3.0 Error: local storage failure, try again later",
                );
            }
        };
        // The header checks read the in-memory head: the header section of
        // a spooled message must end within it.
        if body.spilled() && !crate::spool::header_section_ends(&body.head) {
            return reply(
                out,
                &format!(
                    "552 5.3.4 Header section exceeds {} bytes",
                    self.shared.config.smtp.data_buffer_bytes
                ),
            );
        }
        let id = crate::queue::new_id();
        let now = crate::time::now();
        let mut fixups = String::new();
        // RFC 5322 §3.6: one From and at most one Sender, on every listener
        // (a reader's client shows one of two From fields and believes it).
        let originator = match crate::originator::originator(&body.head) {
            Ok(o) => o,
            Err(dup) => return reply(out, &dup.reply()),
        };
        // #1: mail nested deeper than every daemon will parse is refused
        // here, as Postfix's mime_nesting_limit does, so it never reaches
        // a mailbox (imapd would serve it as one opaque part).
        let max_depth = self.shared.config.general.max_mime_depth;
        match mime_too_deep(&mut body, max_depth) {
            Ok(false) => {}
            Ok(true) => {
                return reply(
                    out,
                    &format!("554 5.6.0 MIME nesting exceeds the limit of {max_depth} levels"),
                );
            }
            Err(e) => {
                tracing::error!(from = tx.from.as_str(), error = %e, "reading the spooled message failed");
                return reply(
                    out,
                    "451 4.3.0 Error: local storage failure, try again later",
                );
            }
        }
        if let Some(user) = self.user.clone() {
            let headers = outpost_mime::parse_headers(&body.head[..]);
            // #16: every address of the From list and of Sender must be
            // the user's; a From field with no address at all is refused.
            if originator.from.as_ref().is_some_and(Vec::is_empty) {
                return reply(
                    out,
                    &format!("550 5.7.1 From header rejected: no address of user {user}"),
                );
            }
            let fields = [("From", &originator.from), ("Sender", &originator.sender)];
            for (field, addresses) in fields {
                for a in addresses.iter().flatten() {
                    if !self.may_send_as(&user, a).await {
                        return reply(
                            out,
                            &format!(
                                "550 5.7.1 <{a}>: {field} header rejected: not owned by user {user}"
                            ),
                        );
                    }
                }
            }
            // RFC 6409 §8.2/§8.3: a submission server may add a missing
            // Date and Message-ID (many small clients omit them).
            if headers.as_ref().and_then(|m| m.date()).is_none() {
                fixups.push_str(&format!("Date: {}\r\n", crate::time::rfc5322(now)));
            }
            if headers.as_ref().and_then(|m| m.message_id()).is_none() {
                fixups.push_str(&format!("Message-ID: <{id}@{}>\r\n", self.hostname()));
            }
        }
        // The filters read the whole message once; a spooled one is read
        // under the same permit its local delivery uses (#10).
        let permit = if body.spilled() {
            self.shared
                .spooled_deliveries
                .clone()
                .acquire_owned()
                .await
                .ok()
        } else {
            None
        };
        let message = match body.read_all() {
            Ok(m) => Arc::new(m),
            Err(e) => {
                tracing::error!(id = %id, from = tx.from.as_str(), error = %e, "reading the spooled message failed");
                return reply(
                    out,
                    "451 4.3.0 Error: local storage failure, try again later",
                );
            }
        };
        let rcpt_addresses: Vec<String> = tx.rcpts.iter().map(|r| r.address.clone()).collect();
        let helo = self.helo.clone().unwrap_or_default();
        let cx = crate::filters::Context {
            user: self.user.as_deref(),
            ip: self.peer.ip().to_canonical(),
            helo: &helo,
            from: &tx.from,
            rcpts: &rcpt_addresses,
            id: &id,
        };
        let screened = match crate::filters::screen(
            &self.shared.config,
            &self.shared.filters,
            message.clone(),
            &cx,
        )
        .await
        {
            Ok(s) => s,
            Err(refusal) => {
                tracing::info!(
                    target: "outpost::mail",
                    id = %id,
                    from = tx.from.as_str(),
                    to = rcpt_list(&tx).as_str(),
                    result = "refused",
                    reply = refusal.as_str(),
                    "message refused by a filter"
                );
                return reply(out, &refusal);
            }
        };
        if self.user.is_none() && self.shared.filters.checker.is_some() {
            crate::filters::strip_forged(&self.shared.config, &mut body.head);
        }
        body.prefix = self.received_header(&id, &tx, now).into_bytes();
        body.prefix.extend_from_slice(screened.headers.as_bytes());
        if self.user.is_some() {
            // Signed over what leaves: the fix-ups and the message
            // (smtpd's Received is not among the signed fields). RSA is
            // CPU work: on the blocking pool.
            let from_address = originator.from.as_ref().and_then(|f| f.first().cloned());
            let only_local = tx.rcpts.iter().all(|r| r.remote.is_empty());
            let shared = self.shared.clone();
            let chunks = fixups.clone();
            let m = message.clone();
            let signature = tokio::task::spawn_blocking(move || {
                let dir = shared.directory.lock().unwrap_or_else(|e| e.into_inner());
                crate::filters::sign(
                    &shared.config,
                    &shared.filters,
                    &dir,
                    from_address.as_deref(),
                    only_local,
                    &[chunks.as_bytes(), &m[..]],
                )
            })
            .await
            .unwrap_or_default();
            body.prefix.extend_from_slice(signature.as_bytes());
        }
        body.prefix.extend_from_slice(fixups.as_bytes());
        drop(message);
        let junk = screened.junk;

        let mut local: Vec<String> = Vec::new();
        let mut remote: Vec<QueuedRcpt> = Vec::new();
        for r in &tx.rcpts {
            for l in &r.local {
                if !local.contains(l) {
                    local.push(l.clone());
                }
            }
            for a in &r.remote {
                if !remote.iter().any(|q| &q.address == a) {
                    remote.push(QueuedRcpt {
                        address: a.clone(),
                        state: RcptState::Pending,
                        last_error: String::new(),
                        notify_never: r.notify_never,
                        orcpt: r.orcpt.clone(),
                    });
                }
            }
        }
        let size = match body.len() {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(id = %id, from = tx.from.as_str(), error = %e, "spooling DATA failed");
                return reply(
                    out,
                    "451 4.3.0 Error: local storage failure, try again later",
                );
            }
        };
        let n_local = local.len();
        let n_remote = remote.len();
        let shared = self.shared.clone();
        let env = Envelope {
            id: id.clone(),
            from: tx.from.clone(),
            rcpts: remote,
            created: now,
            attempts: 0,
            next_attempt: now,
            size,
            envid: tx.envid.clone(),
            ret_headers_only: tx.ret_headers_only,
            submitter: self.user.clone(),
        };
        let stored = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let folder = if junk { "Junk" } else { "" };
            deliver_all(&shared, &local, folder, &env, &mut body)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match stored {
            Ok(()) => {
                if n_remote > 0 {
                    self.shared.relay_wakeup.notify_one();
                }
                tracing::info!(
                    target: "outpost::mail",
                    id = %id,
                    from = tx.from.as_str(),
                    to = rcpt_list(&tx).as_str(),
                    size,
                    local = n_local,
                    remote = n_remote,
                    junk,
                    filters = screened.summary.join(" ").as_str(),
                    result = "queued",
                    "message accepted"
                );
                reply(out, &format!("250 2.0.0 Ok: queued as {id}"));
            }
            Err(e) => {
                tracing::error!(
                    target: "outpost::mail",
                    id = %id,
                    from = tx.from.as_str(),
                    to = rcpt_list(&tx).as_str(),
                    size,
                    result = "tempfail",
                    error = %e,
                    "message not stored"
                );
                reply(
                    out,
                    "451 4.3.0 Error: local storage failure, try again later",
                );
            }
        }
    }

    fn received_header(&self, id: &str, tx: &Transaction, now: u64) -> String {
        // RFC 5321 §4.4 trace field; "with" uses the RFC 3848 keywords.
        let with = match (self.esmtp, self.tls, self.user.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        };
        let helo = self.helo.as_deref().unwrap_or("unknown");
        let helo: String = helo.chars().filter(|c| !c.is_control()).take(255).collect();
        let for_clause = match tx.rcpts.as_slice() {
            [one] => format!("\r\n\tfor <{}>", one.address),
            _ => String::new(),
        };
        format!(
            "Received: from {helo} ([{}])\r\n\tby {} (Outpost) with {with} id {id}{for_clause};\r\n\t{}\r\n",
            self.peer.ip(),
            self.hostname(),
            crate::time::rfc5322(now)
        )
    }
}

/// Stores a message for every local mailbox (durably, via the store) and
/// queues it for the remote recipients; Ok only when all of it is on disk.
/// A spooled message is streamed into the queue, and read into memory only
/// for local delivery.
pub(crate) fn deliver_all(
    shared: &Shared,
    local: &[String],
    folder: &str,
    env: &Envelope,
    body: &mut Body,
) -> Result<(), String> {
    let root = &shared.config.general.mail_root;
    let mut in_memory = None;
    if !local.is_empty() {
        let message = if body.spilled() {
            body.read_all()
                .map_err(|e| format!("reading the spooled message: {e}"))?
        } else {
            [&body.prefix[..], &body.head[..]].concat()
        };
        outpost_submit::deliver_local_to(root, local, folder, &message)?;
        in_memory = Some(message);
    }
    if !env.rcpts.is_empty() {
        let queued = match &in_memory {
            Some(message) => shared.queue.enqueue(env, message),
            None => shared.queue.enqueue_with(env, |w| body.write_to(w)),
        };
        queued.map_err(|e| format!("queueing {}: {e}", env.id))?;
    }
    // Out-of-office replies, once every copy is safe (a failure here is
    // logged; the message stays delivered).
    // (Not for mail judged junk: spammers' forged senders get no reply.)
    if let Some(message) = &in_memory
        && !env.from.is_empty()
        && folder.is_empty()
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut dir = shared.directory.lock().unwrap_or_else(|e| e.into_inner());
        let sign = shared.filters.signer.as_ref().map(|s| s.as_fn());
        let sign = sign.as_ref().map(|f| f as &outpost_submit::Sign);
        let sent = outpost_submit::vacation::answer(
            &shared.config,
            &mut dir,
            local,
            &env.from,
            message,
            now,
            sign,
        );
        if sent > 0 {
            shared.relay_wakeup.notify_one();
        }
    }
    Ok(())
}

/// Whether the message nests deeper than `max`: a streaming scan bounds the
/// depth (the spooled part is read, not held); only a message with more
/// nesting headers than the limit allows is parsed and measured.
fn mime_too_deep(body: &mut crate::spool::Body, max: usize) -> std::io::Result<bool> {
    let mut scan = outpost_mime::NestingScan::default();
    body.write_to(&mut scan)?;
    if scan.bound() < max {
        return Ok(false);
    }
    let bytes = body.read_all()?;
    Ok(outpost_mime::exceeds(&bytes, max))
}
