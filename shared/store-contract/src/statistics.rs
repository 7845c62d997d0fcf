//! The shop statistics (net spend, gaps between orders, supply per product) hold under load:
//! a Black Friday burst of one shop's order events neither gives up an update nor leaves
//! figures other than a serial replay's, and no statistics item is written by every event.

use crate::fixtures::{customer_id, eur, order_record, placed_order, unique_shop};
use aftersale_domain::{LineItem, OrderRecord, ShopId};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::lifecycle::{self, Sample, Samples, ShardCache, SpendTable};
use aftersale_ports::{Store, StoreError};
use chrono::{TimeZone, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Events a second in the burst, and how many seconds it lasts.
const PER_SECOND: usize = 200;
const SECONDS: usize = 3;
/// Events in flight at once, as that many concurrent ingest invocations would have: without a
/// bound, 600 open requests time out on the connection to a local emulator (moto answered
/// about 12 events a second that way), which measures the emulator, not the statistics.
const IN_FLIGHT: usize = 32;

/// Order `i` of the burst: customer `c-{i/2}`'s first or second order (so gaps are learned),
/// of one of five products, a day apart.
fn burst_order(i: usize) -> OrderRecord {
    let mut order = placed_order(&format!("o-{i}"), &format!("c-{}", i / 2));
    order.created_at = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap()
        + chrono::Duration::days((i % 2) as i64 * 30 + (i / 2 % 7) as i64);
    order.updated_at = order.created_at;
    order.line_items = vec![LineItem {
        id: format!("li-{i}"),
        product_id: Some(format!("p-{}", i / 2 % 5)),
        variant_id: None,
        sku: None,
        title: "Coffee beans".into(),
        quantity: 1 + (i % 3) as u32,
        price: eur("12.50"),
    }];
    order_record(&order)
}

/// What ingest does with one order event, up to the statistics: store the order, list it
/// under its customer, recompute the customer's share of the statistics.
async fn order_event(store: &dyn Store, shop: &ShopId, i: usize) -> Result<(), StoreError> {
    let record = burst_order(i);
    store.save_order(shop, &record, 0).await?;
    lifecycle::record_order(store, shop, &record).await?;
    lifecycle::update_statistics(store, shop, &record).await
}

/// Every statistics document of the shop, by key, without versions.
async fn statistics(store: &dyn Store, shop: &ShopId) -> BTreeMap<String, Value> {
    store
        .list_documents(shop, keys::STATS_PREFIX)
        .await
        .unwrap()
        .into_iter()
        .map(|(key, found)| (key, found.value))
        .collect()
}

/// 200 distinct order events a second for one shop (at most [`IN_FLIGHT`] at once), for three
/// seconds: no
/// statistics update is given up, the figures equal a serial replay's of the same events, and
/// no statistics item was written by more than a fraction of the events.
pub async fn concurrent_order_events_give_the_figures_of_a_serial_replay(store: &dyn Store) {
    let burst = unique_shop("stats-burst");
    let serial = unique_shop("stats-serial");
    let created = empty_shards(store, &burst).await;
    empty_shards(store, &serial).await;
    let started = Instant::now();
    let mut given_up = Vec::new();
    let in_flight = tokio::sync::Semaphore::new(IN_FLIGHT);
    // Event i starts at i / PER_SECOND seconds, or as soon as one of the events in flight is
    // done when the store is slower than that.
    let burst_events: Vec<_> = (0..SECONDS * PER_SECOND)
        .map(|i| {
            let (burst, in_flight) = (&burst, &in_flight);
            async move {
                let starts = Duration::from_secs_f64(i as f64 / PER_SECOND as f64);
                tokio::time::sleep_until(tokio::time::Instant::from_std(started + starts)).await;
                let _permit = in_flight.acquire().await.expect("the semaphore is never closed");
                order_event(store, burst, i).await
            }
        })
        .collect();
    for (i, result) in all_at_once(burst_events).await.into_iter().enumerate() {
        if let Err(err) = result {
            given_up.push(format!("event {i}: {err}"));
        }
    }
    let rate = (SECONDS * PER_SECOND) as f64 / started.elapsed().as_secs_f64();
    assert!(
        given_up.is_empty(),
        "updates given up at {rate:.0} events/s: {given_up:?}"
    );
    for i in 0..SECONDS * PER_SECOND {
        order_event(store, &serial, i).await.unwrap();
    }
    let (concurrent, replayed) = (statistics(store, &burst).await, statistics(store, &serial).await);
    assert_eq!(
        concurrent, replayed,
        "the burst's figures ({rate:.0} events/s) are a serial replay's"
    );

    // Every customer's spend and second-order gap is there, in the merged figures.
    let spend = lifecycle::spend_table(store, &burst, &ShardCache::default())
        .await
        .unwrap();
    assert_eq!(spend.currency.map(|c| c.to_string()), Some("EUR".to_string()));
    assert_eq!(spend.spend.samples.len(), SECONDS * PER_SECOND / 2);
    assert_eq!(
        lifecycle::order_gaps(store, &burst, &ShardCache::default())
            .await
            .unwrap()
            .len(),
        SECONDS * PER_SECOND / 2
    );
    // No item took every event: each shard saw a sixteenth of the customers or so. A version
    // counts the writes since the document was created.
    let busiest = store
        .list_documents(&burst, keys::STATS_PREFIX)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(key, found)| Some((found.version - created.get(&key)?, key)))
        .max()
        .unwrap();
    assert!(
        busiest.0 < (SECONDS * PER_SECOND / 4) as u64,
        "{} was written {} times by {} events",
        busiest.1,
        busiest.0,
        SECONDS * PER_SECOND
    );
}

