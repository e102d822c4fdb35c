//! FETCH, STORE, COPY/MOVE, EXPUNGE (and UID EXPUNGE), CLOSE/UNSELECT.

use crate::fetch::{self, Att};
use crate::imap::{
    CmdErr, Session, apply_changes, blocking, expunge_lines, insert_flag, mailbox_name, no,
};
use crate::seqset::{self, SeqSet};
use outpost_imap_proto::command::{MailboxArg, Sequence, StoreMode};
use outpost_store::{Flags, Mailbox, StoreError, StoreFlags};

impl Session {
    /// CLOSE (expunges, unless read-only) or UNSELECT.
    pub(in crate::imap) fn close(&mut self, tag: &str, close: bool) {
        let sel = self.sel.take();
        if close
            && let Some(s) = sel
            && !s.readonly
        {
            let _ = blocking(|| s.folder.expunge(None, true));
        }
        let name = if close { "CLOSE" } else { "UNSELECT" };
        self.line(&format!("{tag} OK {name} completed"));
    }

    /// Resolves a set to view indexes (sequence numbers or UIDs).
    fn resolve(&mut self, set: &Sequence, uid: bool) -> Result<Vec<usize>, CmdErr> {
        let sel = self.selected()?;
        if uid {
            let max = sel.max_uid().max(sel.uidnext.saturating_sub(1));
            let Some(s) = set.resolve(max) else {
                // RFC 5182: the saved result, less what has been expunged.
                return Ok(sel.saved.iter().filter_map(|u| sel.seq_of(*u)).collect());
            };
            Ok(sel
                .view
                .iter()
                .enumerate()
                .filter(|(_, m)| s.contains(m.uid))
                .map(|(i, _)| i)
                .collect())
        } else {
            let max = sel.view.len() as u32;
            let Some(s) = set.resolve(max) else {
                return Ok(sel.saved.iter().filter_map(|u| sel.seq_of(*u)).collect());
            };
            if s.0.iter().any(|(_, b)| *b > max) {
                return Err(CmdErr::Bad("sequence number out of range".into()));
            }
            Ok((0..sel.view.len())
                .filter(|i| s.contains(*i as u32 + 1))
                .collect())
        }
    }

