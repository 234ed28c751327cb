//! Structured package layouts (names, types, modes, link targets) serialised into a zip; see
//! `src/zip_entries.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flint_fuzz::zip_entries::run(data));
