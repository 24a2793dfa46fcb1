//! cargo fuzz target: see `mxdrift::fuzzing::zone_file` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mxdrift::fuzzing::zone_file(data);
});
