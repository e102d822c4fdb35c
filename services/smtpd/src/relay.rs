//! Store and forward: drains the durable queue to the upstream smarthost.
//!
//! One task walks the queue whenever something is enqueued, when
//! `outpostctl queue flush` drops the `.flush` file, and at least every few
//! seconds. Each due entry is tried once: SMTP to `[smtp.upstream]` with
//! STARTTLS (required by default) and AUTH PLAIN, one recipient at a time
//! judged by its own reply. Temporary failures are retried after
//! `retry_initial_secs`, doubling up to `retry_max_secs`; permanent
//! failures, and whatever is still pending after `bounce_after_secs`, are
//! returned to the sender as an RFC 3464 delivery status notification.
//! Bounces have the null sender and are never bounced themselves.
//!
//! An entry the relay cannot read is never retried (#17): its sender gets
//! a bounce when the envelope can be read, and the entry moves to the
//! queue's `held/` directory with one log line. Leftovers of interrupted
//! enqueues are removed by a cleanup pass at start and every few minutes,
//! once older than `smtp.queue_orphan_grace_secs`.
//!
//! Delivery is at-least-once: a crash between the smarthost's `250` and the
//! queue update resends the message (RFC 5321 §6.1 accepts duplicates over
//! losses).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use outpost_config::UpstreamTls;
use smtp_proto::Error as ProtoError;
use smtp_proto::response::parser::{MAX_RESPONSE_LENGTH, ResponseReceiver};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Shared;
use crate::queue::{Envelope, QueuedRcpt, RcptState};
use crate::time::now;

/// Longest pause between queue scans (to notice `.flush` and new entries
/// written by other processes).
const SCAN_INTERVAL: Duration = Duration::from_secs(2);
/// Parallel deliveries to the smarthost.
const RELAY_CONCURRENCY: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between cleanup passes over the queue directory.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(600);

/// Removes leftovers of interrupted enqueues older than the grace period
/// (see [`crate::queue::Queue::cleanup`]); one log line if it removed any.
pub fn cleanup(queue: &crate::queue::Queue, config: &outpost_config::Config) {
    let grace = Duration::from_secs(config.smtp.queue_orphan_grace_secs);
    match queue.cleanup(grace) {
        Ok(c) if !c.removed.is_empty() => tracing::info!(
            removed = c.removed.len(),
            grace_secs = grace.as_secs(),
            queue = %queue.dir().display(),
            "removed leftovers of interrupted enqueues"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::error!(queue = %queue.dir().display(), error = %e, "queue cleanup failed")
        }
    }
}

/// Runs the relay forever.
pub async fn run(shared: Arc<Shared>) {
    let mut last_cleanup = tokio::time::Instant::now();
    loop {
        if last_cleanup.elapsed() >= CLEANUP_INTERVAL {
            last_cleanup = tokio::time::Instant::now();
            let s = shared.clone();
            let _ = tokio::task::spawn_blocking(move || cleanup(&s.queue, &s.config)).await;
        }
        let flush = shared.queue.take_flush();
        let s = shared.clone();
        let scan = tokio::task::spawn_blocking(move || s.queue.scan())
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        for (id, e) in &scan.unreadable {
            hold(&shared.queue, id, &format!("cannot read envelope: {e}"));
        }
        let entries = scan.entries;
        let t = now();
        // Up to RELAY_CONCURRENCY deliveries at once: a backlog built up
        // while offline drains quickly once the link is back.
        let mut running = tokio::task::JoinSet::new();
        for env in entries {
            if flush || env.next_attempt <= t {
                while running.len() >= RELAY_CONCURRENCY {
                    let _ = running.join_next().await;
                }
                let s = shared.clone();
                running.spawn(async move { process(&s, env).await });
            }
        }
        while running.join_next().await.is_some() {}
        tokio::select! {
            _ = shared.relay_wakeup.notified() => {}
            _ = tokio::time::sleep(SCAN_INTERVAL) => {}
        }
    }
}

