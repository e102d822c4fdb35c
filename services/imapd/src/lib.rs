//! `outpost-imapd`: IMAP4rev1/IMAP4rev2 and POP3 over the Outpost mail
//! store, for Thunderbird, Outlook, Apple Mail, K-9 and the webmail, tuned
//! for slow, disrupted links (CONDSTORE/QRESYNC, COMPRESS=DEFLATE, IDLE).
//!
//! **API boundary:** protocol parsing ([`parse`], [`seqset`], [`wire`],
//! [`mime`], [`search`] key parsing) does no I/O; sessions ([`imap`],
//! [`pop3`]) are generic over a boxed `AsyncRead + AsyncWrite` stream so
//! plain TCP, STARTTLS/STLS, implicit TLS and COMPRESS share one path.
//! Storage is `outpost-store`; users and lockout are `outpost-directory`.

#![deny(missing_docs)]

pub mod cache;
pub mod compress;
pub mod fetch;
pub mod imap;
pub mod mime;
pub mod parse;
pub mod pop3;
pub mod search;
pub mod seqset;
pub mod server;
pub mod thread;
pub mod utf7;
pub mod wire;
