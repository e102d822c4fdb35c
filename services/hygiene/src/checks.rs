//! SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489) and ARC (RFC 8617)
//! checks of mail arriving on the MX, summed up in one
//! `Authentication-Results` field (RFC 8601), by `mail-auth`.
//!
//! DNS goes to the system's resolver (or `smtp.checks.dns_servers`) with
//! a timeout per query and a budget per message: on a site with no link
//! there is no answer, every check is `temperror`, and the mail is
//! delivered. Only a DMARC `fail` under `p=reject` (with
//! `smtp.checks.dmarc_reject`) refuses mail; `p=quarantine` sends it to
//! Junk.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DmarcResult, MessageAuthenticator};
use outpost_config::hygiene::Checks;

/// What the checks say should happen to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Deliver to the inbox.
    Deliver,
    /// Deliver to Junk (DMARC `quarantine`, or `reject` when rejecting is
    /// off).
    Junk,
    /// Refuse with this SMTP reply.
    Reject(String),
}

/// The outcome of the checks of one message.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The `Authentication-Results` field, with its CRLF.
    pub header: String,
    /// What to do with the message.
    pub disposition: Disposition,
    /// One line for the log: `spf=pass dkim=pass dmarc=pass arc=none`.
    pub summary: String,
}

/// The checker smtpd keeps for its life (the resolver caches answers).
pub struct Checker {
    auth: MessageAuthenticator,
    cfg: Checks,
    authserv_id: String,
    /// Until when DNS counts as down: after a message whose checks ran
    /// out of time, the next ones do not wait (an offline site would
    /// otherwise hold every message for the whole budget); one message
    /// after that instant probes again.
    down_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long DNS counts as down after checks ran out of time.
pub const DNS_DOWN_SECS: u64 = 60;

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("authserv_id", &self.authserv_id)
            .finish_non_exhaustive()
    }
}

/// One check's result word, as `Authentication-Results` writes it.
fn word(s: &str) -> &str {
    s.split(|c: char| c.is_whitespace() || c == ' ')
        .next()
        .unwrap_or("none")
}

