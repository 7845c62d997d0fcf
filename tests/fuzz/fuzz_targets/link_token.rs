#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aftersale_fuzz::checks::link_token(data));
