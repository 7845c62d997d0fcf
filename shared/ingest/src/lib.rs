//! Webhook ingest: verify, parse, normalise, dedupe, persist, publish. The Lambda functions
//! and `aftersale serve` both call [`Ingest`]; only the store and bus behind it differ.

mod after_reply;
mod apply;
pub mod capture;
mod http;
mod import;
mod ingest;
mod privacy;
mod secrets;

pub use http::{router, shopify_router, woocommerce_router};
pub use import::ImportCounts;
pub use ingest::{CheckFailure, Ingest, MAX_BODY_BYTES, ReplayOutcome, Reply};
pub use secrets::{Secret, WebhookSecrets};
