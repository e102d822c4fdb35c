//! The spam engine: a client of rspamd's HTTP protocol.
//!
//! smtpd hands each message to rspamd's normal worker (`POST /checkv2`, the
//! envelope in request headers: `IP`, `Helo`, `From`, one `Rcpt` per
//! recipient, `User`, `Queue-Id`, as rspamd's protocol documents) and turns
//! the JSON reply into a [`Report`]. What happens to the mail is decided by
//! *our* thresholds (`[smtp.spam] junk_score` and `reject_score`, see
//! [`Report::verdict`]), not by rspamd's `action`, so one configuration file
//! says what Outpost does. Users' Junk moves train rspamd's classifier
//! through the controller worker ([`Rspamd::learn`]).
//!
//! Every exchange is bounded: connect, request and reply together within
//! `timeout_secs`, the reply body at most [`MAX_REPLY`] bytes. A refused
//! connection, a silent engine, a non-200 status or a reply that is not
//! rspamd's JSON is an [`Error`]; the caller then accepts the mail tagged
//! [`unchecked_header`] (the crate's never-lose-mail boundary).
//!
//! The HTTP client is hyper's bare HTTP/1.1 connection (`hyper::client::
//! conn::http1`), one connection per request: hyper is already the
//! workspace's HTTP implementation (webd), and rspamd listens on loopback
//! without TLS, so neither a connection pool nor hyper-util's legacy client
//! is worth its weight.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use outpost_config::hygiene::Spam;
use tokio::net::TcpStream;

/// The largest reply body read from rspamd (a `/checkv2` reply is a few
/// KiB; rspamd's own limit on symbols keeps it far below this).
pub const MAX_REPLY: usize = 1024 * 1024;

/// Most symbols kept from one reply (rspamd 3.4 reports 20–40 per message).
const MAX_SYMBOLS: usize = 256;
/// Most symbols named in `X-Spam-Status`.
const MAX_HEADER_SYMBOLS: usize = 50;
/// Longest symbol name or message kept (rspamd's are upper-case words).
const MAX_NAME: usize = 64;
/// Fold `X-Spam-Status` before a line would pass this many bytes (RFC 5322
/// section 2.1.1 asks for 78; the hard limit is 998).
const FOLD_AT: usize = 78;

/// What rspamd failed at; the caller accepts the mail unchecked.
#[derive(Debug)]
pub enum Error {
    /// No `[smtp.spam] controller` is configured (learning only).
    NoController,
    /// The TCP connection could not be made (engine down).
    Connect(SocketAddr, std::io::Error),
    /// No complete answer within `timeout_secs`.
    Timeout(SocketAddr, Duration),
    /// The HTTP exchange broke off (reset, malformed HTTP, reply too big).
    Http(SocketAddr, String),
    /// rspamd answered with a status other than 200 (and, for learning,
    /// other than "already learned").
    Status(SocketAddr, u16, String),
    /// The reply was not rspamd's JSON.
    Reply(SocketAddr, String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoController => {
                f.write_str("no rspamd controller configured ([smtp.spam] controller)")
            }
            Error::Connect(a, e) => write!(f, "connecting to rspamd at {a}: {e}"),
            Error::Timeout(a, d) => {
                write!(f, "rspamd at {a} did not answer within {} s", d.as_secs())
            }
            Error::Http(a, e) => write!(f, "talking HTTP to rspamd at {a}: {e}"),
            Error::Status(a, s, m) => write!(f, "rspamd at {a} answered {s}: {m}"),
            Error::Reply(a, m) => write!(f, "rspamd at {a} sent an unreadable reply: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(_, e) => Some(e),
            _ => None,
        }
    }
}

/// The SMTP envelope of the message, passed to rspamd as request headers.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The client's address (`IP`).
    pub ip: IpAddr,
    /// The client's HELO/EHLO name (`Helo`).
    pub helo: &'a str,
    /// The envelope sender, empty for the null sender (`From`).
    pub from: &'a str,
    /// The envelope recipients (one `Rcpt` each).
    pub rcpts: &'a [String],
    /// The authenticated user, for submitted mail (`User`).
    pub user: Option<&'a str>,
    /// smtpd's queue id, for rspamd's log (`Queue-Id`).
    pub queue_id: &'a str,
}

