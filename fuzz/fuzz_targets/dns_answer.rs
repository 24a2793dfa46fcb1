//! cargo fuzz target: see `mxdrift::fuzzing::dns_answer` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mxdrift::fuzzing::dns_answer(data);
});
