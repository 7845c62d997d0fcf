//! What the lifecycle flows read and keep through [`Documents`]: each customer's list of
//! orders (to rebuild their purchase history), and the shop's running statistics that
//! learned parameters come from (gaps between orders, per-unit supply of each product, net
//! spend per customer). Ingest keeps them as orders arrive, so no flow ever scans a shop.
//!
//! Every statistic is keyed by the order (or customer) it came from and recomputed from that
//! customer's whole history, so a redelivered or out-of-order webhook, or a refund that voids
//! an order, leaves the same numbers as a clean replay would.

use crate::documents::{self, keys};
pub use crate::stat_shards::ShardCache;
use crate::stat_shards::{self, Statistic};
use crate::{Documents, OrderRecords, StoreError};
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::replenishment::{LearnedSupply, supply_samples};
use aftersale_domain::{Currency, CustomerId, OrderId, OrderRecord, ShopId};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Samples kept per statistic: the most recent, so the shop's numbers follow its present.
/// Bounded so a statistic stays one small item (DynamoDB's limit is 400 KB).
pub const MAX_SAMPLES: usize = 2000;

/// The orders a customer has placed, as ids (the records themselves are the orders).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerOrders {
    pub orders: BTreeSet<OrderId>,
}

/// One observation, named by the order (or customer) it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample<T> {
    pub customer: CustomerId,
    pub at: DateTime<Utc>,
    pub value: T,
}

/// A bounded set of observations keyed by where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Samples<T> {
    pub samples: BTreeMap<String, Sample<T>>,
}

impl<T> Default for Samples<T> {
    fn default() -> Self {
        Self {
            samples: BTreeMap::new(),
        }
    }
}

impl<T: Clone + PartialEq> Samples<T> {
    /// This set with `customer`'s samples replaced by `fresh`, trimmed to the newest `cap`;
    /// `None` when nothing changes.
    pub(crate) fn replacing(
        &self,
        customer: &CustomerId,
        fresh: BTreeMap<String, Sample<T>>,
        cap: usize,
    ) -> Option<Self> {
        let mut next: BTreeMap<String, Sample<T>> = self
            .samples
            .iter()
            .filter(|(_, s)| &s.customer != customer)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        next.extend(fresh);
        let next = Self { samples: next }.newest(cap);
        (next.samples != self.samples).then_some(next)
    }

    /// The newest `cap` samples.
    pub(crate) fn newest(mut self, cap: usize) -> Self {
        if self.samples.len() > cap {
            let mut by_age: Vec<(DateTime<Utc>, String)> =
                self.samples.iter().map(|(k, s)| (s.at, k.clone())).collect();
            by_age.sort();
            for (_, key) in by_age.into_iter().take(self.samples.len() - cap) {
                self.samples.remove(&key);
            }
        }
        self
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.samples.values().map(|s| &s.value)
    }
}

/// Net spend per customer with the shop's currency (the first seen).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendTable {
    pub currency: Option<Currency>,
    pub spend: Samples<Decimal>,
}

/// Every order record of `customer` that the store holds.
pub async fn customer_records<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<Vec<OrderRecord>, StoreError> {
    let Some(ids) =
        documents::load::<CustomerOrders, S>(store, shop, &keys::customer_orders(customer)).await?
    else {
        return Ok(Vec::new());
    };
    let mut records = Vec::with_capacity(ids.value.orders.len());
    for id in &ids.value.orders {
        if let Some(found) = store.load_order(shop, id).await? {
            records.push(found.value);
        }
    }
    Ok(records)
}

/// The customer's purchase history now. `currency` is the shop's (spend in others is not
/// added up); `None` takes the currency of their latest order.
pub async fn purchase_history<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
    currency: Option<Currency>,
    tz: Tz,
) -> Result<PurchaseHistory, StoreError> {
    let records = customer_records(store, shop, customer).await?;
    Ok(history_of(customer, &records, currency, tz))
}

