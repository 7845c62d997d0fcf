//! End to end: the real `checkout-recovery` binary, run as Lambda runs it (against a local
//! Runtime API), with DynamoDB, SES and SNS on moto server. A signed `checkouts/update` is
//! ingested as the webhook function ingests it; its SNS delivery plans the reminders; the
//! schedule's tick sends the first, with the checkout's recovery link; the order that completes
//! the checkout arrives and the second reminder is skipped at once.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`).

// The setup, payloads, moto server and Runtime API the flow functions' tests share.
#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_aws::DynamoDbStore;
use aftersale_domain::{MessageStatus, ShopId, StoreEvent};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventLog, Messages, NoEventBus, SystemClock};
use axum::http::{HeaderMap, HeaderValue};
use chrono::{Duration, SecondsFormat, Utc};
use flow::{INVOCATION, LINK_KEY_HEX, SENDER, SHOP, Stack, ses_messages, tick};
use serde_json::{Value, json};
use std::sync::Arc;

const RECOVERY_URL: &str =
    "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token";

/// Ingests a signed Shopify delivery of `body` into the stack's table, as the webhook function
/// does, and returns the newest stored event.
async fn ingest(store: DynamoDbStore, topic: &str, event_id: &str, body: &Value) -> StoreEvent {
    let body = serde_json::to_string(body).unwrap();
    let store = Arc::new(store);
    let secret = "shpss_runtime_api_test";
    let ingest = Ingest::new(
        store.clone(),
        Arc::new(NoEventBus),
        Arc::new(SystemClock),
        WebhookSecrets {
            shopify: Secret::new(secret),
            ..WebhookSecrets::default()
        },
    );
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-shopify-topic", topic),
        ("x-shopify-shop-domain", SHOP),
        ("x-shopify-event-id", event_id),
        (
            "x-shopify-hmac-sha256",
            &sign_base64(secret.as_bytes(), body.as_bytes()),
        ),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let reply = ingest.shopify(&headers, body.as_bytes()).await;
    assert_eq!(reply.outcome, "accepted", "{reply:?}");
    let shop = ShopId::from_domain(SHOP).unwrap();
    let events = store.list_events(Some(&shop)).await.unwrap();
    events
        .into_iter()
        .find(|e| e.event.event_id.as_str() == format!("shopify:{event_id}"))
        .expect("the delivery's event is stored")
        .event
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/shopify/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_reminds_of_a_checkout_on_a_tick_and_stops_when_its_order_arrives() {
    let stack = Stack::new(&[]).await;
    let shop = ShopId::from_domain(SHOP).unwrap();

    // The customer stopped 61 minutes ago, after ticking "email me with news and offers".
    let stopped = (Utc::now() - Duration::minutes(61)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut checkout = fixture("checkouts_update.json");
    checkout["created_at"] = json!(stopped);
    checkout["updated_at"] = json!(stopped);
    let event = ingest(stack.store(), "checkouts/update", "evt-checkout-1", &checkout).await;
    assert_eq!(event.kind_name(), "checkout_updated");

    let (mut runtime, mut function) = stack
        .start(
            env!("CARGO_BIN_EXE_checkout-recovery"),
            &[("AFTERSALE_LINK_KEY", LINK_KEY_HEX)],
        )
        .await;
    let invocation = flow::sns_invocation(
        &stack.domain_events,
        &serde_json::to_string(&event).unwrap(),
        "checkout_updated",
    );
    assert_eq!(
        flow::plan(&mut runtime, &mut function, invocation).await,
        json!({"planned": 2})
    );

    // The tick: the hour is up, the reminder goes through SES with the recovery link.
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}");
    let data = stack.moto.data().await;
    let sent = ses_messages(&data, "checkout-recovery#123123123#reminder");
    assert_eq!(sent.len(), 1, "sent once");
    assert!(
        sent[0]["source"].as_str().unwrap_or_default().contains(SENDER),
        "{}",
        sent[0]
    );
    let raw = sent[0]["raw_data"].as_str().unwrap_or_default();
    assert!(raw.contains("To: John <john@example.com>"), "{raw}");
    assert!(
        raw.contains("Subject: John, you left something in your basket"),
        "{raw}"
    );
    assert!(
        raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "marketing: {raw}"
    );
    let unfolded = raw.replace("=\r\n", "").replace("=3D", "=");
    assert!(unfolded.contains(RECOVERY_URL), "the recovery link: {raw}");

    // The order that completes the checkout: the second reminder is skipped at once.
    let mut order = fixture("orders_create.json");
    order["checkout_token"] = json!("123123123");
    order["cart_token"] = json!("eeafa272cebfd4b22385bc4b645e762c");
    order["email"] = json!("john@example.com");
    order["customer"]["id"] = json!(603851970716743426_u64);
    let placed = ingest(stack.store(), "orders/create", "evt-order-1", &order).await;
    let invocation = flow::sns_invocation(
        &stack.domain_events,
        &serde_json::to_string(&placed).unwrap(),
        "order_placed",
    );
    assert_eq!(
        flow::plan(&mut runtime, &mut function, invocation).await,
        json!({"planned": 1})
    );

    let messages = stack.store().list_messages(Some(&shop)).await.unwrap();
    let step = |name: &str| {
        messages
            .iter()
            .find(|m| m.step.as_str() == name)
            .unwrap_or_else(|| panic!("{messages:#?}"))
    };
    assert_eq!(step("reminder").status, MessageStatus::Sent);
    let second = step("second-reminder");
    assert_eq!(second.status, MessageStatus::Skipped);
    assert_eq!(second.reason.to_string(), "skipped: checkout completed");
    assert!(function.exited().is_none(), "{}", function.log());
}
