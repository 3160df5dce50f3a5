#![no_main]
//! See `arazzo::fuzzing::expression`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| arazzo::fuzzing::expression(data));
