//! Out-of-office replies (RFC 3834, "Recommendations for Automatic
//! Responses to Electronic Mail"), answered at local delivery for a user
//! whose vacation is on (set on the webmail's Settings page, kept in the
//! directory).
//!
//! A delivered copy earns a reply only when all of this holds, which is
//! RFC 3834 §2 and what Sieve vacation (RFC 5230 §4.5–4.6) does:
//! - the envelope sender is not null and is not a list or system address
//!   (`owner-…`, `…-request`, `mailer-daemon`, `postmaster`, `listserv`,
//!   `majordomo`, `noreply`/`no-reply`/`donotreply`), nor the user;
//! - the message is not itself automatic (`Auto-Submitted` other than
//!   `no`), not bulk or list mail (`Precedence: bulk|list|junk`, any
//!   `List-*` header), not marked spam (`X-Spam-Flag: YES`), and its
//!   sender did not ask for none (`X-Auto-Response-Suppress: OOF` or
//!   `All`, as Exchange does);
//! - the user's address, or one they may send as, is in To or Cc (mail
//!   that reached them through a list or a Bcc is not answered);
//! - the vacation is on and today is within its dates;
//! - the sender was not answered within the vacation's interval (at
//!   least a day), and the user sent fewer than
//!   `smtp.vacation_max_per_hour` replies in the last hour
//!   ([`Directory::vacation_reply_due`], one transaction).
//!
//! The reply goes to the envelope sender (§4) with a null envelope
//! sender, `Auto-Submitted: auto-replied` (§5), `In-Reply-To` and
//! `References` naming the original (§3.1), and the subject `Auto: `
//! plus the original's unless the user wrote one (§3.1.5).

use crate::Recipient;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use outpost_config::Config;
use outpost_directory::Directory;

/// A reply ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoReply {
    /// The user replying.
    pub user: String,
    /// Who gets it (the original's envelope sender).
    pub to: String,
    /// The whole message.
    pub message: Vec<u8>,
    /// Its Message-ID (without brackets), for the log.
    pub message_id: String,
}

/// Local parts that are lists, robots or the system (RFC 5230 §4.6).
fn robot(local: &str) -> bool {
    let l = local.to_ascii_lowercase();
    l.starts_with("owner-")
        || l.ends_with("-request")
        || l.ends_with("-owner")
        || l.ends_with("-bounces")
        || [
            "mailer-daemon",
            "postmaster",
            "listserv",
            "majordomo",
            "noreply",
            "no-reply",
            "donotreply",
            "do-not-reply",
        ]
        .contains(&l.as_str())
}

/// Why the headers of `message` forbid an automatic reply, if they do.
fn refused_by_headers(msg: &mail_parser::Message<'_>) -> Option<&'static str> {
    let text = |name: &str| {
        msg.header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    };
    let auto = text("Auto-Submitted");
    if !auto.is_empty() && auto.split(';').next().map(str::trim) != Some("no") {
        return Some("the message is automatic");
    }
    if ["bulk", "list", "junk"].contains(&text("Precedence").as_str()) {
        return Some("the message is bulk mail");
    }
    if msg
        .headers()
        .iter()
        .any(|h| h.name().to_ascii_lowercase().starts_with("list-"))
    {
        return Some("the message came through a list");
    }
    if text("X-Spam-Flag") == "yes" {
        return Some("the message is spam");
    }
    let suppress = text("X-Auto-Response-Suppress");
    if suppress
        .split(',')
        .any(|v| matches!(v.trim(), "oof" | "all"))
    {
        return Some("the sender asked for no automatic reply");
    }
    None
}

/// The addresses of an address header.
fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address.as_deref())
            .map(str::to_ascii_lowercase)
            .collect()
    })
    .unwrap_or_default()
}

