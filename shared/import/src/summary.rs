//! What an import did, and how it tells whoever watches it.

use serde::{Deserialize, Serialize};

/// The counts `--json` prints (with the duration) and checkpoints keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Orders read from the source (each with all its events).
    pub orders: u64,
    /// Customers read (WooCommerce's `/customers`).
    pub customers: u64,
    /// Events stored for the first time.
    pub imported: u64,
    /// Events that were already stored (a webhook, an earlier import, a resumed run).
    pub unchanged: u64,
    /// Lines or objects that could not be read, each kept as a dead letter with its reason.
    pub dead_lettered: u64,
}

impl Summary {
    pub fn add(&mut self, counts: aftersale_ingest::ImportCounts) {
        self.imported += counts.imported as u64;
        self.unchanged += counts.unchanged as u64;
    }
}

/// Someone watching: a progress bar on a terminal, plain lines in a log, nothing at all.
pub trait Progress: Send + Sync {
    /// How many orders to expect, once known (a bulk export's root count, `X-WP-Total`).
    fn expect(&self, _orders: Option<u64>) {}
    /// A stage started ("waiting for Shopify's export", "customers").
    fn stage(&self, _text: &str) {}
    /// The counts so far.
    fn advance(&self, _summary: &Summary) {}
}

/// Tells no one.
pub struct Quiet;

impl Progress for Quiet {}
