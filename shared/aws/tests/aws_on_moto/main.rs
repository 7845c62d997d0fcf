//! The AWS adapters over HTTP against moto server: one moto per test binary, started on a free
//! loopback port by [`support::moto`] and stopped when the binary exits. Each test uses its
//! own table, topic, queue or shop names, so they run in parallel on the one server.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`); without it every test fails
//! with a message saying so.

mod dynamodb;
mod messaging;
mod shop_tokens;
mod support;
