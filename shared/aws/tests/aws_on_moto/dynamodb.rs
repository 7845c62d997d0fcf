//! DynamoDbStore on moto: the shared Store contract, the table definition, and what only a
//! real engine can show (TTL'd dedupe records, racing conditional writes, key prefixes).

use crate::support::{moto, unique};
use aftersale_aws::{DynamoDbStore, TableStatus, WATERMARK_MARGIN_MINUTES, create_table};
use aftersale_domain::{
    Channel, Customer, CustomerId, DueBasis, EventId, EventKind, Flow, Message, MessageClass, MessageStatus,
    OrderId, OrderRecord, Platform, ShopId, StoreEvent,
};
use aftersale_ports::{
    DeadLetter, DeadLetterStatus, DeadLetters, EventLog, Messages, OrderRecords, Privacy, Recorded,
    StoreError,
};
use aftersale_store_contract::{Subject, erasure, messages, store_contract};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, PointInTimeRecoveryStatus, ProjectionType, SseStatus, TimeToLiveStatus,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use std::collections::HashMap;

async fn fresh_store() -> DynamoDbStore {
    let config = moto().sdk_config().await;
    let client = Client::new(&config);
    let table = unique("aftersale");
    assert_eq!(create_table(&client, &table).await.unwrap(), TableStatus::Created);
    DynamoDbStore::new(client, table)
}

fn customer_updated(shop: &ShopId, id: &str) -> StoreEvent {
    StoreEvent {
        origin: Default::default(),
        shop: shop.clone(),
        platform: Platform::Shopify,
        event_id: EventId::new(id).unwrap(),
        occurred_at: Utc::now(),
        kind: EventKind::CustomerUpdated(Customer::bare(CustomerId::new("c1").unwrap())),
    }
}

/// A fresh table per promise; afterwards every item's key starts with the shop (but for the due
/// index's per-flow watermarks), and a message is in the due index exactly while not final.
async fn contract_subject() -> Subject<DynamoDbStore> {
    let store = fresh_store().await;
    let checked = store.clone();
    Subject::new(store).then_check(async move { assert_keys_are_per_shop(&checked).await })
}

store_contract!(dynamodb, contract_subject().await);

#[tokio::test]
async fn dynamodb_store_keeps_the_metrics_rollups_equal_to_a_rebuild() {
    aftersale_metrics::contract::live_equals_rebuild(&fresh_store().await).await;
}

// Memory and SQLite run this promise in the suite. On moto (requests one at a time, so no
// more HTTP 500s on concurrent TransactWriteItems) it passes, but takes minutes on a loaded
// 2-core machine: run it with `--run-ignored all`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "minutes on moto; memory and SQLite run the same promise"]
async fn dynamodb_store_folds_concurrently_to_the_figures_of_a_serial_replay() {
    aftersale_metrics::contract::concurrent_folds_equal_a_serial_replay(&fresh_store().await).await;
}

async fn assert_keys_are_per_shop(store: &DynamoDbStore) {
    for item in scan(store).await {
        let Some(AttributeValue::S(pk)) = item.get("pk") else {
            panic!("item without a string pk: {item:?}");
        };
        assert!(pk.starts_with("SHOP#") || pk.starts_with("DUEWM#"), "{pk}");
        let Some(AttributeValue::S(sk)) = item.get("sk") else {
            panic!("item without a string sk: {item:?}");
        };
        if sk.starts_with("MSG#") {
            let final_ = item.contains_key("expires_at");
            assert_eq!(
                item.contains_key("gsi4pk"),
                !final_,
                "a message is in the due index exactly while not final: {pk} {sk}"
            );
        }
    }
}

/// The contract's erasure promise lists what the store serves; the raw items (which every
/// index entry is a projection of) hold no trace of the erased customer either.
#[tokio::test]
async fn an_erased_customer_is_in_no_raw_item_or_index_projection() {
    let store = fresh_store().await;
    erasure::erasure_leaves_no_trace_of_the_customer(&store).await;
    let raw = format!("{:?}", scan(&store).await);
    for erased in [
        "7712345098",
        "ada.erase@example.com",
        "+393331112223",
        "guest.erase@example.com",
    ] {
        assert!(!raw.contains(erased), "{erased} is still in the table");
    }
}

async fn scan(store: &DynamoDbStore) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .scan()
            .table_name(store.table_name())
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

fn item_key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk.to_string())),
    ])
}

