//! cargo fuzz target: see `mxdrift::fuzzing::config_yaml` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mxdrift::fuzzing::config_yaml(data);
});
