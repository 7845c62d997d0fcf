//! Small JSON documents the lifecycle flows keep per shop: a customer's list of orders and
//! tier, the shop's learned statistics, early-access campaigns, referral codes. One port with
//! versioned, conditional writes instead of a table per kind: each kind is a key prefix, and
//! the typed helpers here give every caller the same load-modify-save loop.
//!
//! Keys are `kind#...`. Everything about one customer is under `customer#{id}#`, so redacting
//! the customer removes it with one prefix.

use crate::{StoreError, Versioned};
use aftersale_domain::{CustomerId, ShopId};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[async_trait]
pub trait Documents: Send + Sync {
    async fn load_document(&self, shop: &ShopId, key: &str) -> Result<Option<Versioned<Value>>, StoreError>;
    /// [`Documents::load_document`] with the value still JSON text, for a caller that decodes
    /// it into its own type ([`load`]): a store that keeps the text hands it over as it is,
    /// and the document is parsed once instead of twice (text to `Value`, `Value` to type).
    async fn load_document_json(
        &self,
        shop: &ShopId,
        key: &str,
    ) -> Result<Option<Versioned<String>>, StoreError> {
        Ok(self.load_document(shop, key).await?.map(|found| Versioned {
            value: found.value.to_string(),
            version: found.version,
        }))
    }
    /// Saves if the stored version is still `expected_version` (0 = must not exist yet),
    /// else `Conflict`.
    async fn save_document(
        &self,
        shop: &ShopId,
        key: &str,
        value: &Value,
        expected_version: u64,
    ) -> Result<(), StoreError>;
    /// [`Documents::save_document`] with the value already JSON text, from a caller that
    /// encodes its own type ([`insert`], [`update`]): a store that keeps the text stores it as
    /// it is, instead of the type being turned into a `Value` and that into text. The text
    /// must be JSON as `serde_json` writes it; such a store does not parse it again.
    async fn save_document_json(
        &self,
        shop: &ShopId,
        key: &str,
        json: String,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let value = serde_json::from_str(&json).map_err(|err| StoreError::Corrupt {
            what: format!("document {key}"),
            detail: err.to_string(),
        })?;
        self.save_document(shop, key, &value, expected_version).await
    }
    /// The shop's documents whose key starts with `prefix`, by key. A query on the shop's
    /// partition, never a scan of other shops.
    async fn list_documents(
        &self,
        shop: &ShopId,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned<Value>)>, StoreError>;
    /// The keys and versions of what [`Documents::list_documents`] would list, without the
    /// bodies, for a store where that is cheaper than reading them (an index-only query):
    /// a reader that keeps decoded documents by version then loads only the changed ones.
    /// `None` (the default) when it is not, and the reader lists the bodies instead.
    async fn list_document_versions(
        &self,
        _shop: &ShopId,
        _prefix: &str,
    ) -> Result<Option<Vec<(String, u64)>>, StoreError> {
        Ok(None)
    }
    /// Deletes one document, whatever its version; returns whether it was there. For erasure
    /// (a customer's shop-wide records), never for ordinary updates.
    async fn delete_document(&self, shop: &ShopId, key: &str) -> Result<bool, StoreError>;
    /// Saves every write or none: each only if its stored version is still its
    /// `expected_version`, else `Conflict` and nothing changed. For figures kept in two places
    /// (a customer's fact and the counters it was added to) that must never disagree, whatever
    /// moment a process dies at. At most [`MAX_ATOMIC_WRITES`], each key once.
    async fn save_documents(&self, shop: &ShopId, writes: &[DocumentWrite]) -> Result<(), StoreError>;
}

/// The version a write that expects `expected_version` leaves behind, for documents and
/// orders alike. A new one's is the instant it is created, in microseconds, rather than 1: a key
/// deleted and written again (a shop redacted, then installed again) never repeats a version it
/// had, so a reader that keeps what it decoded by version ([`crate::lifecycle::ShardCache`],
/// the SQLite store's orders) cannot take the new value for the old one. An update adds one, and a document is not updated a million
/// times a second, so it never catches up with a later creation.
pub fn next_version(expected_version: u64) -> u64 {
    if expected_version == 0 {
        let micros = chrono::Utc::now().timestamp_micros();
        u64::try_from(micros).unwrap_or(0).max(1)
    } else {
        expected_version + 1
    }
}

/// The most writes one [`Documents::save_documents`] takes: DynamoDB's limit on one
/// transaction.
pub const MAX_ATOMIC_WRITES: usize = 100;