async fn get_item(store: &DynamoDbStore, pk: String, sk: &str) -> Option<HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table_name())
        .set_key(Some(item_key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

fn planned(shop: &ShopId, customer: &str, due_at: DateTime<Utc>) -> Message {
    Message {
        shop: shop.clone(),
        customer_id: CustomerId::new(customer).unwrap(),
        subject: "1001".into(),
        step: aftersale_domain::flows::review_request::Step::Request.into(),
        order_id: Some(OrderId::new("1001").unwrap()),
        class: MessageClass::Service,
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

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        other => panic!("{name} is not a string: {other:?}"),
    }
}

/// The due index by hand: the bucket is the hour of attention, clamped to the hour the entry is
/// written in; finished messages leave the index and get a 400-day TTL; the watermark moves up
/// over empty hours but never closer than the margin to the wall clock, and never past a bucket
/// still holding something, however old.
#[tokio::test]
async fn the_due_index_buckets_by_hour_and_its_watermark_never_skips_a_message() {
    let store = fresh_store().await;
    let shop = ShopId::new(format!("{}.example", unique("due"))).unwrap();
    let wall = Utc::now();
    let next_day = wall + Duration::days(1);
    let ancient = wall - Duration::days(400);
    let hour = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H").to_string();

    let soon = planned(&shop, "c1", next_day);
    let late = planned(&shop, "c2", ancient);
    assert!(store.plan_message(&soon).await.unwrap());
    assert!(store.plan_message(&late).await.unwrap());

    let entry = |customer: &str| {
        let store = store.clone();
        let pk = format!("SHOP#{shop}#C#{customer}");
        async move {
            get_item(&store, pk, "MSG#review-request#1001#request")
                .await
                .unwrap()
        }
    };
    let soon_item = entry("c1").await;
    assert!(string(&soon_item, "gsi4pk").starts_with(&format!("DUE#review-request#{}#", hour(next_day))));
    assert!(string(&soon_item, "gsi4sk").starts_with(&next_day.to_rfc3339_opts(SecondsFormat::Millis, true)));
    let late_item = entry("c2").await;
    let late_bucket = string(&late_item, "gsi4pk");
    assert!(
        late_bucket.starts_with(&format!("DUE#review-request#{}#", hour(Utc::now())))
            || late_bucket.starts_with(&format!("DUE#review-request#{}#", hour(wall))),
        "an entry written late goes into the hour it is written in: {late_bucket}"
    );
    assert!(string(&late_item, "gsi4sk").starts_with(&ancient.to_rfc3339_opts(SecondsFormat::Millis, true)));

    let watermark = || {
        let store = store.clone();
        async move {
            string(
                &get_item(&store, "DUEWM#review-request".into(), "META")
                    .await
                    .unwrap(),
                "bucket",
            )
        }
    };
    let margin = Duration::minutes(WATERMARK_MARGIN_MINUTES);
    let first = watermark().await;
    assert!(first <= hour(Utc::now() - margin), "{first}");

    // A virtual clock far in the past still finds the late entry, and moves nothing.
    let due = store
        .due_messages(Flow::ReviewRequest, ancient, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|m| m.customer_id.to_string()).collect::<Vec<_>>(),
        ["c2"]
    );
    // Tomorrow's tick finds both and may move the watermark, but not past the late entry's hour.
    let due = store
        .due_messages(Flow::ReviewRequest, next_day + Duration::hours(2), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|m| m.customer_id.to_string()).collect::<Vec<_>>(),
        ["c2", "c1"]
    );
    let held = watermark().await;
    assert!(
        held <= hour(Utc::now()) && held >= first,
        "held at the late entry's bucket: {held}"
    );

    // Both finish: they leave the index with a TTL, and the watermark catches up with the wall
    // clock minus the margin (not with tomorrow).
    for message in due {
        let sent = Message {
            status: MessageStatus::Sent,
            reason: "sent".into(),
            ..message
        };
        store.update_message(&sent).await.unwrap();
    }
    for customer in ["c1", "c2"] {
        let item = entry(customer).await;
        assert!(!item.contains_key("gsi4pk") && !item.contains_key("gsi4sk"));
        let Some(AttributeValue::N(expires)) = item.get("expires_at") else {
            panic!("finished messages carry a TTL");
        };
        let days = (expires.parse::<i64>().unwrap() - Utc::now().timestamp()) / 86_400;
        assert!((399..=400).contains(&days), "{days} days");
    }
    assert!(
        store
            .due_messages(Flow::ReviewRequest, next_day + Duration::hours(2), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let advanced = watermark().await;
    assert_eq!(
        advanced,
        hour(Utc::now() - margin).max(held),
        "never closer than the margin"
    );

    // A message planned today, due a year ago (a replay), is still found: written late, it
    // lands in the current hour, which the watermark has not passed.
    let replayed = planned(&shop, "c3", ancient);
    assert!(store.plan_message(&replayed).await.unwrap());
    let due = store
        .due_messages(Flow::ReviewRequest, Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|m| m.customer_id.to_string()).collect::<Vec<_>>(),
        ["c3"]
    );
    assert!(watermark().await >= advanced);
}

#[tokio::test]
async fn racing_claims_of_one_message_let_exactly_one_win() {
    let store = fresh_store().await;
    let shop = ShopId::new(format!("{}.example", unique("claim"))).unwrap();
    let message = planned(&shop, "c1", Utc::now() - Duration::minutes(1));
    store.plan_message(&message).await.unwrap();
    let stored = Message {
        version: 1,
        ..message
    };
    let claims = (0..8).map(|n| {
        let store = store.clone();
        let claim = Message {
            status: MessageStatus::Claimed,
            lease_until: Some(Utc::now() + Duration::minutes(5)),
            reason: format!("claimed by sender {n}").into(),
            ..stored.clone()
        };
        tokio::spawn(async move { store.update_message(&claim).await })
    });
    let mut won = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Ok(saved) => {
                assert_eq!(saved.version, 2);
                won += 1;
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1);
    assert!(
        store
            .due_messages(Flow::ReviewRequest, Utc::now(), 10)
            .await
            .unwrap()
            .is_empty(),
        "the winner's lease keeps it out of the due list"
    );
}

#[tokio::test]
async fn create_table_matches_the_documented_definition_and_is_idempotent() {
    let config = moto().sdk_config().await;
    let client = Client::new(&config);
    let table = unique("definition");
    assert_eq!(create_table(&client, &table).await.unwrap(), TableStatus::Created);
    assert_eq!(
        create_table(&client, &table).await.unwrap(),
        TableStatus::AlreadyExisted
    );

    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        described.billing_mode_summary.and_then(|b| b.billing_mode),
        Some(BillingMode::PayPerRequest)
    );
    let mut indexes: Vec<(String, Option<ProjectionType>, Vec<String>)> = described
        .global_secondary_indexes
        .unwrap_or_default()
        .into_iter()
        .map(|gsi| {
            let projection = gsi.projection.unwrap_or_else(|| panic!("GSI without projection"));
            (
                gsi.index_name.unwrap_or_default(),
                projection.projection_type,
                gsi.key_schema
                    .unwrap_or_default()
                    .into_iter()
                    .map(|k| k.attribute_name)
                    .collect(),
            )
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        vec![
            (
                "GSI1".into(),
                Some(ProjectionType::Include),
                vec!["gsi1pk".into(), "gsi1sk".into()]
            ),
            (
                "GSI2".into(),
                Some(ProjectionType::KeysOnly),
                vec!["gsi2pk".into(), "gsi2sk".into()]
            ),
            (
                "GSI3".into(),
                Some(ProjectionType::KeysOnly),
                vec!["gsi3pk".into(), "gsi3sk".into()]
            ),
            (
                "GSI4".into(),
                Some(ProjectionType::KeysOnly),
                vec!["gsi4pk".into(), "gsi4sk".into()]
            ),
        ]
    );

    assert_eq!(
        described.sse_description.and_then(|sse| sse.status),
        Some(SseStatus::Enabled),
        "encrypted with KMS like the template's SSESpecification"
    );

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name.as_deref(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));

    let backups = client
        .describe_continuous_backups()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .continuous_backups_description
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status);
    assert_eq!(backups, Some(PointInTimeRecoveryStatus::Enabled));
}

