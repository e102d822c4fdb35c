//! SEARCH (ESEARCH, SEARCHRES, CONDSTORE MODSEQ), SORT and THREAD. The
//! criteria arrive as tokens: `$` is replaced by the saved result here,
//! then `outpost_imap_proto::search::parse_keys` builds the key.

use crate::imap::{CmdErr, Selected, Session, quoted, search_view};
use crate::parse::Tok;
use crate::{search, seqset};
use outpost_imap_proto::command::{SortKey, ThreadAlgorithm};
use outpost_store::MessageMeta;
use std::sync::Arc;

impl Session {
    /// Replaces `$` in search keys by the saved result (RFC 5182): as
    /// sequence numbers, or as UIDs after `UID`; an empty result becomes a
    /// key that matches nothing.
    fn expand_saved(sel: &Selected, keys: &[Tok]) -> Vec<Tok> {
        let nothing = || Tok::List(vec![Tok::Atom("NOT".into()), Tok::Atom("ALL".into())]);
        let mut out = Vec::with_capacity(keys.len());
        let mut i = 0;
        while i < keys.len() {
            match &keys[i] {
                Tok::Atom(a)
                    if a.eq_ignore_ascii_case("UID")
                        && keys.get(i + 1).is_some_and(|t| t.is("$")) =>
                {
                    let mut uids: Vec<u32> = sel
                        .saved
                        .iter()
                        .copied()
                        .filter(|u| sel.seq_of(*u).is_some())
                        .collect();
                    uids.sort_unstable();
                    if uids.is_empty() {
                        out.push(nothing());
                    } else {
                        out.push(keys[i].clone());
                        out.push(Tok::Atom(seqset::format(&uids)));
                    }
                    i += 1;
                }
                t if t.is("$") => {
                    let mut seqs: Vec<u32> = sel
                        .saved
                        .iter()
                        .filter_map(|u| sel.seq_of(*u).map(|s| s as u32 + 1))
                        .collect();
                    seqs.sort_unstable();
                    out.push(if seqs.is_empty() {
                        nothing()
                    } else {
                        Tok::Atom(seqset::format(&seqs))
                    });
                }
                Tok::List(l) => out.push(Tok::List(Self::expand_saved(sel, l))),
                t => out.push(t.clone()),
            }
            i += 1;
        }
        out
    }

    /// Evaluates search keys over the view; returns matching view indexes.
    fn run_search(&mut self, keys: &[Tok]) -> Result<(Vec<usize>, bool), CmdErr> {
        let depth = self.sh.config.imap.max_search_depth;
        let sel = self.selected()?;
        let keys = Self::expand_saved(sel, keys);
        let key = search::parse_keys(&keys, sel.view.len() as u32, sel.max_uid(), depth)
            .map_err(CmdErr::Bad)?;
        let has_modseq = key.has_modseq();
        let hits = search_view(sel, &key);
        Ok((hits, has_modseq))
    }

    pub(in crate::imap) fn search(
        &mut self,
        tag: &str,
        uid: bool,
        ret: Option<Vec<String>>,
        charset: Option<&str>,
        criteria: &[Tok],
    ) -> Result<(), CmdErr> {
        if let Some(cs) = charset
            && cs != "UTF-8"
            && cs != "US-ASCII"
        {
            return Err(CmdErr::No(
                "NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset".into(),
            ));
        }
        // SEARCHRES (RFC 5182): RETURN (SAVE [MIN] [MAX] …) keeps the
        // result for `$`; a failed search empties it.
        let saving = ret.as_ref().is_some_and(|o| o.iter().any(|x| x == "SAVE"));
        let ret = ret.map(|o| o.into_iter().filter(|x| x != "SAVE").collect::<Vec<_>>());
        let (hits, has_modseq) = match self.run_search(criteria) {
            Ok(r) => r,
            Err(e) => {
                if saving && let Some(sel) = self.sel.as_mut() {
                    sel.saved.clear();
                }
                return Err(e);
            }
        };
        let sel = self.selected()?;
        if saving {
            let o = ret.as_deref().unwrap_or_default();
            let (min, max) = (o.iter().any(|x| x == "MIN"), o.iter().any(|x| x == "MAX"));
            let mut keep: Vec<usize> = if min || max {
                let mut v = Vec::new();
                v.extend(hits.iter().min().filter(|_| min));
                v.extend(hits.iter().max().filter(|_| max));
                v
            } else {
                hits.clone()
            };
            keep.dedup();
            sel.saved = keep.iter().map(|i| sel.view[*i].uid).collect();
        }
        let nums: Vec<u32> = hits
            .iter()
            .map(|i| if uid { sel.view[*i].uid } else { *i as u32 + 1 })
            .collect();
        let max_modseq = hits.iter().map(|i| sel.view[*i].modseq).max();
        let rev2 = self.rev2;
        if saving && ret.as_ref().is_some_and(Vec::is_empty) {
            // SAVE alone: no ESEARCH response (RFC 5182 §2.1).
        } else if ret.is_some() || rev2 {
            let opts = ret.unwrap_or_else(|| vec!["ALL".into()]);
            let opts = if opts.is_empty() {
                vec!["ALL".into()]
            } else {
                opts
            };
            let mut l = format!("* ESEARCH (TAG {})", quoted(tag));
            if uid {
                l.push_str(" UID");
            }
            if !nums.is_empty() {
                let mut sorted = nums.clone();
                sorted.sort_unstable();
                for o in &opts {
                    match o.as_str() {
                        "MIN" => l.push_str(&format!(" MIN {}", sorted[0])),
                        "MAX" => l.push_str(&format!(" MAX {}", sorted[sorted.len() - 1])),
                        "ALL" => l.push_str(&format!(" ALL {}", seqset::format(&sorted))),
                        _ => {}
                    }
                }
            }
            if opts.iter().any(|o| o == "COUNT") {
                l.push_str(&format!(" COUNT {}", nums.len()));
            }
            if has_modseq && let Some(m) = max_modseq {
                l.push_str(&format!(" MODSEQ {m}"));
            }
            self.line(&l);
        } else {
            let mut l = String::from("* SEARCH");
            for n in &nums {
                l.push_str(&format!(" {n}"));
            }
            if has_modseq && let Some(m) = max_modseq {
                l.push_str(&format!(" (MODSEQ {m})"));
            }
            self.line(&l);
        }
        if uid {
            self.refresh(true);
        }
        self.line(&format!("{tag} OK SEARCH completed"));
        Ok(())
    }

