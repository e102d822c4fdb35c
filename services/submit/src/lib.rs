//! The one submission path for mail that enters Outpost: smtpd's RCPT and
//! DATA and the webmail's *Send* both resolve recipients and deliver
//! local copies here, so both apply the same rules and say the same
//! things (the refusals are SMTP replies; the webmail shows their text).
//!
//! - [`resolve`]: a recipient address → the local mailboxes and remote
//!   addresses it stands for (local domains and alias domains through the
//!   directory: aliases, groups), the quota of a single local mailbox, and
//!   relaying only for authenticated senders.
//! - [`deliver_local`]: one durable copy per local mailbox (through
//!   `outpost-store`; remote recipients go to `outpost-queue` beside it).
//! - [`vacation`]: the out-of-office reply (RFC 3834) a delivered copy
//!   may earn, built and sent here for smtpd and the webmail alike.
//!
//! **API boundary:** synchronous, no protocol and no I/O beyond the store
//! and the directory handle the caller passes.

#![deny(missing_docs)]

pub mod vacation;

use outpost_config::Config;
use outpost_directory::Directory;
use std::path::Path;

/// Where a recipient's copies go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipient {
    /// Local mailboxes (canonical addresses).
    pub local: Vec<String>,
    /// Remote addresses (for the queue).
    pub remote: Vec<String>,
}

/// Why a recipient is refused: the SMTP reply (code, enhanced code, text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The whole reply line, e.g. `550 5.1.1 <x@y>: Recipient address
    /// rejected: User unknown in local recipient table`.
    pub reply: String,
}

impl Refusal {
    fn new(reply: String) -> Refusal {
        Refusal { reply }
    }

    /// Whether the refusal is temporary (4xx).
    pub fn is_temporary(&self) -> bool {
        self.reply.starts_with('4')
    }

    /// The reply without its codes, for people.
    pub fn text(&self) -> &str {
        let mut parts = self.reply.splitn(3, ' ');
        let (_, _, rest) = (parts.next(), parts.next(), parts.next());
        rest.unwrap_or(&self.reply)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reply)
    }
}

/// Resolves one recipient `address` (lower-cased by the caller; a bare
/// `postmaster` is the primary domain's). `authenticated`: the sender
/// signed in, so remote addresses are relayed.
pub fn resolve(
    config: &Config,
    dir: &Directory,
    address: &str,
    authenticated: bool,
) -> Result<Recipient, Refusal> {
    let temp = |e: outpost_directory::Error| {
        Refusal::new(format!(
            "451 4.3.0 Error: temporary directory failure ({e})"
        ))
    };
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Err(Refusal::new(
            "501 5.1.3 Bad recipient address syntax".into(),
        ));
    };
    let local = config.is_local_domain(domain) || dir.is_alias_domain(domain).map_err(temp)?;
    if !local {
        if !authenticated {
            return Err(Refusal::new(format!(
                "554 5.7.1 <{address}>: Relay access denied"
            )));
        }
        return Ok(Recipient {
            local: Vec::new(),
            remote: vec![address.to_string()],
        });
    }
    let r = dir.resolve(address).map_err(temp)?;
    if r.is_empty() {
        return Err(Refusal::new(format!(
            "550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
        )));
    }
    // Quota: only a recipient that is exactly one local mailbox is refused
    // when full; lists and aliases deliver to who has room.
    if let [only] = r.local.as_slice()
        && r.remote.is_empty()
        && let Some(user) = dir.user(only).map_err(temp)?
        && user.quota > 0
        && let Ok(root) =
            outpost_store::user_root(&config.general.mail_root, user.domain(), user.local_part())
        && maildir_usage(&root) >= user.quota
    {
        return Err(Refusal::new(format!(
            "552 5.2.2 <{address}>: Recipient address rejected: mailbox full"
        )));
    }
    Ok(Recipient {
        local: r.local,
        remote: r.remote,
    })
}

/// Bytes used by a Maildir (all folders, `cur/` and `new/`), from file
/// sizes: read-only, so no index of imapd's is touched.
pub fn maildir_usage(root: &Path) -> u64 {
    let mut dirs = vec![root.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(root) {
        dirs.extend(
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path()),
        );
    }
    let mut total = 0;
    for d in dirs {
        for sub in ["cur", "new"] {
            if let Ok(rd) = std::fs::read_dir(d.join(sub)) {
                total += rd
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>();
            }
        }
    }
    total
}

/// Delivers `message` durably into the inbox of every mailbox of
/// `local`; Ok only when every copy is on stable storage.
pub fn deliver_local(mail_root: &Path, local: &[String], message: &[u8]) -> Result<(), String> {
    deliver_local_to(mail_root, local, "", message)
}

