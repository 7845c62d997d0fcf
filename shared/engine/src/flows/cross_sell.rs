//! Cross-sell, learned: the learning run and its stored result.
//!
//! The pairs are learned from the shop's counted orders on a schedule, never per message and
//! never per event: at most once a day per shop ([`RELEARN_AFTER`]), or when the shop's
//! minimums change, and on demand with `aftersale recommendations --relearn`. A run reads
//! every customer's order list once (one query of the shop's `customer#` documents, then their
//! orders) and writes one small document per product with complements
//! (`cross-sell#pairs#{product}`), then `cross-sell#run`. No item is written by every event.
//! The documents hold product ids, titles and counts, never a customer; `shop/redact` erases
//! them with the rest of the shop, and a redacted customer's orders drop out of the next run.

use crate::Engine;
use aftersale_domain::flows::cross_sell::{Learned, Learner, ProductPairs, Thresholds};
use aftersale_domain::{CustomerId, ShopConfig, ShopId};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::{StoreError, lifecycle};
use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How old a shop's learned pairs may get before a run learns them again.
pub const RELEARN_AFTER: Duration = Duration::hours(24);

/// Customers whose orders are read at once during a run.
const READ_CONCURRENCY: usize = 16;

/// `cross-sell#run`: when the pairs were learned, from what, with which minimums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnRun {
    pub learned_at: DateTime<Utc>,
    pub orders: u64,
    pub customers: u64,
    pub thresholds: Thresholds,
    /// Products with at least one complement.
    pub products: usize,
}

/// A shop's learned pairs as stored, for `aftersale recommendations` and the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendations {
    /// `None` until a first run.
    pub run: Option<LearnRun>,
    pub products: Vec<ProductPairs>,
}

impl Engine {
    /// Learns the shop's pairs from its counted orders now and stores them.
    pub async fn learn_cross_sell(&self, shop: &ShopId) -> Result<LearnRun, StoreError> {
        let config = self.config(shop).await?;
        let learned = learn(self, shop, &config).await?;
        save(self, shop, learned, self.clock.now()).await
    }

    /// Learns the shop's pairs again if they are missing, older than [`RELEARN_AFTER`] or
    /// learned with other minimums than the shop's config has now. Returns the run in force.
    pub async fn relearn_if_stale(
        &self,
        shop: &ShopId,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<LearnRun, StoreError> {
        let run = documents::load::<LearnRun, _>(self.store.as_ref(), shop, keys::CROSS_SELL_RUN).await?;
        let wanted = config.flows.cross_sell.thresholds();
        match run {
            Some(run) if run.value.thresholds == wanted && now - run.value.learned_at < RELEARN_AFTER => {
                Ok(run.value)
            }
            _ => {
                let learned = learn(self, shop, config).await?;
                save(self, shop, learned, now).await
            }
        }
    }

    /// The shop's learned pairs as last stored, by product id.
    pub async fn cross_sell_pairs(&self, shop: &ShopId) -> Result<Recommendations, StoreError> {
        let store = self.store.as_ref();
        let run = documents::load::<LearnRun, _>(store, shop, keys::CROSS_SELL_RUN).await?;
        let products = documents::list::<ProductPairs, _>(store, shop, keys::CROSS_SELL_PAIRS_PREFIX)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        Ok(Recommendations {
            run: run.map(|r| r.value),
            products,
        })
    }
}

/// Every customer with an order list (ingest writes one per customer), their records read
/// [`READ_CONCURRENCY`] at a time and folded into a [`Learner`].
async fn learn(engine: &Engine, shop: &ShopId, config: &ShopConfig) -> Result<Learned, StoreError> {
    let store = engine.store.as_ref();
    let customers: Vec<CustomerId> = store
        .list_documents(shop, "customer#")
        .await?
        .into_iter()
        .filter_map(|(key, _)| {
            let id = key.strip_prefix("customer#")?.strip_suffix("#orders")?;
            CustomerId::new(id).ok()
        })
        .collect();
    let mut learner = Learner::new();
    let mut records = stream::iter(customers)
        .map(|customer| async move { lifecycle::customer_records(store, shop, &customer).await })
        .buffer_unordered(READ_CONCURRENCY);
    while let Some(theirs) = records.try_next().await? {
        learner.add_customer(&theirs);
    }
    Ok(learner.finish(config.flows.cross_sell.thresholds()))
}

/// Stores one document per product with complements, deletes those of products that have
/// none any more, and then the run (nothing at all for a shop without a counted order).
async fn save(
    engine: &Engine,
    shop: &ShopId,
    learned: Learned,
    now: DateTime<Utc>,
) -> Result<LearnRun, StoreError> {
    let store = engine.store.as_ref();
    let fresh: BTreeSet<String> = learned
        .products
        .iter()
        .map(|p| keys::cross_sell_pairs(&p.product_id))
        .collect();
    for (key, _) in store.list_documents(shop, keys::CROSS_SELL_PAIRS_PREFIX).await? {
        if !fresh.contains(&key) {
            store.delete_document(shop, &key).await?;
        }
    }
    let run = LearnRun {
        learned_at: now,
        orders: learned.orders,
        customers: learned.customers,
        thresholds: learned.thresholds,
        products: learned.products.len(),
    };
    // A shop with no counted order (new, or erased by `shop/redact`) keeps nothing.
    if learned.orders == 0 {
        store.delete_document(shop, keys::CROSS_SELL_RUN).await?;
        return Ok(run);
    }
    for product in learned.products {
        let key = keys::cross_sell_pairs(&product.product_id);
        documents::update::<ProductPairs, _, _>(store, shop, &key, |current| {
            (current != Some(&product)).then(|| product.clone())
        })
        .await?;
    }
    documents::update::<LearnRun, _, _>(store, shop, keys::CROSS_SELL_RUN, |_| Some(run.clone())).await?;
    Ok(run)
}
