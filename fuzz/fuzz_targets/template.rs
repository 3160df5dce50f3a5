#![no_main]
//! See `arazzo::fuzzing::template`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| arazzo::fuzzing::template(data));