/// What we do with a message, by our thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpamVerdict {
    /// Below `junk_score`: delivered to the inbox.
    Ham,
    /// At or above `junk_score`: delivered to Junk.
    Junk,
    /// At or above `reject_score`: refused with 550.
    Reject,
}

/// rspamd's answer to `/checkv2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The message's score.
    pub score: f64,
    /// rspamd's own `required_score` (its reject threshold; informative:
    /// [`Report::verdict`] uses ours).
    pub required: f64,
    /// rspamd's `action` (`no action`, `add header`, `reject`, …).
    pub action: String,
    /// The symbols that matched, with their scores, as rspamd listed them
    /// (at most 256; names sanitised to printable ASCII).
    pub symbols: Vec<(String, f64)>,
    /// rspamd's `messages` (e.g. `smtp_message`), sanitised.
    pub messages: Vec<(String, String)>,
}

impl Report {
    /// What to do with the message by `[smtp.spam]`'s thresholds.
    pub fn verdict(&self, cfg: &Spam) -> SpamVerdict {
        if self.score >= cfg.reject_score {
            SpamVerdict::Reject
        } else if self.score >= cfg.junk_score {
            SpamVerdict::Junk
        } else {
            SpamVerdict::Ham
        }
    }

    /// The header fields to prepend, each ending in CRLF, in the form
    /// SpamAssassin and rspamd's milter made usual:
    ///
    /// ```text
    /// X-Spam-Score: 7.20
    /// X-Spam-Status: Yes, score=7.20 required=6.00 tests=BAYES_SPAM,
    ///     RDNS_NONE
    /// X-Spam-Flag: YES
    /// ```
    ///
    /// `required` is our `junk_score`; `Yes` and `X-Spam-Flag` mean the
    /// verdict is Junk (or Reject). Symbols are sorted and at most 50 are
    /// named; the field is folded below 78 bytes a line.
    pub fn header(&self, cfg: &Spam) -> String {
        let spam = self.verdict(cfg) != SpamVerdict::Ham;
        let mut names: Vec<&str> = self.symbols.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let more = names.len() > MAX_HEADER_SYMBOLS;
        names.truncate(MAX_HEADER_SYMBOLS);
        let mut tests: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        if more {
            tests.push("...".into());
        }
        if tests.is_empty() {
            tests.push("none".into());
        }

        let mut out = format!("X-Spam-Score: {:.2}\r\n", finite(self.score));
        let mut line = format!(
            "X-Spam-Status: {}, score={:.2} required={:.2} tests=",
            if spam { "Yes" } else { "No" },
            finite(self.score),
            finite(cfg.junk_score),
        );
        let last = tests.len() - 1;
        for (i, t) in tests.iter().enumerate() {
            let item = if i == last {
                t.clone()
            } else {
                format!("{t},")
            };
            if line.len() + item.len() > FOLD_AT && !line.ends_with('=') {
                out.push_str(&line);
                out.push_str("\r\n");
                line = String::from("\t");
            }
            line.push_str(&item);
        }
        out.push_str(&line);
        out.push_str("\r\n");
        if spam {
            out.push_str("X-Spam-Flag: YES\r\n");
        }
        out
    }
}

/// The header field for mail the engine did not check, e.g.
/// `unchecked_header("engine unavailable")` →
/// `X-Spam-Status: Unchecked (engine unavailable)` (CRLF-terminated).
pub fn unchecked_header(reason: &str) -> String {
    format!("X-Spam-Status: Unchecked ({})\r\n", sanitise(reason, 200))
}

/// A client of one rspamd (normal worker, optional controller).
#[derive(Debug, Clone)]
pub struct Rspamd {
    normal: SocketAddr,
    controller: Option<SocketAddr>,
    password: String,
    timeout: Duration,
}

