//! What the promises share: imports, fresh shop ids and instants, sample records.

pub(crate) use aftersale_domain::flows::{review_request, thank_you};
pub(crate) use aftersale_domain::policy::SuppressionReason;
pub(crate) use aftersale_domain::{
    Answer, AnswerKind, Channel, Currency, Customer, CustomerId, DueBasis, EventId, EventKind, Flow,
    FlowStep, FulfillmentStatus, Message, MessageClass, MessageId, MessageStatus, Money, Order, OrderId,
    OrderRecord, OrderStatus, Platform, Refund, RefundEvent, ShopConfig, ShopId, StoreEvent,
};
pub(crate) use aftersale_ports::{
    DeadLetter, DeadLetterStatus, FlowStore, Recorded, ShopState, Store, StoreError, StoredEvent, Versioned,
    attention_at,
};
pub(crate) use chrono::{DateTime, Duration, TimeZone, Utc};
pub(crate) use serde_json::json;
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

/// Fresh shop ids per call and per process, so runs never see each other's data.
pub(crate) fn unique_shop(label: &str) -> ShopId {
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
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0)
        .single()
        .expect("a valid instant")
        + Duration::minutes(minutes)
}

pub(crate) fn customer_id(id: &str) -> CustomerId {
    CustomerId::new(id).expect("valid customer id")
}

pub(crate) fn message_id(id: &str) -> MessageId {
    MessageId::new(id).expect("valid message id")
}

pub(crate) fn order_id(id: &str) -> OrderId {
    OrderId::new(id).expect("valid order id")
}

pub(crate) fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::new("EUR").expect("EUR is a currency")).expect("valid amount")
}

pub(crate) fn placed_order(order: &str, customer: &str) -> Order {
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
        checkout_token: None,
        cart_token: None,
    }
}

pub(crate) fn event(shop: &ShopId, event_id: &str, kind: EventKind) -> StoreEvent {
    StoreEvent {
        origin: Default::default(),
        shop: shop.clone(),
        platform: Platform::Shopify,
        event_id: EventId::new(event_id).expect("valid event id"),
        occurred_at: at(0),
        kind,
    }
}

pub(crate) fn order_placed(shop: &ShopId, event_id: &str, order: &str, customer: &str) -> StoreEvent {
    event(
        shop,
        event_id,
        EventKind::OrderPlaced(placed_order(order, customer)),
    )
}

pub(crate) fn refund(shop: &ShopId, event_id: &str, order: &str) -> StoreEvent {
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

pub(crate) fn customer_updated(shop: &ShopId, event_id: &str, customer: &str) -> StoreEvent {
    event(
        shop,
        event_id,
        EventKind::CustomerUpdated(Customer::bare(customer_id(customer))),
    )
}

pub(crate) fn order_record(order: &Order) -> OrderRecord {
    let mut record = OrderRecord::new(order.id.clone());
    record.snapshot = Some(order.clone());
    record
}

pub(crate) fn dead_letter(shop: &str, id: &str, received_at: DateTime<Utc>) -> DeadLetter {
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
pub(crate) async fn seed_customer(
    store: &dyn Store,
    shop: &ShopId,
    customer: &str,
    order: &str,
    event_id: &str,
) {
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
pub(crate) struct Snapshot {
    customers: Vec<Customer>,
    orders: Vec<(OrderRecord, u64)>,
    events: Vec<StoredEvent>,
}

pub(crate) async fn snapshot(
    store: &dyn Store,
    shop: &ShopId,
    customers: &[&str],
    orders: &[&str],
) -> Snapshot {
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

/// A planned transactional message, as a planner would make it (version 0: not stored yet).
pub(crate) fn message(
    shop: &ShopId,
    customer: &str,
    step: FlowStep,
    subject: &str,
    due_at: DateTime<Utc>,
) -> Message {
    Message {
        shop: shop.clone(),
        customer_id: customer_id(customer),
        subject: subject.into(),
        step,
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
        payload: Default::default(),
        processing_errors: 0,
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
pub(crate) fn fresh_epoch() -> impl Fn(i64) -> DateTime<Utc> + Copy {
    static EPOCHS: AtomicU64 = AtomicU64::new(0);
    let n = EPOCHS.fetch_add(1, Ordering::Relaxed) as i64;
    let base = Utc
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
        - Duration::days(30 * n);
    move |minutes| base + Duration::minutes(minutes)
}

pub(crate) fn assert_message_conflict(result: Result<Message, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "{what}: expected a Conflict, got {result:?}"
    );
}

/// In `shop`: c1 with a planned and a sent message and two answers, c2 with a planned message
/// and an answer, a suppression of c1's address and a config: 8 items.
pub(crate) async fn seed_flow_data(store: &dyn FlowStore, shop: &ShopId, t: impl Fn(i64) -> DateTime<Utc>) {
    let note = message(
        shop,
        "c1",
        aftersale_domain::flows::thank_you::Step::ThankYou.into(),
        "o1",
        t(10),
    );
    let survey = message(
        shop,
        "c1",
        aftersale_domain::flows::thank_you::Step::Feedback.into(),
        "o1",
        t(20),
    );
    let other = message(
        shop,
        "c2",
        aftersale_domain::flows::thank_you::Step::ThankYou.into(),
        "o2",
        t(15),
    );
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
pub(crate) struct FlowSnapshot {
    messages: Vec<Message>,
    answers: Vec<Answer>,
    suppressed: Option<SuppressionReason>,
    config: Option<ShopConfig>,
}

pub(crate) async fn flow_snapshot(store: &dyn FlowStore, shop: &ShopId) -> FlowSnapshot {
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
pub(crate) async fn document_keys(store: &dyn Store, shop: &ShopId, prefix: &str) -> Vec<String> {
    let found = store.list_documents(shop, prefix).await.unwrap();
    for (key, doc) in &found {
        assert_eq!(
            doc.value["key"], *key,
            "listed under {prefix:?}: each key with its own document"
        );
    }
    found.into_iter().map(|(key, _)| key).collect()
}

pub(crate) fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "{what}: expected a Conflict, got {result:?}"
    );
}
