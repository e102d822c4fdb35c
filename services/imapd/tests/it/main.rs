//! Integration tests of `outpost-imapd`: a real server on 127.0.0.1:0 with
//! a temporary store and directory, raw protocol bytes in, exact replies
//! out; plus parser property tests and real clients (curl, python imaplib).

mod clients;
mod harness;
mod imap;
mod learn;
mod mailboxes;
mod parser;
mod pop3;
mod security;
mod thread;
