//! The IMAP operations, one file per area, each an `impl Session` block
//! called from `Session::dispatch` with the typed arguments of its
//! [`Command`](outpost_imap_proto::Command):
//!
//! - `auth`: STARTTLS, LOGIN, AUTHENTICATE, ENABLE, COMPRESS;
//! - `mailbox`: SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE,
//!   LIST/LSUB, STATUS, APPEND, the quota commands;
//! - `message`: FETCH, STORE, COPY/MOVE, EXPUNGE, CLOSE/UNSELECT;
//! - `search`: SEARCH, SORT, THREAD.

mod auth;
mod mailbox;
mod message;
mod search;
