//! SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST/LSUB
//! (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), STATUS, APPEND
//! (MULTIAPPEND) and the quota commands.

use crate::imap::{
    CmdErr, Selected, Session, blocking, insert_flag, mailbox_name, no, quoted, wildcard_match,
    wire_name,
};
use crate::{fetch, seqset};
use outpost_imap_proto::command::{AppendMessage, ListSelect, MailboxArg, Qresync, StatusItem};
use outpost_imap_proto::seqset::SeqSet;
use outpost_store::{Flags, Mailbox, StoreError};
use std::collections::BTreeSet;

impl Session {
    pub(in crate::imap) fn create(&mut self, tag: &str, m: &MailboxArg) -> Result<(), CmdErr> {
        let n = mailbox_name(m, self.rev2).ok_or_else(|| CmdErr::Bad("CREATE name".into()))?;
        let n = n.trim_end_matches('.').to_string();
        self.mb(|u| u.create(&n))?;
        self.line(&format!("{tag} OK CREATE completed"));
        Ok(())
    }

    pub(in crate::imap) fn delete(&mut self, tag: &str, m: &MailboxArg) -> Result<(), CmdErr> {
        let n = mailbox_name(m, self.rev2).ok_or_else(|| CmdErr::Bad("DELETE name".into()))?;
        if self.sel.as_ref().is_some_and(|s| s.name == n) {
            self.sel = None;
        }
        self.mb(|u| u.delete(&n))?;
        self.line(&format!("{tag} OK DELETE completed"));
        Ok(())
    }

    pub(in crate::imap) fn rename(
        &mut self,
        tag: &str,
        from: &MailboxArg,
        to: &MailboxArg,
    ) -> Result<(), CmdErr> {
        let (Some(a), Some(b)) = (mailbox_name(from, self.rev2), mailbox_name(to, self.rev2))
        else {
            return Err(CmdErr::Bad("RENAME from to".into()));
        };
        self.mb(|u| u.rename(&a, &b))?;
        self.line(&format!("{tag} OK RENAME completed"));
        Ok(())
    }

    pub(in crate::imap) fn subscribe(
        &mut self,
        tag: &str,
        m: &MailboxArg,
        on: bool,
    ) -> Result<(), CmdErr> {
        let n = mailbox_name(m, self.rev2).ok_or_else(|| CmdErr::Bad("mailbox name".into()))?;
        self.mb(|u| u.subscribe(&n, on))?;
        let name = if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        self.line(&format!("{tag} OK {name} completed"));
        Ok(())
    }

    pub(in crate::imap) fn status(
        &mut self,
        tag: &str,
        m: &MailboxArg,
        items: &[StatusItem],
    ) -> Result<(), CmdErr> {
        let n = mailbox_name(m, self.rev2).ok_or_else(|| CmdErr::Bad("STATUS name".into()))?;
        let line = blocking(|| self.status_line(&n, items)).map_err(|e| CmdErr::No(no(&e)))?;
        self.line(&line);
        self.refresh(true);
        self.line(&format!("{tag} OK STATUS completed"));
        Ok(())
    }

    pub(in crate::imap) fn get_quota_root(
        &mut self,
        tag: &str,
        m: Option<&MailboxArg>,
    ) -> Result<(), CmdErr> {
        let n = m
            .and_then(|m| mailbox_name(m, self.rev2))
            .unwrap_or_else(|| "INBOX".into());
        let limit = self.quota_limit();
        if limit == 0 {
            self.line(&format!(
                "* QUOTAROOT {}",
                quoted(&wire_name(&n, self.rev2))
            ));
        } else {
            self.line(&format!(
                "* QUOTAROOT {} \"\"",
                quoted(&wire_name(&n, self.rev2))
            ));
            let used = self.mb(Mailbox::usage)?;
            self.line(&format!(
                "* QUOTA \"\" (STORAGE {} {})",
                used / 1024,
                limit / 1024
            ));
        }
        self.line(&format!("{tag} OK GETQUOTAROOT completed"));
        Ok(())
    }

    pub(in crate::imap) fn get_quota(
        &mut self,
        tag: &str,
        root: Option<&str>,
    ) -> Result<(), CmdErr> {
        let limit = self.quota_limit();
        if limit == 0 || root.is_none_or(|r| !r.is_empty()) {
            return Err(CmdErr::No("NO [NONEXISTENT] no such quota root".into()));
        }
        let used = self.mb(Mailbox::usage)?;
        self.line(&format!(
            "* QUOTA \"\" (STORAGE {} {})",
            used / 1024,
            limit / 1024
        ));
        self.line(&format!("{tag} OK GETQUOTA completed"));
        Ok(())
    }