/// One delivery attempt for one queue entry, then the bookkeeping.
pub async fn process(shared: &Arc<Shared>, mut env: Envelope) {
    let cfg = &shared.config.smtp;
    let message = match shared.queue.message(&env.id) {
        Ok(m) => m,
        Err(e) => return unreadable(shared, env, &e),
    };
    let pending_before: Vec<usize> = (0..env.rcpts.len())
        .filter(|&i| env.rcpts[i].state == RcptState::Pending)
        .collect();
    if cfg.upstream.host.is_empty() {
        for &i in &pending_before {
            env.rcpts[i].last_error = "no smarthost configured ([smtp.upstream] host)".into();
        }
    } else {
        let rcpts: Vec<String> = pending_before
            .iter()
            .map(|&i| env.rcpts[i].address.clone())
            .collect();
        match send(shared, &env.from, &rcpts, &message).await {
            Ok(results) => {
                for (&i, r) in pending_before.iter().zip(results) {
                    let rc = &mut env.rcpts[i];
                    match r {
                        Ok(text) => {
                            rc.state = RcptState::Delivered;
                            rc.last_error = text;
                        }
                        Err(Failure { permanent, text }) => {
                            if permanent {
                                rc.state = RcptState::Failed;
                            }
                            rc.last_error = text;
                        }
                    }
                }
            }
            Err(Failure { permanent, text }) => {
                for &i in &pending_before {
                    if permanent {
                        env.rcpts[i].state = RcptState::Failed;
                    }
                    env.rcpts[i].last_error = text.clone();
                }
            }
        }
        env.attempts += 1;
    }
    let t = now();
    let expired = t.saturating_sub(env.created) >= cfg.bounce_after_secs;
    if expired {
        for &i in &pending_before {
            let rc = &mut env.rcpts[i];
            if rc.state == RcptState::Pending {
                rc.state = RcptState::Failed;
                rc.last_error =
                    format!("4.4.7 delivery time expired; last error: {}", rc.last_error);
            }
        }
    }
    for &i in &pending_before {
        let rc = &env.rcpts[i];
        let status = match rc.state {
            RcptState::Pending => "deferred",
            RcptState::Delivered => "sent",
            RcptState::Failed => "bounced",
        };
        tracing::info!(
            target: "outpost::mail",
            id = %env.id,
            from = env.from.as_str(),
            to = rc.address.as_str(),
            size = env.size,
            attempts = env.attempts,
            result = status,
            reply = rc.last_error.as_str(),
            "relay"
        );
    }
    let newly_failed: Vec<QueuedRcpt> = pending_before
        .iter()
        .map(|&i| env.rcpts[i].clone())
        .filter(|r| r.state == RcptState::Failed && !r.notify_never)
        .collect();
    if !newly_failed.is_empty() && !env.from.is_empty() {
        bounce(shared, &env, &newly_failed, &message, expired);
    }
    let result = if env.pending().next().is_none() {
        shared.queue.remove(&env.id)
    } else {
        let shift = env.attempts.saturating_sub(1).min(30);
        let delay = cfg
            .retry_initial_secs
            .saturating_mul(1u64 << shift)
            .min(cfg.retry_max_secs);
        env.next_attempt = t + delay;
        shared.queue.update(&env)
    };
    if let Err(e) = result {
        tracing::error!(id = %env.id, error = %e, "updating the queue failed");
    }
}

/// Moves an entry to `held/`, with its one log line.
fn hold(queue: &crate::queue::Queue, id: &str, why: &str) {
    match queue.hold(id) {
        Ok(()) => tracing::error!(
            target: "outpost::mail",
            id,
            reason = why,
            held = %queue.held_dir().display(),
            result = "held",
            "message held"
        ),
        Err(e) => tracing::error!(id, reason = why, error = %e, "holding a message failed"),
    }
}