impl Checker {
    /// A checker for the host `authserv_id` (the host name, RFC 8601
    /// §2.5). A resolver with no usable configuration still works: every
    /// check is then `temperror`.
    pub fn new(cfg: &Checks, authserv_id: &str) -> Checker {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_millis(cfg.dns_timeout_ms);
        opts.attempts = 1;
        let config = if cfg.dns_servers.is_empty() {
            match mail_auth::hickory_resolver::system_conf::read_system_conf() {
                Ok((config, sys)) => {
                    opts.ndots = sys.ndots;
                    config
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no system resolver: every mail check will be temperror");
                    ResolverConfig::from_name_servers(Vec::new())
                }
            }
        } else {
            let servers = cfg
                .dns_servers
                .iter()
                .map(|a| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = a.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = a.port();
                    NameServerConfig::new(a.ip(), true, vec![udp, tcp])
                })
                .collect();
            ResolverConfig::from_name_servers(servers)
        };
        let auth = MessageAuthenticator::new(config.clone(), opts.clone())
            .or_else(|_| {
                MessageAuthenticator::new(ResolverConfig::from_name_servers(Vec::new()), opts)
            })
            .unwrap_or_else(|e| panic!("a resolver with no servers always builds: {e}"));
        Checker {
            auth,
            cfg: cfg.clone(),
            authserv_id: authserv_id.to_string(),
            down_until: std::sync::Mutex::new(None),
        }
    }

    /// The host name the results are written for.
    pub fn authserv_id(&self) -> &str {
        &self.authserv_id
    }

    /// Checks `message` received from `ip` after `HELO helo` and `MAIL
    /// FROM:<mail_from>` (empty for the null sender).
    pub async fn check(&self, message: &[u8], ip: IpAddr, helo: &str, mail_from: &str) -> Outcome {
        let now = std::time::Instant::now();
        {
            let mut down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
            match *down {
                Some(until) if now < until => {
                    return self.all_temperror(ip, helo, mail_from, "no DNS answer");
                }
                // This message probes; the others keep skipping meanwhile.
                Some(_) => *down = Some(now + Duration::from_millis(self.cfg.budget_ms)),
                None => {}
            }
        }
        let budget = Duration::from_millis(self.cfg.budget_ms);
        match tokio::time::timeout(budget, self.run(message, ip, helo, mail_from)).await {
            Ok(o) => {
                *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
                o
            }
            Err(_) => {
                tracing::warn!(
                    budget_ms = self.cfg.budget_ms,
                    skip_secs = DNS_DOWN_SECS,
                    "mail checks ran out of time: DNS counts as down"
                );
                *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(std::time::Instant::now() + Duration::from_secs(DNS_DOWN_SECS));
                self.all_temperror(ip, helo, mail_from, "checks timed out")
            }
        }
    }

    fn all_temperror(&self, ip: IpAddr, helo: &str, mail_from: &str, why: &str) -> Outcome {
        let from = if mail_from.is_empty() {
            "<>".to_string()
        } else {
            pvalue(mail_from)
        };
        let header = format!(
            "Authentication-Results: {};\r\n\tspf=temperror ({why}) smtp.mailfrom={from} smtp.helo={};\r\n\tdkim=temperror ({why});\r\n\tdmarc=temperror ({why}) smtp.remote-ip={ip}\r\n",
            self.authserv_id,
            pvalue(helo)
        );
        Outcome {
            header,
            disposition: Disposition::Deliver,
            summary: "spf=temperror dkim=temperror dmarc=temperror".into(),
        }
    }

    async fn run(&self, message: &[u8], ip: IpAddr, helo: &str, mail_from: &str) -> Outcome {
        let Some(msg) = AuthenticatedMessage::parse(message) else {
            let mut o = self.all_temperror(ip, helo, mail_from, "unparsable message");
            o.summary = "unparsable".into();
            return o;
        };
        let helo_domain = helo.trim_start_matches('[').trim_end_matches(']');
        let dkim = self.auth.verify_dkim(&msg).await;
        let spf = if mail_from.is_empty() {
            self.auth
                .verify_spf(SpfParameters::verify_ehlo(
                    ip,
                    helo_domain,
                    &self.authserv_id,
                ))
                .await
        } else {
            self.auth
                .verify_spf(SpfParameters::verify_mail_from(
                    ip,
                    helo_domain,
                    &self.authserv_id,
                    mail_from,
                ))
                .await
        };
        let arc = self.auth.verify_arc(&msg).await;
        let mail_from_domain = mail_from.rsplit_once('@').map_or(helo_domain, |(_, d)| d);
        let dmarc = self
            .auth
            .verify_dmarc(DmarcParameters::new(&msg, &dkim, mail_from_domain, &spf))
            .await;
        let header_from = msg.from.first().map(String::as_str).unwrap_or("");
        let mut ar =
            AuthenticationResults::new(&self.authserv_id).with_dkim_results(&dkim, header_from);
        ar = if mail_from.is_empty() {
            ar.with_spf_ehlo_result(&spf, ip, helo_domain)
        } else {
            ar.with_spf_mailfrom_result(&spf, ip, mail_from, helo_domain)
        };
        ar = ar.with_arc_result(&arc, ip).with_dmarc_result(&dmarc);
        let header = ar.to_header();
        let failed = matches!(dmarc.result(), DmarcResult::Fail(_));
        let disposition = match (failed, dmarc.policy()) {
            (true, Policy::Reject) if self.cfg.dmarc_reject => Disposition::Reject(format!(
                "550 5.7.1 Rejected by the DMARC policy of {}",
                sanitize(dmarc.domain())
            )),
            (true, Policy::Reject | Policy::Quarantine) => Disposition::Junk,
            _ => Disposition::Deliver,
        };
        let summary = summarize(&header);
        Outcome {
            header,
            disposition,
            summary,
        }
    }
}

/// `spf=pass dkim=pass dmarc=pass arc=none` from the field's text.
fn summarize(header: &str) -> String {
    let mut out = Vec::new();
    for part in header.split(';').skip(1) {
        let part = part.trim();
        if let Some((k, v)) = part.split_once('=') {
            out.push(format!("{}={}", k.trim(), word(v)));
        }
    }
    out.join(" ")
}

