//! A process that dies at any write while order events are folded leaves rollups that the
//! event's retry (what the platform does after a failed delivery) brings to exactly what a
//! replay without crashes gives: no count is lost, none is added twice.

use aftersale_metrics::{Range, contract, history, rollups, shop_report};
use aftersale_testkit::MemoryStore;

#[tokio::test]
async fn a_crash_at_any_write_of_a_fold_is_healed_by_the_retry_of_the_event() {
    let h = history::generate(7, 12);
    let mut events: Vec<_> = h.orders.iter().flat_map(|o| o.events(&h.shop)).collect();
    events.sort_by_key(|e| e.occurred_at);

    let reference = MemoryStore::new();
    for event in &events {
        contract::fold(&reference, event).await.unwrap();
    }
    let expected_days = rollups::load_days(&reference, &h.shop).await.unwrap();
    let expected = shop_report(&reference, &h.shop, Range::default(), h.now)
        .await
        .unwrap();
    assert!(expected.orders > 10, "{}", expected.orders);

    // Replay the history once per write: the process dies at write number `k`, the event it
    // was folding is retried, and the rest of the history follows.
    let mut k = 0;
    loop {
        let store = MemoryStore::new();
        store.crash_document_writes_after(Some(k));
        let mut crashed = false;
        for event in &events {
            if contract::fold(&store, event).await.is_err() {
                assert!(!crashed, "one crash per replay");
                crashed = true;
                store.crash_document_writes_after(None);
                contract::fold(&store, event).await.expect("the retry folds");
            }
        }
        if !crashed {
            break;
        }
        assert_eq!(
            rollups::load_days(&store, &h.shop).await.unwrap(),
            expected_days,
            "a crash at write {k}: the counters equal a replay without crashes"
        );
        assert_eq!(
            shop_report(&store, &h.shop, Range::default(), h.now)
                .await
                .unwrap(),
            expected,
            "a crash at write {k}"
        );
        k += 1;
    }
    assert!(
        k > events.len(),
        "a crash at each of the {k} writes of {} events",
        events.len()
    );
}

#[tokio::test]
async fn concurrent_folds_on_the_memory_store_equal_a_serial_replay() {
    contract::concurrent_folds_equal_a_serial_replay(&MemoryStore::new()).await;
}
