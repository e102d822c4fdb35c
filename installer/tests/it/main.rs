//! Integration tests of the installer, one binary (see STYLE.md).

mod install;
mod plan;
