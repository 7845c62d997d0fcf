//! What the lifecycle flows read and keep through [`Documents`]: each customer's list of
//! orders (to rebuild their purchase history), and the shop's running statistics that
//! learned parameters come from (gaps between orders, per-unit supply of each product, net
//! spend per customer). Ingest keeps them as orders arrive, so no flow ever scans a shop.
//!
//! Every statistic is keyed by the order (or customer) it came from and recomputed from that
//! customer's whole history, so a redelivered or out-of-order webhook, or a refund that voids
//! an order, leaves the same numbers as a clean replay would.

use crate::documents::{self, keys};
use crate::{Documents, OrderRecords, StoreError};
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::replenishment::{LearnedSupply, supply_samples};
use aftersale_domain::{Currency, CustomerId, OrderId, OrderRecord, ShopId};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
    /// This set with `customer`'s samples replaced by `fresh`, trimmed to the newest
    /// [`MAX_SAMPLES`]; `None` when nothing changes.
    fn replacing(&self, customer: &CustomerId, fresh: BTreeMap<String, Sample<T>>) -> Option<Self> {
        let mut next: BTreeMap<String, Sample<T>> = self
            .samples
            .iter()
            .filter(|(_, s)| &s.customer != customer)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        next.extend(fresh);
        if next.len() > MAX_SAMPLES {
            let mut by_age: Vec<(DateTime<Utc>, String)> =
                next.iter().map(|(k, s)| (s.at, k.clone())).collect();
            by_age.sort();
            for (_, key) in by_age.into_iter().take(next.len() - MAX_SAMPLES) {
                next.remove(&key);
            }
        }
        (next != self.samples).then_some(Self { samples: next })
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
    let currency = currency
        .or_else(|| {
            records
                .iter()
                .filter_map(|r| r.snapshot.as_ref())
                .max_by_key(|o| o.created_at)
                .map(|o| o.total.currency)
        })
        .unwrap_or_else(|| Currency::new("USD").expect("USD is a currency"));
    Ok(PurchaseHistory::from_orders(customer, &records, currency, tz))
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
/// [`record_order`].
pub async fn update_statistics<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    let Some(customer) = record.customer_id() else {
        return Ok(());
    };
    let currency = documents::load::<SpendTable, S>(store, shop, keys::SPEND)
        .await?
        .and_then(|t| t.value.currency);
    // Durations need no zone; the UTC calendar is never read here.
    let history = purchase_history(store, shop, customer, currency, Tz::UTC).await?;

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
    replace_samples(store, shop, keys::ORDER_GAPS, customer, gaps).await?;

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
        replace_samples(store, shop, &keys::supply(product), customer, fresh).await?;
    }

    let spend = history.net_spend();
    let last_at = history.last_order_at();
    documents::update::<SpendTable, _, S>(store, shop, keys::SPEND, |current| {
        let current = current.cloned().unwrap_or_default();
        let currency = current.currency.unwrap_or(spend.currency);
        let fresh: BTreeMap<String, Sample<Decimal>> = last_at
            .filter(|_| spend.currency == currency)
            .map(|at| {
                let sample = Sample {
                    customer: customer.clone(),
                    at,
                    value: spend.amount,
                };
                (customer.to_string(), sample)
            })
            .into_iter()
            .collect();
        let replaced = current.spend.replacing(customer, fresh);
        let currency_new = current.currency.is_none() && replaced.is_some();
        (replaced.is_some() || currency_new).then(|| SpendTable {
            currency: Some(currency),
            spend: replaced.unwrap_or(current.spend),
        })
    })
    .await?;
    Ok(())
}

/// Takes the customer out of every shop statistic (net spend, gaps between orders, supply per
/// product), for their redaction: the samples name them by id. Returns how many statistics
/// changed.
pub async fn forget_customer<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    let before = spend_table(store, shop).await?;
    let after = documents::update::<SpendTable, _, S>(store, shop, keys::SPEND, |current| {
        let current = current?;
        let spend = current.spend.replacing(customer, BTreeMap::new())?;
        Some(SpendTable {
            currency: current.currency,
            spend,
        })
    })
    .await?;
    changed += u64::from(after.is_some_and(|after| after != before));
    let supplies = store.list_documents(shop, keys::SUPPLY_PREFIX).await?;
    let sample_keys =
        std::iter::once(keys::ORDER_GAPS.to_string()).chain(supplies.into_iter().map(|(k, _)| k));
    for key in sample_keys {
        let mut removed = false;
        documents::update::<Samples<i64>, _, S>(store, shop, &key, |current| {
            let next = current?.replacing(customer, BTreeMap::new());
            removed = next.is_some();
            next
        })
        .await?;
        changed += u64::from(removed);
    }
    Ok(changed)
}

async fn replace_samples<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    key: &str,
    customer: &CustomerId,
    fresh: BTreeMap<String, Sample<i64>>,
) -> Result<(), StoreError> {
    documents::update::<Samples<i64>, _, S>(store, shop, key, |current| match current {
        Some(current) => current.replacing(customer, fresh.clone()),
        None if fresh.is_empty() => None,
        None => Samples::default().replacing(customer, fresh.clone()),
    })
    .await?;
    Ok(())
}

/// The shop's gaps between consecutive orders of the same customer.
pub async fn order_gaps<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
) -> Result<Vec<Duration>, StoreError> {
    Ok(documents::load::<Samples<i64>, S>(store, shop, keys::ORDER_GAPS)
        .await?
        .map(|s| s.value.values().map(|secs| Duration::seconds(*secs)).collect())
        .unwrap_or_default())
}

/// What the shop's repeat purchases of `product_id` say one unit lasts, with enough samples.
pub async fn learned_supply<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    product_id: &str,
    min_samples: usize,
) -> Result<Option<LearnedSupply>, StoreError> {
    let Some(samples) = documents::load::<Samples<i64>, S>(store, shop, &keys::supply(product_id)).await?
    else {
        return Ok(None);
    };
    let per_unit = samples
        .value
        .values()
        .map(|secs| Duration::seconds(*secs))
        .collect();
    Ok(LearnedSupply::from_samples(per_unit, min_samples))
}

/// How many customers other than `except` came back for `product_id` (distinct customers
/// with a repeat purchase): "others loved it" never counts the reader.
pub async fn repeat_buyers<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    product_id: &str,
    except: &CustomerId,
) -> Result<usize, StoreError> {
    Ok(
        documents::load::<Samples<i64>, S>(store, shop, &keys::supply(product_id))
            .await?
            .map(|s| {
                s.value
                    .samples
                    .values()
                    .map(|v| &v.customer)
                    .filter(|customer| *customer != except)
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .unwrap_or(0),
    )
}

/// The shop's net spend per customer.
pub async fn spend_table<S: Documents + ?Sized>(store: &S, shop: &ShopId) -> Result<SpendTable, StoreError> {
    Ok(documents::load::<SpendTable, S>(store, shop, keys::SPEND)
        .await?
        .map(|t| t.value)
        .unwrap_or_default())
}
