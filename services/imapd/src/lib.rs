//! `outpost-imapd`: IMAP4rev1/IMAP4rev2 and POP3 over the Outpost mail
//! store, for Thunderbird, Outlook, Apple Mail, K-9 and the webmail, tuned
//! for slow, disrupted links (CONDSTORE/QRESYNC, COMPRESS=DEFLATE, IDLE).
//!
//! **API boundary:** protocol parsing lives in `outpost-imap-proto`
//! (framing, tokens, typed commands, sequence sets, modified UTF-7, search
//! keys; re-exported here as [`parse`], [`seqset`], [`utf7`], [`wire`]) and
//! does no I/O, nor does [`mime`]; sessions ([`imap`],
//! [`pop3`]) are generic over a boxed `AsyncRead + AsyncWrite` stream so
//! plain TCP, STARTTLS/STLS, implicit TLS and COMPRESS share one path.
//! Storage is `outpost-store`; users and lockout are `outpost-directory`.

#![deny(missing_docs)]

pub use outpost_imap_proto::{parse, seqset, utf7, wire};

pub mod cache;
pub mod compress;
pub mod fetch;
pub mod imap;
pub mod mime;
pub mod pop3;
pub mod search;
pub mod server;
pub mod thread;