/// As [`deliver_local`], into `folder` of each mailbox (`""`: the inbox;
/// `"Junk"` for mail the filters judged so). A mailbox whose `folder` is
/// gone (the user deleted it) gets the copy in its inbox: mail is never
/// refused for a missing folder.
pub fn deliver_local_to(
    mail_root: &Path,
    local: &[String],
    folder: &str,
    message: &[u8],
) -> Result<(), String> {
    for mailbox in local {
        let (user, domain) = mailbox
            .rsplit_once('@')
            .ok_or_else(|| format!("bad mailbox {mailbox}"))?;
        let r = match outpost_store::deliver(mail_root, domain, user, folder, message) {
            Err(outpost_store::StoreError::NotFound(_)) if !folder.is_empty() => {
                outpost_store::deliver(mail_root, domain, user, "", message)
            }
            r => r,
        };
        r.map_err(|e| format!("delivering to {mailbox}: {e}"))?;
    }
    Ok(())
}

/// A DKIM signer: the `DKIM-Signature` fields for a message (given as
/// consecutive chunks) signed for a domain. The daemons pass
/// `outpost_hygiene::dkim::Signer::as_fn`; this crate stays synchronous
/// (the installer links it) and links no crypto.
pub type Sign<'a> = dyn Fn(&[&[u8]], &str) -> Result<String, String> + 'a;

/// The signing domain of a message from `from` (the From address): the
/// configured one, else the From domain when it is one of `domains`
/// (Outpost's, alias domains included), else the first of `domains`.
pub fn signing_domain(
    cfg: &outpost_config::hygiene::Dkim,
    from: Option<&str>,
    domains: &[String],
) -> String {
    if !cfg.domain.is_empty() {
        return cfg.domain.to_ascii_lowercase();
    }
    if let Some(d) = from
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_ascii_lowercase())
        && domains.iter().any(|x| x.eq_ignore_ascii_case(&d))
    {
        return d;
    }
    domains
        .first()
        .map(|d| d.to_ascii_lowercase())
        .unwrap_or_else(|| "outpost.lan".into())
}

/// The `DKIM-Signature` fields for a message `from` sends (`chunks`: the
/// message as it will be stored, trace fields excepted), or nothing when
/// there is no signer, the mail stays local and `smtp.dkim.sign_local` is
/// off, or signing fails (logged: the mail still goes, unsigned). The
/// signing domain is `smtp.dkim.domain`, else the From domain when it is
/// Outpost's (alias domains included), else the first domain. smtpd
/// (submission, out-of-office replies) and the webmail sign through this.
pub fn dkim_sign(
    config: &Config,
    dir: &Directory,
    signer: Option<&Sign>,
    from: Option<&str>,
    only_local: bool,
    chunks: &[&[u8]],
) -> String {
    let Some(signer) = signer else {
        return String::new();
    };
    if !config.smtp.dkim.enabled || (only_local && !config.smtp.dkim.sign_local) {
        return String::new();
    }
    let mut domains = config.general.domains.clone();
    domains.extend(
        dir.domain_aliases()
            .unwrap_or_default()
            .into_iter()
            .map(|(a, _)| a),
    );
    let domain = signing_domain(&config.smtp.dkim, from, &domains);
    match signer(chunks, &domain) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "DKIM signing failed: sent unsigned");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_directory::NewUser;

    fn setup() -> (tempfile::TempDir, Config, Directory) {
        let t = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.general.domains = vec!["outpost.lan".into()];
        config.general.mail_root = t.path().join("mail");
        let mut dir = Directory::open(&t.path().join("dir")).unwrap();
        dir.add_user(&NewUser::new("alice@outpost.lan", "correct horse 1"))
            .unwrap();
        let mut full = NewUser::new("full@outpost.lan", "correct horse 1");
        full.quota = 10;
        dir.add_user(&full).unwrap();
        dir.add_alias("team@outpost.lan", "alice@outpost.lan")
            .unwrap();
        dir.add_alias("team@outpost.lan", "carol@example.org")
            .unwrap();
        (t, config, dir)
    }

    #[test]
    fn recipients_resolve_or_are_refused_with_the_smtp_reply() {
        let (_t, config, dir) = setup();
        let ok = |a: &str, auth| resolve(&config, &dir, a, auth).unwrap();
        let no = |a: &str, auth| resolve(&config, &dir, a, auth).unwrap_err().reply;
        assert_eq!(ok("alice@outpost.lan", false).local, ["alice@outpost.lan"]);
        let team = ok("team@outpost.lan", false);
        assert_eq!((team.local.len(), team.remote.len()), (1, 1));
        assert_eq!(ok("bob@example.org", true).remote, ["bob@example.org"]);
        assert!(no("nobody@outpost.lan", true).starts_with("550 5.1.1 <nobody@outpost.lan>"));
        assert!(no("bob@example.org", false).starts_with("554 5.7.1"));
        assert!(no("no-at-sign", true).starts_with("501"));
        // The full mailbox: over quota once a message is there.
        deliver_local(
            &config.general.mail_root,
            &["full@outpost.lan".into()],
            b"Subject: x\r\n\r\n0123456789",
        )
        .unwrap();
        let r = resolve(&config, &dir, "full@outpost.lan", true).unwrap_err();
        assert!(r.reply.starts_with("552 5.2.2"), "{r}");
        assert!(!r.is_temporary());
        assert_eq!(
            r.text(),
            "<full@outpost.lan>: Recipient address rejected: mailbox full"
        );
    }
}
