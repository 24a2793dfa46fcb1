//! cargo fuzz target: see `mxdrift::fuzzing::main_cf` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mxdrift::fuzzing::main_cf(data);
});