fn history_of(
    customer: &CustomerId,
    records: &[OrderRecord],
    currency: Option<Currency>,
    tz: Tz,
) -> PurchaseHistory {
    let currency = currency
        .or_else(|| {
            records
                .iter()
                .filter_map(|r| r.snapshot.as_ref())
                .max_by_key(|o| o.created_at)
                .map(|o| o.total.currency)
        })
        .unwrap_or_else(|| Currency::new("USD").expect("USD is a currency"));
    PurchaseHistory::from_orders(customer, records, currency, tz)
}

/// Records a folded order in its customer's list of orders, the index their purchase history
/// is rebuilt from. Idempotent; called by ingest after every order event.
pub async fn record_order<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    let Some(customer) = record.customer_id() else {
        return Ok(());
    };
    let order_id = record.order_id.clone();
    documents::update::<CustomerOrders, _, S>(store, shop, &keys::customer_orders(customer), |current| {
        let mut next = current.cloned().unwrap_or_default();
        next.orders.insert(order_id.clone()).then_some(next)
    })
    .await?;
    Ok(())
}

/// Recomputes the customer's share of the shop's statistics (gaps between orders, per-unit
/// supply, net spend) from their whole history. Idempotent; called by ingest after
/// [`record_order`]. Writes only the customer's shard of each statistic
/// ([`crate::stat_shards`]), so concurrent events of one shop rarely meet.
pub async fn update_statistics<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    let Some(customer) = record.customer_id() else {
        return Ok(());
    };
    // Two events of one customer at once (a paid order and its refund, or two orders) may
    // each read the history before the other's change: whoever finds the history changed
    // after writing recomputes, so the last write is always from the final history.
    for _ in 0..MAX_RECOMPUTES {
        let (records, read_at) = versioned_records(store, shop, customer).await?;
        write_statistics(store, shop, customer, record, &records).await?;
        if versioned_records(store, shop, customer).await?.1 == read_at {
            return Ok(());
        }
    }
    Err(StoreError::Conflict {
        what: format!("statistics of customer {customer} (their history kept changing)"),
    })
}

/// Recomputes before [`update_statistics`] gives up, while a customer's history changes
/// under it.
const MAX_RECOMPUTES: usize = 8;

/// The customer's order records, with the versions they were read at (their list of orders,
/// then each order).
async fn versioned_records<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<(Vec<OrderRecord>, Vec<u64>), StoreError> {
    let Some(ids) =
        documents::load::<CustomerOrders, S>(store, shop, &keys::customer_orders(customer)).await?
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut versions = vec![ids.version];
    let mut records = Vec::with_capacity(ids.value.orders.len());
    for id in &ids.value.orders {
        if let Some(found) = store.load_order(shop, id).await? {
            versions.push(found.version);
            records.push(found.value);
        }
    }
    Ok((records, versions))
}