/// A value as an RFC 8601 `pvalue`: quoted unless it is a plain token
/// or an address (the sender's text never breaks the field).
fn pvalue(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).take(255).collect();
    if !clean.is_empty()
        && clean
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.-_+".contains(&b))
    {
        clean
    } else {
        format!("\"{}\"", clean.replace(['\\', '"'], ""))
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect()
}

/// The header section `head` without the `Authentication-Results` fields
/// that claim `authserv_id` (RFC 8601 §5: a forged result from outside
/// must not reach the reader), or None when there is none. Only the
/// header section is rewritten; the body after it is kept byte for byte.
pub fn strip_forged(head: &[u8], authserv_id: &str) -> Option<Vec<u8>> {
    let end = header_end(head);
    let mut out = Vec::with_capacity(head.len());
    let mut removed = false;
    let mut i = 0;
    while i < end {
        // One field: its first line and the folded lines after it.
        let mut j = i;
        loop {
            let nl = head[j..end]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(end, |p| j + p + 1);
            j = nl;
            if j >= end || !matches!(head[j], b' ' | b'\t') {
                break;
            }
        }
        let field = &head[i..j];
        if claims(field, authserv_id) {
            removed = true;
        } else {
            out.extend_from_slice(field);
        }
        i = j;
    }
    if !removed {
        return None;
    }
    out.extend_from_slice(&head[end..]);
    Some(out)
}

/// Where the header section ends (after its blank line), or the whole
/// slice when it does not end in it.
fn header_end(head: &[u8]) -> usize {
    let mut i = 0;
    while i < head.len() {
        if head[i..].starts_with(b"\r\n") {
            return i;
        }
        if head[i] == b'\n' {
            return i;
        }
        match head[i..].iter().position(|&b| b == b'\n') {
            Some(p) => i += p + 1,
            None => return head.len(),
        }
    }
    head.len()
}

fn claims(field: &[u8], authserv_id: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = String::from_utf8_lossy(&field[..colon]);
    if !name.trim().eq_ignore_ascii_case("Authentication-Results") {
        return false;
    }
    // The authserv-id: the first token of the value, before any `;`,
    // comment or version number.
    let value = String::from_utf8_lossy(&field[colon + 1..]);
    let id = value
        .trim_start()
        .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .next()
        .unwrap_or("");
    id.eq_ignore_ascii_case(authserv_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_result_is_removed_and_others_are_kept() {
        let head = b"Authentication-Results: mx.outpost.lan;\r\n\tdkim=pass\r\nAuthentication-Results: other.example; spf=fail\r\nauthentication-results:MX.OUTPOST.LAN (forged); dmarc=pass\r\nSubject: hi\r\n\r\nbody\r\nAuthentication-Results: mx.outpost.lan; in the body\r\n";
        let out = strip_forged(head, "mx.outpost.lan").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Authentication-Results: other.example; spf=fail\r\nSubject: hi\r\n\r\nbody\r\nAuthentication-Results: mx.outpost.lan; in the body\r\n"
        );
        assert!(strip_forged(b"Subject: x\r\n\r\n", "mx.outpost.lan").is_none());
        // A look-alike id is not ours.
        assert!(
            strip_forged(
                b"Authentication-Results: mx.outpost.lan.evil; x\r\n\r\n",
                "mx.outpost.lan"
            )
            .is_none()
        );
        // No blank line: the whole slice is the header section.
        assert_eq!(
            strip_forged(b"Authentication-Results: h; x\r\nA: b\r\n", "h").unwrap(),
            b"A: b\r\n"
        );
    }

    #[test]
    fn pvalues_cannot_break_the_field() {
        assert_eq!(pvalue("a@b.example"), "a@b.example");
        assert_eq!(pvalue("x;\r\n dkim=pass"), "\"x; dkim=pass\"");
        assert_eq!(pvalue("\"q\\"), "\"q\"");
    }

    #[test]
    fn the_summary_names_each_method() {
        let h = "Authentication-Results: mx;\r\n\tdkim=pass header.d=a;\r\n\tspf=fail (x) smtp.mailfrom=a;\r\n\tdmarc=none\r\n";
        assert_eq!(summarize(h), "dkim=pass spf=fail dmarc=none");
    }
}
