//! Lambda API identifiers and request bodies; see `src/api_request.rs` for the checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flint_fuzz::api_request::run(data));
