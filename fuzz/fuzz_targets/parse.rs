//! Parses arbitrary bytes (as UTF-8, when they are); when they parse, renders the scrape back,
//! parses that again and checks both agree. The check lives in the crate
//! (`atlhyper_promtext::fuzz_check`) so that `cargo test` replays `corpus/parse/` through it.
//!
//! Run: `cargo fuzz run parse --sanitizer none` from the workspace root (see README.md).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    atlhyper_promtext::fuzz_check(data);
});
