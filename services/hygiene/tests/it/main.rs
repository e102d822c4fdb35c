//! outpost-hygiene's integration tests, one binary (see STYLE.md): the
//! spam and virus clients against real, private rspamd and clamd
//! instances (`outpost_testkit::engines`), and the attachment policy over
//! a table of messages.

mod attach;
mod av;
mod spam;
