//! Runtime API request routing and header parsing, and the runtime state
//! machine under arbitrary operation sequences (checks live in
//! `flint_runtime_api::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flint_fuzz::runtime_api::run(data));