#[tokio::test]
async fn an_expired_dedupe_record_no_longer_dedupes() {
    let store = fresh_store().await;
    let shop = ShopId::new(format!("{}.example", unique("ttl"))).unwrap();
    let event = customer_updated(&shop, "e1");
    assert_eq!(
        store.record_event(&event, Utc::now()).await.unwrap(),
        Recorded::New
    );

    let key = |name: &str, value: String| (name.to_string(), AttributeValue::S(value));
    let item_key = [key("pk", format!("SHOP#{shop}#E#e1")), key("sk", "SEEN".into())];
    let stored = store
        .client()
        .get_item()
        .table_name(store.table_name())
        .set_key(Some(item_key.clone().into_iter().collect()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let Some(AttributeValue::N(expires_at)) = stored.get("expires_at") else {
        panic!("event items carry a TTL");
    };
    let in_days = (expires_at.parse::<i64>().unwrap() - Utc::now().timestamp()) / 86_400;
    assert!((89..=90).contains(&in_days), "{in_days} days");

    // DynamoDB deletes expired items lazily (up to days later); until then they must not count.
    store
        .client()
        .update_item()
        .table_name(store.table_name())
        .set_key(Some(item_key.into_iter().collect()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((Utc::now().timestamp() - 60).to_string()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        store.record_event(&event, Utc::now()).await.unwrap(),
        Recorded::New
    );
    assert_eq!(
        store.record_event(&event, Utc::now()).await.unwrap(),
        Recorded::Duplicate { applied: false }
    );
}

#[tokio::test]
async fn racing_order_saves_let_exactly_one_win() {
    let store = fresh_store().await;
    let shop = ShopId::new(format!("{}.example", unique("race"))).unwrap();
    let record = OrderRecord::new(OrderId::new("1001").unwrap());
    let saves = (0..8).map(|_| {
        let store = store.clone();
        let shop = shop.clone();
        let record = record.clone();
        tokio::spawn(async move { store.save_order(&shop, &record, 0).await })
    });
    let mut won = 0;
    for save in saves {
        match save.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn redact_shop_also_removes_the_shops_dead_letters() {
    let store = fresh_store().await;
    let shop = ShopId::new(format!("{}.example", unique("dl"))).unwrap();
    let letter = DeadLetter {
        id: "delivery-1".into(),
        shop: shop.to_string(),
        platform: Platform::Woocommerce,
        topic: "order.created".into(),
        headers: Vec::new(),
        body_base64: "e30=".into(),
        reason: "bad payload".into(),
        received_at: Utc::now(),
        status: DeadLetterStatus::Pending,
        attempts: 0,
    };
    store.put_dead_letter(&letter).await.unwrap();
    assert_eq!(store.redact_shop(&shop).await.unwrap(), 1);
    assert!(
        store
            .list_dead_letters()
            .await
            .unwrap()
            .iter()
            .all(|l| l.shop != letter.shop)
    );
}

#[tokio::test]
async fn an_unreadable_message_on_dynamodb_is_named_and_quarantined() {
    let store = fresh_store().await;
    let damaged = store.clone();
    messages::unreadable_messages_are_named_and_quarantined(&store, |message| async move {
        damaged
            .client()
            .update_item()
            .table_name(damaged.table_name())
            .set_key(Some(item_key(
                format!("SHOP#{}#C#{}", message.shop, message.customer_id),
                &format!("MSG#{}", message.id()),
            )))
            .update_expression("SET #data = :bad")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(
                ":bad",
                AttributeValue::S("{\"flow\": \"from-the-future\"}".into()),
            )
            .send()
            .await
            .unwrap();
    })
    .await;
    // Out of the due index, kept (with a TTL) for someone to look at.
    let poison = scan(&store)
        .await
        .into_iter()
        .find(|item| matches!(item.get("data"), Some(AttributeValue::S(d)) if d.contains("from-the-future")))
        .expect("the damaged item is kept");
    assert!(!poison.contains_key("gsi4pk") && !poison.contains_key("gsi4sk"));
    assert!(poison.contains_key("expires_at"));
}

/// A message item written before payloads were typed (its `details` a map of text) still
/// reads with its typed payload, and a write keeps the stored JSON in the same shape.
#[tokio::test]
async fn a_message_item_of_the_old_shape_reads_and_keeps_its_shape() {
    const OLD_DATA: &str = concat!(
        r#"{"shop":"demo.myshopify.com","customer_id":"c1","flow":"vip","subject":"anniversary-2026","#,
        r#""step":"anniversary","order_id":null,"class":"marketing","channel":"email","#,
        r#""due_at":"2026-05-01T08:00:00Z","due_basis":"known","status":"planned","reason":"planned","#,
        r#""planned_at":"2025-05-01T08:00:00Z","lease_until":null,"attempts":0,"products":[],"#,
        r#""details":{"first_order_at":"2024-05-01T10:00:00Z","tier":"Gold","years":"2"},"#,
        r#""to":null,"rendered_subject":null,"sent_at":null,"provider_id":null,"version":1}"#
    );
    let store = fresh_store().await;
    let shop = ShopId::new("demo.myshopify.com").unwrap();
    let customer = CustomerId::new("c1").unwrap();
    let (pk, sk) = (
        "SHOP#demo.myshopify.com#C#c1".to_string(),
        "MSG#vip#anniversary-2026#anniversary",
    );
    let mut item = item_key(pk.clone(), sk);
    item.insert("data".into(), AttributeValue::S(OLD_DATA.into()));
    item.insert("version".into(), AttributeValue::N("1".into()));
    store
        .client()
        .put_item()
        .table_name(store.table_name())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    let id = aftersale_domain::MessageId::of(
        aftersale_domain::flows::vip::Step::Anniversary.into(),
        "anniversary-2026",
    );
    let message = store
        .load_message(&shop, &customer, &id)
        .await
        .unwrap()
        .expect("the old item");
    let vip = message.payload.vip().expect("a VIP payload");
    assert_eq!(vip.tier.as_ref().map(|t| t.as_str()), Some("Gold"));
    assert_eq!(vip.years, Some(2));
    assert_eq!(message.details()["first_order_at"], "2024-05-01T10:00:00Z");

    store.update_message(&message).await.unwrap();
    let Some(AttributeValue::S(data)) = get_item(&store, pk, sk).await.unwrap().remove("data") else {
        panic!("no data attribute");
    };
    assert_eq!(data, OLD_DATA.replace(r#""version":1}"#, r#""version":2}"#));
}
