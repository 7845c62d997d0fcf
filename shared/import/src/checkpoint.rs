//! Where an import stands, saved as it goes, so Ctrl-C or `kill -9` followed by `--resume`
//! loses nothing and counts nothing twice.
//!
//! A checkpoint is a shop document (`import#shopify`, `import#woocommerce`), written after
//! whole orders only: for Shopify the byte offset and line number just past the last order
//! whose events are all stored, for WooCommerce the next page to read. The counts saved with
//! it are those of everything before it. What a killed run stored after its last checkpoint is
//! read again on resume and found already stored: it counts as `unchanged`, once.

use crate::Summary;
use aftersale_domain::ShopId;
use aftersale_ports::documents;
use aftersale_ports::{Documents, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where in its source an import is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Position {
    /// A Shopify bulk export: the operation, its file, and how far it was read.
    ShopifyBulk {
        operation_id: String,
        /// The result file, once the operation completed.
        url: Option<String>,
        /// Bytes of the file whose orders are stored.
        offset: u64,
        /// Lines of the file whose orders are stored.
        lines: u64,
    },
    /// WooCommerce pages: orders first, then customers.
    WooPages { stage: WooStage, next_page: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WooStage {
    Orders,
    Customers,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: Position,
    pub summary: Summary,
    pub started_at: DateTime<Utc>,
    pub saved_at: DateTime<Utc>,
    /// Set once the import has read everything; `--resume` then has nothing to do.
    pub finished: bool,
}

/// The document key of a platform's import.
pub fn key(kind: &str) -> String {
    format!("import#{kind}")
}

pub async fn load(
    store: &dyn Documents,
    shop: &ShopId,
    kind: &str,
) -> Result<Option<Checkpoint>, StoreError> {
    Ok(documents::load::<Checkpoint, _>(store, shop, &key(kind))
        .await?
        .map(|v| v.value))
}

/// Saves `checkpoint` whatever was there: one import of a kind runs per shop at a time.
pub async fn save(
    store: &dyn Documents,
    shop: &ShopId,
    kind: &str,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    documents::update::<Checkpoint, _, _>(store, shop, &key(kind), |_| Some(checkpoint.clone())).await?;
    Ok(())
}
