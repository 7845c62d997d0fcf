//! A shop's history, brought in through the same path as its webhooks.
//!
//! - [`shopify`]: a bulk export (`bulkOperationRunQuery`), polled, then its JSONL streamed one
//!   order at a time ([`file`] reads one already on disk).
//! - [`woocommerce`]: `/orders` then `/customers`, a page of 100 at a time.
//! - [`reconcile`]: WooCommerce's scheduled sweep for what no webhook delivered.
//! - [`checkpoint`]: where an import stands, saved as it goes, for `--resume`.
//!
//! Every piece of history is normalised by the platform's webhook normaliser and stored by
//! [`aftersale_ingest::Ingest::import_events`], marked as imported so the flows plan only what
//! is still ahead ([`aftersale_domain::Origin`]). A piece that cannot be read is kept as a dead
//! letter with its reason; it never stops the import.

pub mod checkpoint;
pub mod file;
pub mod reconcile;
pub mod shopify;
mod summary;
pub mod woocommerce;

pub use summary::{Progress, Quiet, Summary};

use aftersale_domain::ShopId;
use aftersale_platform_api::shopify::bulk::BulkError;
use aftersale_platform_api::woocommerce::WooError;
use aftersale_ports::StoreError;

/// How an import run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was read.
    Finished(Summary),
    /// Stopped at its deadline with a checkpoint saved; resume to go on.
    Paused(Summary),
}

impl Outcome {
    pub fn summary(&self) -> Summary {
        match self {
            Outcome::Finished(s) | Outcome::Paused(s) => *s,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Shopify(BulkError),
    #[error(transparent)]
    Woo(#[from] WooError),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("no import of {shop} to resume; run it without --resume")]
    NothingToResume { shop: ShopId },
    #[error("reading the export file failed: {0}")]
    File(String),
}
