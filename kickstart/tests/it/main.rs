//! Integration tests of `outpost-kickstart`, built as one binary.
//!
//! Data-driven: each module is tables of inputs and expected outputs
//! (canonical text, or `PATH:LINE:COL: error: MESSAGE`).

mod accept;
mod addon;
mod cli;
mod fuzz;
mod include;
mod lex;
mod reject;
mod render;
mod storage;
mod support;
mod tidy;
