#![no_main]
//! See `arazzo::fuzzing::document`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| arazzo::fuzzing::document(data));