impl Rspamd {
    /// The client `[smtp.spam]` describes; `None` when `rspamd` is unset (no
    /// spam check). A `timeout_secs` of 0 counts as 1: nothing here waits
    /// unbounded, nor fails before trying.
    pub fn new(cfg: &Spam) -> Option<Rspamd> {
        Some(Rspamd {
            normal: cfg.rspamd?,
            controller: cfg.controller,
            password: cfg.password.clone(),
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        })
    }

    /// Scores `message` (the whole message, headers and body, as received).
    pub async fn check(&self, message: &[u8], env: &Envelope<'_>) -> Result<Report, Error> {
        let mut headers: Vec<(&str, String)> = vec![("IP", env.ip.to_string())];
        // An empty field (the null sender, no HELO yet) is left out rather
        // than sent empty: rspamd then treats it as absent.
        for (name, value) in [
            ("Helo", env.helo),
            ("From", env.from),
            ("Queue-Id", env.queue_id),
        ] {
            if !value.is_empty() {
                headers.push((name, value.to_string()));
            }
        }
        for r in env.rcpts {
            headers.push(("Rcpt", r.clone()));
        }
        if let Some(u) = env.user {
            headers.push(("User", u.to_string()));
        }
        let (status, body) = self
            .post(self.normal, "/checkv2", &headers, message)
            .await?;
        if status != StatusCode::OK {
            return Err(Error::Status(
                self.normal,
                status.as_u16(),
                error_text(&body),
            ));
        }
        parse_report(&body).map_err(|e| Error::Reply(self.normal, e))
    }

    /// Trains rspamd's classifier with `message` as spam (`/learnspam`) or
    /// ham (`/learnham`) through the controller. A message rspamd has
    /// already learned (HTTP 208 in newer rspamd; 3.4 answers 404 with
    /// "has been already learned") is fine.
    pub async fn learn(&self, message: &[u8], spam: bool) -> Result<(), Error> {
        let addr = self.controller.ok_or(Error::NoController)?;
        let path = if spam { "/learnspam" } else { "/learnham" };
        let mut headers = Vec::new();
        if !self.password.is_empty() {
            headers.push(("Password", self.password.clone()));
        }
        let (status, body) = self.post(addr, path, &headers, message).await?;
        if status == StatusCode::OK || status == StatusCode::ALREADY_REPORTED {
            return Ok(());
        }
        let text = error_text(&body);
        if text.contains("already learned") {
            return Ok(());
        }
        Err(Error::Status(addr, status.as_u16(), text))
    }

    /// One POST, everything within the timeout.
    async fn post(
        &self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(StatusCode, Bytes), Error> {
        let mut req = Request::post(path).header("Host", addr.to_string());
        for (name, value) in headers {
            // A header value cannot carry CR, LF or other controls: an
            // envelope field with one (smtpd refuses them anyway) is
            // passed with them replaced rather than rejected.
            req = req.header(*name, sanitise(value, 1000));
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| Error::Http(addr, e.to_string()))?;
        match tokio::time::timeout(self.timeout, exchange(addr, req)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(addr, self.timeout)),
        }
    }
}

/// Connects, sends `req` and reads the reply (at most [`MAX_REPLY`] bytes).
async fn exchange(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), Error> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Connect(addr, e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::Http(addr, e.to_string()))?;
    let request = async move {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Error::Http(addr, e.to_string()))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|e| Error::Http(addr, format!("reading the reply: {e}")))?
            .to_bytes();
        Ok((status, body))
    };
    // The connection future does the I/O; the request future sees its
    // results. Drive both; dropping them (timeout) closes the socket.
    let mut conn = std::pin::pin!(conn);
    let mut request = std::pin::pin!(request);
    tokio::select! {
        r = &mut request => r,
        c = &mut conn => match c {
            Err(e) => Err(Error::Http(addr, e.to_string())),
            // Closed cleanly: the request future has what there is.
            Ok(()) => request.await,
        },
    }
}

/// The `error` of rspamd's error JSON, or the start of the body.
fn error_text(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(e) = v.get("error").and_then(|e| e.as_str())
    {
        return sanitise(e, 200);
    }
    sanitise(&String::from_utf8_lossy(&body[..body.len().min(200)]), 200)
}

