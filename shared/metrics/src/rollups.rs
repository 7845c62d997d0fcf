//! The rollups in storage, through the [`Documents`] port every store implements (memory,
//! SQLite, DynamoDB), so there is one code path and one contract suite for all three.
//!
//! - `metrics#{YYYY-MM-DD}#{shard}`: one day's tally, one of [`SHARDS`] per day. Each change
//!   lands on a shard picked from the customer and the change, so no item is written by every
//!   event of a shop; a read of the figures is one prefix query of these items, summed. A day
//!   per item keeps what one event rewrites small (about 2 KB): a month per item grew to
//!   50 KB on a 100k-customer shop (every distinct gap to a second order is a name), and every
//!   event decoded and rewrote one or two of those (three times the rest of the fold's time;
//!   on DynamoDB 50 write units an event). Items written as months before still read: the
//!   figures are sums, so they add up with the days written since, and `metrics rebuild`
//!   replaces them with days.
//! - `customer#{id}#metrics#orders` / `#messages` / `#points`: what the customer last added to the
//!   counters (their first and second order facts among them). Under the customer's prefix,
//!   so their redaction finds it.
//! - `customer#{id}#message-events#{message id}`: delivery, open, click, bounce, complaint
//!   and unsubscribe of one message.
//!
//! A refresh recomputes the customer's contribution from their whole history, and writes it
//! to their fact item together with the difference added to a shard, in one atomic,
//! version-conditioned write (a SQLite transaction, a DynamoDB `TransactWriteItems`): two
//! concurrent refreshes of one customer cannot both win, and a process that dies at any
//! moment leaves the fact and the counters agreeing, so the event's retry (or the next
//! refresh) brings both up to date. `aftersale metrics rebuild` recomputes every customer
//! from the order, message and answer records.

use crate::facts::{self, Engagement, EngagementKind, Windows};
use crate::tally::{self, Contribution, Tally};
use aftersale_domain::points::Ledger;
use aftersale_domain::{CustomerId, Flow, Message, Reason, ShopConfig, ShopId};
use aftersale_ports::documents::{self, DocumentWrite, keys};
use aftersale_ports::{Documents, FlowStore, OrderRecords, StoreError, Versioned, lifecycle};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Shards per shop and month: enough that a burst of orders spreads over several items.
pub const SHARDS: u32 = 16;
pub const BUCKET_PREFIX: &str = "metrics#";

/// One day-shard's tally, keyed by its day (an item written as a month-shard holds that
/// month's days).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub days: BTreeMap<NaiveDate, Tally>,
}

/// What one customer last added, per part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub contribution: Contribution,
}

/// The independently refreshed parts of a customer's contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Orders, kept by ingest as order events are folded.
    Orders,
    /// Messages, their provider events and answers, kept by the engine.
    Messages,
    /// The points ledger, kept by the engine as entries are appended.
    Points,
}

impl Part {
    const ALL: [Part; 3] = [Part::Orders, Part::Messages, Part::Points];

    fn key(self, customer: &CustomerId) -> String {
        let part = match self {
            Part::Orders => "orders",
            Part::Messages => "messages",
            Part::Points => "points",
        };
        format!("{}metrics#{part}", keys::customer_prefix(customer))
    }
}

/// The shard a customer's counts go to.
pub fn shard(customer: &CustomerId) -> u32 {
    let digest = Sha256::digest(customer.as_str().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS
}

pub fn bucket_key(day: NaiveDate, shard: u32) -> String {
    format!("{BUCKET_PREFIX}{}#{shard:02}", day.format("%Y-%m-%d"))
}

pub fn engagement_prefix(customer: &CustomerId) -> String {
    format!("{}message-events#", keys::customer_prefix(customer))
}

/// The per-shop windows: the shop's configured attribution days, else the flow's default.
pub struct ShopWindows<'a>(pub Option<&'a ShopConfig>);

impl Windows for ShopWindows<'_> {
    fn attribution(&self, flow: Flow) -> Duration {
        Duration::days(crate::settings_for(self.0, flow).attribution_days)
    }
}

