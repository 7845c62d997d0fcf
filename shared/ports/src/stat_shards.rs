//! The shop statistics spread over shards, so that no item is written by every order event
//! of a shop (a Black Friday hour would otherwise fight over one item and give up updates).
//!
//! - **Writes** touch one shard: all of a customer's samples live in the shard their id
//!   hashes to ([`shard_of`]), so recomputing a customer rewrites only that shard.
//! - **Reads** merge the shards with one query on the statistic's key prefix.
//! - **The old layout** (one item per statistic, written before the shards) is merged on read
//!   too, then migrated by the first reader: its samples move into their customers' shards
//!   (unless the shard already has newer ones for that customer) and the single item is
//!   deleted. Until then, a customer found in a shard wins over their old samples.

use crate::documents::{self, keys};
use crate::lifecycle::{Sample, Samples, SpendTable};
use crate::{Documents, StoreError};
use aftersale_domain::{Currency, CustomerId, ShopId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Shards per statistic. At 200 order events a second for one shop, each shard sees about
/// 12 a second, which optimistic writes absorb; a read merges 16 small items.
pub const STAT_SHARDS: u32 = 16;

/// Samples kept per shard: the shop keeps [`crate::lifecycle::MAX_SAMPLES`] in all.
pub const SHARD_SAMPLES: usize = crate::lifecycle::MAX_SAMPLES / STAT_SHARDS as usize;

/// The shard holding `customer`'s samples: FNV-1a of their id, stable across processes and
/// releases (std's hasher promises neither).
pub fn shard_of(customer: &CustomerId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in customer.as_str().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % STAT_SHARDS
}

/// One statistic: its old single key and, below it, its shards.
pub(crate) struct Statistic {
    single: String,
}

impl Statistic {
    pub(crate) fn spend() -> Self {
        Self {
            single: keys::SPEND.to_string(),
        }
    }
    pub(crate) fn order_gaps() -> Self {
        Self {
            single: keys::ORDER_GAPS.to_string(),
        }
    }
    pub(crate) fn supply(product_id: &str) -> Self {
        Self {
            single: keys::supply(product_id),
        }
    }

    /// The shard `customer`'s samples are kept in.
    pub(crate) fn shard_key(&self, customer: &CustomerId) -> String {
        keys::stat_shard(&self.single, shard_of(customer))
    }

    /// Whether `key` is one of this statistic's shards (and not, say, the shard of a product
    /// whose id only starts with this one's).
    fn is_shard(&self, key: &str) -> bool {
        key.strip_prefix(self.single.as_str())
            .and_then(|rest| rest.strip_prefix("#s"))
            .is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// The old single item: the spend table (with its currency) or plain samples.
#[derive(Deserialize)]
#[serde(untagged)]
enum Single<T> {
    Table {
        currency: Option<Currency>,
        spend: Samples<T>,
    },
    Plain(Samples<T>),
}

/// The shop's currency, as [`keys::CURRENCY`] keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShopCurrency {
    currency: Currency,
}

/// Shards decoded by earlier reads, kept with the version they were decoded at. The flows
/// read a shop's whole statistic (16 shards, up to [`crate::lifecycle::MAX_SAMPLES`] samples)
/// on every order event, while an event rewrites one shard: decoding all 16 again each time
/// was most of the cost of planning a paid order. A shard whose stored version is still the
/// cached one is not read or decoded again, so what a read returns is exactly what the store
/// holds. One per process, beside the store it caches (the engine keeps one).
///
/// It also keeps each statistic as last merged, with the shard versions it was merged from:
/// most events change none of the shards a flow reads (a first order adds no gap, an order
/// adds supply samples only for what it bought), and merging 16 shards into one map again was
/// the largest cost left in planning after the decoding.
#[derive(Default)]
pub struct ShardCache {
    shards: Entries<u64>,
    merged: Entries<Vec<(String, u64)>>,
}

/// Decoded samples by shop and key, each with the stamp it is valid for: a shard's version, or
/// every shard's key and version for a merge.
type Entries<V> = Mutex<HashMap<(ShopId, String), Cached<V>>>;

struct Cached<V> {
    stamp: V,
    samples: Arc<dyn Any + Send + Sync>,
}

/// Shards kept at most; beyond it the cache starts over (a shop with thousands of products
/// has a supply statistic per product, each of 16 shards).
const CACHED_SHARDS: usize = 8192;

impl ShardCache {
    fn get<T: Send + Sync + 'static>(
        &self,
        shop: &ShopId,
        key: &str,
        version: u64,
    ) -> Option<Arc<Samples<T>>> {
        lookup(&self.shards, shop, key, &version)
    }

    fn put<T: Send + Sync + 'static>(
        &self,
        shop: &ShopId,
        key: &str,
        version: u64,
        samples: Arc<Samples<T>>,
    ) {
        keep(&self.shards, CACHED_SHARDS, shop, key, version, samples);
    }

    /// The statistic as merged from exactly these shard versions, if it was.
    fn get_merged<T: Send + Sync + 'static>(
        &self,
        shop: &ShopId,
        statistic: &Statistic,
        versions: &Vec<(String, u64)>,
    ) -> Option<Arc<Samples<T>>> {
        lookup(&self.merged, shop, &statistic.single, versions)
    }

    fn put_merged<T: Send + Sync + 'static>(
        &self,
        shop: &ShopId,
        statistic: &Statistic,
        versions: Vec<(String, u64)>,
        samples: Arc<Samples<T>>,
    ) {
        let cap = CACHED_SHARDS / STAT_SHARDS as usize;
        keep(&self.merged, cap, shop, &statistic.single, versions, samples);
    }
}

