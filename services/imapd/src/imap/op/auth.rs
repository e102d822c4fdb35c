//! STARTTLS, LOGIN, AUTHENTICATE PLAIN (with SASL-IR), ENABLE and
//! COMPRESS=DEFLATE.

use crate::imap::{CmdErr, Flow, R, Session, max_command, preauth_reader};
use base64::Engine;
use outpost_store::Mailbox;
use std::time::Duration;

impl Session {
    pub(in crate::imap) async fn starttls(&mut self, tag: &str) -> Result<(), CmdErr> {
        if self.tls || self.sh.tls.is_none() {
            return Err(CmdErr::Bad("TLS already active".into()));
        }
        self.line(&format!("{tag} OK begin TLS negotiation"));
        self.flush().await?;
        // Anything pipelined after STARTTLS is discarded (RFC 9051
        // §6.2.1: command injection protection).
        self.rd = preauth_reader(&self.sh.config.imap);
        let io = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        self.io = self.sh.start_tls(io, &self.conn).await?;
        self.tls = true;
        Ok(())
    }

    /// AUTHENTICATE PLAIN (RFC 4616), the response inline (SASL-IR, RFC
    /// 4959) or after a `+` continuation.
    pub(in crate::imap) async fn authenticate(
        &mut self,
        tag: &str,
        mech: &str,
        initial: Option<String>,
    ) -> Result<Option<Flow>, CmdErr> {
        if !mech.eq_ignore_ascii_case("PLAIN") {
            return Err(CmdErr::No("NO [CANNOT] only PLAIN is supported".into()));
        }
        if !self.sh.plaintext_ok(self.tls, &self.peer) {
            return Err(CmdErr::No("NO [PRIVACYREQUIRED] use STARTTLS first".into()));
        }
        let resp = match initial {
            Some(ir) => ir,
            None => {
                self.line("+ ");
                self.flush().await?;
                loop {
                    match self.rd.take_line() {
                        Ok(Some(l)) => break String::from_utf8_lossy(&l).into_owned(),
                        Ok(None) => {
                            let t = self.timeout();
                            if !self.fill(t).await? {
                                return Ok(Some(Flow::Close));
                            }
                        }
                        Err(e) => {
                            self.line(&format!("* BYE {e}"));
                            return Ok(Some(Flow::Close));
                        }
                    }
                }
            }
        };
        if resp == "*" {
            return Err(CmdErr::Bad("authentication cancelled".into()));
        }
        let resp = if resp == "=" { String::new() } else { resp };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(resp.trim()) else {
            return Err(CmdErr::Bad("invalid base64".into()));
        };
        let parts: Vec<&[u8]> = bytes.split(|b| *b == 0).collect();
        if parts.len() != 3 {
            return Err(CmdErr::Bad("invalid PLAIN response".into()));
        }
        let (z, u, p) = (
            String::from_utf8_lossy(parts[0]),
            String::from_utf8_lossy(parts[1]),
            String::from_utf8_lossy(parts[2]),
        );
        if !z.is_empty() && !z.eq_ignore_ascii_case(&u) {
            // No proxy authorisation (RFC 4616 §2): nobody may act as
            // someone else.
            outpost_daemon::log::login("imap", "PLAIN", &u, self.peer.ip(), Err("authzid differs"));
            return Err(CmdErr::No(
                "NO [AUTHORIZATIONFAILED] authorization identity refused".into(),
            ));
        }
        self.login(tag, "PLAIN", &u, &p).await?;
        Ok(None)
    }

    /// ENABLE (RFC 5161): CONDSTORE, QRESYNC, IMAP4rev2; others ignored.
    pub(in crate::imap) fn enable(&mut self, tag: &str, caps: Vec<String>) {
        let mut en = Vec::new();
        for a in caps {
            match a.as_str() {
                "CONDSTORE" => {
                    self.condstore = true;
                    en.push(a);
                }
                "QRESYNC" => {
                    self.condstore = true;
                    self.qresync = true;
                    en.push(a);
                }
                "IMAP4REV2" => {
                    self.rev2 = true;
                    en.push("IMAP4rev2".into());
                }
                _ => {}
            }
        }
        self.line(format!("* ENABLED {}", en.join(" ")).trim_end());
        self.line(&format!("{tag} OK ENABLE completed"));
    }

    /// COMPRESS=DEFLATE (RFC 4978).
    pub(in crate::imap) async fn compress(
        &mut self,
        tag: &str,
        deflate: bool,
    ) -> Result<(), CmdErr> {
        if self.compressed {
            return Err(CmdErr::No(
                "NO [COMPRESSIONACTIVE] already compressing".into(),
            ));
        }
        if !deflate {
            return Err(CmdErr::Bad("only DEFLATE".into()));
        }
        self.line(&format!("{tag} OK DEFLATE active"));
        self.flush().await?;
        let io = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        self.io = Box::new(crate::compress::Deflate::new(io));
        self.compressed = true;
        Ok(())
    }

    pub(in crate::imap) async fn login(
        &mut self,
        tag: &str,
        mech: &str,
        user: &str,
        pass: &str,
    ) -> R<()> {
        let log = |outcome: Result<(), &str>| {
            outpost_daemon::log::login("imap", mech, user, self.peer.ip(), outcome)
        };
        if !self.sh.plaintext_ok(self.tls, &self.peer) {
            log(Err("plaintext before TLS"));
            self.line(&format!("{tag} NO [PRIVACYREQUIRED] use STARTTLS first"));
            return Ok(());
        }
        match self.sh.authenticate(user, pass, &self.peer).await {
            Ok(u) => {
                let Some(slot) = self.sh.claim_user_ip(&u.address, self.peer.ip()) else {
                    log(Err("too many sessions"));
                    self.line(&format!(
                        "{tag} NO [LIMIT] too many sessions for this user from this address"
                    ));
                    return Ok(());
                };
                self.user_ip_slot = Some(slot);
                let root = self.sh.mail_root();
                let (d, l) = (u.domain.clone(), u.local.clone());
                match tokio::task::spawn_blocking(move || Mailbox::open(&root, &d, &l)).await {
                    Ok(Ok(mb)) => {
                        outpost_daemon::log::login_on(
                            &self.conn,
                            "imap",
                            mech,
                            &u.address,
                            self.peer.ip(),
                            Ok(()),
                        );
                        self.mailbox = Some(mb);
                        self.user = Some(u);
                        let c = &self.sh.config.imap;
                        self.rd.set_limits(c.max_literal_size, max_command(c));
                        let caps = self.caps();
                        self.line(&format!("{tag} OK [CAPABILITY {caps}] logged in"));
                    }
                    r => {
                        if let Ok(Err(e)) = &r {
                            tracing::error!(user = u.address.as_str(), error = %e, "opening the mailbox failed");
                        }
                        log(Err("mailbox unavailable"));
                        self.user_ip_slot = None;
                        self.line(&format!("{tag} NO [UNAVAILABLE] mailbox unavailable"));
                    }
                }
            }
            Err(e) => {
                log(Err(crate::server::auth_reason(&e)));
                self.auth_failures += 1;
                // Slow down guessing within one connection too.
                tokio::time::sleep(Duration::from_millis(
                    300 * self.auth_failures.min(10) as u64,
                ))
                .await;
                let code = if e.contains("locked") {
                    "[UNAVAILABLE]"
                } else {
                    "[AUTHENTICATIONFAILED]"
                };
                self.line(&format!("{tag} NO {code} authentication failed"));
            }
        }
        Ok(())
    }
}
