//! The libFuzzer entry point. One binary serves every target; the target
//! is chosen by `OUTPOST_FUZZ_TARGET` (set by `cargo xtask fuzz`), so one
//! instrumented build is enough for all of them.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    outpost_fuzz::run_selected(data);
});