fn lookup<T: Send + Sync + 'static, V: PartialEq>(
    entries: &Entries<V>,
    shop: &ShopId,
    key: &str,
    stamp: &V,
) -> Option<Arc<Samples<T>>> {
    let entries = entries.lock().unwrap_or_else(|p| p.into_inner());
    let found = entries.get(&(shop.clone(), key.to_string()))?;
    (found.stamp == *stamp)
        .then(|| Arc::clone(&found.samples).downcast::<Samples<T>>().ok())
        .flatten()
}

/// Keeps `samples` under `key`; a cache holding `cap` entries starts over.
fn keep<T: Send + Sync + 'static, V>(
    entries: &Entries<V>,
    cap: usize,
    shop: &ShopId,
    key: &str,
    stamp: V,
    samples: Arc<Samples<T>>,
) {
    let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
    if entries.len() >= cap {
        entries.clear();
    }
    entries.insert((shop.clone(), key.to_string()), Cached { stamp, samples });
}

/// Every sample of `statistic`, merged from its shards (and the old single item, which this
/// migrates), trimmed to the newest [`crate::lifecycle::MAX_SAMPLES`]. Shards `cache` holds at
/// their stored version are not decoded again; on a store that can list versions alone
/// ([`Documents::list_document_versions`]) they are not read either, and when no shard has
/// changed since the last merge, that merge is the answer.
pub(crate) async fn merged<T, S>(
    store: &S,
    shop: &ShopId,
    statistic: &Statistic,
    cache: &ShardCache,
) -> Result<Arc<Samples<T>>, StoreError>
where
    T: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Documents + ?Sized,
{
    let mut shards: BTreeMap<String, Sample<T>> = BTreeMap::new();
    let mut add =
        |shard: &Samples<T>| shards.extend(shard.samples.iter().map(|(k, s)| (k.clone(), s.clone())));
    let mut single = None;
    match store.list_document_versions(shop, &statistic.single).await? {
        // The single key is a prefix of its shards' keys: one query finds both.
        Some(versions) if !versions.iter().any(|(key, _)| *key == statistic.single) => {
            let versions: Vec<(String, u64)> = versions
                .into_iter()
                .filter(|(key, _)| statistic.is_shard(key))
                .collect();
            if let Some(merged) = cache.get_merged::<T>(shop, statistic, &versions) {
                return Ok(merged);
            }
            // Kept only if every shard was read at its listed version: a shard that moved on
            // in between must not be remembered under the older version.
            let mut as_listed = true;
            for (key, version) in &versions {
                if let Some(shard) = cache.get::<T>(shop, key, *version) {
                    add(&shard);
                    continue;
                }
                // Changed since it was cached, or never read: read it now (at whatever
                // version it has by now). Gone meanwhile: a read after its deletion.
                match store.load_document_json(shop, key).await? {
                    Some(found) => {
                        as_listed &= found.version == *version;
                        let shard = Arc::new(decode_json::<Samples<T>>(key, &found.value)?);
                        add(&shard);
                        cache.put(shop, key, found.version, shard);
                    }
                    None => as_listed = false,
                }
            }
            let merged = Arc::new(Samples { samples: shards }.newest(crate::lifecycle::MAX_SAMPLES));
            if as_listed {
                cache.put_merged(shop, statistic, versions, Arc::clone(&merged));
            }
            return Ok(merged);
        }
        _ => {
            for (key, found) in store.list_documents(shop, &statistic.single).await? {
                if key == statistic.single {
                    single = Some(decode::<Single<T>>(&key, found.value)?);
                } else if statistic.is_shard(&key) {
                    let shard = match cache.get::<T>(shop, &key, found.version) {
                        Some(shard) => shard,
                        None => {
                            let shard = Arc::new(decode::<Samples<T>>(&key, found.value)?);
                            cache.put(shop, &key, found.version, Arc::clone(&shard));
                            shard
                        }
                    };
                    add(&shard);
                }
            }
        }
    }
    if let Some(single) = single {
        let (currency, old) = match single {
            Single::Table { currency, spend } => (currency, spend),
            Single::Plain(samples) => (None, samples),
        };
        let in_shards: BTreeSet<CustomerId> = shards.values().map(|s| s.customer.clone()).collect();
        for (key, sample) in &old.samples {
            if !in_shards.contains(&sample.customer) {
                shards.entry(key.clone()).or_insert_with(|| sample.clone());
            }
        }
        migrate(store, shop, statistic, currency, old).await?;
    }
    Ok(Arc::new(
        Samples { samples: shards }.newest(crate::lifecycle::MAX_SAMPLES),
    ))
}