/// An entry whose message cannot be read: a bounce for every pending
/// recipient that wants one, then `held/` (never retried, #17).
fn unreadable(shared: &Shared, mut env: Envelope, e: &std::io::Error) {
    if !shared.queue.contains(&env.id) {
        // Removed meanwhile (delivered by another pass, or `outpostctl
        // queue delete`): nothing to report.
        return;
    }
    let why = format!("the queued copy of the message could not be read: {e}");
    let failed: Vec<QueuedRcpt> = env
        .rcpts
        .iter_mut()
        .filter(|r| r.state == RcptState::Pending)
        .map(|r| {
            r.state = RcptState::Failed;
            r.last_error = why.clone();
            r.clone()
        })
        .filter(|r| !r.notify_never)
        .collect();
    if !failed.is_empty() && !env.from.is_empty() {
        bounce(shared, &env, &failed, &[], false);
    }
    // The envelope with the recipients marked failed goes with it.
    if let Err(e) = shared.queue.update(&env) {
        tracing::error!(id = %env.id, error = %e, "updating the queue failed");
    }
    hold(&shared.queue, &env.id, &format!("cannot read message: {e}"));
}

/// A failed step: permanent (5xx) or temporary.
#[derive(Debug)]
struct Failure {
    permanent: bool,
    text: String,
}

