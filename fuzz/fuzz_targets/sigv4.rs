//! The SigV4 verifier on arbitrary and on self-signed requests (checks live in
//! `flint_fuzz::sigv4`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flint_fuzz::sigv4::run(data));