/// Reads a `/checkv2` reply.
fn parse_report(body: &[u8]) -> Result<Report, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let num = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_f64())
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("no numeric \"{k}\""))
    };
    let score = num("score")?;
    let required = num("required_score")?;
    let action = v
        .get("action")
        .and_then(|a| a.as_str())
        .map(|a| sanitise(a, MAX_NAME))
        .ok_or("no \"action\"")?;
    let mut symbols = Vec::new();
    if let Some(map) = v.get("symbols").and_then(|s| s.as_object()) {
        for (name, sym) in map.iter().take(MAX_SYMBOLS) {
            let s = sym
                .get("score")
                .and_then(|x| x.as_f64())
                .filter(|x| x.is_finite())
                .unwrap_or(0.0);
            symbols.push((sanitise_symbol(name), s));
        }
    }
    let mut messages = Vec::new();
    if let Some(map) = v.get("messages").and_then(|s| s.as_object()) {
        for (k, m) in map.iter().take(16) {
            if let Some(m) = m.as_str() {
                messages.push((sanitise(k, MAX_NAME), sanitise(m, 200)));
            }
        }
    }
    Ok(Report {
        score,
        required,
        action,
        symbols,
        messages,
    })
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// A symbol name for a header list: `[A-Za-z0-9_]`, others become `_`.
fn sanitise_symbol(s: &str) -> String {
    s.chars()
        .take(MAX_NAME)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Printable ASCII only (others become `?`), at most `max` characters.
fn sanitise(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(score: f64, n: usize) -> Report {
        Report {
            score,
            required: 15.0,
            action: "add header".into(),
            symbols: (0..n)
                .map(|i| (format!("SYMBOL_NUMBER_{i:03}"), 1.0))
                .collect(),
            messages: vec![],
        }
    }

    #[test]
    fn verdicts_follow_our_thresholds() {
        let cfg = Spam::default();
        for (score, want) in [
            (-1.0, SpamVerdict::Ham),
            (5.99, SpamVerdict::Ham),
            (6.0, SpamVerdict::Junk),
            (14.9, SpamVerdict::Junk),
            (15.0, SpamVerdict::Reject),
            (1000.0, SpamVerdict::Reject),
        ] {
            assert_eq!(report(score, 0).verdict(&cfg), want, "score {score}");
        }
    }

    #[test]
    fn header_is_folded_bounded_and_sorted() {
        let cfg = Spam::default();
        let h = report(7.2, 300).header(&cfg);
        assert!(h.starts_with("X-Spam-Score: 7.20\r\nX-Spam-Status: Yes, score=7.20 required=6.00 tests=SYMBOL_NUMBER_000,"), "{h}");
        assert!(h.ends_with("...\r\nX-Spam-Flag: YES\r\n"), "{h}");
        for line in h.split("\r\n") {
            assert!(line.len() <= FOLD_AT, "{line:?}");
            assert!(
                line.bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            );
        }
        assert_eq!(h.matches("SYMBOL_NUMBER_").count(), MAX_HEADER_SYMBOLS);
        let ham = report(1.0, 0).header(&cfg);
        assert_eq!(
            ham,
            "X-Spam-Score: 1.00\r\nX-Spam-Status: No, score=1.00 required=6.00 tests=none\r\n"
        );
    }

    #[test]
    fn unchecked_header_is_sanitised() {
        assert_eq!(
            unchecked_header("engine unavailable"),
            "X-Spam-Status: Unchecked (engine unavailable)\r\n"
        );
        assert_eq!(
            unchecked_header("a\r\nb"),
            "X-Spam-Status: Unchecked (a??b)\r\n"
        );
    }

    #[test]
    fn replies_are_read_or_refused() {
        let r = parse_report(
            br#"{"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0}},"messages":{"smtp_message":"Gtube pattern"}}"#,
        )
        .unwrap();
        assert_eq!(r.symbols, vec![("GTUBE".to_string(), 0.0)]);
        assert_eq!(
            r.messages,
            vec![("smtp_message".into(), "Gtube pattern".into())]
        );
        assert!(parse_report(b"<html>").is_err());
        assert!(parse_report(br#"{"score":"x","required_score":1,"action":"x"}"#).is_err());
    }
}
