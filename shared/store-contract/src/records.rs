//! Events, orders, customers, dead letters and install state: what ingest stores.

use crate::fixtures::*;

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

/// `event_applied` tells a recorded event's flag, and `None` once it is gone;
/// `unfinished_events` lists every event received before the instant whose work is not
/// finished, oldest first, and neither an applied nor an erased one.
pub async fn unfinished_events_are_found_until_applied_or_erased(store: &dyn Store) {
    let shop = unique_shop("unfinished");
    let first = order_placed(&shop, "first", "o1", "kept-1");
    let second = order_placed(&shop, "second", "o2", "erased-2");
    let third = order_placed(&shop, "third", "o3", "kept-1");
    for (event, minute) in [(&third, 20), (&first, 0), (&second, 10)] {
        assert_eq!(
            store.record_event(event, at(minute)).await.unwrap(),
            Recorded::New
        );
    }
    let shop_ref = &shop;
    let unfinished = |before: i64| async move {
        let ids: Vec<String> = store
            .unfinished_events(at(before))
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event.shop == *shop_ref && !e.applied)
            .map(|e| e.event.event_id.to_string())
            .collect();
        ids
    };
    assert_eq!(
        unfinished(15).await,
        ["first", "second"],
        "received before the instant only"
    );
    assert_eq!(
        store.event_applied(&shop, &first.event_id).await.unwrap(),
        Some(false)
    );

    store.mark_applied(&first).await.unwrap();
    assert_eq!(
        store.event_applied(&shop, &first.event_id).await.unwrap(),
        Some(true)
    );
    assert_eq!(unfinished(60).await, ["second", "third"]);

    let request = aftersale_domain::PrivacyRequest {
        customer_id: Some(customer_id("erased-2")),
        email: None,
        phone: None,
        order_ids: vec![],
        request_id: None,
    };
    aftersale_ports::redaction::redact_customer(store, &shop, &request)
        .await
        .unwrap();
    assert_eq!(
        store.event_applied(&shop, &second.event_id).await.unwrap(),
        None,
        "an erased customer's event is not stored"
    );
    assert_eq!(unfinished(60).await, ["third"]);
    let elsewhere = unique_shop("unfinished-other");
    assert_eq!(
        store.event_applied(&elsewhere, &third.event_id).await.unwrap(),
        None,
        "the same id at another shop is another event"
    );
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

/// Optimistic concurrency: version 0 creates, at a version the order never had before; a
/// stale version is a Conflict, the current one saves and bumps the version by one. An order
/// erased and stored again starts at a version it never had (a reader caching decoded orders by
/// version must not take it for the erased one).
pub async fn order_versions(store: &dyn Store) {
    let shop = unique_shop("versions");
    let oid = order_id("o1");
    assert_eq!(store.load_order(&shop, &oid).await.unwrap(), None);

    // A refund can arrive before its order: the record exists with no snapshot.
    let mut record = OrderRecord::new(oid.clone());
    record.apply(&refund(&shop, "r1", "o1"));
    store.save_order(&shop, &record, 0).await.unwrap();
    let loaded = store.load_order(&shop, &oid).await.unwrap().unwrap();
    assert_eq!(loaded.value, record);
    let created = loaded.version;
    assert!(created >= 1, "0 means absent");

    assert_conflict(
        store.save_order(&shop, &record, 0).await,
        "creating an existing order",
    );
    assert_conflict(
        store.save_order(&shop, &record, created + 7).await,
        "a version from the future",
    );

    record.apply(&order_placed(&shop, "e1", "o1", "c1"));
    store.save_order(&shop, &record, created).await.unwrap();
    let loaded = store.load_order(&shop, &oid).await.unwrap().unwrap();
    assert_eq!((loaded.value, loaded.version), (record.clone(), created + 1));
    assert_conflict(store.save_order(&shop, &record, created).await, "a stale version");

    assert_conflict(
        store
            .save_order(&shop, &OrderRecord::new(order_id("missing")), 3)
            .await,
        "updating an order that does not exist",
    );

    // Erased with its customer, then the same order id again (a shop's history imported anew).
    store
        .redact_customer(&shop, Some(&customer_id("c1")), std::slice::from_ref(&oid))
        .await
        .unwrap();
    assert_eq!(store.load_order(&shop, &oid).await.unwrap(), None, "erased");
    let again = OrderRecord::new(oid.clone());
    store.save_order(&shop, &again, 0).await.unwrap();
    let loaded = store.load_order(&shop, &oid).await.unwrap().unwrap();
    assert_eq!(loaded.value, again, "the new order, not the erased one");
    assert!(
        loaded.version > created + 1,
        "created at {created}, updated once, erased, created again at {}",
        loaded.version
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
    state.set_status(aftersale_ports::ShopStatus::Uninstalled, at(9));
    store.save_shop(&shop, &state).await.unwrap();
    assert_eq!(store.load_shop(&shop).await.unwrap(), Some(state));
}