/// Writes the customer's samples of every statistic, computed from `records`.
async fn write_statistics<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
    record: &OrderRecord,
    records: &[OrderRecord],
) -> Result<(), StoreError> {
    let currency = stat_shards::currency(store, shop).await?;
    // Durations need no zone; the UTC calendar is never read here.
    let history = history_of(customer, records, currency, Tz::UTC);

    let gaps: BTreeMap<String, Sample<i64>> = history
        .orders()
        .windows(2)
        .map(|w| {
            let sample = Sample {
                customer: customer.clone(),
                at: w[1].placed_at,
                value: (w[1].placed_at - w[0].placed_at).num_seconds(),
            };
            (w[1].id.to_string(), sample)
        })
        .collect();
    stat_shards::replace(store, shop, &Statistic::order_gaps(), customer, gaps).await?;

    let products: BTreeSet<&str> = history
        .orders()
        .iter()
        .flat_map(|o| o.items.iter().map(|i| i.product_id.as_str()))
        .chain(
            record
                .snapshot
                .iter()
                .flat_map(|o| o.line_items.iter().filter_map(|l| l.product_id.as_deref())),
        )
        .collect();
    for product in products {
        let fresh: BTreeMap<String, Sample<i64>> = supply_samples(&history, product)
            .into_iter()
            .map(|s| {
                let sample = Sample {
                    customer: customer.clone(),
                    at: s.at,
                    value: s.per_unit.num_seconds(),
                };
                (s.later_order.to_string(), sample)
            })
            .collect();
        stat_shards::replace(store, shop, &Statistic::supply(product), customer, fresh).await?;
    }

    let spend = history.net_spend();
    let Some(last_at) = history.last_order_at() else {
        return stat_shards::replace::<Decimal, S>(
            store,
            shop,
            &Statistic::spend(),
            customer,
            BTreeMap::new(),
        )
        .await;
    };
    let currency = match currency {
        Some(currency) => currency,
        None => stat_shards::settle_currency(store, shop, spend.currency).await?,
    };
    let fresh: BTreeMap<String, Sample<Decimal>> = (spend.currency == currency)
        .then(|| {
            let sample = Sample {
                customer: customer.clone(),
                at: last_at,
                value: spend.amount,
            };
            (customer.to_string(), sample)
        })
        .into_iter()
        .collect();
    stat_shards::replace(store, shop, &Statistic::spend(), customer, fresh).await
}

/// Takes the customer out of every shop statistic (net spend, gaps between orders, supply per
/// product), in the old single items and the shards alike, for their redaction: the samples
/// name them by id. Returns how many statistics items changed.
pub async fn forget_customer<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<u64, StoreError> {
    stat_shards::forget(store, shop, customer).await
}

/// The shop's gaps between consecutive orders of the same customer. `cache` keeps the shards
/// decoded between calls ([`ShardCache`]; a fresh one reads everything).
pub async fn order_gaps<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    cache: &ShardCache,
) -> Result<Vec<Duration>, StoreError> {
    let gaps = stat_shards::merged::<i64, S>(store, shop, &Statistic::order_gaps(), cache).await?;
    Ok(gaps.values().map(|secs| Duration::seconds(*secs)).collect())
}

/// What the shop's repeat purchases of `product_id` say one unit lasts, with enough samples.
pub async fn learned_supply<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    product_id: &str,
    min_samples: usize,
    cache: &ShardCache,
) -> Result<Option<LearnedSupply>, StoreError> {
    let samples = stat_shards::merged::<i64, S>(store, shop, &Statistic::supply(product_id), cache).await?;
    if samples.samples.is_empty() {
        return Ok(None);
    }
    let per_unit = samples.values().map(|secs| Duration::seconds(*secs)).collect();
    Ok(LearnedSupply::from_samples(per_unit, min_samples))
}

/// How many customers other than `except` came back for `product_id` (distinct customers
/// with a repeat purchase): "others loved it" never counts the reader.
pub async fn repeat_buyers<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    product_id: &str,
    except: &CustomerId,
    cache: &ShardCache,
) -> Result<usize, StoreError> {
    let samples = stat_shards::merged::<i64, S>(store, shop, &Statistic::supply(product_id), cache).await?;
    Ok(samples
        .samples
        .values()
        .map(|v| &v.customer)
        .filter(|customer| *customer != except)
        .collect::<BTreeSet<_>>()
        .len())
}

/// The shop's net spend per customer, merged from its shards.
pub async fn spend_table<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    cache: &ShardCache,
) -> Result<SpendTable, StoreError> {
    let currency = stat_shards::currency(store, shop).await?;
    let spend = stat_shards::merged::<Decimal, S>(store, shop, &Statistic::spend(), cache).await?;
    Ok(SpendTable {
        currency,
        spend: Arc::unwrap_or_clone(spend),
    })
}

/// The shop's currency (the first an order was seen in), without reading the spend table.
pub async fn shop_currency<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
) -> Result<Option<Currency>, StoreError> {
    stat_shards::currency(store, shop).await
}