/// Moves the old single item's samples into their customers' shards, then deletes it. A
/// customer the shard already holds keeps the shard's (newer) samples. Safe to run twice or
/// at once: the move adds only what is missing, and a lost race is left to the next reader.
async fn migrate<T, S>(
    store: &S,
    shop: &ShopId,
    statistic: &Statistic,
    currency: Option<Currency>,
    old: Samples<T>,
) -> Result<(), StoreError>
where
    T: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync,
    S: Documents + ?Sized,
{
    if let Some(currency) = currency {
        documents::insert(store, shop, keys::CURRENCY, &ShopCurrency { currency }).await?;
    }
    let mut by_shard: BTreeMap<String, BTreeMap<CustomerId, BTreeMap<String, Sample<T>>>> = BTreeMap::new();
    for (key, sample) in old.samples {
        by_shard
            .entry(statistic.shard_key(&sample.customer))
            .or_default()
            .entry(sample.customer.clone())
            .or_default()
            .insert(key, sample);
    }
    for (shard, customers) in by_shard {
        let moved = documents::update::<Samples<T>, _, S>(store, shop, &shard, |current| {
            let current = current.cloned().unwrap_or_default();
            let mut next = current.clone();
            for (customer, samples) in &customers {
                if !current.samples.values().any(|s| &s.customer == customer)
                    && let Some(with_them) = next.replacing(customer, samples.clone(), SHARD_SAMPLES)
                {
                    next = with_them;
                }
            }
            (next != current).then_some(next)
        })
        .await;
        match moved {
            Ok(_) => {}
            // Someone else is writing this shard right now; the old item stays for the next
            // reader, and reads keep merging it meanwhile.
            Err(StoreError::Conflict { .. }) => return Ok(()),
            Err(err) => return Err(err),
        }
    }
    store.delete_document(shop, &statistic.single).await?;
    Ok(())
}