/// Every shard the burst writes, created empty beforehand, with the version each was created
/// at: a version is a count of writes only from the version a document started at.
async fn empty_shards(store: &dyn Store, shop: &ShopId) -> BTreeMap<String, u64> {
    let statistics = [keys::SPEND.to_string(), keys::ORDER_GAPS.to_string()]
        .into_iter()
        .chain((0..5).map(|p| keys::supply(&format!("p-{p}"))));
    let empty = serde_json::to_value(Samples::<i64>::default()).unwrap();
    let mut created = BTreeMap::new();
    for statistic in statistics {
        for shard in 0..aftersale_ports::stat_shards::STAT_SHARDS {
            let key = keys::stat_shard(&statistic, shard);
            store.save_document(shop, &key, &empty, 0).await.unwrap();
            let version = store.load_document(shop, &key).await.unwrap().unwrap().version;
            created.insert(key, version);
        }
    }
    created
}

/// A shop whose statistics were written before they were sharded (one item each) keeps its
/// figures: they are merged on read, a customer's newer samples in a shard win over their
/// old ones, and the first read moves the old items into the shards and deletes them.
pub async fn statistics_written_before_sharding_are_merged_and_migrated(store: &dyn Store) {
    let shop = unique_shop("stats-old-layout");
    fn sample<T>(customer: &str, value: T) -> Sample<T> {
        Sample {
            customer: customer_id(customer),
            at: Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0).unwrap(),
            value,
        }
    }
    let old_spend = SpendTable {
        currency: Some(eur("1").currency),
        spend: Samples {
            samples: [
                (
                    "anna".to_string(),
                    sample::<rust_decimal::Decimal>("anna", "80.00".parse().unwrap()),
                ),
                (
                    "c-0".to_string(),
                    sample::<rust_decimal::Decimal>("c-0", "999.00".parse().unwrap()),
                ),
            ]
            .into(),
        },
    };
    let old_gaps: Samples<i64> = Samples {
        samples: [("o-anna-2".to_string(), sample("anna", 86_400 * 40))].into(),
    };
    documents::insert(store, &shop, keys::SPEND, &old_spend)
        .await
        .unwrap();
    documents::insert(store, &shop, keys::ORDER_GAPS, &old_gaps)
        .await
        .unwrap();

    // c-0 orders again after the upgrade: their shard now holds their real spend.
    order_event(store, &shop, 0).await.unwrap();
    assert_eq!(
        lifecycle::shop_currency(store, &shop).await.unwrap(),
        old_spend.currency
    );

    let spend = lifecycle::spend_table(store, &shop, &ShardCache::default())
        .await
        .unwrap();
    let by_customer: BTreeMap<&str, String> = spend
        .spend
        .samples
        .values()
        .map(|s| (s.customer.as_str(), s.value.to_string()))
        .collect();
    assert_eq!(
        by_customer,
        BTreeMap::from([("anna", "80.00".to_string()), ("c-0", "25.00".to_string())]),
        "anna's spend from the old item, c-0's from their shard"
    );
    assert_eq!(
        lifecycle::order_gaps(store, &shop, &ShardCache::default())
            .await
            .unwrap(),
        vec![chrono::Duration::days(40)]
    );
    let left: Vec<String> = statistics(store, &shop).await.into_keys().collect();
    assert!(
        !left.iter().any(|k| k == keys::SPEND || k == keys::ORDER_GAPS),
        "the old items are gone once read: {left:?}"
    );
    // Read again from the shards alone: the same figures.
    assert_eq!(
        lifecycle::spend_table(store, &shop, &ShardCache::default())
            .await
            .unwrap(),
        spend
    );
}

