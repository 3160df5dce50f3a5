#![no_main]
//! See `arazzo::fuzzing::condition`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| arazzo::fuzzing::condition(data));