/// One conditional write of [`Documents::save_documents`].
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentWrite {
    pub key: String,
    pub value: Value,
    /// The version it must still have (0 = must not exist yet).
    pub expected_version: u64,
}

/// Refuses a batch [`Documents::save_documents`] cannot take, before any store sees it.
pub fn check_batch(writes: &[DocumentWrite]) -> Result<(), StoreError> {
    if writes.len() > MAX_ATOMIC_WRITES {
        return Err(StoreError::Backend(format!(
            "{} document writes in one batch: at most {MAX_ATOMIC_WRITES}",
            writes.len()
        )));
    }
    let mut keys: Vec<&str> = writes.iter().map(|w| w.key.as_str()).collect();
    keys.sort_unstable();
    if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(StoreError::Backend(format!(
            "document {} written twice in one batch",
            pair[0]
        )));
    }
    Ok(())
}

/// The document keys, in one place so every store and flow agrees on them.
pub mod keys {
    use aftersale_domain::{CustomerId, MessageId, OrderId};

    /// Everything held on one customer starts with this.
    pub fn customer_prefix(customer: &CustomerId) -> String {
        format!("customer#{customer}#")
    }
    /// The customer's order ids (written by ingest).
    pub fn customer_orders(customer: &CustomerId) -> String {
        format!("customer#{customer}#orders")
    }
    /// The customer's VIP tier.
    pub fn customer_tier(customer: &CustomerId) -> String {
        format!("customer#{customer}#tier")
    }
    /// The customer's birthday, as the merchant imported it.
    pub fn customer_birthday(customer: &CustomerId) -> String {
        format!("customer#{customer}#birthday")
    }
    /// The early access a win-back promised the customer.
    pub fn customer_early_access(customer: &CustomerId) -> String {
        format!("customer#{customer}#early-access")
    }
    /// The customer's loyalty points ledger (`aftersale_domain::points::Ledger`).
    pub fn customer_points(customer: &CustomerId) -> String {
        format!("customer#{customer}#points")
    }
    /// The shop's double-points windows (`aftersale points campaign create`).
    pub const POINTS_CAMPAIGNS_PREFIX: &str = "points-campaign#";
    pub fn points_campaign(id: &str) -> String {
        format!("{POINTS_CAMPAIGNS_PREFIX}{id}")
    }
    /// The customer's own referral code.
    pub fn customer_referral(customer: &CustomerId) -> String {
        format!("customer#{customer}#referral")
    }
    /// The bad answer to one question of one message that support was last alerted about.
    /// Written with a conditional create or update, so of two identical answers sent at once
    /// (a double click) only one alerts.
    pub fn answer_alerted(customer: &CustomerId, message_id: &MessageId, question: &str) -> String {
        format!("customer#{customer}#alerted#{message_id}#{question}")
    }
    /// Which customer a referral code belongs to (upper case).
    pub fn referral_code(code: &str) -> String {
        format!("{REFERRAL_CODES_PREFIX}{}", code.to_ascii_uppercase())
    }
    pub const REFERRAL_CODES_PREFIX: &str = "code#";
    /// An order placed with someone's referral code.
    pub fn referred_order(order: &OrderId) -> String {
        format!("referral#{order}")
    }
    pub const REFERRALS_PREFIX: &str = "referral#";
    /// The make-it-right case of an order (it names the customer and keeps their words; it
    /// is erased with the customer's orders).
    pub fn case(order: &OrderId) -> String {
        format!("{CASES_PREFIX}{order}")
    }
    pub const CASES_PREFIX: &str = "case#";
    /// A customer's data export, built for a platform's data request (names `customer_id`).
    pub fn data_request(request: &str) -> String {
        format!("data-request#{request}")
    }
    pub const DATA_REQUESTS_PREFIX: &str = "data-request#";
    pub const CAMPAIGNS_PREFIX: &str = "campaign#";
    pub fn campaign(slug: &str) -> String {
        format!("campaign#{slug}")
    }
    /// Every shop statistic starts with this.
    pub const STATS_PREFIX: &str = "stats#";
    /// Gaps between consecutive orders of the same customer, for the win-back window. This
    /// key held the whole statistic before it was sharded; shards are `{ORDER_GAPS}#sNN`
    /// ([`stat_shard`]).
    pub const ORDER_GAPS: &str = "stats#order-gaps";
    /// Net spend per customer, for the high-value segment (sharded like [`ORDER_GAPS`]).
    pub const SPEND: &str = "stats#spend";
    /// The shop's currency, the first an order was seen in: spend in others is not added up.
    pub const CURRENCY: &str = "stats#currency";
    /// Per-unit supply samples of one product, for replenishment (sharded like [`ORDER_GAPS`]).
    pub fn supply(product_id: &str) -> String {
        format!("{SUPPLY_PREFIX}{product_id}")
    }
    pub const SUPPLY_PREFIX: &str = "stats#supply#";
    /// One product's learned cross-sell complements (`aftersale_domain::flows::cross_sell`):
    /// product ids and counts only, never a customer.
    pub fn cross_sell_pairs(product_id: &str) -> String {
        format!("{CROSS_SELL_PAIRS_PREFIX}{product_id}")
    }
    pub const CROSS_SELL_PAIRS_PREFIX: &str = "cross-sell#pairs#";
    /// When the shop's cross-sell pairs were last learned, from how many orders, with which
    /// minimums. Written after the pairs, so a run that died half-way is redone.
    pub const CROSS_SELL_RUN: &str = "cross-sell#run";
    /// One product's types as the shop's catalogue last gave them (care guides by product
    /// type): product data only, never a customer; erased with the shop.
    pub fn product_types(product_id: &str) -> String {
        format!("{PRODUCT_TYPES_PREFIX}{product_id}")
    }
    pub const PRODUCT_TYPES_PREFIX: &str = "catalogue#type#";
    /// Shard `shard` of the statistic whose single key was `statistic`.
    pub fn stat_shard(statistic: &str, shard: u32) -> String {
        format!("{statistic}#s{shard:02}")
    }
}

