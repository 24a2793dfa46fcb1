//! cargo fuzz target: see `mxdrift::fuzzing::table_text` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mxdrift::fuzzing::table_text(data);
});
