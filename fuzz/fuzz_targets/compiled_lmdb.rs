//! cargo fuzz target: see `mxdrift::fuzzing::compiled_lmdb` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mxdrift::fuzzing::compiled_lmdb(data);
});
