#![no_main]
//! See `arazzo::fuzzing::openapi`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| arazzo::fuzzing::openapi(data));
