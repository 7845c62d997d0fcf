#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aftersale_fuzz::checks::woocommerce_normaliser(data));
