//! Arbitrary bytes as an uploaded deployment package; see `src/zip_intake.rs` for the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flint_fuzz::zip_intake::run(data));
