//! The checks the fuzz targets run; `tests/fuzz_properties.rs` runs the same file on stable.

pub mod checks;
