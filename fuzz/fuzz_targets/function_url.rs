//! Function URL request and response mapping (checks live in `flint_fuzz::function_url`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flint_fuzz::function_url::run(data));
