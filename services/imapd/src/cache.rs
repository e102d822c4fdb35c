//! A process-wide cache of per-message header summaries (ENVELOPE bytes,
//! decoded lower-cased address/subject fields, Date) keyed by the Maildir
//! base name, which is unique and never reused. It makes repeated
//! `FETCH (ENVELOPE)`, `SEARCH SUBJECT/FROM` and SORT cheap, the way
//! Dovecot's `dovecot.index.cache` does, without a second file format.

use crate::mime;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// What we remember about a message's header.
#[derive(Debug, Default)]
pub struct Summary {
    /// ENVELOPE response bytes.
    pub envelope: Vec<u8>,
    /// Decoded, lower-cased Subject.
    pub subject: String,
    /// Its RFC 5256 base subject (SORT SUBJECT, THREAD), computed once.
    pub base_subject: crate::search::BaseSubject,
    /// Decoded, lower-cased From / To / Cc / Bcc (names and addresses).
    pub from: String,
    /// To.
    pub to: String,
    /// Cc.
    pub cc: String,
    /// Bcc.
    pub bcc: String,
    /// First From mailbox (for SORT FROM).
    pub from_sort: String,
    /// First To mailbox (SORT TO).
    pub to_sort: String,
    /// First Cc mailbox (SORT CC).
    pub cc_sort: String,
    /// Date header as Unix seconds (0 if missing).
    pub date: i64,
    /// Message-ID, In-Reply-To and References (for THREAD).
    pub message_id: String,
    /// References + In-Reply-To message ids, oldest first.
    pub references: Vec<String>,
}

const MAX_ENTRIES: usize = 200_000;

fn cache() -> &'static Mutex<HashMap<String, Arc<Summary>>> {
    static C: OnceLock<Mutex<HashMap<String, Arc<Summary>>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

fn addr_text(a: Option<&mail_parser::Address<'_>>) -> (String, String) {
    let mut all = String::new();
    let mut first = String::new();
    if let Some(a) = a {
        for x in a.iter() {
            if let Some(n) = &x.name {
                all.push_str(n);
                all.push(' ');
            }
            if let Some(ad) = &x.address {
                if first.is_empty() {
                    first = ad.to_lowercase();
                }
                all.push_str(ad);
                all.push(' ');
            }
        }
    }
    (all.to_lowercase(), first)
}

/// Builds the summary from the header block.
pub fn summarize(raw: &[u8]) -> Summary {
    let hdr = mime::header_block(raw);
    let Some(m) = mime::parse(hdr) else {
        return Summary::default();
    };
    let mut envelope = Vec::new();
    mime::envelope(&mut envelope, &m);
    let (from, from_sort) = addr_text(m.from());
    let (to, to_sort) = addr_text(m.to());
    let (cc, cc_sort) = addr_text(m.cc());
    let (bcc, _) = addr_text(m.bcc());
    let mut references: Vec<String> = m.references().as_text_list().map_or_else(
        || {
            m.references()
                .as_text()
                .map(|t| vec![t.to_string()])
                .unwrap_or_default()
        },
        |l| l.iter().map(|s| s.to_string()).collect(),
    );
    if references.is_empty()
        && let Some(irt) = m.in_reply_to().as_text()
    {
        references.push(irt.to_string());
    }
    let subject = m.subject().unwrap_or("").to_lowercase();
    Summary {
        envelope,
        base_subject: crate::search::extract_base_subject(&subject),
        subject,
        from,
        to,
        cc,
        bcc,
        from_sort,
        to_sort,
        cc_sort,
        date: m.date().map_or(0, |d| d.to_timestamp()),
        message_id: m.message_id().unwrap_or("").to_string(),
        references,
    }
}

/// The summary of message `base`, loading it with `load` on a miss.
pub fn get(base: &str, load: impl FnOnce() -> Option<Vec<u8>>) -> Arc<Summary> {
    if let Some(s) = cache().lock().ok().and_then(|c| c.get(base).cloned()) {
        return s;
    }
    let s = Arc::new(load().map(|raw| summarize(&raw)).unwrap_or_default());
    if let Ok(mut c) = cache().lock() {
        if c.len() >= MAX_ENTRIES {
            c.clear();
        }
        c.insert(base.to_string(), s.clone());
    }
    s
}
