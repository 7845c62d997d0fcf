//! History through the webhook path. `aftersale import`, the import Lambda and the
//! WooCommerce reconcile normalise what a platform's API returns into the same
//! [`StoreEvent`]s a webhook gives, under the same event ids where the platform has them, and
//! hand them here: recorded (deduplicated), folded into the stored state, published to the
//! flows. Only the events' [`Origin`] differs, so the flows plan nothing whose moment passed.

use crate::Ingest;
use aftersale_domain::{Origin, Platform, ShopId, StoreEvent};
use aftersale_ports::StoreError;
use http::{HeaderMap, HeaderValue};
use serde::Serialize;

/// What importing a batch of events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// Events stored for the first time.
    pub imported: usize,
    /// Events already stored (by a webhook, an earlier import, or the run a crash cut short).
    pub unchanged: usize,
}

impl ImportCounts {
    pub fn add(&mut self, other: ImportCounts) {
        self.imported += other.imported;
        self.unchanged += other.unchanged;
    }
}

impl Ingest {
    /// Stores history: every event is marked [`Origin::Imported`] and takes the one path of
    /// a webhook's events ([`Ingest::persist_event`]).
    pub async fn import_events(&self, events: Vec<StoreEvent>) -> Result<ImportCounts, StoreError> {
        let received_at = self.now();
        let mut counts = ImportCounts::default();
        for mut event in events {
            event.origin = Origin::Imported;
            if self.persist_event(&event, received_at).await? {
                counts.imported += 1;
            } else {
                counts.unchanged += 1;
            }
        }
        Ok(counts)
    }

    /// Keeps a piece of history that could not be read (a bad JSONL line, an order the
    /// normaliser refused) as a dead letter with its reason, so nothing is dropped and the
    /// import goes on. `topic` names what it was: Shopify's `BULK_TOPIC` (a bulk export's line
    /// or order, which `aftersale dead-letters replay` runs through the export's normaliser,
    /// still as history), or a WooCommerce webhook topic (run through the webhook parser).
    /// Returns the letter's id; the same bad piece imported twice is kept once.
    pub async fn dead_letter_import(
        &self,
        platform: Platform,
        shop: &ShopId,
        topic: &str,
        body: &[u8],
        reason: String,
    ) -> Result<String, StoreError> {
        let (shop_header, topic_header) = match platform {
            Platform::Shopify => ("x-shopify-shop-domain", "x-shopify-topic"),
            Platform::Woocommerce => ("x-wc-webhook-source", "x-wc-webhook-topic"),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in [(shop_header, shop.as_str()), (topic_header, topic)] {
            let value = HeaderValue::from_str(value).map_err(StoreError::backend)?;
            headers.insert(name, value);
        }
        let letter = crate::ingest::dead_letter(platform, &headers, body, reason, self.now());
        tracing::warn!(platform = %platform, dead_letter = %letter.id, reason = %letter.reason, "imported history kept as dead letter");
        self.store().put_dead_letter(&letter).await?;
        Ok(letter.id)
    }
}
