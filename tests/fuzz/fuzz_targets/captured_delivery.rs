#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aftersale_fuzz::checks::captured_delivery(data));
