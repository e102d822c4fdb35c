//! What smtpd does to a message at the end of DATA, before it is stored:
//! the attachment policy, the virus scan, the SPF/DKIM/DMARC/ARC checks
//! and the spam score (mail from outside), and the DKIM signature (mail
//! users submit). The engines live in `outpost-hygiene`; this module
//! decides, in one place, what their answers mean for the reply.
//!
//! Order and bounds: the message is read once; the virus scan, the
//! checks and the spam score run at the same time, each bounded by its
//! own timeout, so the slowest bounds the wait. An engine that is down
//! never loses mail: the spam score is then marked unchecked, the checks
//! say `temperror`, and the virus scan follows `smtp.av.on_failure`.

use std::net::IpAddr;
use std::sync::Arc;

use outpost_config::Config;
use outpost_config::hygiene::AvFailure;
use outpost_hygiene::checks::{self, Checker, Disposition};
use outpost_hygiene::{attach, av, dkim, spam};

/// The engines smtpd keeps for its life.
#[derive(Debug, Default)]
pub struct Filters {
    /// DKIM signing of submitted mail (None: off, or the keys could not
    /// be made, which is logged at start).
    pub signer: Option<dkim::Signer>,
    /// The checks of mail from outside.
    pub checker: Option<Checker>,
    /// rspamd.
    pub spam: Option<spam::Rspamd>,
    /// clamd.
    pub av: Option<av::Clamd>,
}

impl Filters {
    /// The engines `config` asks for. Making the DKIM keys at first start
    /// happens here; a failure is logged and mail flows unsigned (never a
    /// daemon that refuses to start because a key folder is read-only).
    pub fn from_config(config: &Config) -> Filters {
        let signer = if config.smtp.dkim.enabled {
            let keys = dkim::KeyDir::of(config);
            match dkim::Signer::start(&keys) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(error = %e, key_dir = %keys.dir.display(), "DKIM keys unavailable: mail is sent unsigned");
                    None
                }
            }
        } else {
            None
        };
        let checker = config
            .smtp
            .checks
            .enabled
            .then(|| Checker::new(&config.smtp.checks, &config.general.hostname));
        Filters {
            signer,
            checker,
            spam: spam::Rspamd::new(&config.smtp.spam),
            av: av::Clamd::new(&config.smtp.av),
        }
    }
}

/// The message's context for the filters.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    /// The signed-in user (submission), or None (MX).
    pub user: Option<&'a str>,
    /// The client's address.
    pub ip: IpAddr,
    /// HELO/EHLO.
    pub helo: &'a str,
    /// MAIL FROM (empty: null sender).
    pub from: &'a str,
    /// RCPT TO addresses.
    pub rcpts: &'a [String],
    /// The queue id.
    pub id: &'a str,
}

/// What the filters decided.
#[derive(Debug, Default)]
pub(crate) struct Screened {
    /// Header fields to add (above the message's own, after `Received`).
    pub headers: String,
    /// Deliver the local copies to Junk.
    pub junk: bool,
    /// For the log: what each filter said.
    pub summary: Vec<String>,
}

