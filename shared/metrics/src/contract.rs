//! The rollups' contract on any store (feature `testkit`): memory, SQLite and DynamoDB run it.
//! It folds a generated history the way ingest and the engine do, one change at a time, then
//! checks that a rebuild from scratch gives the same rollups and the same figures, and that a
//! redacted customer leaves them.

use crate::EngagementKind;
use crate::Range;
use crate::history::{self, History};
use crate::rollups;
use aftersale_domain::{CustomerId, MessageStatus, OrderRecord};
use aftersale_ports::{FlowStore, StoreError, lifecycle};

/// Folds one event into the order records and the order rollups, as ingest does.
pub async fn fold(store: &dyn FlowStore, event: &aftersale_domain::StoreEvent) -> Result<(), StoreError> {
    if let Some(customer) = record(store, event).await? {
        rollups::refresh_orders(store, &event.shop, &customer).await?;
        rollups::refresh_messages(store, &event.shop, &customer).await?;
    }
    Ok(())
}

/// Folds one event into the order records only, leaving the rollups to a rebuild (the
/// benchmark seeds a large shop this way); returns the order's customer.
pub async fn record(
    store: &dyn FlowStore,
    event: &aftersale_domain::StoreEvent,
) -> Result<Option<CustomerId>, StoreError> {
    let Some(order_id) = event.order_id() else {
        return Ok(None);
    };
    // Like ingest: a refund folded at the same time as its order makes one of them reload.
    for _ in 0..8 {
        let (mut record, version) = match store.load_order(&event.shop, order_id).await? {
            Some(found) => (found.value, found.version),
            None => (OrderRecord::new(order_id.clone()), 0),
        };
        if record.apply(event) {
            match store.save_order(&event.shop, &record, version).await {
                Err(StoreError::Conflict { .. }) => continue,
                other => other?,
            }
        }
        lifecycle::record_order(store, &event.shop, &record).await?;
        return Ok(record.customer_id().cloned());
    }
    Err(StoreError::Conflict {
        what: format!("order {order_id} (gave up after 8 tries)"),
    })
}

/// Brings `history` in change by change: events in time order, each message planned and then
/// settled, each answer and click recorded.
pub async fn load(store: &dyn FlowStore, history: &History) -> Result<(), StoreError> {
    let shop = &history.shop;
    let mut events: Vec<_> = history.orders.iter().flat_map(|o| o.events(shop)).collect();
    events.sort_by_key(|e| e.occurred_at);
    for event in &events {
        fold(store, event).await?;
    }
    for m in &history.messages {
        let planned = m.planned(shop);
        store.plan_message(&planned).await?;
        let customer = planned.customer_id.clone();
        rollups::refresh_messages(store, shop, &customer).await?;
        let stored = store
            .load_message(shop, &customer, &planned.id())
            .await?
            .expect("the message just planned");
        let settled = store.update_message(&m.settled(stored)).await?;
        rollups::refresh_messages(store, shop, &customer).await?;
        if settled.status == MessageStatus::Sent {
            rollups::record_engagement(store, &settled, EngagementKind::Delivered, m.at).await?;
            if m.clicked {
                rollups::record_engagement(store, &settled, EngagementKind::Opened, m.at).await?;
                rollups::record_engagement(store, &settled, EngagementKind::Clicked, m.at).await?;
                // A redelivered event changes nothing.
                rollups::record_engagement(store, &settled, EngagementKind::Clicked, m.at).await?;
            }
        }
    }
    for a in &history.answers {
        store.record_answer(&a.answer(shop)).await?;
        rollups::refresh_messages(store, shop, &a.answer(shop).customer_id).await?;
    }
    Ok(())
}

