//! `outpost-imap-proto`: IMAP4rev1/rev2 and POP3 parsing with no I/O.
//!
//! Bytes → [`parse::Reader`] frame → [`parse::parse_command`] tokens →
//! [`command::parse`] → a typed [`Command`]; the session
//! (`outpost-imapd`) applies the command to the store. POP3 lines become a
//! [`Pop3Command`] through [`parse_pop3`].
//!
//! **Invariant:** no I/O, no tokio, no store and no other `outpost-*`
//! crate (checked by xtask's tidy test): everything here is a pure function
//! of its input, bounded and panic-free on any bytes (fuzzed as
//! `imap_command`).

#![deny(missing_docs)]

pub mod command;
pub mod fetch;
pub mod parse;
pub mod pop3;
pub mod search;
pub mod seqset;
pub mod utf7;
pub mod wire;

pub use command::{Command, Tagged};
pub use pop3::{Pop3Command, parse_pop3};
