//! Mail hygiene for smtpd (and the webmail's send): what makes mail
//! trustworthy.
//!
//! - [`dkim`]: the signing keys (Ed25519 and RSA-2048, created at first
//!   start, rotated by `outpostctl dkim rotate`), their DNS records, and
//!   the signing of submitted mail.
//! - [`checks`]: SPF, DKIM, DMARC and ARC of mail from outside, summed up in
//!   one `Authentication-Results` field.
//! - [`spam`]: rspamd's `/checkv2` and `/learnspam`/`/learnham`.
//! - [`train`]: learning from users' moves into and out of Junk (imapd,
//!   webmail), through a bounded queue.
//! - [`av`]: clamd's `INSTREAM`.
//! - [`attach`]: executable attachments, by name and by content.
//!
//! **API boundary:** every check is bounded in time and size and never
//! loses mail: an engine that is down or silent yields a tagged accept (or
//! the configured tempfail), never a lost or endlessly held message.

#![deny(missing_docs)]

pub mod attach;
pub mod av;
pub mod checks;
pub mod dkim;
pub mod spam;
pub mod train;