/// Live rollups equal rebuilt ones, on `store`; a redacted customer's counts leave them.
pub async fn live_equals_rebuild(store: &dyn FlowStore) {
    let history = history::generate(42, 40);
    load(store, &history).await.expect("the history folds");
    let shop = &history.shop;
    let live_days = rollups::load_days(store, shop).await.expect("rollups");
    let live = crate::shop_report(store, shop, Range::default(), history.now)
        .await
        .expect("a report");
    assert!(
        live.customers > 20,
        "the history has customers: {}",
        live.customers
    );

    let rebuilt = rollups::rebuild(store, shop).await.expect("a rebuild");
    assert_eq!(rebuilt.customers, 40);
    let rebuilt_days = rollups::load_days(store, shop).await.expect("rollups");
    assert_eq!(live_days, rebuilt_days, "rebuilt rollups equal the live ones");
    let after = crate::shop_report(store, shop, Range::default(), history.now)
        .await
        .expect("a report");
    assert_eq!(after, live, "rebuilt figures equal the live ones");
    // A rebuild is idempotent.
    rollups::rebuild(store, shop).await.expect("a second rebuild");
    assert_eq!(rollups::load_days(store, shop).await.unwrap(), live_days);

    // Forgetting a customer takes exactly their counts out: a rebuild without them agrees.
    let gone = CustomerId::new("cust-3").unwrap();
    rollups::forget_customer(store, shop, &gone)
        .await
        .expect("forgotten");
    store
        .redact_customer(shop, Some(&gone), &[])
        .await
        .expect("redacted");
    let forgotten = rollups::load_days(store, shop).await.unwrap();
    assert_ne!(forgotten, live_days, "cust-3 had counts");
    rollups::rebuild(store, shop).await.expect("a rebuild");
    assert_eq!(rollups::load_days(store, shop).await.unwrap(), forgotten);

    // No item is written by every event of the shop: the counts are spread over shards.
    let items = store
        .list_documents(shop, rollups::BUCKET_PREFIX)
        .await
        .expect("buckets");
    let shards: std::collections::BTreeSet<&str> = items.iter().map(|(k, _)| &k[k.len() - 2..]).collect();
    assert!(shards.len() > 4, "counts spread over shards: {shards:?}");
}

/// Lanes of concurrent folding in [`concurrent_folds_equal_a_serial_replay`].
const LANES: usize = 8;

/// Order events folded by several writers at once (as concurrent deliveries are) give the
/// same rollups and figures as the same history folded one event after another, on `store`:
/// no count is lost to a race, and no refresh gives up.
pub async fn concurrent_folds_equal_a_serial_replay(store: &dyn FlowStore) {
    let concurrent = history::generate(21, 80);
    let serial = History {
        shop: aftersale_domain::ShopId::new("metrics-serial.myshopify.com").expect("a shop id"),
        ..concurrent.clone()
    };
    let events_of = |h: &History| {
        let mut events: Vec<_> = h.orders.iter().flat_map(|o| o.events(&h.shop)).collect();
        events.sort_by_key(|e| e.occurred_at);
        events
    };
    for event in &events_of(&serial) {
        fold(store, event).await.expect("a serial fold");
    }
    // Each lane takes its customers' events in time order; the lanes run at once.
    let events = events_of(&concurrent);
    let lane = |n: usize| {
        let mine: Vec<_> = events
            .iter()
            .filter(|e| {
                let customer = e.order().map_or("", |o| o.customer.id.as_str());
                customer.bytes().map(usize::from).sum::<usize>() % LANES == n
            })
            .collect();
        async move {
            for event in mine {
                fold(store, event).await?;
            }
            Ok::<_, StoreError>(())
        }
    };
    let (a, b, c, d, e, f, g, h) = tokio::join!(
        lane(0),
        lane(1),
        lane(2),
        lane(3),
        lane(4),
        lane(5),
        lane(6),
        lane(7)
    );
    for result in [a, b, c, d, e, f, g, h] {
        result.expect("no concurrent fold gives up");
    }
    let figures = |shop| crate::shop_report(store, shop, Range::default(), concurrent.now);
    let (live, replayed) = (
        figures(&concurrent.shop).await.unwrap(),
        figures(&serial.shop).await.unwrap(),
    );
    assert!(live.orders > 100, "the history has orders: {}", live.orders);
    assert_eq!(live, replayed, "concurrent folding equals a serial replay");
    assert_eq!(
        rollups::load_days(store, &concurrent.shop).await.unwrap(),
        rollups::load_days(store, &serial.shop).await.unwrap()
    );
}