/// Replaces `customer`'s samples of `statistic` with `fresh`, in their shard only.
pub(crate) async fn replace<T, S>(
    store: &S,
    shop: &ShopId,
    statistic: &Statistic,
    customer: &CustomerId,
    fresh: BTreeMap<String, Sample<T>>,
) -> Result<(), StoreError>
where
    T: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync,
    S: Documents + ?Sized,
{
    documents::update::<Samples<T>, _, S>(
        store,
        shop,
        &statistic.shard_key(customer),
        |current| match current {
            Some(current) => current.replacing(customer, fresh.clone(), SHARD_SAMPLES),
            None if fresh.is_empty() => None,
            None => Samples::default().replacing(customer, fresh.clone(), SHARD_SAMPLES),
        },
    )
    .await?;
    Ok(())
}

/// The shop's currency: the stored one, else the old spend table's. `None` before any order.
pub(crate) async fn currency<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
) -> Result<Option<Currency>, StoreError> {
    if let Some(found) = documents::load::<ShopCurrency, S>(store, shop, keys::CURRENCY).await? {
        return Ok(Some(found.value.currency));
    }
    Ok(documents::load::<SpendTable, S>(store, shop, keys::SPEND)
        .await?
        .and_then(|t| t.value.currency))
}

/// Sets the shop's currency unless one is set; returns the one that stands. Written once per
/// shop, so not a hot item.
pub(crate) async fn settle_currency<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    candidate: Currency,
) -> Result<Currency, StoreError> {
    let candidate = currency(store, shop).await?.unwrap_or(candidate);
    documents::insert(store, shop, keys::CURRENCY, &ShopCurrency { currency: candidate }).await?;
    Ok(documents::load::<ShopCurrency, S>(store, shop, keys::CURRENCY)
        .await?
        .map_or(candidate, |c| c.value.currency))
}

/// Takes `customer` out of every statistic, old items and shards alike. Returns how many
/// items changed.
pub(crate) async fn forget<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for (key, _) in store.list_documents(shop, keys::STATS_PREFIX).await? {
        let removed = if key == keys::CURRENCY {
            false
        } else if key == keys::SPEND {
            let mut removed = false;
            documents::update::<SpendTable, _, S>(store, shop, &key, |current| {
                let current = current?;
                let spend = current.spend.replacing(customer, BTreeMap::new(), usize::MAX)?;
                removed = true;
                Some(SpendTable {
                    currency: current.currency,
                    spend,
                })
            })
            .await?;
            removed
        } else if Statistic::spend().is_shard(&key) {
            without::<rust_decimal::Decimal, S>(store, shop, &key, customer).await?
        } else {
            without::<i64, S>(store, shop, &key, customer).await?
        };
        changed += u64::from(removed);
    }
    Ok(changed)
}

async fn without<T, S>(store: &S, shop: &ShopId, key: &str, customer: &CustomerId) -> Result<bool, StoreError>
where
    T: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync,
    S: Documents + ?Sized,
{
    let mut removed = false;
    documents::update::<Samples<T>, _, S>(store, shop, key, |current| {
        let next = current?.replacing(customer, BTreeMap::new(), usize::MAX);
        removed = next.is_some();
        next
    })
    .await?;
    Ok(removed)
}

fn decode_json<T: DeserializeOwned>(key: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|err| StoreError::Corrupt {
        what: format!("document {key}"),
        detail: err.to_string(),
    })
}

fn decode<T: DeserializeOwned>(key: &str, value: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|err| StoreError::Corrupt {
        what: format!("document {key}"),
        detail: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_always_lands_in_the_same_shard_and_customers_spread() {
        let customer = CustomerId::new("820982911946154508").unwrap();
        assert_eq!(shard_of(&customer), shard_of(&customer.clone()));
        let used: BTreeSet<u32> = (0..200)
            .map(|i| shard_of(&CustomerId::new(format!("{i}")).unwrap()))
            .collect();
        assert_eq!(used.len(), STAT_SHARDS as usize);
    }

    #[test]
    fn a_products_shards_are_told_from_a_longer_products() {
        let p1 = Statistic::supply("p1");
        assert!(p1.is_shard("stats#supply#p1#s07"));
        assert!(!p1.is_shard("stats#supply#p10#s07"));
        assert!(!p1.is_shard("stats#supply#p1"));
        assert!(!p1.is_shard("stats#supply#p1#s7x"));
    }
}