/// Planning reads the statistics through one [`ShardCache`] for the life of the process, while
/// every order event rewrites a shard: a cached read gives exactly what a fresh read of the
/// store gives, after new orders, a changed order and a customer's erasure alike.
pub async fn a_cached_read_of_the_statistics_is_never_behind_the_store(store: &dyn Store) {
    let shop = unique_shop("stats-cached");
    let cache = ShardCache::default();
    let fresh_gaps = || async {
        lifecycle::order_gaps(store, &shop, &ShardCache::default())
            .await
            .unwrap()
    };
    let sorted = |mut gaps: Vec<chrono::Duration>| {
        gaps.sort();
        gaps
    };
    for i in 0..8 {
        order_event(store, &shop, i).await.unwrap();
    }
    let first = lifecycle::order_gaps(store, &shop, &cache).await.unwrap();
    assert_eq!(first.len(), 4, "four customers with a second order: {first:?}");
    assert_eq!(sorted(first.clone()), sorted(fresh_gaps().await));
    assert_eq!(
        lifecycle::order_gaps(store, &shop, &cache).await.unwrap(),
        first,
        "read again, unchanged"
    );

    // Two more customers come back: their shards change, the others stay cached.
    for i in 8..12 {
        order_event(store, &shop, i).await.unwrap();
    }
    let more = lifecycle::order_gaps(store, &shop, &cache).await.unwrap();
    assert_eq!(more.len(), 6, "{more:?}");
    assert_eq!(sorted(more), sorted(fresh_gaps().await));

    // c-0's second order moves: a shard changes in place, same keys, new version.
    let mut moved = burst_order(1);
    let placed = moved.snapshot.as_mut().expect("the burst order has its snapshot");
    placed.created_at += chrono::Duration::days(10);
    placed.updated_at = placed.created_at;
    let stored = store.load_order(&shop, &moved.order_id).await.unwrap().unwrap();
    store.save_order(&shop, &moved, stored.version).await.unwrap();
    lifecycle::update_statistics(store, &shop, &moved).await.unwrap();
    let after_move = sorted(lifecycle::order_gaps(store, &shop, &cache).await.unwrap());
    assert_eq!(after_move, sorted(fresh_gaps().await));
    assert!(
        after_move.contains(&chrono::Duration::days(40)),
        "c-0's gap is now 40 days: {after_move:?}"
    );

    // c-1 is erased: their samples leave their shard, and the cached read no longer has them.
    let spend_before = lifecycle::spend_table(store, &shop, &cache).await.unwrap();
    lifecycle::forget_customer(store, &shop, &customer_id("c-1"))
        .await
        .unwrap();
    let after_erasure = lifecycle::order_gaps(store, &shop, &cache).await.unwrap();
    assert_eq!(after_erasure.len(), 5, "{after_erasure:?}");
    assert_eq!(sorted(after_erasure), sorted(fresh_gaps().await));
    let spend = lifecycle::spend_table(store, &shop, &cache).await.unwrap();
    assert_eq!(
        spend,
        lifecycle::spend_table(store, &shop, &ShardCache::default())
            .await
            .unwrap()
    );
    assert_eq!(spend.spend.samples.len() + 1, spend_before.spend.samples.len());
    assert!(!spend.spend.samples.values().any(|s| s.customer.as_str() == "c-1"));
}

/// A shop redacted and then installed again writes its statistics anew, under the same keys:
/// a cache kept across the redaction (a long-running `serve`, a warm Lambda) reads the new
/// samples, never the erased shop's.
pub async fn a_cached_read_after_the_shop_is_redacted_is_of_the_new_samples(store: &dyn Store) {
    let shop = unique_shop("stats-reinstalled");
    let cache = ShardCache::default();
    for i in 0..2 {
        order_event(store, &shop, i).await.unwrap();
    }
    let before = lifecycle::order_gaps(store, &shop, &cache).await.unwrap();
    assert_eq!(before, [chrono::Duration::days(30)]);

    store.redact_shop(&shop).await.unwrap();
    assert_eq!(lifecycle::order_gaps(store, &shop, &cache).await.unwrap(), []);
    // The same customer and keys again, written as often, but ten days apart this time.
    let first = burst_order(0);
    let mut second = burst_order(1);
    let placed = second
        .snapshot
        .as_mut()
        .expect("the burst order has its snapshot");
    placed.created_at = first.snapshot.as_ref().unwrap().created_at + chrono::Duration::days(10);
    placed.updated_at = placed.created_at;
    for record in [first, second] {
        store.save_order(&shop, &record, 0).await.unwrap();
        lifecycle::record_order(store, &shop, &record).await.unwrap();
        lifecycle::update_statistics(store, &shop, &record).await.unwrap();
    }
    assert_eq!(
        lifecycle::order_gaps(store, &shop, &cache).await.unwrap(),
        [chrono::Duration::days(10)],
        "the erased shop's 30-day gap is not read back"
    );
}

/// Polls every future on the current task until all are done: many store calls in flight at
/// once, as concurrent deliveries would have them, without requiring `'static` futures.
async fn all_at_once<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<Pin<Box<F>>>> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(future) = slot
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *out = Some(value);
                *slot = None;
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}
