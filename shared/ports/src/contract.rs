//! The behaviour every [`Store`] must have, as a test suite any adapter runs against itself:
//! in-memory, SQLite and DynamoDB alike, so the embedded default and production agree.
//!
//! Each function sets up its own data under fresh, unique shop ids and panics on the first
//! broken promise, so the suite can run on a shared database next to other tests.
//! [`all`] runs every [`Store`] check and [`flows_all`] every [`FlowStore`] check (planned
//! messages and their due index, answers, suppressions, shop configs, and their redaction);
//! call them from an adapter's integration test:
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_keeps_the_contract() {
//!     let store = MyStore::new();
//!     aftersale_ports::contract::all(&store).await;
//!     aftersale_ports::contract::flows_all(&store).await;
//! }
//! ```
//!
//! `due_messages` answers for every shop at once, so its checks use instants of their own, each
//! call further in the past than the one before (see `fresh_epoch`): nothing another check
//! left planned is ever older than what a due check expects to see first.

use crate::{
    DeadLetter, DeadLetterStatus, FlowStore, Recorded, ShopState, Store, StoreError, StoredEvent, Versioned,
    attention_at,
};
use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{
    Answer, AnswerKind, Channel, Currency, Customer, CustomerId, DueBasis, EventId, EventKind, Flow,
    FulfillmentStatus, Message, MessageClass, MessageId, MessageStatus, Money, Order, OrderId, OrderRecord,
    OrderStatus, Platform, Refund, RefundEvent, ShopConfig, ShopId, StoreEvent,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

mod install;

/// Runs every check in this module.
pub async fn all(store: &dyn Store) {
    event_dedupe(store).await;
    events_are_listed_per_shop_oldest_first(store).await;
    tenants_never_collide(store).await;
    order_versions(store).await;
    customer_upsert(store).await;
    dead_letters(store).await;
    shop_registry(store).await;
    redact_customer(store).await;
    redact_shop(store).await;
    redact_shop_removes_dead_letters(store).await;
    documents(store).await;
    documents_are_listed_by_prefix(store).await;
    documents_go_with_their_customer_and_shop(store).await;
    redaction_leaves_no_trace_of_the_customer(store).await;
    install::all(store).await;
}

/// `record_event` answers New once, then Duplicate with the applied flag `mark_applied` set;
/// marking an unknown event stores nothing.
pub async fn event_dedupe(store: &dyn Store) {
    let shop = unique_shop("dedupe");
    let event = order_placed(&shop, "e1", "o1", "c1");

    assert_eq!(store.record_event(&event, at(0)).await.unwrap(), Recorded::New);
    assert_eq!(
        store.record_event(&event, at(1)).await.unwrap(),
        Recorded::Duplicate { applied: false },
        "a redelivery before the work finished must be redone"
    );
    store.mark_applied(&event).await.unwrap();
    assert_eq!(
        store.record_event(&event, at(2)).await.unwrap(),
        Recorded::Duplicate { applied: true }
    );

    let listed = store.list_events(Some(&shop)).await.unwrap();
    assert_eq!(
        listed,
        vec![StoredEvent {
            event: event.clone(),
            received_at: at(0),
            applied: true,
        }],
        "the first delivery is kept, with its receive time"
    );

    let unknown = order_placed(&shop, "never-recorded", "o1", "c1");
    store.mark_applied(&unknown).await.unwrap();
    assert_eq!(store.list_events(Some(&shop)).await.unwrap().len(), 1);
}

/// `list_events(Some(shop))` sees that shop only, sorted by receive time;
/// `list_events(None)` sees every shop.
pub async fn events_are_listed_per_shop_oldest_first(store: &dyn Store) {
    let a = unique_shop("list-a");
    let b = unique_shop("list-b");
    for (id, minute) in [("late", 30), ("early", 10), ("middle", 20)] {
        let event = order_placed(&a, id, "o1", "c1");
        assert_eq!(
            store.record_event(&event, at(minute)).await.unwrap(),
            Recorded::New
        );
    }
    store
        .record_event(&order_placed(&b, "other", "o1", "c1"), at(0))
        .await
        .unwrap();

    let ids = |events: &[StoredEvent]| -> Vec<String> {
        events.iter().map(|e| e.event.event_id.to_string()).collect()
    };
    let listed = store.list_events(Some(&a)).await.unwrap();
    assert_eq!(ids(&listed), ["early", "middle", "late"]);
    assert!(listed.iter().all(|e| e.event.shop == a));

    let everything = store.list_events(None).await.unwrap();
    let ours: Vec<&StoredEvent> = everything
        .iter()
        .filter(|e| e.event.shop == a || e.event.shop == b)
        .collect();
    assert_eq!(ours.len(), 4, "listing all shops includes both");
    assert!(
        everything
            .windows(2)
            .all(|w| w[0].received_at <= w[1].received_at),
        "all events are oldest first too"
    );
}

/// The same event, order and customer ids in two shops are different records.
pub async fn tenants_never_collide(store: &dyn Store) {
    let a = unique_shop("tenant-a");
    let b = unique_shop("tenant-b");
    let cid = customer_id("c1");
    let oid = order_id("o1");

    for shop in [&a, &b] {
        let event = order_placed(shop, "same-id", "o1", "c1");
        assert_eq!(store.record_event(&event, at(0)).await.unwrap(), Recorded::New);
    }
    store
        .mark_applied(&order_placed(&a, "same-id", "o1", "c1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .record_event(&order_placed(&b, "same-id", "o1", "c1"), at(1))
            .await
            .unwrap(),
        Recorded::Duplicate { applied: false },
        "marking shop A's event applied must not touch shop B's"
    );

    let mut in_a = Customer::bare(cid.clone());
    in_a.first_name = Some("Anna".into());
    let mut in_b = Customer::bare(cid.clone());
    in_b.first_name = Some("Bruno".into());
    store.save_customer(&a, &in_a).await.unwrap();
    store.save_customer(&b, &in_b).await.unwrap();
    assert_eq!(store.load_customer(&a, &cid).await.unwrap(), Some(in_a));
    assert_eq!(store.load_customer(&b, &cid).await.unwrap(), Some(in_b));

    let record_a = order_record(&placed_order("o1", "c1"));
    store.save_order(&a, &record_a, 0).await.unwrap();
    assert_eq!(store.load_order(&b, &oid).await.unwrap(), None);
    store
        .save_order(&b, &OrderRecord::new(oid.clone()), 0)
        .await
        .expect("the same order id in another shop is a new order");
    assert_eq!(store.load_order(&a, &oid).await.unwrap().unwrap().value, record_a);
}

/// Optimistic concurrency: version 0 creates, a stale version is a Conflict, the current one
/// saves and bumps the version by one.
pub async fn order_versions(store: &dyn Store) {
    let shop = unique_shop("versions");
    let oid = order_id("o1");
    assert_eq!(store.load_order(&shop, &oid).await.unwrap(), None);

    // A refund can arrive before its order: the record exists with no snapshot.
    let mut record = OrderRecord::new(oid.clone());
    record.apply(&refund(&shop, "r1", "o1"));
    store.save_order(&shop, &record, 0).await.unwrap();
    let loaded = store.load_order(&shop, &oid).await.unwrap().unwrap();
    assert_eq!((loaded.value.clone(), loaded.version), (record.clone(), 1));

    assert_conflict(
        store.save_order(&shop, &record, 0).await,
        "creating an existing order",
    );
    assert_conflict(
        store.save_order(&shop, &record, 7).await,
        "a version from the future",
    );

    record.apply(&order_placed(&shop, "e1", "o1", "c1"));
    store.save_order(&shop, &record, 1).await.unwrap();
    let loaded = store.load_order(&shop, &oid).await.unwrap().unwrap();
    assert_eq!((loaded.value, loaded.version), (record.clone(), 2));
    assert_conflict(store.save_order(&shop, &record, 1).await, "a stale version");

    assert_conflict(
        store
            .save_order(&shop, &OrderRecord::new(order_id("missing")), 3)
            .await,
        "updating an order that does not exist",
    );
}

/// Customers are upserted whole and read back unchanged.
pub async fn customer_upsert(store: &dyn Store) {
    let shop = unique_shop("customers");
    let cid = customer_id("c1");
    assert_eq!(store.load_customer(&shop, &cid).await.unwrap(), None);

    let mut customer = Customer::bare(cid.clone());
    customer.email = Some("laura@example.com".into());
    customer.time_zone = Some(chrono_tz::Europe::Rome);
    store.save_customer(&shop, &customer).await.unwrap();
    assert_eq!(
        store.load_customer(&shop, &cid).await.unwrap(),
        Some(customer.clone())
    );

    customer.email = None;
    customer.phone = Some("+393331234567".into());
    customer.updated_at = Some(at(5));
    store.save_customer(&shop, &customer).await.unwrap();
    assert_eq!(store.load_customer(&shop, &cid).await.unwrap(), Some(customer));
}

/// Dead letters: a retried put keeps the first copy, updates replace, the list is oldest first.
/// The shop is kept raw, even when it is not a valid shop id.
pub async fn dead_letters(store: &dyn Store) {
    let raw_shop = format!("{} #Not A Shop%", unique_shop("dl"));
    let first = dead_letter(&raw_shop, "dl-b", at(20));
    store.put_dead_letter(&first).await.unwrap();

    let mut retried = first.clone();
    retried.reason = "a later attempt".into();
    store.put_dead_letter(&retried).await.unwrap();
    let older = dead_letter(&raw_shop, "dl-a", at(10));
    store.put_dead_letter(&older).await.unwrap();

    let ours = |letters: Vec<DeadLetter>| -> Vec<DeadLetter> {
        letters.into_iter().filter(|l| l.shop == raw_shop).collect()
    };
    assert_eq!(
        ours(store.list_dead_letters().await.unwrap()),
        vec![older.clone(), first.clone()],
        "idempotent on id, oldest first"
    );

    let mut replayed = first.clone();
    replayed.status = DeadLetterStatus::Replayed;
    replayed.attempts = 2;
    store.update_dead_letter(&replayed).await.unwrap();
    assert_eq!(
        ours(store.list_dead_letters().await.unwrap()),
        vec![older, replayed]
    );
}

/// Install state round-trips and is replaced on save.
pub async fn shop_registry(store: &dyn Store) {
    let shop = unique_shop("registry");
    assert_eq!(store.load_shop(&shop).await.unwrap(), None);
    let mut state = ShopState::installed(Platform::Shopify, at(0));
    store.save_shop(&shop, &state).await.unwrap();
    assert_eq!(store.load_shop(&shop).await.unwrap(), Some(state.clone()));
    state.set_status(crate::ShopStatus::Uninstalled, at(9));
    store.save_shop(&shop, &state).await.unwrap();
    assert_eq!(store.load_shop(&shop).await.unwrap(), Some(state));
}

/// `redact_customer` deletes the profile, the customer's orders and the listed ones, and every
/// event naming the customer or one of those orders, and nothing else: not another
/// customer's data, not the same ids in another shop.
pub async fn redact_customer(store: &dyn Store) {
    let shop = unique_shop("redact-c");
    let other_shop = unique_shop("redact-c-other");
    for s in [&shop, &other_shop] {
        seed_customer(store, s, "c1", "o1", "e1").await;
        seed_customer(store, s, "c2", "o2", "e2").await;
        // A refund for an order we never saw: no customer known, only listed in the request.
        let early = refund(s, "r3", "o3");
        store.record_event(&early, at(3)).await.unwrap();
        let mut record = OrderRecord::new(order_id("o3"));
        record.apply(&early);
        store.save_order(s, &record, 0).await.unwrap();
        // A refund of c1's order: names no customer, found through the order.
        store.record_event(&refund(s, "r1", "o1"), at(4)).await.unwrap();
        store
            .record_event(&customer_updated(s, "cu1", "c1"), at(5))
            .await
            .unwrap();
    }
    let before_other = snapshot(store, &other_shop, &["c1", "c2"], &["o1", "o2", "o3"]).await;

    let removed = store
        .redact_customer(&shop, Some(&customer_id("c1")), &[order_id("o3")])
        .await
        .unwrap();
    // profile c1, orders o1 and o3, events e1, r1, r3 and cu1.
    assert_eq!(removed, 7, "items removed");

    assert_eq!(
        store.load_customer(&shop, &customer_id("c1")).await.unwrap(),
        None
    );
    assert_eq!(store.load_order(&shop, &order_id("o1")).await.unwrap(), None);
    assert_eq!(store.load_order(&shop, &order_id("o3")).await.unwrap(), None);
    assert!(
        store
            .load_customer(&shop, &customer_id("c2"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.load_order(&shop, &order_id("o2")).await.unwrap().is_some());
    let left: Vec<String> = store
        .list_events(Some(&shop))
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.event_id.to_string())
        .collect();
    assert_eq!(left, ["e2"], "only the other customer's events are left");

    assert_eq!(
        snapshot(store, &other_shop, &["c1", "c2"], &["o1", "o2", "o3"]).await,
        before_other,
        "another shop's same ids are untouched"
    );

    // Without a customer id (a guest), only the listed orders and their events go.
    let removed = store
        .redact_customer(&shop, None, &[order_id("o2")])
        .await
        .unwrap();
    assert_eq!(removed, 2, "order o2 and event e2");
    assert!(
        store
            .load_customer(&shop, &customer_id("c2"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.list_events(Some(&shop)).await.unwrap().is_empty());
}

/// `redact_shop` deletes everything the shop owns and nothing another shop owns.
pub async fn redact_shop(store: &dyn Store) {
    let shop = unique_shop("redact-s");
    let other_shop = unique_shop("redact-s-other");
    for s in [&shop, &other_shop] {
        seed_customer(store, s, "c1", "o1", "e1").await;
        store.record_event(&refund(s, "r1", "o1"), at(4)).await.unwrap();
        let mut state = ShopState::installed(Platform::Shopify, at(0));
        state.set_status(crate::ShopStatus::Uninstalled, at(6));
        store.save_shop(s, &state).await.unwrap();
    }
    let before_other = snapshot(store, &other_shop, &["c1"], &["o1"]).await;
    let other_state = store.load_shop(&other_shop).await.unwrap();

    let removed = store.redact_shop(&shop).await.unwrap();
    assert_eq!(removed, 5, "shop, customer, order and two events");
    assert_eq!(
        snapshot(store, &shop, &["c1"], &["o1"]).await,
        Snapshot::default()
    );
    assert_eq!(store.load_shop(&shop).await.unwrap(), None);
    assert_eq!(
        store.redact_shop(&shop).await.unwrap(),
        0,
        "a second redact finds nothing"
    );

    assert_eq!(snapshot(store, &other_shop, &["c1"], &["o1"]).await, before_other);
    assert_eq!(store.load_shop(&other_shop).await.unwrap(), other_state);
}

/// `redact_shop` also deletes the dead letters a delivery for the shop left: they hold raw
/// payloads with customer data. (Dead letters of an unparseable shop name cannot be found by
/// any shop; they stay until an operator deletes them.)
pub async fn redact_shop_removes_dead_letters(store: &dyn Store) {
    let shop = unique_shop("redact-dl");
    let other_shop = unique_shop("redact-dl-other");
    store
        .put_dead_letter(&dead_letter(shop.as_str(), &format!("{shop}-1"), at(1)))
        .await
        .unwrap();
    let kept = dead_letter(other_shop.as_str(), &format!("{other_shop}-1"), at(2));
    store.put_dead_letter(&kept).await.unwrap();

    assert_eq!(store.redact_shop(&shop).await.unwrap(), 1, "the dead letter");
    let letters = store.list_dead_letters().await.unwrap();
    assert!(
        letters.iter().all(|l| l.shop != shop.as_str()),
        "the shop's dead letters are gone"
    );
    assert!(letters.contains(&kept), "another shop's dead letters stay");
}

/// Documents: version 0 creates once, a save lands only over the version it names and bumps it
/// by one, and the same key in another shop is another document.
pub async fn documents(store: &dyn Store) {
    let shop = unique_shop("docs");
    let other_shop = unique_shop("docs-other");
    let key = "campaign#spring";
    assert_eq!(store.load_document(&shop, key).await.unwrap(), None);

    let first = json!({"slug": "spring", "sent": 0});
    store.save_document(&shop, key, &first, 0).await.unwrap();
    assert_eq!(
        store.load_document(&shop, key).await.unwrap(),
        Some(Versioned {
            value: first.clone(),
            version: 1
        })
    );
    assert_conflict(
        store
            .save_document(&shop, key, &json!({"slug": "other"}), 0)
            .await,
        "creating an existing document",
    );
    assert_conflict(
        store
            .save_document(&shop, key, &json!({"slug": "other"}), 2)
            .await,
        "a version from the future",
    );
    assert_eq!(
        store.load_document(&shop, key).await.unwrap().map(|d| d.value),
        Some(first),
        "a failed save changes nothing"
    );

    let second = json!({"slug": "spring", "sent": 12, "codes": ["A", "B"]});
    store.save_document(&shop, key, &second, 1).await.unwrap();
    assert_eq!(
        store.load_document(&shop, key).await.unwrap(),
        Some(Versioned {
            value: second.clone(),
            version: 2
        })
    );
    assert_conflict(
        store.save_document(&shop, key, &json!({}), 1).await,
        "a stale version",
    );
    assert_conflict(
        store
            .save_document(&shop, "campaign#missing", &json!({}), 3)
            .await,
        "updating a document that does not exist",
    );
    assert_eq!(
        store.load_document(&shop, "campaign#missing").await.unwrap(),
        None
    );

    assert_eq!(store.load_document(&other_shop, key).await.unwrap(), None);
    store
        .save_document(&other_shop, key, &json!({"slug": "theirs"}), 0)
        .await
        .expect("the same key in another shop is a new document");
    assert_eq!(
        store.load_document(&shop, key).await.unwrap().map(|d| d.value),
        Some(second)
    );
}

/// `list_documents` returns the shop's documents whose key starts with the prefix, sorted by
/// key, and nothing of another shop. The prefix is literal: `%` and `_` match only themselves.
pub async fn documents_are_listed_by_prefix(store: &dyn Store) {
    let shop = unique_shop("docs-list");
    let other_shop = unique_shop("docs-list-other");
    let keys = [
        "campaignz",
        "campaign#b",
        "campaign#ab",
        "campaign#a%_x",
        "campaign#a",
        "campaign",
        "code#ABC",
        "campaign#aXYx",
    ];
    for key in keys {
        store
            .save_document(&shop, key, &json!({ "key": key }), 0)
            .await
            .unwrap();
    }
    store
        .save_document(&shop, "campaign#a", &json!({"key": "campaign#a", "v": 2}), 1)
        .await
        .unwrap();
    for key in ["campaign#a", "campaign#other"] {
        store
            .save_document(&other_shop, key, &json!({"theirs": true}), 0)
            .await
            .unwrap();
    }

    let listed = |prefix: &'static str| document_keys(store, &shop, prefix);
    assert_eq!(
        listed("campaign#").await,
        [
            "campaign#a",
            "campaign#a%_x",
            "campaign#aXYx",
            "campaign#ab",
            "campaign#b"
        ],
        "by key, without `campaign`, `campaignz` or another shop's"
    );
    assert_eq!(
        listed("campaign#a").await,
        ["campaign#a", "campaign#a%_x", "campaign#aXYx", "campaign#ab"]
    );
    assert_eq!(
        listed("campaign#a%_").await,
        ["campaign#a%_x"],
        "`%` and `_` are literal"
    );
    assert_eq!(listed("campaign#ab").await, ["campaign#ab"]);
    assert_eq!(listed("campaign").await.len(), 7);
    assert!(listed("campaign#c").await.is_empty());
    assert!(listed("nothing#").await.is_empty());
    let mut everything: Vec<&str> = keys.to_vec();
    everything.sort_unstable();
    assert_eq!(
        listed("").await,
        everything,
        "an empty prefix lists the whole shop"
    );

    let versions: Vec<(String, u64)> = store
        .list_documents(&shop, "campaign#a")
        .await
        .unwrap()
        .into_iter()
        .map(|(key, doc)| (key, doc.version))
        .collect();
    assert_eq!(
        versions[0],
        ("campaign#a".to_string(), 2),
        "listed with its version"
    );
    assert_eq!(
        store.list_documents(&other_shop, "campaign#").await.unwrap(),
        vec![
            (
                "campaign#a".to_string(),
                Versioned {
                    value: json!({"theirs": true}),
                    version: 1
                }
            ),
            (
                "campaign#other".to_string(),
                Versioned {
                    value: json!({"theirs": true}),
                    version: 1
                }
            ),
        ]
    );
}

/// `redact_customer` deletes the documents under `customer#{id}#` and the referral records of
/// the orders it deletes, and counts them; it keeps
/// another customer's (`c10` is not `c1`), the shop's own and another shop's. `redact_shop`
/// deletes every document of the shop.
pub async fn documents_go_with_their_customer_and_shop(store: &dyn Store) {
    let shop = unique_shop("docs-redact");
    let other_shop = unique_shop("docs-redact-other");
    let c1 = customer_id("c1");
    let seeded = [
        "customer#c1#orders",
        "customer#c1#tier",
        "customer#c10#orders",
        "customer#c2#tier",
        "code#C1REF",
        "stats#spend",
        "referral#o9",
        "referral#o10",
    ];
    for s in [&shop, &other_shop] {
        for key in seeded {
            store
                .save_document(s, key, &json!({ "key": key }), 0)
                .await
                .unwrap();
        }
    }
    let before_other = store.list_documents(&other_shop, "").await.unwrap();

    let o9 = order_id("o9");
    let removed = store.redact_customer(&shop, Some(&c1), &[o9]).await.unwrap();
    assert_eq!(
        removed, 3,
        "c1's two documents and the referral record of their order o9"
    );
    assert_eq!(
        store.load_document(&shop, "customer#c1#orders").await.unwrap(),
        None
    );
    assert!(
        store
            .list_documents(&shop, &crate::documents::keys::customer_prefix(&c1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        document_keys(store, &shop, "").await,
        [
            "code#C1REF",
            "customer#c10#orders",
            "customer#c2#tier",
            "referral#o10",
            "stats#spend"
        ],
        "another customer's and the shop's documents stay"
    );
    assert_eq!(
        store.list_documents(&other_shop, "").await.unwrap(),
        before_other,
        "another shop's customer c1 is another customer"
    );

    let removed = store.redact_shop(&shop).await.unwrap();
    assert_eq!(removed, 5, "every document left in the shop");
    assert!(document_keys(store, &shop, "").await.is_empty());
    assert_eq!(store.load_document(&shop, "stats#spend").await.unwrap(), None);
    assert_eq!(
        store.redact_shop(&shop).await.unwrap(),
        0,
        "a second redact finds nothing"
    );
    assert_eq!(store.list_documents(&other_shop, "").await.unwrap(), before_other);
}

// ---- the flows' store ----

/// Runs every [`FlowStore`] check in this module.
pub async fn flows_all(store: &dyn FlowStore) {
    plan_twice_stores_once(store).await;
    message_versions(store).await;
    due_messages_by_flow_and_attention(store).await;
    deferred_and_leased_messages_leave_due_until_then(store).await;
    messages_per_customer_and_shop(store).await;
    answers_replace_per_question(store).await;
    suppressions_by_address(store).await;
    shop_configs_round_trip(store).await;
    flow_tenants_never_collide(store).await;
    redact_customer_removes_messages_and_answers(store).await;
    redact_shop_removes_flow_data(store).await;
    erasure_leaves_no_trace_of_the_customer(store).await;
    documents_can_be_deleted(store).await;
}

/// Planning is keyed by (shop, customer, flow, subject, step): the first plan is stored with
/// version 1, a second plan of the same id (even with other details) stores nothing.
pub async fn plan_twice_stores_once(store: &dyn FlowStore) {
    let shop = unique_shop("plan");
    let first = message(&shop, "c1", Flow::ThankYou, "o1", "note", at(10));
    assert!(store.plan_message(&first).await.unwrap(), "first plan stores");
    let mut again = first.clone();
    again.due_at = at(99);
    again.reason = "planned again".into();
    assert!(
        !store.plan_message(&again).await.unwrap(),
        "second plan stores nothing"
    );

    let stored = Message {
        version: 1,
        ..first.clone()
    };
    assert_eq!(
        store
            .load_message(&shop, &customer_id("c1"), &first.id())
            .await
            .unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        store.customer_messages(&shop, &customer_id("c1")).await.unwrap(),
        vec![stored]
    );

    let next_step = message(&shop, "c1", Flow::ThankYou, "o1", "survey", at(20));
    assert!(
        store.plan_message(&next_step).await.unwrap(),
        "another step is another message"
    );
    assert_eq!(
        store
            .load_message(&shop, &customer_id("c1"), &message_id("thank-you#o1#missing"))
            .await
            .unwrap(),
        None
    );
}

/// `update_message` saves only over the version it was read at and returns the message as
/// stored, version bumped; a stale, future or unknown version is a Conflict and changes nothing.
pub async fn message_versions(store: &dyn FlowStore) {
    let shop = unique_shop("msg-versions");
    let cid = customer_id("c1");
    let planned = message(&shop, "c1", Flow::ReviewRequest, "o1", "review", at(10));
    store.plan_message(&planned).await.unwrap();
    let loaded = store
        .load_message(&shop, &cid, &planned.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.version, 1);

    let mut claimed = loaded.clone();
    claimed.status = MessageStatus::Claimed;
    claimed.lease_until = Some(at(15));
    claimed.attempts = 1;
    let saved = store.update_message(&claimed).await.unwrap();
    assert_eq!(
        saved,
        Message {
            version: 2,
            ..claimed.clone()
        }
    );
    assert_eq!(
        store.load_message(&shop, &cid, &planned.id()).await.unwrap(),
        Some(saved.clone())
    );

    let mut stale = loaded.clone();
    stale.reason = "a second sender".into();
    assert_message_conflict(store.update_message(&stale).await, "a stale version");
    let mut future = saved.clone();
    future.version = 7;
    assert_message_conflict(store.update_message(&future).await, "a version from the future");
    let never_planned = message(&shop, "c1", Flow::ReviewRequest, "o2", "review", at(10));
    assert_message_conflict(store.update_message(&never_planned).await, "an unplanned message");
    let never_planned = Message {
        version: 1,
        ..never_planned
    };
    assert_message_conflict(store.update_message(&never_planned).await, "an unplanned message");
    assert_eq!(
        store.load_message(&shop, &cid, &planned.id()).await.unwrap(),
        Some(saved),
        "failed updates change nothing"
    );
    assert_eq!(store.customer_messages(&shop, &cid).await.unwrap().len(), 1);
}

/// One unreadable message (a poison pill: written by a newer version, or damaged) never
/// blocks its flow's queue: `due_entries` names it beside the readable ones, and once
/// quarantined it leaves the due index for good while the others stay. `corrupt` damages the
/// stored bytes of the message it is given, the way only the adapter itself can.
pub async fn unreadable_messages_are_named_and_quarantined<F, Fut>(store: &dyn FlowStore, corrupt: F)
where
    F: FnOnce(Message) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use crate::DueEntry;
    let shop = unique_shop("poison");
    let t = fresh_epoch();
    let flow = Flow::DeliveryCheckIn;
    let poison = message(&shop, "poison", flow, "o-poison", "note", t(1));
    let healthy = message(&shop, "healthy", flow, "o-healthy", "note", t(2));
    for m in [&poison, &healthy] {
        assert!(store.plan_message(m).await.unwrap());
    }
    corrupt(poison.clone()).await;
    let ours = |entries: Vec<DueEntry>| -> Vec<DueEntry> {
        entries
            .into_iter()
            .filter(|e| match e {
                DueEntry::Message(m) => m.shop == shop,
                DueEntry::Undecodable(u) => u.shop == shop.as_str(),
            })
            .collect()
    };
    let due = ours(store.due_entries(flow, t(10), 100).await.unwrap());
    assert_eq!(due.len(), 2, "{due:?}");
    let unreadable = due
        .iter()
        .find_map(|e| match e {
            DueEntry::Undecodable(u) => Some(u.clone()),
            DueEntry::Message(_) => None,
        })
        .expect("the damaged message is named, not fatal");
    assert_eq!(
        (unreadable.customer.as_str(), unreadable.id.as_str()),
        ("poison", poison.id().as_str())
    );
    assert!(!unreadable.problem.is_empty());
    assert!(
        due.iter()
            .any(|e| matches!(e, DueEntry::Message(m) if m.customer_id.as_str() == "healthy"))
    );
    let readable: Vec<Message> = store
        .due_messages(flow, t(10), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.shop == shop)
        .collect();
    assert_eq!(readable.len(), 1, "due_messages gives the readable ones");

    store.quarantine_message(&unreadable).await.unwrap();
    let due = ours(store.due_entries(flow, t(10), 100).await.unwrap());
    assert!(
        matches!(due.as_slice(), [DueEntry::Message(m)] if m.customer_id.as_str() == "healthy"),
        "only the healthy message is left due: {due:?}"
    );
    store.quarantine_message(&unreadable).await.unwrap();
}

/// `due_messages(flow, now, limit)`: that flow's messages needing attention at `now` (planned
/// and due, or claimed/sending with `lease_until <= now`), by attention time, at most `limit`;
/// never final ones, unexpired leases, messages due later or other flows' messages.
pub async fn due_messages_by_flow_and_attention(store: &dyn FlowStore) {
    let shop = unique_shop("due");
    let t = fresh_epoch();
    let flow = Flow::ThankYou;
    let plan = |customer: &str, flow: Flow, due: DateTime<Utc>| {
        message(&shop, customer, flow, &format!("o-{customer}"), "note", due)
    };
    let mut changes = Vec::new();
    for (customer, due, status, lease) in [
        ("late", t(20), MessageStatus::Planned, None),
        ("early", t(5), MessageStatus::Planned, None),
        ("future", t(100), MessageStatus::Planned, None),
        ("sent", t(0), MessageStatus::Sent, None),
        ("skipped", t(1), MessageStatus::Skipped, None),
        ("failed", t(2), MessageStatus::Failed, None),
        ("lease-gone", t(3), MessageStatus::Claimed, Some(t(8))),
        ("sending-gone", t(4), MessageStatus::Sending, Some(t(9))),
        ("lease-live", t(2), MessageStatus::Claimed, Some(t(60))),
        ("sending-live", t(2), MessageStatus::Sending, Some(t(31))),
    ] {
        let planned = plan(customer, flow, due);
        assert!(store.plan_message(&planned).await.unwrap());
        if status != MessageStatus::Planned {
            let stored = store
                .load_message(&shop, &planned.customer_id, &planned.id())
                .await
                .unwrap()
                .unwrap();
            changes.push(Message {
                status,
                lease_until: lease,
                ..stored
            });
        }
    }
    for change in &changes {
        store.update_message(change).await.unwrap();
    }
    assert!(
        store
            .plan_message(&plan("other-flow", Flow::ReviewRequest, t(1)))
            .await
            .unwrap()
    );

    let customers =
        |due: &[Message]| -> Vec<String> { due.iter().map(|m| m.customer_id.to_string()).collect() };
    let due = store.due_messages(flow, t(30), 100).await.unwrap();
    assert_eq!(
        customers(&due),
        ["early", "lease-gone", "sending-gone", "late"],
        "due, expired leases, in attention order; not final, leased, later or other flows"
    );
    assert!(due.windows(2).all(|w| attention_at(&w[0]) <= attention_at(&w[1])));
    for found in &due {
        assert_eq!(
            Some(found),
            store
                .load_message(&shop, &found.customer_id, &found.id())
                .await
                .unwrap()
                .as_ref(),
            "due messages are returned as stored"
        );
    }
    assert_eq!(
        customers(&store.due_messages(flow, t(30), 2).await.unwrap()),
        ["early", "lease-gone"],
        "the limit keeps the oldest"
    );
    assert_eq!(
        customers(&store.due_messages(flow, t(30), 0).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        customers(&store.due_messages(flow, t(5), 100).await.unwrap()),
        ["early"],
        "due exactly at its due time"
    );
    assert!(store.due_messages(flow, t(4), 100).await.unwrap().is_empty());
    assert_eq!(
        customers(&store.due_messages(flow, t(60), 100).await.unwrap()),
        [
            "early",
            "lease-gone",
            "sending-gone",
            "late",
            "sending-live",
            "lease-live"
        ],
        "a lease ending exactly now has ended"
    );
    assert_eq!(
        customers(&store.due_messages(Flow::ReviewRequest, t(30), 100).await.unwrap()),
        ["other-flow"]
    );
    assert!(
        store
            .due_messages(Flow::DeliveryCheckIn, t(30), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A deferred message (due moved later) and a claimed one (lease running) leave the due list
/// until their new time; a finished one leaves it for good.
pub async fn deferred_and_leased_messages_leave_due_until_then(store: &dyn FlowStore) {
    let shop = unique_shop("defer");
    let t = fresh_epoch();
    let flow = Flow::DeliveryCheckIn;
    let planned = message(&shop, "c1", flow, "o1", "check-in", t(10));
    store.plan_message(&planned).await.unwrap();
    let ours = |due: Vec<Message>| -> Vec<Message> { due.into_iter().filter(|m| m.shop == shop).collect() };

    let stored = store
        .load_message(&shop, &planned.customer_id, &planned.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ours(store.due_messages(flow, t(10), 100).await.unwrap()),
        vec![stored.clone()]
    );

    let deferred = Message {
        due_at: t(70),
        reason: "deferred: quiet hours".into(),
        ..stored
    };
    let deferred = store.update_message(&deferred).await.unwrap();
    assert!(
        ours(store.due_messages(flow, t(30), 100).await.unwrap()).is_empty(),
        "deferred"
    );
    assert!(ours(store.due_messages(flow, t(69), 100).await.unwrap()).is_empty());
    assert_eq!(
        ours(store.due_messages(flow, t(70), 100).await.unwrap()),
        vec![deferred.clone()]
    );

    let claimed = Message {
        status: MessageStatus::Claimed,
        lease_until: Some(t(75)),
        attempts: 1,
        ..deferred
    };
    let claimed = store.update_message(&claimed).await.unwrap();
    assert!(
        ours(store.due_messages(flow, t(74), 100).await.unwrap()).is_empty(),
        "leased"
    );
    assert_eq!(
        ours(store.due_messages(flow, t(75), 100).await.unwrap()),
        vec![claimed.clone()],
        "an expired lease needs attention again"
    );

    let sent = Message {
        status: MessageStatus::Sent,
        reason: "sent".into(),
        lease_until: None,
        sent_at: Some(t(74)),
        to: Some("c1@example.com".into()),
        provider_id: Some("provider-1".into()),
        ..claimed
    };
    let sent = store.update_message(&sent).await.unwrap();
    assert!(
        ours(store.due_messages(flow, t(100_000), 100).await.unwrap()).is_empty(),
        "final"
    );
    assert_eq!(
        store
            .load_message(&shop, &planned.customer_id, &planned.id())
            .await
            .unwrap(),
        Some(sent)
    );
}

/// `customer_messages` is one customer of one shop; `list_messages(Some(shop))` every customer
/// of that shop, final messages included; `list_messages(None)` every shop. All by due time.
pub async fn messages_per_customer_and_shop(store: &dyn FlowStore) {
    let a = unique_shop("list-msg-a");
    let b = unique_shop("list-msg-b");
    let a_late = message(&a, "c1", Flow::ThankYou, "o1", "survey", at(30));
    let a_early = message(&a, "c1", Flow::ThankYou, "o1", "note", at(10));
    let a_other = message(&a, "c2", Flow::ReviewRequest, "o2", "review", at(20));
    let b_same = message(&b, "c1", Flow::ThankYou, "o1", "note", at(5));
    for m in [&a_late, &a_early, &a_other, &b_same] {
        assert!(store.plan_message(m).await.unwrap());
    }
    let a_early = store
        .load_message(&a, &customer_id("c1"), &a_early.id())
        .await
        .unwrap()
        .unwrap();
    let a_early = store
        .update_message(&Message {
            status: MessageStatus::Sent,
            reason: "sent".into(),
            ..a_early
        })
        .await
        .unwrap();
    let v1 = |m: &Message| Message {
        version: 1,
        ..m.clone()
    };

    assert_eq!(
        store.customer_messages(&a, &customer_id("c1")).await.unwrap(),
        vec![a_early.clone(), v1(&a_late)]
    );
    assert_eq!(
        store.customer_messages(&b, &customer_id("c1")).await.unwrap(),
        vec![v1(&b_same)]
    );
    assert!(
        store
            .customer_messages(&a, &customer_id("c3"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.list_messages(Some(&a)).await.unwrap(),
        vec![a_early.clone(), v1(&a_other), v1(&a_late)]
    );

    let everything = store.list_messages(None).await.unwrap();
    let ours: Vec<Message> = everything
        .iter()
        .filter(|m| m.shop == a || m.shop == b)
        .cloned()
        .collect();
    assert_eq!(ours, vec![v1(&b_same), a_early, v1(&a_other), v1(&a_late)]);
    assert!(
        everything.windows(2).all(|w| w[0].due_at <= w[1].due_at),
        "by due time"
    );
}

/// A later answer to the same question of the same message replaces the earlier one; other
/// questions, messages, customers and shops are separate. Listed oldest first.
pub async fn answers_replace_per_question(store: &dyn FlowStore) {
    let shop = unique_shop("answers");
    let other_shop = unique_shop("answers-other");
    let answer = |shop: &ShopId, customer: &str, message_id: &str, kind: AnswerKind, minute: i64| Answer {
        shop: shop.clone(),
        customer_id: customer_id(customer),
        message_id: self::message_id(message_id),
        order_id: Some(order_id("o1")),
        answer: kind,
        answered_at: at(minute),
    };
    let survey = "thank-you#o1#survey";
    let review = "review-request#o1#review";
    let rating = |product: &str, stars: u8| AnswerKind::Rating {
        product_id: product.into(),
        stars,
    };
    let replaced = answer(&shop, "c1", survey, AnswerKind::Csat { score: 3 }, 1);
    let nps = answer(&shop, "c1", survey, AnswerKind::Nps { score: 9 }, 2);
    let csat = answer(&shop, "c1", survey, AnswerKind::Csat { score: 5 }, 3);
    let p1 = answer(&shop, "c1", review, rating("p1", 4), 4);
    let p2 = answer(&shop, "c1", review, rating("p2", 5), 5);
    let p1_again = answer(&shop, "c1", review, rating("p1", 2), 6);
    let other_message = answer(
        &shop,
        "c1",
        "thank-you#o9#survey",
        AnswerKind::Csat { score: 2 },
        7,
    );
    let other_customer = answer(&shop, "c2", survey, AnswerKind::Csat { score: 1 }, 8);
    let other_tenant = answer(&other_shop, "c1", survey, AnswerKind::Csat { score: 4 }, 9);
    for a in [
        &replaced,
        &nps,
        &csat,
        &p1,
        &p2,
        &p1_again,
        &other_message,
        &other_customer,
        &other_tenant,
    ] {
        store.record_answer(a).await.unwrap();
    }
    assert_eq!(
        store.customer_answers(&shop, &customer_id("c1")).await.unwrap(),
        vec![nps, csat, p2, p1_again, other_message]
    );
    assert_eq!(
        store.customer_answers(&shop, &customer_id("c2")).await.unwrap(),
        vec![other_customer]
    );
    assert_eq!(
        store
            .customer_answers(&other_shop, &customer_id("c1"))
            .await
            .unwrap(),
        vec![other_tenant]
    );
    assert!(
        store
            .customer_answers(&shop, &customer_id("c3"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Suppression is per shop and per address, case- and surrounding-space-insensitive; the
/// latest reason wins.
pub async fn suppressions_by_address(store: &dyn FlowStore) {
    let shop = unique_shop("suppress");
    let other_shop = unique_shop("suppress-other");
    assert_eq!(store.suppression(&shop, "laura@example.com").await.unwrap(), None);
    store
        .suppress(&shop, "Laura@Example.com ", SuppressionReason::Bounce, at(0))
        .await
        .unwrap();
    for spelling in ["laura@example.com", "Laura@Example.com ", " LAURA@EXAMPLE.COM"] {
        assert_eq!(
            store.suppression(&shop, spelling).await.unwrap(),
            Some(SuppressionReason::Bounce),
            "{spelling:?}"
        );
    }
    assert_eq!(store.suppression(&shop, "laura@example.org").await.unwrap(), None);
    assert_eq!(
        store.suppression(&other_shop, "laura@example.com").await.unwrap(),
        None
    );

    store
        .suppress(&shop, "laura@example.com", SuppressionReason::Unsubscribed, at(1))
        .await
        .unwrap();
    assert_eq!(
        store.suppression(&shop, "LAURA@example.com").await.unwrap(),
        Some(SuppressionReason::Unsubscribed)
    );
    store
        .suppress(&shop, "+393331234567", SuppressionReason::Complaint, at(2))
        .await
        .unwrap();
    assert_eq!(
        store.suppression(&shop, "+393331234567").await.unwrap(),
        Some(SuppressionReason::Complaint)
    );
}

/// A shop's config round-trips whole and is replaced on save; other shops have none.
pub async fn shop_configs_round_trip(store: &dyn FlowStore) {
    let shop = unique_shop("config");
    let other_shop = unique_shop("config-other");
    assert_eq!(store.load_config(&shop).await.unwrap(), None);
    let mut config = ShopConfig {
        shop: Some(shop.clone()),
        shop_name: Some("Bottega Laura".into()),
        locale: "it".into(),
        time_zone: chrono_tz::Europe::Rome,
        ..ShopConfig::default()
    };
    store.save_config(&shop, &config).await.unwrap();
    assert_eq!(store.load_config(&shop).await.unwrap(), Some(config.clone()));
    config.locale = "en".into();
    config.sender = Some("Bottega <hello@bottega.example>".into());
    store.save_config(&shop, &config).await.unwrap();
    assert_eq!(store.load_config(&shop).await.unwrap(), Some(config));
    assert_eq!(store.load_config(&other_shop).await.unwrap(), None);
}

/// The same customer and message ids in two shops are different messages, answers,
/// suppressions and configs.
pub async fn flow_tenants_never_collide(store: &dyn FlowStore) {
    let a = unique_shop("flow-tenant-a");
    let b = unique_shop("flow-tenant-b");
    let cid = customer_id("c1");
    let in_a = message(&a, "c1", Flow::ThankYou, "o1", "note", at(10));
    let in_b = message(&b, "c1", Flow::ThankYou, "o1", "note", at(10));
    assert!(store.plan_message(&in_a).await.unwrap());
    assert!(
        store.plan_message(&in_b).await.unwrap(),
        "the same id in another shop is new"
    );

    let stored_a = store.load_message(&a, &cid, &in_a.id()).await.unwrap().unwrap();
    let claimed_a = store
        .update_message(&Message {
            status: MessageStatus::Claimed,
            lease_until: Some(at(11)),
            ..stored_a
        })
        .await
        .unwrap();
    assert_eq!(
        store.load_message(&b, &cid, &in_b.id()).await.unwrap(),
        Some(Message {
            version: 1,
            ..in_b.clone()
        }),
        "updating shop A's message leaves shop B's alone"
    );
    assert_eq!(store.customer_messages(&a, &cid).await.unwrap(), vec![claimed_a]);
    assert_eq!(store.list_messages(Some(&b)).await.unwrap().len(), 1);

    store
        .record_answer(&Answer {
            shop: a.clone(),
            customer_id: cid.clone(),
            message_id: in_a.id(),
            order_id: None,
            answer: AnswerKind::Delivery { ok: false },
            answered_at: at(12),
        })
        .await
        .unwrap();
    assert!(store.customer_answers(&b, &cid).await.unwrap().is_empty());
    store
        .suppress(&a, "c1@example.com", SuppressionReason::Complaint, at(13))
        .await
        .unwrap();
    assert_eq!(store.suppression(&b, "c1@example.com").await.unwrap(), None);
    store.save_config(&a, &ShopConfig::default()).await.unwrap();
    assert_eq!(store.load_config(&b).await.unwrap(), None);
}

/// `redact_customer` deletes the customer's messages (in the due index too) and answers, and
/// counts them; it keeps suppressions (a hash only, and an unsubscribe must outlive the
/// data), other customers' and other shops' items.
pub async fn redact_customer_removes_messages_and_answers(store: &dyn FlowStore) {
    let shop = unique_shop("redact-flow-c");
    let other_shop = unique_shop("redact-flow-c-other");
    let t = fresh_epoch();
    for s in [&shop, &other_shop] {
        seed_flow_data(store, s, t).await;
    }
    let before_other = flow_snapshot(store, &other_shop).await;
    let c2_before = store.customer_messages(&shop, &customer_id("c2")).await.unwrap();

    let removed = store
        .redact_customer(&shop, Some(&customer_id("c1")), &[])
        .await
        .unwrap();
    assert_eq!(removed, 4, "c1's two messages and two answers");

    let c1 = customer_id("c1");
    assert!(store.customer_messages(&shop, &c1).await.unwrap().is_empty());
    assert_eq!(
        store
            .load_message(&shop, &c1, &message_id("thank-you#o1#note"))
            .await
            .unwrap(),
        None
    );
    assert!(store.customer_answers(&shop, &c1).await.unwrap().is_empty());
    assert!(
        store
            .due_messages(Flow::ThankYou, t(1_000), 10_000)
            .await
            .unwrap()
            .iter()
            .all(|m| !(m.shop == shop && m.customer_id == c1)),
        "redacted messages are not due"
    );
    assert_eq!(
        store.suppression(&shop, "c1@example.com").await.unwrap(),
        Some(SuppressionReason::Unsubscribed),
        "the unsubscribe outlives the customer's data"
    );
    assert_eq!(
        store.customer_messages(&shop, &customer_id("c2")).await.unwrap(),
        c2_before
    );
    assert_eq!(
        store
            .customer_answers(&shop, &customer_id("c2"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.list_messages(Some(&shop)).await.unwrap(), c2_before);
    assert_eq!(flow_snapshot(store, &other_shop).await, before_other);
}

/// `redact_shop` deletes the shop's messages, answers, suppressions and config and counts
/// them; another shop's stay.
pub async fn redact_shop_removes_flow_data(store: &dyn FlowStore) {
    let shop = unique_shop("redact-flow-s");
    let other_shop = unique_shop("redact-flow-s-other");
    let t = fresh_epoch();
    for s in [&shop, &other_shop] {
        seed_flow_data(store, s, t).await;
    }
    let before_other = flow_snapshot(store, &other_shop).await;

    let removed = store.redact_shop(&shop).await.unwrap();
    assert_eq!(
        removed, 8,
        "three messages, three answers, the suppression and the config"
    );
    assert_eq!(flow_snapshot(store, &shop).await, FlowSnapshot::default());
    assert!(
        store
            .due_messages(Flow::ThankYou, t(1_000), 10_000)
            .await
            .unwrap()
            .iter()
            .all(|m| m.shop != shop),
        "redacted messages are not due"
    );
    assert_eq!(
        store.redact_shop(&shop).await.unwrap(),
        0,
        "a second redact finds nothing"
    );
    assert_eq!(flow_snapshot(store, &other_shop).await, before_other);
}

/// `delete_document` removes one document whatever its version, says whether it was there,
/// and touches no other key or shop.
pub async fn documents_can_be_deleted(store: &dyn FlowStore) {
    let shop = unique_shop("docs-delete");
    let other_shop = unique_shop("docs-delete-other");
    for s in [&shop, &other_shop] {
        for key in ["code#A1", "code#A10"] {
            store
                .save_document(s, key, &json!({ "key": key }), 0)
                .await
                .unwrap();
        }
    }
    store
        .save_document(&shop, "code#A1", &json!({ "key": "code#A1" }), 1)
        .await
        .unwrap();
    assert!(store.delete_document(&shop, "code#A1").await.unwrap());
    assert!(
        !store.delete_document(&shop, "code#A1").await.unwrap(),
        "gone already"
    );
    assert_eq!(store.load_document(&shop, "code#A1").await.unwrap(), None);
    assert_eq!(document_keys(store, &shop, "code#").await, ["code#A10"]);
    assert_eq!(
        document_keys(store, &other_shop, "code#").await,
        ["code#A1", "code#A10"]
    );
    store
        .save_document(&shop, "code#A1", &json!({ "key": "code#A1" }), 0)
        .await
        .expect("a deleted document can be created again");
}

/// `customers/redact` through [`crate::erasure::erase_request`]: afterwards nothing the store
/// lists for the shop (events, orders, profile, messages, answers, every document) holds the
/// customer's id, email or phone, while another customer's referral code and record stay.
pub async fn erasure_leaves_no_trace_of_the_customer(store: &dyn FlowStore) {
    use crate::documents::keys;
    use crate::erasure::erase_request;
    let shop = unique_shop("erase");
    let (ada, email, phone) = ("7712345098", "ada.erase@example.com", "+393331112223");
    let guest_email = "guest.erase@example.com";
    let guest = CustomerId::for_guest_email(guest_email);
    let t = fresh_epoch();

    let mut profile = Customer::bare(customer_id(ada));
    profile.email = Some(email.into());
    profile.phone = Some(phone.into());
    store.save_customer(&shop, &profile).await.unwrap();
    let mut order = placed_order("5550001", ada);
    order.customer = profile.clone();
    let placed = event(&shop, "erase-1", EventKind::OrderPlaced(order.clone()));
    store.record_event(&placed, at(1)).await.unwrap();
    store.save_order(&shop, &order_record(&order), 0).await.unwrap();
    let mut guest_order = placed_order("5550002", guest.as_str());
    guest_order.customer.email = Some(guest_email.into());
    store
        .record_event(
            &event(&shop, "erase-2", EventKind::OrderPlaced(guest_order.clone())),
            at(1),
        )
        .await
        .unwrap();
    store
        .save_order(&shop, &order_record(&guest_order), 0)
        .await
        .unwrap();
    let mut note = message(&shop, ada, Flow::ThankYou, "5550001", "note", t(10));
    note.to = Some(email.into());
    store.plan_message(&note).await.unwrap();
    store
        .record_answer(&Answer {
            shop: shop.clone(),
            customer_id: customer_id(ada),
            message_id: note.id(),
            order_id: Some(order_id("5550001")),
            answer: AnswerKind::Csat { score: 2 },
            answered_at: t(20),
        })
        .await
        .unwrap();
    let documents = [
        (
            keys::customer_orders(&customer_id(ada)),
            json!({ "orders": ["5550001"] }),
        ),
        (keys::customer_tier(&customer_id(ada)), json!({ "tier": "Gold" })),
        (keys::referral_code("ADA-1"), json!({ "customer": ada })),
        (keys::referral_code("BOB-1"), json!({ "customer": "bob" })),
        (
            keys::referred_order(&order_id("5550009")),
            json!({ "code": "ADA-1", "advocate": ada, "friend": "friend9", "order_id": "5550009" }),
        ),
        (
            keys::referred_order(&order_id("5550010")),
            json!({ "code": "BOB-1", "advocate": "bob", "friend": "friend10", "order_id": "5550010" }),
        ),
        (
            keys::data_request("r1#7712345098"),
            json!({ "customer_id": ada, "export": { "profile": { "email": email, "phone": phone } } }),
        ),
        (
            keys::data_request(&format!("r2#{guest}")),
            json!({ "customer_id": guest.as_str(), "export": { "email": guest_email } }),
        ),
    ];
    for (key, value) in &documents {
        store.save_document(&shop, key, value, 0).await.unwrap();
    }

    let request = aftersale_domain::PrivacyRequest {
        customer_id: Some(customer_id(ada)),
        email: Some(email.into()),
        phone: Some(phone.into()),
        order_ids: vec![order_id("5550001")],
        request_id: None,
    };
    let removed = erase_request(store, &shop, &request).await.unwrap();
    assert!(
        removed >= 9,
        "profile, order, event, message, answer, 2 own + 3 named documents: {removed}"
    );
    let guest_request = aftersale_domain::PrivacyRequest {
        customer_id: None,
        email: Some(guest_email.into()),
        phone: None,
        order_ids: vec![],
        request_id: None,
    };
    erase_request(store, &shop, &guest_request).await.unwrap();

    let held = everything_listed(store, &shop, &[ada, guest.as_str()], &["5550001", "5550002"]).await;
    for value in [ada, email, phone, guest_email, guest.as_str()] {
        assert!(!held.contains(value), "{value} is still held: {held}");
    }
    assert_eq!(
        document_keys_of(store, &shop).await,
        [
            keys::referral_code("BOB-1"),
            keys::referred_order(&order_id("5550010"))
        ],
        "another customer's code and referral record stay"
    );
    assert_eq!(
        erase_request(store, &shop, &request).await.unwrap(),
        0,
        "a second erasure finds nothing"
    );
}

/// Everything the store lists for `shop` about these customers and orders, as one text.
async fn everything_listed(
    store: &dyn FlowStore,
    shop: &ShopId,
    customers: &[&str],
    orders: &[&str],
) -> String {
    let mut held = Vec::new();
    held.push(serde_json::to_string(&store.list_events(Some(shop)).await.unwrap()).unwrap());
    held.push(serde_json::to_string(&store.list_messages(Some(shop)).await.unwrap()).unwrap());
    for (key, doc) in store.list_documents(shop, "").await.unwrap() {
        held.push(format!("{key} {}", doc.value));
    }
    for c in customers {
        let c = customer_id(c);
        held.push(serde_json::to_string(&store.load_customer(shop, &c).await.unwrap()).unwrap());
        held.push(serde_json::to_string(&store.customer_answers(shop, &c).await.unwrap()).unwrap());
        held.push(serde_json::to_string(&store.customer_messages(shop, &c).await.unwrap()).unwrap());
    }
    for o in orders {
        let found = store
            .load_order(shop, &order_id(o))
            .await
            .unwrap()
            .map(|v| v.value);
        held.push(serde_json::to_string(&found).unwrap());
    }
    held.join("\n")
}

async fn document_keys_of(store: &dyn FlowStore, shop: &ShopId) -> Vec<String> {
    store
        .list_documents(shop, "")
        .await
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

// ---- fixtures ----

/// [`redaction::redact_customer`](crate::redaction::redact_customer) on this store: afterwards
/// nothing the shop holds names the customer, neither a dead letter (a raw payload, parsed or
/// truncated) nor a sample in the shop's statistics; another customer's and another shop's
/// stay.
pub async fn redaction_leaves_no_trace_of_the_customer(store: &dyn Store) {
    use crate::documents::{self, keys};
    use crate::lifecycle::{self, Sample, Samples};
    use base64::Engine;
    let encode = |body: &str| base64::engine::general_purpose::STANDARD.encode(body);
    let shop = unique_shop("redact-trace");
    let other_shop = unique_shop("redact-trace-other");
    for (customer, order, event_id) in [("laura-7", "o-7", "e-7"), ("marco-8", "o-8", "e-8")] {
        seed_customer(store, &shop, customer, order, event_id).await;
        let record = store
            .load_order(&shop, &order_id(order))
            .await
            .unwrap()
            .unwrap()
            .value;
        lifecycle::record_order(store, &shop, &record).await.unwrap();
        lifecycle::update_statistics(store, &shop, &record).await.unwrap();
    }
    let sample = |customer: &str, value: i64| Sample {
        customer: customer_id(customer),
        at: at(0),
        value,
    };
    let supply = Samples {
        samples: [
            ("o-7".to_string(), sample("laura-7", 86_400)),
            ("o-8".to_string(), sample("marco-8", 3_600)),
        ]
        .into(),
    };
    documents::insert(store, &shop, &keys::supply("p1"), &supply)
        .await
        .unwrap();
    let letters = [
        (
            shop.as_str(),
            "trace-json",
            r#"{"id": 99, "email": "LAURA-7@example.com", "total_price": "x"}"#,
        ),
        (
            shop.as_str(),
            "trace-cut",
            r#"{"id": 98, "customer": {"id": "laura-7", "first_na"#,
        ),
        (
            shop.as_str(),
            "trace-marco",
            r#"{"id": 97, "email": "marco-8@example.com"}"#,
        ),
        (
            other_shop.as_str(),
            "trace-other-shop",
            r#"{"id": 99, "email": "laura-7@example.com"}"#,
        ),
    ];
    for (letter_shop, id, body) in letters {
        let mut letter = dead_letter(letter_shop, &format!("{id}-{shop}"), at(3));
        letter.body_base64 = encode(body);
        store.put_dead_letter(&letter).await.unwrap();
    }

    let request = aftersale_domain::PrivacyRequest {
        customer_id: Some(customer_id("laura-7")),
        email: Some("laura-7@example.com".into()),
        phone: None,
        order_ids: vec![],
        request_id: None,
    };
    let removed = crate::redaction::redact_customer(store, &shop, &request)
        .await
        .unwrap();
    assert!(removed > 0);

    let held: Vec<String> = store
        .list_dead_letters()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.id.ends_with(shop.as_str()))
        .map(|l| {
            let body = base64::engine::general_purpose::STANDARD
                .decode(&l.body_base64)
                .unwrap();
            format!("{} {}", l.shop, String::from_utf8_lossy(&body))
        })
        .collect();
    assert_eq!(
        held.len(),
        2,
        "marco's and the other shop's dead letters stay: {held:?}"
    );
    assert!(
        held.iter()
            .all(|h| !h.contains(shop.as_str()) || !h.to_lowercase().contains("laura")),
        "{held:?}"
    );
    let documents = store.list_documents(&shop, "").await.unwrap();
    let text =
        serde_json::to_string(&documents.iter().map(|(k, v)| (k, &v.value)).collect::<Vec<_>>()).unwrap();
    assert!(
        !text.contains("laura-7"),
        "no document names the customer: {text}"
    );
    let spend = lifecycle::spend_table(store, &shop).await.unwrap();
    assert_eq!(
        spend
            .spend
            .samples
            .values()
            .map(|s| s.customer.as_str())
            .collect::<Vec<_>>(),
        ["marco-8"],
        "another customer's spend stays"
    );
    assert_eq!(
        crate::redaction::redact_customer(store, &shop, &request)
            .await
            .unwrap(),
        0,
        "a second redact finds nothing"
    );
}

/// Fresh shop ids per call and per process, so runs never see each other's data.
fn unique_shop(label: &str) -> ShopId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    ShopId::new(format!(
        "{label}-{:x}-{nanos:x}-{n}.contract.test",
        std::process::id()
    ))
    .expect("generated shop ids are valid")
}

/// Minutes after a fixed instant, so tests compare exact times.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0)
        .single()
        .expect("a valid instant")
        + Duration::minutes(minutes)
}

fn customer_id(id: &str) -> CustomerId {
    CustomerId::new(id).expect("valid customer id")
}

fn message_id(id: &str) -> MessageId {
    MessageId::new(id).expect("valid message id")
}

fn order_id(id: &str) -> OrderId {
    OrderId::new(id).expect("valid order id")
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::new("EUR").expect("EUR is a currency")).expect("valid amount")
}

fn placed_order(order: &str, customer: &str) -> Order {
    Order {
        id: order_id(order),
        name: Some(format!("#{order}")),
        customer: Customer::bare(customer_id(customer)),
        created_at: at(0),
        updated_at: at(0),
        status: OrderStatus::Processing,
        fulfillment: FulfillmentStatus::Unfulfilled,
        line_items: Vec::new(),
        subtotal: eur("25.00"),
        total: eur("25.00"),
        total_discounts: eur("0"),
        discount_codes: Vec::new(),
        refunds: Vec::new(),
        shipping_country: Some("IT".into()),
        shipping_address: None,
        client_ip: None,
    }
}

fn event(shop: &ShopId, event_id: &str, kind: EventKind) -> StoreEvent {
    StoreEvent {
        origin: Default::default(),
        shop: shop.clone(),
        platform: Platform::Shopify,
        event_id: EventId::new(event_id).expect("valid event id"),
        occurred_at: at(0),
        kind,
    }
}

fn order_placed(shop: &ShopId, event_id: &str, order: &str, customer: &str) -> StoreEvent {
    event(
        shop,
        event_id,
        EventKind::OrderPlaced(placed_order(order, customer)),
    )
}

fn refund(shop: &ShopId, event_id: &str, order: &str) -> StoreEvent {
    event(
        shop,
        event_id,
        EventKind::OrderRefunded(RefundEvent {
            order_id: order_id(order),
            refund: Refund {
                id: format!("refund-{event_id}"),
                created_at: at(1),
                amount: eur("5.00"),
                reason: None,
            },
        }),
    )
}

fn customer_updated(shop: &ShopId, event_id: &str, customer: &str) -> StoreEvent {
    event(
        shop,
        event_id,
        EventKind::CustomerUpdated(Customer::bare(customer_id(customer))),
    )
}

fn order_record(order: &Order) -> OrderRecord {
    let mut record = OrderRecord::new(order.id.clone());
    record.snapshot = Some(order.clone());
    record
}

fn dead_letter(shop: &str, id: &str, received_at: DateTime<Utc>) -> DeadLetter {
    DeadLetter {
        id: id.into(),
        shop: shop.into(),
        platform: Platform::Woocommerce,
        topic: "order.updated".into(),
        headers: vec![("x-wc-webhook-topic".into(), "order.updated".into())],
        body_base64: "eyJpZCI6IDF9".into(),
        reason: "unexpected field".into(),
        received_at,
        status: DeadLetterStatus::Pending,
        attempts: 0,
    }
}

/// A customer with a profile, one order and its placement event.
async fn seed_customer(store: &dyn Store, shop: &ShopId, customer: &str, order: &str, event_id: &str) {
    let mut profile = Customer::bare(customer_id(customer));
    profile.email = Some(format!("{customer}@example.com"));
    store.save_customer(shop, &profile).await.unwrap();
    let placed = order_placed(shop, event_id, order, customer);
    assert_eq!(store.record_event(&placed, at(1)).await.unwrap(), Recorded::New);
    store
        .save_order(shop, &order_record(&placed_order(order, customer)), 0)
        .await
        .unwrap();
}

/// What a shop holds for some customers and orders, to compare before and after.
#[derive(Debug, Default, PartialEq)]
struct Snapshot {
    customers: Vec<Customer>,
    orders: Vec<(OrderRecord, u64)>,
    events: Vec<StoredEvent>,
}

async fn snapshot(store: &dyn Store, shop: &ShopId, customers: &[&str], orders: &[&str]) -> Snapshot {
    let mut snap = Snapshot::default();
    for c in customers {
        if let Some(found) = store.load_customer(shop, &customer_id(c)).await.unwrap() {
            snap.customers.push(found);
        }
    }
    for o in orders {
        if let Some(found) = store.load_order(shop, &order_id(o)).await.unwrap() {
            snap.orders.push((found.value, found.version));
        }
    }
    snap.events = store.list_events(Some(shop)).await.unwrap();
    snap
}

/// A planned thank-you-style message, as a planner would make it (version 0: not stored yet).
fn message(
    shop: &ShopId,
    customer: &str,
    flow: Flow,
    subject: &str,
    step: &str,
    due_at: DateTime<Utc>,
) -> Message {
    Message {
        shop: shop.clone(),
        customer_id: customer_id(customer),
        flow,
        subject: subject.into(),
        step: step.into(),
        order_id: OrderId::new(subject).ok(),
        class: MessageClass::Transactional,
        channel: Channel::Email,
        due_at,
        due_basis: DueBasis::Known,
        status: MessageStatus::Planned,
        reason: "planned".into(),
        planned_at: due_at - Duration::days(1),
        lease_until: None,
        attempts: 0,
        products: Vec::new(),
        details: Default::default(),
        to: None,
        rendered_subject: None,
        sent_at: None,
        provider_id: None,
        version: 0,
    }
}

/// Minutes after an instant no earlier call used, each further in the past than the last, for
/// checks of `due_messages` (which sees every shop): whatever other checks left planned is
/// later than anything the check expects first.
fn fresh_epoch() -> impl Fn(i64) -> DateTime<Utc> + Copy {
    static EPOCHS: AtomicU64 = AtomicU64::new(0);
    let n = EPOCHS.fetch_add(1, Ordering::Relaxed) as i64;
    let base = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
        - Duration::days(30 * n);
    move |minutes| base + Duration::minutes(minutes)
}

fn assert_message_conflict(result: Result<Message, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "{what}: expected a Conflict, got {result:?}"
    );
}

/// In `shop`: c1 with a planned and a sent message and two answers, c2 with a planned message
/// and an answer, a suppression of c1's address and a config: 8 items.
async fn seed_flow_data(store: &dyn FlowStore, shop: &ShopId, t: impl Fn(i64) -> DateTime<Utc>) {
    let note = message(shop, "c1", Flow::ThankYou, "o1", "note", t(10));
    let survey = message(shop, "c1", Flow::ThankYou, "o1", "survey", t(20));
    let other = message(shop, "c2", Flow::ThankYou, "o2", "note", t(15));
    for m in [&note, &survey, &other] {
        assert!(store.plan_message(m).await.unwrap());
    }
    let stored = store
        .load_message(shop, &note.customer_id, &note.id())
        .await
        .unwrap()
        .unwrap();
    store
        .update_message(&Message {
            status: MessageStatus::Sent,
            reason: "sent".into(),
            ..stored
        })
        .await
        .unwrap();
    for (customer, message_id, kind) in [
        ("c1", note.id(), AnswerKind::Csat { score: 4 }),
        ("c1", survey.id(), AnswerKind::Nps { score: 8 }),
        ("c2", other.id(), AnswerKind::Delivery { ok: true }),
    ] {
        store
            .record_answer(&Answer {
                shop: shop.clone(),
                customer_id: customer_id(customer),
                message_id,
                order_id: None,
                answer: kind,
                answered_at: t(30),
            })
            .await
            .unwrap();
    }
    store
        .suppress(shop, "c1@example.com", SuppressionReason::Unsubscribed, t(31))
        .await
        .unwrap();
    store
        .save_config(
            shop,
            &ShopConfig {
                shop: Some(shop.clone()),
                ..ShopConfig::default()
            },
        )
        .await
        .unwrap();
}

/// What a shop holds of the flows' data seeded by `seed_flow_data`.
#[derive(Debug, Default, PartialEq)]
struct FlowSnapshot {
    messages: Vec<Message>,
    answers: Vec<Answer>,
    suppressed: Option<SuppressionReason>,
    config: Option<ShopConfig>,
}

async fn flow_snapshot(store: &dyn FlowStore, shop: &ShopId) -> FlowSnapshot {
    let mut snap = FlowSnapshot {
        messages: store.list_messages(Some(shop)).await.unwrap(),
        suppressed: store.suppression(shop, "c1@example.com").await.unwrap(),
        config: store.load_config(shop).await.unwrap(),
        ..FlowSnapshot::default()
    };
    for c in ["c1", "c2"] {
        let cid = customer_id(c);
        let theirs = store.customer_messages(shop, &cid).await.unwrap();
        assert!(
            theirs.iter().all(|m| snap.messages.contains(m)),
            "listed with the shop"
        );
        snap.answers
            .extend(store.customer_answers(shop, &cid).await.unwrap());
    }
    snap
}

/// The keys `list_documents` returns, checking each comes with its own document (seeded as
/// `{"key": key}`).
async fn document_keys(store: &dyn Store, shop: &ShopId, prefix: &str) -> Vec<String> {
    let found = store.list_documents(shop, prefix).await.unwrap();
    for (key, doc) in &found {
        assert_eq!(
            doc.value["key"], *key,
            "listed under {prefix:?}: each key with its own document"
        );
    }
    found.into_iter().map(|(key, _)| key).collect()
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "{what}: expected a Conflict, got {result:?}"
    );
}