/// The reply `mailbox` owes for `message` from envelope sender `sender`
/// at unix second `now`, if one is due (see the module text); recording
/// it as sent is part of deciding. `Ok(Err(why))` when none is due.
pub fn reply_for(
    config: &Config,
    dir: &mut Directory,
    mailbox: &str,
    sender: &str,
    message: &[u8],
    now: u64,
) -> Result<Result<AutoReply, &'static str>, outpost_directory::Error> {
    let sender = sender.trim().to_ascii_lowercase();
    let Some((local, _)) = sender.rsplit_once('@') else {
        return Ok(Err("no envelope sender"));
    };
    if robot(local) {
        return Ok(Err("the sender is a list or a robot"));
    }
    let Some(v) = dir.vacation(mailbox)? else {
        return Ok(Err("no vacation set"));
    };
    if !v.active_at(now) {
        return Ok(Err("the vacation is off"));
    }
    if sender == mailbox || dir.may_send_as(mailbox, &sender)? {
        return Ok(Err("the user's own message"));
    }
    let head = outpost_mime::header_section(message);
    let Some(msg) = outpost_mime::parse_headers(head) else {
        return Ok(Err("no header"));
    };
    if let Some(why) = refused_by_headers(&msg) {
        return Ok(Err(why));
    }
    let mut addressed = false;
    for a in addresses(msg.to()).into_iter().chain(addresses(msg.cc())) {
        if a == mailbox || dir.may_send_as(mailbox, &a)? {
            addressed = true;
            break;
        }
    }
    if !addressed {
        return Ok(Err("the user is not in To or Cc"));
    }
    let max = config.smtp.vacation_max_per_hour;
    if max == 0 || !dir.vacation_reply_due(mailbox, &sender, v.interval, max, now)? {
        return Ok(Err("already answered, or too many replies this hour"));
    }
    let full_name = dir.user(mailbox)?.map(|u| u.full_name).unwrap_or_default();
    let subject = if v.subject.is_empty() {
        let orig: String = msg
            .subject()
            .unwrap_or("")
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(900)
            .collect();
        format!("Auto: {orig}")
    } else {
        v.subject.clone()
    };
    let message_id = format!(
        "{}.vacation@{}",
        outpost_queue::new_id(),
        config.general.hostname
    );
    let mut b = mail_builder::MessageBuilder::new()
        .from(Address::new_address(
            (!full_name.is_empty()).then_some(full_name),
            mailbox.to_string(),
        ))
        .to(Address::new_address(None::<String>, sender.clone()))
        .subject(subject)
        .date(i64::try_from(now).unwrap_or(i64::MAX))
        .message_id(message_id.clone())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .text_body(v.body.replace("\r\n", "\n"));
    if let Some(id) = msg.message_id() {
        let mut refs: Vec<String> = msg
            .references()
            .as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .or_else(|| msg.references().as_text().map(|t| vec![t.to_string()]))
            .unwrap_or_default();
        refs.push(id.to_string());
        // A hostile References list is not copied whole.
        let refs = refs.split_off(refs.len().saturating_sub(20));
        b = b
            .in_reply_to(id.to_string())
            .references(MessageId::new_list(refs.into_iter()));
    }
    Ok(Ok(AutoReply {
        user: mailbox.to_string(),
        to: sender,
        message: b.write_to_vec().unwrap_or_default(),
        message_id,
    }))
}

/// Sends `reply`: stored at once for a local sender, queued (null
/// envelope sender, never bounced) for a remote one. Returns the queue
/// id of a queued reply.
pub fn send(
    config: &Config,
    dir: &Directory,
    reply: &AutoReply,
    now: u64,
    signer: Option<&crate::Sign>,
) -> Result<Option<String>, String> {
    let Recipient { local, remote } = crate::resolve(config, dir, &reply.to, true)
        .map_err(|r| format!("the sender {} cannot be reached: {r}", reply.to))?;
    // Signed like any mail the user sends (the reply's From is theirs).
    let signature = crate::dkim_sign(
        config,
        dir,
        signer,
        Some(&reply.user),
        remote.is_empty(),
        &[&reply.message],
    );
    let signed;
    let message: &[u8] = if signature.is_empty() {
        &reply.message
    } else {
        signed = [signature.as_bytes(), &reply.message].concat();
        &signed
    };
    if !local.is_empty() {
        crate::deliver_local(&config.general.mail_root, &local, message)?;
    }
    if remote.is_empty() {
        return Ok(None);
    }
    let id = outpost_queue::new_id();
    let env = outpost_queue::Envelope {
        id: id.clone(),
        from: String::new(),
        rcpts: remote
            .into_iter()
            .map(|address| outpost_queue::QueuedRcpt {
                address,
                state: outpost_queue::RcptState::Pending,
                last_error: String::new(),
                notify_never: true,
                orcpt: None,
            })
            .collect(),
        created: now,
        attempts: 0,
        next_attempt: now,
        size: message.len() as u64,
        envid: None,
        ret_headers_only: false,
        submitter: Some(reply.user.clone()),
    };
    outpost_queue::Queue::open(&config.smtp.queue_dir)
        .and_then(|q| q.enqueue(&env, message))
        .map_err(|e| format!("queueing the automatic reply: {e}"))?;
    Ok(Some(id))
}

/// Answers every mailbox of `local` that owes `sender` a reply for
/// `message`, logging what was sent and why nothing was. Never fails: a
/// delivered message stays delivered whatever happens here. Returns the
/// number of replies sent (smtpd wakes its relay when it is not zero).
pub fn answer(
    config: &Config,
    dir: &mut Directory,
    local: &[String],
    sender: &str,
    message: &[u8],
    now: u64,
    signer: Option<&crate::Sign>,
) -> usize {
    let mut sent = 0;
    for mailbox in local {
        let reply = match reply_for(config, dir, mailbox, sender, message, now) {
            Ok(Ok(r)) => r,
            Ok(Err(why)) => {
                tracing::debug!(target: "outpost::mail", user = mailbox.as_str(), why, "no automatic reply");
                continue;
            }
            Err(e) => {
                tracing::warn!(target: "outpost::mail", user = mailbox.as_str(), error = %e, "automatic reply not decided");
                continue;
            }
        };
        match send(config, dir, &reply, now, signer) {
            Ok(id) => {
                sent += 1;
                tracing::info!(
                    target: "outpost::mail",
                    user = mailbox.as_str(),
                    to = reply.to.as_str(),
                    id = id.as_deref().unwrap_or("local"),
                    message_id = reply.message_id.as_str(),
                    result = "auto-replied",
                    "out-of-office reply sent"
                );
            }
            Err(e) => tracing::warn!(
                target: "outpost::mail",
                user = mailbox.as_str(),
                to = reply.to.as_str(),
                error = %e,
                "out-of-office reply not sent"
            ),
        }
    }
    sent
}
