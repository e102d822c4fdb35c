//! Integration tests of `outpost-webd`: one binary (see STYLE.md).

mod clients;
mod harness;
mod protocol;