/// Recomputes the customer's order facts (ingest calls this after folding an order event).
pub async fn refresh_orders<S: OrderRecords + Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<(), StoreError> {
    replace(store, shop, customer, Part::Orders, || async {
        let records = lifecycle::customer_records(store, shop, customer).await?;
        Ok(facts::order_contribution(&records))
    })
    .await
}

/// Recomputes the customer's message facts (the engine calls this after planning, after a
/// message's outcome, after a provider event or an answer, and after their orders change,
/// since conversions follow orders).
pub async fn refresh_messages(
    store: &dyn FlowStore,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<(), StoreError> {
    replace(store, shop, customer, Part::Messages, || {
        message_contribution(store, shop, customer)
    })
    .await
}

/// Recomputes the customer's points facts from their stored ledger (the engine calls this
/// after every append).
pub async fn refresh_points<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<(), StoreError> {
    replace(store, shop, customer, Part::Points, || {
        points_contribution(store, shop, customer)
    })
    .await
}

/// The customer's ledger as stored (empty when they have none).
async fn points_contribution<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<Contribution, StoreError> {
    let ledger = documents::load::<Ledger, S>(store, shop, &keys::customer_points(customer))
        .await?
        .map(|l| l.value)
        .unwrap_or_default();
    Ok(facts::points_contribution(&ledger))
}

async fn message_contribution(
    store: &dyn FlowStore,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<Contribution, StoreError> {
    let records = lifecycle::customer_records(store, shop, customer).await?;
    let messages = store.customer_messages(shop, customer).await?;
    let answers = store.customer_answers(shop, customer).await?;
    let engagement = load_engagement(store, shop, customer).await?;
    let config = store.load_config(shop).await?;
    Ok(facts::message_contribution(
        &records,
        &messages,
        &engagement,
        &answers,
        &ShopWindows(config.as_ref()),
    ))
}

async fn load_engagement<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<BTreeMap<String, Engagement>, StoreError> {
    let prefix = engagement_prefix(customer);
    Ok(documents::list::<Engagement, S>(store, shop, &prefix)
        .await?
        .into_iter()
        .map(|(key, e)| (key[prefix.len()..].to_string(), e))
        .collect())
}

/// Records a provider event (delivery, open, click, bounce, complaint) or an unsubscribe
/// against `message`, then refreshes the customer's message facts. Returns whether it was new.
pub async fn record_engagement(
    store: &dyn FlowStore,
    message: &Message,
    kind: EngagementKind,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = note_engagement(store, message, kind, at).await?;
    if changed {
        refresh_messages(store, &message.shop, &message.customer_id).await?;
    }
    Ok(changed)
}

/// Records the event only, for a caller that refreshes the customer's message facts itself
/// right after (a tick, once per message whatever happened to it). Returns whether it was new.
pub async fn note_engagement<S: Documents + ?Sized>(
    store: &S,
    message: &Message,
    kind: EngagementKind,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let key = format!("{}{}", engagement_prefix(&message.customer_id), message.id());
    let mut changed = false;
    documents::update::<Engagement, _, _>(store, &message.shop, &key, |current| {
        let mut next = current.cloned().unwrap_or_default();
        changed = next.record(kind, at);
        changed.then_some(next)
    })
    .await?;
    Ok(changed)
}

/// Takes the customer's counts out of the rollups, for their redaction: the figures then
/// match a rebuild, which no longer sees them.
pub async fn forget_customer<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<(), StoreError> {
    for part in Part::ALL {
        replace(store, shop, customer, part, || async { Ok(Contribution::new()) }).await?;
    }
    Ok(())
}

/// Optimistic-concurrency retries of a refresh: each conflict means another writer moved the
/// customer's fact or a shard on, so the refresh reloads and recomputes.
const MAX_CONFLICT_RETRIES: usize = 16;

/// Days of counters one atomic write may change, besides the customer's fact.
const DAYS_PER_WRITE: usize = documents::MAX_ATOMIC_WRITES - 1;

/// Makes the customer's `part` fact what `compute` gives, and moves the counters by the
/// difference, in one atomic write ([`Documents::save_documents`]): the fact and the counters
/// can never disagree, whatever moment a process dies at, and a retry finds either nothing
/// done or all of it.
///
/// `compute` reads the customer's history again on every attempt, after the fact it is
/// conditioned on has been loaded. A contribution computed earlier could be older than one a
/// concurrent refresh has written since (an order update and its refund folded at once), and
/// writing it would take the newer counts back; read after the load, the last write to win
/// has always seen every change whose refresh came before it.
///
/// The difference goes to a shard picked from the customer and the fact's version, so one
/// customer's successive changes, and the retries after a conflict, spread over the shards.
/// A difference spanning more days than one write takes is applied in steps, each moving the
/// fact exactly as far as the counters it writes.
async fn replace<S, F, Fut>(
    store: &S,
    shop: &ShopId,
    customer: &CustomerId,
    part: Part,
    compute: F,
) -> Result<(), StoreError>
where
    S: Documents + ?Sized,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Contribution, StoreError>>,
{
    let key = part.key(customer);
    let mut conflicts = 0;
    loop {
        let current: Option<Versioned<Fact>> = documents::load(store, shop, &key).await?;
        let (old, version) = match current {
            Some(found) => (found.value.contribution, found.version),
            None => (Contribution::new(), 0),
        };
        let new = compute().await?;
        if old == new {
            return Ok(());
        }
        let days = tally::difference(&old, &new);
        let last_step = days.len() <= DAYS_PER_WRITE;
        let step: Contribution = days.into_iter().take(DAYS_PER_WRITE).collect();
        let mut reached = old.clone();
        tally::accumulate(&mut reached, &step);
        let shard = write_shard(customer, version, conflicts);
        let mut writes = vec![DocumentWrite {
            key: key.clone(),
            value: serde_json::to_value(Fact {
                contribution: reached,
            })
            .map_err(StoreError::backend)?,
            expected_version: version,
        }];
        for (day, change) in &step {
            let bucket_key = bucket_key(*day, shard);
            let (mut bucket, version) = match documents::load::<Bucket, S>(store, shop, &bucket_key).await? {
                Some(found) => (found.value, found.version),
                None => (Bucket::default(), 0),
            };
            tally::accumulate(&mut bucket.days, &Contribution::from([(*day, change.clone())]));
            writes.push(DocumentWrite {
                key: bucket_key,
                value: serde_json::to_value(&bucket).map_err(StoreError::backend)?,
                expected_version: version,
            });
        }
        match store.save_documents(shop, &writes).await {
            Ok(()) if last_step => return Ok(()),
            // The rest of a long difference, from the fact just written.
            Ok(()) => {}
            // Another writer moved the fact or a shard on: reload and recompute.
            Err(StoreError::Conflict { .. }) if conflicts + 1 < MAX_CONFLICT_RETRIES => conflicts += 1,
            Err(StoreError::Conflict { .. }) => {
                return Err(StoreError::Conflict {
                    what: format!("metrics facts {key} (gave up after {MAX_CONFLICT_RETRIES} tries)"),
                });
            }
            Err(err) => return Err(err),
        }
    }
}

/// The shard a change lands on: spread by the customer, the fact's version and the attempt.
fn write_shard(customer: &CustomerId, version: u64, attempt: usize) -> u32 {
    let digest = Sha256::digest(format!("{customer}#{version}#{attempt}").as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS
}

/// Every day tally of the shop, summed over shards: what the figures are computed from.
pub async fn load_days<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
) -> Result<BTreeMap<NaiveDate, Tally>, StoreError> {
    let mut days = BTreeMap::new();
    for (_, bucket) in documents::list::<Bucket, S>(store, shop, BUCKET_PREFIX).await? {
        tally::accumulate(&mut days, &bucket.days);
    }
    Ok(days)
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rebuilt {
    pub customers: usize,
    pub buckets: usize,
}

/// Recomputes every customer's facts and the shop's counters from scratch: the customers are
/// those with an order list (ingest writes one per customer), a points ledger or a message.
pub async fn rebuild(store: &dyn FlowStore, shop: &ShopId) -> Result<Rebuilt, StoreError> {
    let mut customers: BTreeSet<CustomerId> = store
        .list_documents(shop, "customer#")
        .await?
        .into_iter()
        .filter_map(|(key, _)| {
            let rest = key.strip_prefix("customer#")?;
            let id = rest
                .strip_suffix("#orders")
                .or_else(|| rest.strip_suffix("#points"))?;
            CustomerId::new(id).ok()
        })
        .collect();
    customers.extend(
        store
            .list_messages(Some(shop))
            .await?
            .into_iter()
            .map(|m| m.customer_id),
    );
    let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
    for customer in &customers {
        let records = lifecycle::customer_records(store, shop, customer).await?;
        let parts = [
            (Part::Orders, facts::order_contribution(&records)),
            (Part::Messages, message_contribution(store, shop, customer).await?),
            (Part::Points, points_contribution(store, shop, customer).await?),
        ];
        for (part, contribution) in parts {
            overwrite(
                store,
                shop,
                &part.key(customer),
                &Fact {
                    contribution: contribution.clone(),
                },
            )
            .await?;
            for (day, t) in contribution {
                let bucket = buckets.entry(bucket_key(day, shard(customer))).or_default();
                bucket.days.entry(day).or_default().merge(&t);
            }
        }
    }
    for (key, _) in store.list_documents(shop, BUCKET_PREFIX).await? {
        if !buckets.contains_key(&key) {
            store.delete_document(shop, &key).await?;
        }
    }
    let written = buckets.len();
    for (key, bucket) in buckets {
        overwrite(store, shop, &key, &bucket).await?;
    }
    Ok(Rebuilt {
        customers: customers.len(),
        buckets: written,
    })
}

async fn overwrite<T: Serialize + for<'de> Deserialize<'de>, S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    let encoded = serde_json::to_value(value).map_err(StoreError::backend)?;
    for _ in 0..MAX_CONFLICT_RETRIES {
        let version = store.load_document(shop, key).await?.map_or(0, |d| d.version);
        match store.save_document(shop, key, &encoded, version).await {
            Err(StoreError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(StoreError::Conflict {
        what: format!("{key} (gave up after {MAX_CONFLICT_RETRIES} tries)"),
    })
}

/// A skip or deferral, for the dashboard's "recent" list. No customer id, address or order:
/// only what the owner needs to see why messages did not go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentDecision {
    pub at: DateTime<Utc>,
    pub flow: Flow,
    pub step: String,
    pub deferred: bool,
    pub reason: String,
}

/// Recent decisions kept per shard: the page shows the newest across all shards.
const RECENT_PER_SHARD: usize = 10;
const RECENT_PREFIX: &str = "metrics-recent#";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Recent {
    decisions: Vec<RecentDecision>,
}

/// Notes a skipped or deferred message among the shop's recent decisions (sharded by customer,
/// like the counters). Anything else is ignored.
pub async fn note_decision<S: Documents + ?Sized>(
    store: &S,
    message: &Message,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let deferred = match (&message.status, &message.reason) {
        (aftersale_domain::MessageStatus::Planned, Reason::Deferred(why)) => Some(why.to_string()),
        _ => None,
    };
    let skipped = message.status == aftersale_domain::MessageStatus::Skipped;
    if deferred.is_none() && !skipped {
        return Ok(());
    }
    let decision = RecentDecision {
        at,
        flow: message.flow(),
        step: message.step.to_string(),
        deferred: deferred.is_some(),
        reason: deferred.unwrap_or_else(|| facts::skip_label(message)),
    };
    let key = format!("{RECENT_PREFIX}{:02}", shard(&message.customer_id));
    documents::update::<Recent, _, S>(store, &message.shop, &key, |current| {
        let mut next = current.cloned().unwrap_or_default();
        next.decisions.push(decision.clone());
        next.decisions.sort_by_key(|d| std::cmp::Reverse(d.at));
        next.decisions.truncate(RECENT_PER_SHARD);
        Some(next)
    })
    .await?;
    Ok(())
}

/// The shop's newest skips and deferrals, newest first.
pub async fn recent_decisions<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    limit: usize,
) -> Result<Vec<RecentDecision>, StoreError> {
    let mut all: Vec<RecentDecision> = documents::list::<Recent, S>(store, shop, RECENT_PREFIX)
        .await?
        .into_iter()
        .flat_map(|(_, r)| r.decisions)
        .collect();
    all.sort_by_key(|d| std::cmp::Reverse(d.at));
    all.truncate(limit);
    Ok(all)
}
