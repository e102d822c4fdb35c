//! Integration tests of `outpost-directory`: one binary, one module per area.

mod auth;
mod initial;
mod settings;
mod users;