    pub(in crate::imap) fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        keys: &[(SortKey, bool)],
        criteria: &[Tok],
    ) -> Result<(), CmdErr> {
        let (hits, _) = self.run_search(criteria)?;
        let sel = self.selected()?;
        // Base subjects come from the header cache (computed once per
        // message).
        let mut rows: Vec<(&MessageMeta, Arc<crate::cache::Summary>, u32)> = hits
            .into_iter()
            .map(|i| {
                let m = &sel.view[i];
                let f = &sel.folder;
                let n = if uid { m.uid } else { i as u32 + 1 };
                (m, crate::cache::get(&m.base, || f.read(m.uid).ok()), n)
            })
            .collect();
        rows.sort_unstable_by(|(ma, sa, _), (mb, sb, _)| {
            for &(by, reverse) in keys {
                let ord = match by {
                    SortKey::Arrival => ma.internal_date.cmp(&mb.internal_date),
                    // RFC 5256 §2.2: the sent date, INTERNALDATE without one.
                    SortKey::Date => {
                        let d = |s: &crate::cache::Summary, m: &MessageMeta| {
                            if s.date != 0 { s.date } else { m.internal_date }
                        };
                        d(sa, ma).cmp(&d(sb, mb))
                    }
                    SortKey::Size => ma.size.cmp(&mb.size),
                    SortKey::From => sa.from_sort.cmp(&sb.from_sort),
                    SortKey::To => sa.to_sort.cmp(&sb.to_sort),
                    SortKey::Cc => sa.cc_sort.cmp(&sb.cc_sort),
                    SortKey::Subject => sa.base_subject.text.cmp(&sb.base_subject.text),
                };
                let ord = if reverse { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            ma.uid.cmp(&mb.uid)
        });
        let mut l = String::with_capacity(8 + rows.len() * 6);
        l.push_str("* SORT");
        for (_, _, n) in &rows {
            use std::fmt::Write;
            let _ = write!(l, " {n}");
        }
        self.line(&l);
        self.line(&format!("{tag} OK SORT completed"));
        Ok(())
    }

    pub(in crate::imap) fn thread(
        &mut self,
        tag: &str,
        uid: bool,
        algorithm: Option<ThreadAlgorithm>,
        criteria: &[Tok],
    ) -> Result<(), CmdErr> {
        let threads = match algorithm {
            Some(ThreadAlgorithm::References) => crate::thread::references,
            Some(ThreadAlgorithm::OrderedSubject) => crate::thread::ordered_subject,
            None => {
                return Err(CmdErr::No(
                    "NO [CANNOT] unsupported THREAD algorithm".into(),
                ));
            }
        };
        let (hits, _) = self.run_search(criteria)?;
        let sel = self.selected()?;
        let items: Vec<(u32, Arc<crate::cache::Summary>, i64)> = hits
            .into_iter()
            .map(|i| {
                let m = &sel.view[i];
                let f = &sel.folder;
                let s = crate::cache::get(&m.base, || f.read(m.uid).ok());
                let d = if s.date == 0 { m.internal_date } else { s.date };
                (if uid { m.uid } else { i as u32 + 1 }, s, d)
            })
            .collect();
        let l = format!("* THREAD {}", threads(&items));
        self.line(l.trim_end());
        self.line(&format!("{tag} OK THREAD completed"));
        Ok(())
    }
}
