#![no_main]
//! See `arazzo::fuzzing::criteria`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| arazzo::fuzzing::criteria(data));