    #[allow(clippy::too_many_arguments)] // reason: the typed FETCH arguments, one each
    pub(in crate::imap) fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &Sequence,
        mut atts: Vec<Att>,
        modifiers: bool,
        changed_since: Option<u64>,
        vanished: bool,
    ) -> Result<(), CmdErr> {
        if modifiers {
            self.condstore = true;
        }
        if vanished && (!uid || !self.qresync || changed_since.is_none()) {
            return Err(CmdErr::Bad(
                "VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE".into(),
            ));
        }
        if uid && !atts.contains(&Att::Uid) {
            atts.insert(0, Att::Uid);
        }
        if (changed_since.is_some() || self.condstore)
            && !atts.contains(&Att::ModSeq)
            && changed_since.is_some()
        {
            atts.push(Att::ModSeq);
        }
        let idx = self.resolve(set, uid)?;
        let sets_seen = atts.iter().any(|a| {
            matches!(
                a,
                Att::Section {
                    sets_seen: true,
                    ..
                }
            )
        });
        let needs_body = atts.iter().any(Att::needs_body);
        let needs_env = atts.contains(&Att::Envelope);
        if vanished && let Some(cs) = changed_since {
            let sel = self.selected()?;
            let snap = sel.folder.sync().map_err(|e| CmdErr::No(no(&e)))?.snapshot;
            let max = sel.uidnext;
            let s = self.uid_set(set, max)?;
            let v: Vec<u32> = snap
                .vanished_since(cs)
                .into_iter()
                .filter(|u| s.contains(*u))
                .collect();
            if !v.is_empty() {
                self.line(&format!("* VANISHED (EARLIER) {}", seqset::format(&v)));
            }
        }
        // Implicit \Seen (RFC 9051 §6.4.5) before rendering, so FLAGS show it.
        if sets_seen && !self.selected()?.readonly {
            let sel = self.selected()?;
            let uids: Vec<u32> = idx
                .iter()
                .map(|i| &sel.view[*i])
                .filter(|m| !m.flags.has(Flags::SEEN))
                .map(|m| m.uid)
                .collect();
            if !uids.is_empty() {
                let f = Flags {
                    bits: Flags::SEEN,
                    ..Default::default()
                };
                let (snap, changed, _) = sel
                    .folder
                    .store(&uids, StoreFlags::Add, &f, None)
                    .map_err(|e| CmdErr::No(no(&e)))?;
                apply_changes(sel, &snap, &changed);
                if !atts.contains(&Att::Flags) {
                    atts.push(Att::Flags);
                }
            }
        }
        let sel = self
            .sel
            .as_ref()
            .ok_or_else(|| CmdErr::Bad("no mailbox selected".into()))?;
        let mut out = std::mem::take(&mut self.out);
        for i in idx {
            let m = &sel.view[i];
            if changed_since.is_some_and(|c| m.modseq <= c) {
                continue;
            }
            let raw = if needs_body {
                match sel.folder.read_message(m) {
                    Ok(r) => Some(r),
                    Err(_) => sel.folder.read(m.uid).ok(),
                }
            } else {
                None
            };
            let env = if needs_env {
                let f = &sel.folder;
                let summary = crate::cache::get(&m.base, || match &raw {
                    Some(r) => Some(r.clone()),
                    None => f.read(m.uid).ok(),
                });
                Some(summary)
            } else {
                None
            };
            if needs_body && raw.is_none() {
                // Expunged by another session meanwhile; RFC 9051 §7.5.1
                // lets us omit it.
                continue;
            }
            out.extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
            fetch::render(
                &mut out,
                &atts,
                m,
                sel.recent.contains(&m.uid),
                raw.as_deref(),
                env.as_ref().map(|e| e.envelope.as_slice()),
            );
            out.extend_from_slice(b")\r\n");
        }
        self.out = out;
        if uid {
            self.refresh(true);
        }
        self.line(&format!("{tag} OK FETCH completed"));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // reason: the typed STORE arguments, one each
    pub(in crate::imap) fn store(
        &mut self,
        tag: &str,
        uid: bool,
        set: &Sequence,
        unchanged_since: Option<u64>,
        mode: StoreMode,
        silent: bool,
        names: &[String],
    ) -> Result<(), CmdErr> {
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let op = match mode {
            StoreMode::Replace => StoreFlags::Replace,
            StoreMode::Add => StoreFlags::Add,
            StoreMode::Remove => StoreFlags::Remove,
        };
        let mut flags = Flags::default();
        for f in names {
            insert_flag(&mut flags, f)?;
        }
        let idx = self.resolve(set, uid)?;
        let condstore = self.condstore;
        let sel = self.selected()?;
        if sel.readonly {
            return Err(CmdErr::No("NO [READ-ONLY] mailbox is read-only".into()));
        }
        let uids: Vec<u32> = idx.iter().map(|i| sel.view[*i].uid).collect();
        let (snap, changed, failed) = sel
            .folder
            .store(&uids, op, &flags, unchanged_since)
            .map_err(|e| CmdErr::No(no(&e)))?;
        apply_changes(sel, &snap, &changed);
        let mut lines = Vec::new();
        // RFC 7162 §3.1.3: with UNCHANGEDSINCE the client also learns the
        // new MODSEQ, even for .SILENT.
        for u in &changed {
            if let Some(i) = sel.seq_of(*u) {
                let m = &sel.view[i];
                if silent && unchanged_since.is_none() {
                    continue;
                }
                let mut o = Vec::new();
                if !silent {
                    fetch::flags(&mut o, m, sel.recent.contains(u));
                }
                let mut items = Vec::new();
                if uid {
                    items.push(format!("UID {}", m.uid));
                }
                if !o.is_empty() {
                    items.push(String::from_utf8_lossy(&o).into_owned());
                }
                if condstore {
                    items.push(format!("MODSEQ ({})", m.modseq));
                }
                lines.push(format!("* {} FETCH ({})", i + 1, items.join(" ")));
            }
        }
        for l in lines {
            self.line(&l);
        }
        if uid {
            self.refresh(true);
        }
        if failed.is_empty() {
            self.line(&format!("{tag} OK STORE completed"));
        } else {
            let sel = self.selected()?;
            let mut f: Vec<u32> = if uid {
                failed
            } else {
                failed
                    .iter()
                    .filter_map(|u| sel.seq_of(*u).map(|i| i as u32 + 1))
                    .collect()
            };
            f.sort_unstable();
            self.line(&format!(
                "{tag} OK [MODIFIED {}] conditional STORE failed",
                seqset::format(&f)
            ));
        }
        Ok(())
    }

    /// A UID set argument, `$` (the saved result, RFC 5182) included.
    pub(in crate::imap) fn uid_set(&mut self, set: &Sequence, max: u32) -> Result<SeqSet, CmdErr> {
        match set.resolve(max) {
            Some(s) => Ok(s),
            None => {
                let mut uids = self.selected()?.saved.clone();
                uids.sort_unstable();
                Ok(SeqSet(uids.into_iter().map(|u| (u, u)).collect()))
            }
        }
    }

    /// COPY or MOVE (RFC 6851), by sequence number or UID.
    pub(in crate::imap) fn copy(
        &mut self,
        tag: &str,
        uid: bool,
        mv: bool,
        set: &Sequence,
        mailbox: &MailboxArg,
    ) -> Result<(), CmdErr> {
        let dest_name = mailbox_name(mailbox, self.rev2)
            .ok_or_else(|| CmdErr::Bad("COPY set mailbox".into()))?;
        let idx = self.resolve(set, uid)?;
        let mb = self.user()?.clone();
        let dest = match mb.folder(&dest_name) {
            Ok(f) => f,
            Err(StoreError::NotFound(_)) => {
                return Err(CmdErr::No("NO [TRYCREATE] no such mailbox".into()));
            }
            Err(e) => return Err(CmdErr::No(no(&e))),
        };
        let qresync = self.qresync;
        let sh = self.sh.clone();
        let address = self.user.as_ref().map(|u| u.address.clone());
        let sel = self.selected()?;
        if mv && sel.readonly {
            return Err(CmdErr::No("NO [READ-ONLY] mailbox is read-only".into()));
        }
        let mut uids: Vec<u32> = idx.iter().map(|i| sel.view[*i].uid).collect();
        uids.sort_unstable();
        // Into or out of Junk: the messages train the spam engine (read
        // now, while the source files exist; bounded by the trainer).
        if let (Some(trainer), Some(address)) = (&sh.trainer, &address)
            && let Some(spam) = outpost_hygiene::train::verdict(
                Mailbox::special_use(&sel.name),
                Mailbox::special_use(&dest_name),
            )
        {
            for i in &idx {
                let m = &sel.view[*i];
                trainer.offer(address, spam, || {
                    sel.folder
                        .read_message(m)
                        .ok()
                        .or_else(|| sel.folder.read(m.uid).ok())
                });
            }
        }
        let (v, pairs) = sel
            .folder
            .copy_to(&uids, &dest)
            .map_err(|e| CmdErr::No(no(&e)))?;
        let code = if pairs.is_empty() {
            String::new()
        } else {
            let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
            format!(
                "[COPYUID {v} {} {}] ",
                seqset::format(&src),
                seqset::format(&dst)
            )
        };
        if !mv {
            self.refresh(true);
            self.line(&format!("{tag} OK {code}COPY completed"));
            return Ok(());
        }
        // MOVE (RFC 6851 §4.3): COPYUID untagged, then the expunges.
        let (snap, gone) = sel
            .folder
            .expunge(Some(&uids), false)
            .map_err(|e| CmdErr::No(no(&e)))?;
        let mut lines = vec![format!("* OK {code}moved")];
        expunge_lines(sel, &gone, qresync, &mut lines);
        sel.highest_modseq = snap.highest_modseq;
        for l in lines {
            self.line(&l);
        }
        self.refresh(true);
        self.line(&format!("{tag} OK MOVE completed"));
        Ok(())
    }

    /// EXPUNGE, or UID EXPUNGE (RFC 4315) of a UID set.
    pub(in crate::imap) fn expunge(
        &mut self,
        tag: &str,
        set: Option<&Sequence>,
    ) -> Result<(), CmdErr> {
        let set = match set {
            Some(s) => {
                let max = self.selected()?.max_uid();
                Some(self.uid_set(s, max)?)
            }
            None => None,
        };
        let qresync = self.qresync;
        let sel = self.selected()?;
        if sel.readonly {
            return Err(CmdErr::No("NO [READ-ONLY] mailbox is read-only".into()));
        }
        let uids: Option<Vec<u32>> = set.map(|s| {
            sel.view
                .iter()
                .map(|m| m.uid)
                .filter(|u| s.contains(*u))
                .collect()
        });
        let (snap, gone) = sel
            .folder
            .expunge(uids.as_deref(), true)
            .map_err(|e| CmdErr::No(no(&e)))?;
        let mut lines = Vec::new();
        expunge_lines(sel, &gone, qresync, &mut lines);
        sel.highest_modseq = snap.highest_modseq;
        for l in lines {
            self.line(&l);
        }
        self.refresh(true);
        let hm = self.sel.as_ref().map_or(0, |s| s.highest_modseq);
        if self.condstore {
            self.line(&format!("{tag} OK [HIGHESTMODSEQ {hm}] EXPUNGE completed"));
        } else {
            self.line(&format!("{tag} OK EXPUNGE completed"));
        }
        Ok(())
    }
}
