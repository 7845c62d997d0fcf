//! `redact_customer` and `redact_shop` of the store itself: what each deletes, counts and keeps.

use crate::fixtures::*;

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
        state.set_status(aftersale_ports::ShopStatus::Uninstalled, at(6));
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
