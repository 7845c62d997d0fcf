//! The points ledger on every store: one document per customer under the customer's key,
//! appended with conditional writes (two racing appends both land, once each), its cached
//! balance equal to its entries after every write, and erased with the customer.

use crate::fixtures::*;
use aftersale_domain::points::{Balance, Bucket, Entry, EntryKind, Ledger, Source};
use aftersale_ports::documents::{self, keys};

fn entry(id: &str, kind: EntryKind, points: i64, bucket: Bucket) -> Entry {
    Entry {
        id: id.into(),
        kind,
        points,
        bucket,
        source: Source::Manual {
            by: "contract".into(),
            reason: id.into(),
        },
        at: Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap(),
    }
}

/// Appends `new` to the stored ledger unless an entry with its id is there.
async fn append(store: &dyn Store, shop: &ShopId, customer: &CustomerId, new: Entry) -> Ledger {
    documents::update::<Ledger, _, _>(store, shop, &keys::customer_points(customer), |current| {
        let mut ledger = current.cloned().unwrap_or_default();
        ledger.append(new.clone()).then_some(ledger)
    })
    .await
    .unwrap()
    .unwrap()
}

pub async fn the_points_ledger_appends_once_per_entry_and_its_cache_matches(store: &dyn Store) {
    let shop = unique_shop("points");
    let other = unique_shop("points-other");
    let ada = CustomerId::new("ada").unwrap();
    let key = keys::customer_points(&ada);
    assert!(
        key.starts_with(&keys::customer_prefix(&ada)),
        "the ledger is the customer's"
    );

    append(
        store,
        &shop,
        &ada,
        entry("earn#1", EntryKind::Earn, 40, Bucket::Pending),
    )
    .await;
    // Two writers that loaded the same version: the second's write is refused, and its
    // append lands on the retry, so neither entry is lost or doubled.
    let loaded = documents::load::<Ledger, _>(store, &shop, &key)
        .await
        .unwrap()
        .unwrap();
    let mut first = loaded.value.clone();
    first.append(entry("bonus#welcome", EntryKind::Bonus, 100, Bucket::Available));
    let mut second = loaded.value.clone();
    second.append(entry("available#1", EntryKind::Available, 40, Bucket::Available));
    let encode = |l: &Ledger| serde_json::to_value(l).unwrap();
    store
        .save_document(&shop, &key, &encode(&first), loaded.version)
        .await
        .unwrap();
    assert!(matches!(
        store
            .save_document(&shop, &key, &encode(&second), loaded.version)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    append(
        store,
        &shop,
        &ada,
        entry("available#1", EntryKind::Available, 40, Bucket::Available),
    )
    .await;
    append(
        store,
        &shop,
        &ada,
        entry("earn#1", EntryKind::Earn, 4000, Bucket::Pending),
    )
    .await;

    let stored = documents::load::<Ledger, _>(store, &shop, &key)
        .await
        .unwrap()
        .unwrap()
        .value;
    let mut ids: Vec<&str> = stored.entries().iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["available#1", "bonus#welcome", "earn#1"]);
    assert_eq!(stored.check(), Ok(()), "the cache equals the entries");
    assert_eq!(
        stored.balance(),
        Balance {
            available: 140,
            pending: 0,
            balance: 140
        }
    );
    assert_eq!(stored.balance(), Balance::of(stored.entries()));
    assert_eq!(
        documents::load::<Ledger, _>(store, &other, &key)
            .await
            .unwrap()
            .map(|v| v.value),
        None,
        "the same customer id in another shop has no ledger"
    );

    store.redact_customer(&shop, Some(&ada), &[]).await.unwrap();
    assert_eq!(
        documents::load::<Ledger, _>(store, &shop, &key)
            .await
            .unwrap()
            .map(|v| v.value),
        None,
        "customers/redact erases the ledger"
    );
}
