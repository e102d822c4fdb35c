//! Integration tests of `outpost-webd`: one binary (see STYLE.md).

mod harness;
mod protocol;