/// Optimistic-concurrency retries before a caller gives up. Every round of a race has a
/// winner, so this bounds the writers one item can have at once: a statistics shard at 200
/// order events a second of one shop sees a dozen or so.
const MAX_CONFLICT_RETRIES: usize = 32;

/// Loads and decodes a document.
pub async fn load<T: DeserializeOwned, D: Documents + ?Sized>(
    store: &D,
    shop: &ShopId,
    key: &str,
) -> Result<Option<Versioned<T>>, StoreError> {
    let Some(found) = store.load_document_json(shop, key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_str(&found.value).map_err(|err| StoreError::Corrupt {
        what: format!("document {key}"),
        detail: err.to_string(),
    })?;
    Ok(Some(Versioned {
        value,
        version: found.version,
    }))
}

/// Stores a new document unless one is there. Returns whether it was stored.
pub async fn insert<T: Serialize, D: Documents + ?Sized>(
    store: &D,
    shop: &ShopId,
    key: &str,
    value: &T,
) -> Result<bool, StoreError> {
    match store.save_document_json(shop, key, encode(value)?, 0).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Load, change, save, retried on a concurrent write. `change` gets the current value (or
/// `None`) and returns the new one, or `None` to leave the document as it is. Returns the value
/// now stored.
pub async fn update<T, F, D: Documents + ?Sized>(
    store: &D,
    shop: &ShopId,
    key: &str,
    mut change: F,
) -> Result<Option<T>, StoreError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<&T>) -> Option<T> + Send,
{
    for _ in 0..MAX_CONFLICT_RETRIES {
        let current = load::<T, D>(store, shop, key).await?;
        let version = current.as_ref().map_or(0, |c| c.version);
        let Some(next) = change(current.as_ref().map(|c| &c.value)) else {
            return Ok(current.map(|c| c.value));
        };
        match store.save_document_json(shop, key, encode(&next)?, version).await {
            Ok(()) => return Ok(Some(next)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Conflict {
        what: format!("document {key} (gave up after {MAX_CONFLICT_RETRIES} tries)"),
    })
}

/// Every document under `prefix`, decoded.
pub async fn list<T: DeserializeOwned, D: Documents + ?Sized>(
    store: &D,
    shop: &ShopId,
    prefix: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    store
        .list_documents(shop, prefix)
        .await?
        .into_iter()
        .map(|(key, found)| {
            let value = serde_json::from_value(found.value).map_err(|err| StoreError::Corrupt {
                what: format!("document {key}"),
                detail: err.to_string(),
            })?;
            Ok((key, value))
        })
        .collect()
}

/// Whether a document key belongs to `customer` (and goes when they are redacted).
pub fn owned_by(key: &str, customer: &CustomerId) -> bool {
    key.starts_with(&keys::customer_prefix(customer))
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::backend)
}
