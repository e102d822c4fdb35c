//! `outpost-webd`: Outpost's HTTPS daemon. This crate holds the CalDAV
//! (RFC 4791), CardDAV (RFC 6352) and WebDAV (RFC 4918) server and the web
//! UI (sign-in, webmail) on the same listener.
//!
//! **API boundary:** [`dav`] is synchronous and knows nothing of hyper or
//! TLS; [`server`] is the only module that touches sockets; [`web`] is the
//! router (pages first, DAV for every other path). Storage is
//! `outpost-davstore`, users and groups are `outpost-directory`.

#![deny(missing_docs)]

pub mod auth;
pub mod body;
pub mod dav;
pub mod filter;
pub mod server;
pub mod web;
pub mod xml;