    /// SELECT or EXAMINE, with CONDSTORE/QRESYNC (RFC 7162 §3.2.5).
    pub(in crate::imap) fn select(
        &mut self,
        tag: &str,
        mailbox: &MailboxArg,
        readonly: bool,
        condstore: bool,
        qresync: bool,
        qresync_data: Option<Qresync>,
    ) -> Result<(), CmdErr> {
        let name = if readonly { "EXAMINE" } else { "SELECT" };
        let n =
            mailbox_name(mailbox, self.rev2).ok_or_else(|| CmdErr::Bad("SELECT mailbox".into()))?;
        if condstore {
            self.condstore = true;
        }
        if qresync && !self.qresync {
            return Err(CmdErr::Bad("QRESYNC not enabled".into()));
        }
        let (qr, seq_match) = match qresync_data {
            Some(q) => (Some((q.uidvalidity, q.modseq, q.known_uids)), q.seq_match),
            None => (None, None),
        };
        if self.sel.take().is_some() && (self.qresync || self.rev2) {
            self.line("* OK [CLOSED] previous mailbox closed");
        }
        let folder = self.user()?.folder(&n).map_err(|e| CmdErr::No(no(&e)))?;
        let changes = folder.sync().map_err(|e| CmdErr::No(no(&e)))?;
        let snap = changes.snapshot;
        self.line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
        if readonly {
            self.line("* OK [PERMANENTFLAGS ()] read-only");
        } else {
            self.line(
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags",
            );
        }
        self.line(&format!("* {} EXISTS", snap.messages.len()));
        if !self.rev2 {
            self.line(&format!("* {} RECENT", changes.recent.len()));
            if let Some(i) = snap.messages.iter().position(|m| !m.flags.has(Flags::SEEN)) {
                self.line(&format!("* OK [UNSEEN {}] first unseen", i + 1));
            }
        }
        self.line(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid",
            snap.uidvalidity
        ));
        self.line(&format!("* OK [UIDNEXT {}] next UID", snap.uidnext));
        self.line(&format!(
            "* OK [HIGHESTMODSEQ {}] modseq",
            snap.highest_modseq
        ));
        if let Some((v, m, known)) = qr
            && v == snap.uidvalidity
        {
            // RFC 7162 §3.2.5.1: what changed since the client's MODSEQ.
            let known = known.and_then(|k| SeqSet::parse(&k, snap.uidnext.max(1)));
            // When the expunge history no longer reaches back to the
            // client's MODSEQ, every missing UID would be reported; the
            // sequence match data trims that (RFC 7162 §3.2.5.2): if the
            // client's and our message number `s` both have UID `u`, no
            // UID up to `u` has vanished.
            let mut settled = 0;
            if m < snap.vanished_floor
                && let Some((seqs, uids)) = &seq_match
            {
                for (s, u) in seqs
                    .iter()
                    .zip(uids.iter())
                    .take_while(|(s, _)| *s as usize <= snap.messages.len())
                {
                    if snap.messages[s as usize - 1].uid == u {
                        settled = settled.max(u);
                    }
                }
            }
            let vanished: Vec<u32> = snap
                .vanished_since(m)
                .into_iter()
                .filter(|u| *u > settled && known.as_ref().is_none_or(|k| k.contains(*u)))
                .collect();
            if !vanished.is_empty() {
                self.line(&format!(
                    "* VANISHED (EARLIER) {}",
                    seqset::format(&vanished)
                ));
            }
            for (i, msg) in snap.messages.iter().enumerate() {
                if msg.modseq > m {
                    let mut o = Vec::new();
                    fetch::flags(&mut o, msg, changes.recent.contains(&msg.uid));
                    let l = format!(
                        "* {} FETCH (UID {} {} MODSEQ ({}))",
                        i + 1,
                        msg.uid,
                        String::from_utf8_lossy(&o),
                        msg.modseq
                    );
                    self.line(&l);
                }
            }
        }
        let sel = Selected {
            name: n,
            folder,
            readonly,
            view: snap.messages.clone(),
            recent: changes.recent.into_iter().collect(),
            highest_modseq: snap.highest_modseq,
            uidnext: snap.uidnext,
            saved: Vec::new(),
        };
        self.sel = Some(sel);
        let mode = if readonly { "READ-ONLY" } else { "READ-WRITE" };
        self.line(&format!("{tag} OK [{mode}] {name} completed"));
        Ok(())
    }

    pub(in crate::imap) fn status_line(
        &self,
        n: &str,
        items: &[StatusItem],
    ) -> Result<String, StoreError> {
        let mb = self
            .mailbox
            .as_ref()
            .ok_or_else(|| StoreError::NotFound(n.into()))?;
        let snap = mb.folder(n)?.sync()?.snapshot;
        let mut parts = Vec::new();
        for it in items {
            let v = match it {
                StatusItem::Messages => snap.messages.len() as u64,
                StatusItem::Recent => 0,
                StatusItem::UidNext => snap.uidnext as u64,
                StatusItem::UidValidity => snap.uidvalidity as u64,
                StatusItem::Unseen => snap
                    .messages
                    .iter()
                    .filter(|m| !m.flags.has(Flags::SEEN))
                    .count() as u64,
                StatusItem::Deleted => snap
                    .messages
                    .iter()
                    .filter(|m| m.flags.has(Flags::DELETED))
                    .count() as u64,
                StatusItem::Size => snap.messages.iter().map(|m| m.size).sum(),
                StatusItem::HighestModSeq => snap.highest_modseq,
            };
            parts.push(format!("{} {v}", it.name()));
        }
        Ok(format!(
            "* STATUS {} ({})",
            quoted(&wire_name(n, self.rev2)),
            parts.join(" ")
        ))
    }

    /// LIST or LSUB (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC
    /// 6154 SPECIAL-USE; the RFC 9051 §6.3.9 table decides what is
    /// returned).
    #[allow(clippy::too_many_arguments)] // reason: the typed LIST arguments, one each
    pub(in crate::imap) fn list(
        &mut self,
        tag: &str,
        lsub: bool,
        select: ListSelect,
        reference: &str,
        patterns: &[String],
        return_subscribed: bool,
        ret_status: Option<&[StatusItem]>,
    ) -> Result<(), CmdErr> {
        let name = if lsub { "LSUB" } else { "LIST" };
        let ListSelect {
            subscribed: subscribed_only,
            special_use: special_only,
            recursive,
        } = select;
        // Patterns are matched against the stored (modified UTF-7) names;
        // the wildcards are printable ASCII and survive the encoding.
        let stored = |p: &str| {
            if self.rev2 || !p.is_ascii() {
                crate::utf7::encode(p)
            } else {
                p.to_string()
            }
        };
        let reference = stored(reference);
        let patterns: Vec<String> = patterns.iter().map(|p| stored(p)).collect();
        let ret_subscribed = subscribed_only || return_subscribed;
        if patterns.len() == 1 && patterns[0].is_empty() {
            // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
            self.line(&format!("* {name} (\\Noselect) \".\" \"\""));
            self.line(&format!("{tag} OK {name} completed"));
            return Ok(());
        }
        let mb = self.user()?.clone();
        let existing: BTreeSet<String> = mb
            .list()
            .map_err(|e| CmdErr::No(no(&e)))?
            .into_iter()
            .collect();
        let subs: BTreeSet<String> = mb
            .subscriptions()
            .map_err(|e| CmdErr::No(no(&e)))?
            .into_iter()
            .map(|s| Mailbox::canonical(&s))
            .collect();
        let by_subscription = lsub || subscribed_only;
        // Every name that could be returned: what exists, what is
        // subscribed (for a subscription listing) and the hierarchy levels
        // above either.
        let mut names: BTreeSet<String> = existing.clone();
        if by_subscription {
            names.extend(subs.iter().cloned());
        }
        for n in names.clone() {
            let mut at = n.as_str();
            while let Some((sup, _)) = at.rsplit_once('.') {
                names.insert(sup.to_string());
                at = sup;
            }
        }
        let meets = |n: &str| {
            let mut ok = true;
            if by_subscription {
                ok &= subs.contains(n);
            }
            if special_only {
                ok &= existing.contains(n) && Mailbox::special_use(n).is_some();
            }
            if !by_subscription && !special_only {
                ok &= existing.contains(n);
            }
            ok
        };
        let matches = |n: &str| {
            patterns.iter().any(|p| {
                let full = format!("{reference}{p}");
                wildcard_match(full.as_bytes(), n.as_bytes())
                    || (n == "INBOX"
                        && wildcard_match(full.to_ascii_uppercase().as_bytes(), b"INBOX"))
            })
        };
        // INBOX first, then the rest in order.
        let mut order: Vec<&String> = names.iter().filter(|n| *n == "INBOX").collect();
        order.extend(names.iter().filter(|n| *n != "INBOX"));
        for f in order {
            if !matches(f) {
                continue;
            }
            let prefix = format!("{f}.");
            let exists = existing.contains(f);
            let hit = meets(f);
            let child_hit = names
                .range(prefix.clone()..)
                .take_while(|d| d.starts_with(&prefix))
                .any(|d| meets(d));
            let has_children = existing
                .range(prefix.clone()..)
                .take_while(|d| d.starts_with(&prefix))
                .next()
                .is_some();
            let mut attrs: Vec<&str> = Vec::new();
            // RFC 5258 §3.5: CHILDINFO tells that children meet the
            // selection criteria (a parent may be returned only for them).
            let childinfo = recursive && child_hit;
            if hit {
                if !exists {
                    attrs.push(if lsub { "\\Noselect" } else { "\\NonExistent" });
                }
            } else if childinfo {
                if !exists {
                    attrs.push("\\NonExistent");
                }
            } else if if by_subscription {
                // RFC 3501 §6.3.9: LSUB "%" returns an unsubscribed level
                // above subscribed names, flagged \Noselect.
                lsub && child_hit && patterns.iter().any(|p| p.ends_with('%'))
            } else {
                !exists && !special_only && has_children
            } {
                // A hierarchy level with nothing of its own (its children
                // exist or are subscribed).
                attrs.push("\\Noselect");
            } else {
                continue;
            }
            if !lsub && (exists || has_children) {
                attrs.push(if has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
            }
            if !lsub && ret_subscribed && subs.contains(f) {
                attrs.push("\\Subscribed");
            }
            if !lsub
                && exists
                && let Some(s) = Mailbox::special_use(f)
            {
                attrs.push(s);
            }
            let mut line = format!(
                "* {name} ({}) \".\" {}",
                attrs.join(" "),
                quoted(&wire_name(f, self.rev2))
            );
            if childinfo {
                let mut crit = Vec::new();
                if subscribed_only {
                    crit.push("\"SUBSCRIBED\"");
                }
                if special_only {
                    crit.push("\"SPECIAL-USE\"");
                }
                line.push_str(&format!(" (\"CHILDINFO\" ({}))", crit.join(" ")));
            }
            self.line(&line);
            if exists
                && let Some(items) = ret_status
                && let Ok(l) = self.status_line(f, items)
            {
                self.line(&l);
            }
        }
        self.line(&format!("{tag} OK {name} completed"));
        Ok(())
    }

    /// APPEND, one message or several (MULTIAPPEND, RFC 3502).
    pub(in crate::imap) fn append(
        &mut self,
        tag: &str,
        mailbox: &MailboxArg,
        messages: Vec<AppendMessage>,
    ) -> Result<(), CmdErr> {
        let n =
            mailbox_name(mailbox, self.rev2).ok_or_else(|| CmdErr::Bad("APPEND mailbox".into()))?;
        let mb = self.user()?.clone();
        let folder = match mb.folder(&n) {
            Ok(f) => f,
            Err(StoreError::NotFound(_)) => {
                return Err(CmdErr::No("NO [TRYCREATE] no such mailbox".into()));
            }
            Err(e) => return Err(CmdErr::No(no(&e))),
        };
        let mut items: Vec<(Flags, Option<i64>, &[u8])> = Vec::with_capacity(messages.len());
        for m in &messages {
            let mut flags = Flags::default();
            for f in &m.flags {
                insert_flag(&mut flags, f)?;
            }
            items.push((flags, m.date, &m.message));
        }
        let quota = self.quota_limit();
        if quota > 0 {
            let used = mb.usage().map_err(|e| CmdErr::No(no(&e)))?;
            let add: u64 = items.iter().map(|(_, _, m)| m.len() as u64).sum();
            if used + add > quota {
                return Err(CmdErr::No("NO [OVERQUOTA] quota exceeded".into()));
            }
        }
        let mut uids = Vec::new();
        let mut validity = 0;
        for (flags, date, msg) in items {
            let (v, uid) = folder
                .append(msg, &flags, date)
                .map_err(|e| CmdErr::No(no(&e)))?;
            validity = v;
            uids.push(uid);
        }
        self.refresh(true);
        self.line(&format!(
            "{tag} OK [APPENDUID {validity} {}] APPEND completed",
            seqset::format(&uids)
        ));
        Ok(())
    }
}