fn temp(text: impl Into<String>) -> Failure {
    Failure {
        permanent: false,
        text: text.into(),
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Client {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    /// The lines of the last complete reply (for the EHLO keywords).
    last_reply: Vec<String>,
    /// The longest wait for one whole reply, and for each write
    /// (`smtp.upstream.reply_timeout_secs`).
    timeout: Duration,
}

/// The longest reply line accepted, CRLF included. RFC 5321 §4.5.3.1.5
/// says 512 octets; real servers send longer EHLO and error texts, so eight
/// times that, and no more: a smarthost sending bytes without a newline
/// must not grow the buffer without bound.
const MAX_REPLY_LINE: usize = 4096;
/// The most lines of one multi-line reply (EHLO lists a dozen or two).
const MAX_REPLY_LINES: usize = 100;

impl Client {
    fn new(io: Box<dyn Io>, timeout: Duration) -> Client {
        Client {
            io,
            buf: Vec::new(),
            last_reply: Vec::new(),
            timeout,
        }
    }

    /// Reads one (possibly multi-line) reply: code and joined text. The
    /// grammar (three-digit code, `-`/space separator, enhanced status
    /// code) is `smtp-proto`'s reply parser; around it this reader bounds
    /// what the parser cannot: each line is cut out of a buffer of at most
    /// [`MAX_REPLY_LINE`] bytes before the parser sees it, a reply has at
    /// most [`MAX_REPLY_LINES`] lines (the parser's own bound is 4096 bytes
    /// in all, which short empty lines would take long to reach), and one
    /// deadline covers the whole reply (not each read: a smarthost
    /// trickling a byte at a time cannot hold the delivery forever).
    async fn reply(&mut self) -> Result<(u16, String), Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut parser = ResponseReceiver::default();
        let mut lines: Vec<String> = Vec::new();
        loop {
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                if pos + 1 > MAX_REPLY_LINE {
                    return Err(temp(format!(
                        "reply line longer than {MAX_REPLY_LINE} bytes"
                    )));
                }
                let raw: Vec<u8> = self.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&raw).trim_end().to_string();
                // Every line carries the code (RFC 5321 §4.2.1); like
                // Postfix, the last line's counts if a server mixes them.
                let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
                let parsed = parser.parse(&mut raw.iter());
                lines.push(line);
                match (parsed, code) {
                    (Ok(_), Some(code)) => {
                        self.last_reply = std::mem::take(&mut lines);
                        return Ok((code, self.last_reply.join(" / ")));
                    }
                    (Err(ProtoError::NeedsMoreData { .. }), Some(_)) => {}
                    (Err(ProtoError::ResponseTooLong), _) => {
                        return Err(temp(format!(
                            "reply longer than {MAX_RESPONSE_LENGTH} bytes"
                        )));
                    }
                    _ => {
                        let bad = lines.pop().unwrap_or_default();
                        return Err(temp(format!("malformed reply {bad:?}")));
                    }
                }
                if lines.len() >= MAX_REPLY_LINES {
                    return Err(temp(format!("reply of more than {MAX_REPLY_LINES} lines")));
                }
            }
            if self.buf.len() > MAX_REPLY_LINE {
                return Err(temp(format!(
                    "reply line longer than {MAX_REPLY_LINE} bytes"
                )));
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.io.read(&mut chunk))
                .await
                .map_err(|_| {
                    temp(format!(
                        "no complete reply within {} s from the smarthost",
                        self.timeout.as_secs()
                    ))
                })?
                .map_err(|e| temp(format!("reading from the smarthost: {e}")))?;
            if n == 0 {
                return Err(temp("smarthost closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The EHLO keywords of the last reply (RFC 5321 §4.1.1.1: the first
    /// word of each line after the greeting line, past an enhanced status
    /// code some servers put on every line), upper case. A greeting text
    /// that merely mentions `STARTTLS` is no offer.
    fn extensions(&self) -> Vec<String> {
        let is_esc = |w: &str| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        self.last_reply
            .iter()
            .skip(1)
            .filter_map(|l| l.get(4..))
            .filter_map(|rest| rest.split_ascii_whitespace().find(|w| !is_esc(w)))
            .map(str::to_ascii_uppercase)
            .collect()
    }

    /// Writes `data` in pieces of 64 KiB, each of which must be taken
    /// within the timeout: a smarthost that stops reading fails the attempt,
    /// while a large message over a slow (DDIL) link may take as long as it
    /// needs, as long as it moves.
    async fn send(&mut self, data: &[u8]) -> Result<(), Failure> {
        let timeout = self.timeout;
        let stalled = || {
            temp(format!(
                "writing to the smarthost: no progress within {} s",
                timeout.as_secs()
            ))
        };
        let failed = |e: std::io::Error| temp(format!("writing to the smarthost: {e}"));
        for piece in data.chunks(64 * 1024) {
            tokio::time::timeout(timeout, self.io.write_all(piece))
                .await
                .map_err(|_| stalled())?
                .map_err(failed)?;
        }
        tokio::time::timeout(timeout, self.io.flush())
            .await
            .map_err(|_| stalled())?
            .map_err(failed)
    }

    async fn command(&mut self, line: &str) -> Result<(u16, String), Failure> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }
}

/// Sends one message to the smarthost; per-recipient results in order.
async fn send(
    shared: &Shared,
    from: &str,
    rcpts: &[String],
    message: &[u8],
) -> Result<Vec<Result<String, Failure>>, Failure> {
    let up = &shared.config.smtp.upstream;
    let hostname = &shared.config.general.hostname;
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((up.host.as_str(), up.port)),
    )
    .await
    .map_err(|_| temp(format!("connecting to {}:{}: timeout", up.host, up.port)))?
    .map_err(|e| temp(format!("connecting to {}:{}: {e}", up.host, up.port)))?;
    let timeout = Duration::from_secs(up.reply_timeout_secs);
    let mut c = Client::new(Box::new(tcp), timeout);
    let (code, text) = c.reply().await?;
    if code != 220 {
        return Err(temp(format!("greeting: {text}")));
    }
    let (code, text) = c.command(&format!("EHLO {hostname}")).await?;
    if code != 250 {
        return Err(temp(format!("EHLO: {text}")));
    }
    let mut caps = c.extensions();
    let offers = |caps: &[String], ext: &str| caps.iter().any(|c| c == ext);
    let offers_tls = offers(&caps, "STARTTLS");
    let use_tls = match up.tls {
        UpstreamTls::Starttls if !offers_tls => {
            return Err(temp(
                "smarthost does not offer STARTTLS (smtp.upstream.tls = \"starttls\")",
            ));
        }
        UpstreamTls::Starttls => true,
        UpstreamTls::Opportunistic => offers_tls,
        UpstreamTls::None => false,
    };
    if use_tls {
        let (code, text) = c.command("STARTTLS").await?;
        if code != 220 {
            return Err(temp(format!("STARTTLS: {text}")));
        }
        let config = outpost_tls::client_config(&shared.config.tls.dir, up.ca_file.as_deref())
            .map_err(|e| temp(e.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from(up.host.clone())
            .map_err(|e| temp(format!("smarthost name {}: {e}", up.host)))?;
        // Any bytes buffered before the handshake would be an injection.
        c.buf.clear();
        let Client { io, .. } = c;
        let tls = tokio::time::timeout(
            timeout,
            tokio_rustls::TlsConnector::from(config).connect(name, io),
        )
        .await
        .map_err(|_| temp("TLS with the smarthost: handshake timeout"))?
        .map_err(|e| temp(format!("TLS with the smarthost: {e}")))?;
        c = Client::new(Box::new(tls), timeout);
        let (code, text) = c.command(&format!("EHLO {hostname}")).await?;
        if code != 250 {
            return Err(temp(format!("EHLO after STARTTLS: {text}")));
        }
        caps = c.extensions();
    }
    if !up.username.is_empty() {
        let token = B64.encode(format!("\0{}\0{}", up.username, up.password));
        let (code, text) = c.command(&format!("AUTH PLAIN {token}")).await?;
        if code != 235 {
            // Wrong credentials are an admin problem: keep the mail queued.
            return Err(temp(format!("AUTH: {text}")));
        }
    }
    let mut mail = format!("MAIL FROM:<{from}>");
    if offers(&caps, "8BITMIME") && message.iter().any(|b| *b >= 0x80) {
        mail.push_str(" BODY=8BITMIME");
    }
    if offers(&caps, "SMTPUTF8") && (!from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii())) {
        mail.push_str(" SMTPUTF8");
    }
    let (code, text) = c.command(&mail).await?;
    if code / 100 != 2 {
        return Err(Failure {
            permanent: code / 100 == 5,
            text: format!("MAIL FROM: {text}"),
        });
    }
    let mut results: Vec<Result<String, Failure>> = Vec::new();
    for r in rcpts {
        let (code, text) = c.command(&format!("RCPT TO:<{r}>")).await?;
        results.push(if code / 100 == 2 {
            Ok(text)
        } else {
            Err(Failure {
                permanent: code / 100 == 5,
                text,
            })
        });
    }
    if results.iter().all(Result::is_err) {
        let _ = c.command("QUIT").await;
        return Ok(results);
    }
    let (code, text) = c.command("DATA").await?;
    if code != 354 {
        return Err(Failure {
            permanent: code / 100 == 5,
            text: format!("DATA: {text}"),
        });
    }
    c.send(&dot_stuff(message)).await?;
    let (code, text) = c.reply().await?;
    let _ = c.command("QUIT").await;
    Ok(results
        .into_iter()
        .map(|r| match r {
            Ok(_) if code / 100 == 2 => Ok(text.clone()),
            Ok(_) => Err(Failure {
                permanent: code / 100 == 5,
                text: text.clone(),
            }),
            Err(e) => Err(e),
        })
        .collect())
}

/// RFC 5321 §4.5.2 transparency, CRLF line ends, and the final dot.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Sends an RFC 3464 delivery status notification for `failed` to the
/// envelope sender: locally if the sender is a local user, else through the
/// queue with the null sender. An empty `original` (it could not be read)
/// leaves out the returned-content part.
fn bounce(shared: &Shared, env: &Envelope, failed: &[QueuedRcpt], original: &[u8], expired: bool) {
    let host = &shared.config.general.hostname;
    let t = now();
    let boundary = format!("{}.{}/{host}", env.id, t);
    let mut text = format!(
        "This is the mail system at host {host}.\r\n\r\n\
         I'm sorry to have to inform you that your message could not\r\n\
         be delivered to one or more recipients.\r\n\r\n"
    );
    // #20: every value below may come from the client or the smarthost
    // (or from an entry queued before smtpd checked ENVID and ORCPT): each
    // is kept on its line.
    use crate::text::one_line;
    for r in failed {
        text.push_str(&format!(
            "<{}>: {}\r\n",
            one_line(&r.address),
            one_line(&r.last_error)
        ));
    }
    let mut status = format!("Reporting-MTA: dns; {host}\r\n");
    if let Some(envid) = &env.envid {
        status.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    status.push_str(&format!(
        "Arrival-Date: {}\r\n",
        crate::time::rfc5322(env.created)
    ));
    for r in failed {
        status.push_str("\r\n");
        if let Some(o) = &r.orcpt {
            // RFC 3464 §2.3.1: address-type ";" generic-address.
            status.push_str(&format!("Original-Recipient: rfc822; {}\r\n", one_line(o)));
        }
        let code = if expired { "4.4.7" } else { "5.0.0" };
        status.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {code}\r\nDiagnostic-Code: smtp; {}\r\n",
            one_line(&r.address),
            one_line(&r.last_error.replace(['\r', '\n'], " "))
        ));
    }
    let (kind, returned) = if env.ret_headers_only {
        let end = original
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4)
            .unwrap_or(original.len());
        ("text/rfc822-headers", &original[..end])
    } else {
        ("message/rfc822", original)
    };
    let mut msg = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n\
         To: <{}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {}\r\n\
         Message-ID: <{}.bounce@{host}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         {text}\r\n\
         --{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\r\n\
         {status}\r\n",
        one_line(&env.from),
        crate::time::rfc5322(t),
        env.id,
    )
    .into_bytes();
    if !original.is_empty() {
        msg.extend_from_slice(format!("--{boundary}\r\nContent-Type: {kind}\r\n\r\n").as_bytes());
        msg.extend_from_slice(returned);
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());

    let resolution = {
        let dir = shared.directory.lock().unwrap_or_else(|e| e.into_inner());
        dir.resolve(&env.from).unwrap_or_default()
    };
    let (local, remote) = if resolution.is_empty() {
        (Vec::new(), vec![env.from.clone()])
    } else {
        (resolution.local, resolution.remote)
    };
    let bounce_env = Envelope {
        id: crate::queue::new_id(),
        from: String::new(),
        rcpts: remote
            .into_iter()
            .map(|address| QueuedRcpt {
                address,
                state: RcptState::Pending,
                last_error: String::new(),
                notify_never: true,
                orcpt: None,
            })
            .collect(),
        created: t,
        attempts: 0,
        next_attempt: t,
        size: msg.len() as u64,
        envid: None,
        ret_headers_only: false,
        submitter: None,
    };
    let mut body = crate::spool::Body::from_vec(msg);
    match crate::session::deliver_all(shared, &local, "", &bounce_env, &mut body) {
        Ok(()) => tracing::info!(
            target: "outpost::mail",
            id = %env.id,
            bounce = %bounce_env.id,
            to = env.from.as_str(),
            size = bounce_env.size,
            result = "bounced",
            "bounce delivered"
        ),
        Err(e) => tracing::error!(
            target: "outpost::mail",
            id = %env.id,
            to = env.from.as_str(),
            result = "bounce-failed",
            error = %e,
            "bounce not delivered"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_stuffing() {
        let cases: [(&[u8], &[u8]); 4] = [
            (b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b"bare\nlf", b"bare\r\nlf\r\n.\r\n"),
            (b"", b"\r\n.\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(super::dot_stuff(input), want, "{input:?}");
        }
    }
}