/// Screens `message` (as the client sent it; no smtpd prefix). `Err` is
/// the SMTP reply refusing it.
pub(crate) async fn screen(
    config: &Config,
    filters: &Filters,
    message: Arc<Vec<u8>>,
    cx: &Context<'_>,
) -> Result<Screened, String> {
    let mut out = Screened::default();
    let inbound = cx.user.is_none();

    // Executables, by name and by content: CPU only, on the blocking pool.
    if config.smtp.attachments.enabled {
        let policy = config.smtp.attachments.clone();
        let m = message.clone();
        let blocked = tokio::task::spawn_blocking(move || attach::blocked(&m, &policy))
            .await
            .unwrap_or(None);
        if let Some(reason) = blocked {
            return Err(format!("550 5.7.1 Message refused: {reason}"));
        }
    }

    let scan = async {
        match &filters.av {
            Some(c) => Some(c.scan(&message).await),
            None => None,
        }
    };
    let checked = async {
        match (&filters.checker, inbound) {
            (Some(c), true) => Some(c.check(&message, cx.ip, cx.helo, cx.from).await),
            _ => None,
        }
    };
    let scored = async {
        match &filters.spam {
            Some(s) if inbound || config.smtp.spam.check_submission => {
                let env = spam::Envelope {
                    ip: cx.ip,
                    helo: cx.helo,
                    from: cx.from,
                    rcpts: cx.rcpts,
                    user: cx.user,
                    queue_id: cx.id,
                };
                Some(s.check(&message, &env).await)
            }
            _ => None,
        }
    };
    let (scan, checked, scored) = tokio::join!(scan, checked, scored);

    match scan {
        Some(Ok(av::Scan::Infected(name))) => {
            return Err(format!("550 5.7.1 Message refused: virus found ({name})"));
        }
        Some(Ok(av::Scan::Clean)) => {
            out.headers.push_str("X-Virus-Status: Clean\r\n");
            out.summary.push("av=clean".into());
        }
        Some(Err(e)) => {
            tracing::warn!(id = cx.id, error = %e, "virus scan failed");
            match config.smtp.av.on_failure {
                AvFailure::Tempfail => {
                    return Err("451 4.7.1 Virus scanner unavailable, try again later".into());
                }
                AvFailure::AcceptAndTag => {
                    out.headers
                        .push_str("X-Virus-Status: Unchecked (scanner unavailable)\r\n");
                    out.summary.push("av=unchecked".into());
                }
            }
        }
        None => {}
    }
    if let Some(o) = checked {
        out.summary.push(o.summary.clone());
        match o.disposition {
            Disposition::Reject(reply) => return Err(reply),
            Disposition::Junk => out.junk = true,
            Disposition::Deliver => {}
        }
        // The results go first: the reader's client finds them at the top.
        out.headers.insert_str(0, &o.header);
    }
    match scored {
        Some(Ok(report)) => {
            out.summary.push(format!("spam={:.2}", report.score));
            match report.verdict(&config.smtp.spam) {
                spam::SpamVerdict::Reject => {
                    return Err(format!(
                        "550 5.7.1 Message refused as spam (score {:.1})",
                        report.score
                    ));
                }
                spam::SpamVerdict::Junk => out.junk = true,
                spam::SpamVerdict::Ham => {}
            }
            out.headers.push_str(&report.header(&config.smtp.spam));
        }
        Some(Err(e)) => {
            tracing::warn!(id = cx.id, error = %e, "spam check failed: accepted unchecked");
            out.headers
                .push_str(&spam::unchecked_header("engine unavailable"));
            out.summary.push("spam=unchecked".into());
        }
        None => {}
    }
    Ok(out)
}

/// Removes `Authentication-Results` fields from outside that claim to be
/// ours (RFC 8601 §5), in the in-memory head where the header section is.
pub(crate) fn strip_forged(config: &Config, head: &mut Vec<u8>) {
    if let Some(clean) = checks::strip_forged(head, &config.general.hostname) {
        *head = clean;
    }
}

/// The `DKIM-Signature` fields for a submitted message (`chunks`: the
/// fix-ups, then the message as sent), or nothing when signing is off,
/// not wanted for all-local mail, or fails (logged: the mail still goes).
pub(crate) fn sign(
    config: &Config,
    filters: &Filters,
    dir: &outpost_directory::Directory,
    from: Option<&str>,
    only_local: bool,
    chunks: &[&[u8]],
) -> String {
    let sign = filters.signer.as_ref().map(|s| s.as_fn());
    let sign = sign.as_ref().map(|f| f as &outpost_submit::Sign);
    outpost_submit::dkim_sign(config, dir, sign, from, only_local, chunks)
}
