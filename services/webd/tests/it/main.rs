//! Integration tests of `outpost-webd`: one binary (see STYLE.md).

mod auth;
mod browser;
mod clients;
mod daemon;
mod harness;
mod logs;
mod protocol;
mod security;
mod web;
