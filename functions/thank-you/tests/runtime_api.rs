//! End to end: the real `thank-you` binary, run as Lambda runs it (against a local Runtime API),
//! invoked the two ways `template.yaml` invokes it: by an SNS delivery of a domain event (plan)
//! and by its schedule's `{"tick": ...}` (send), with DynamoDB, SES and SNS on moto server.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`).

#[allow(dead_code)]
#[path = "../../../shared/aws/tests/aws_on_moto/support.rs"]
mod moto;
// The Runtime API and process guard the shopify-webhook function's test defines.
#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/lambda.rs"]
mod lambda;

use aftersale_aws::{DynamoDbStore, TableStatus, create_table};
use aftersale_domain::{MessageStatus, ShopId};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventLog, Messages, NoEventBus, SystemClock};
use axum::http::{HeaderMap, HeaderValue};
use chrono::{SecondsFormat, Utc};
use lambda::{Function, Outcome, RuntimeApi};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SHOP: &str = "demo.myshopify.com";
const SENDER: &str = "hello@demo.myshopify.com";
const FIRST_INVOCATION: Duration = Duration::from_secs(60);
const INVOCATION: Duration = Duration::from_secs(20);

/// Lambda's SNS event, one record carrying `message` with the bus's attributes.
fn sns_invocation(topic: &str, message: &str, kind: &str) -> Value {
    json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
            "Sns": {
                "Type": "Notification",
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": topic,
                "Subject": null,
                "Message": message,
                "Timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                "SignatureVersion": "1",
                "Signature": "EXAMPLE",
                "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
                "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                "MessageAttributes": {
                    "kind": {"Type": "String", "Value": kind},
                    "platform": {"Type": "String", "Value": "shopify"},
                    "shop": {"Type": "String", "Value": SHOP}
                }
            }
        }]
    })
}

/// Stores the fixture order (placed a minute ago, so the thank-you is still timely) the way
/// the webhook function does, and returns the JSON of the event it would publish.
async fn store_an_order(store: DynamoDbStore) -> String {
    let path = format!(
        "{}/../../tests/fixtures/shopify/orders_create.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let placed = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let body = fixture.replace("2021-12-31T19:00:00-05:00", &placed);

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
        ("x-shopify-topic", "orders/create"),
        ("x-shopify-shop-domain", SHOP),
        ("x-shopify-event-id", "evt-order-1"),
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
    assert_eq!(events.len(), 1);
    serde_json::to_string(&events[0].event).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_plans_on_an_sns_event_and_sends_on_a_tick() {
    let started = std::time::Instant::now();
    let moto = moto::moto();
    let config = moto.sdk_config().await;

    let table = moto::unique("aftersale");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    assert_eq!(
        create_table(&dynamodb, &table).await.unwrap(),
        TableStatus::Created
    );
    let event = store_an_order(DynamoDbStore::from_config(&config, &table)).await;

    // SES sends only from a verified identity: the shop's default sender.
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&config);
    let alerts = sns
        .create_topic()
        .name(moto::unique("support-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let domain_events = sns
        .create_topic()
        .name(moto::unique("domain-events"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();

    let mut runtime = RuntimeApi::start().await;
    let mut function = Function::spawn(
        env!("CARGO_BIN_EXE_thank-you"),
        &runtime,
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AFTERSALE_TABLE", &table),
            (
                "LINK_SIGNING_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            ),
            ("SUPPORT_ALERTS_TOPIC_ARN", &alerts),
            ("FEEDBACK_BASE_URL", "https://feedback.example/"),
        ],
    );

    // 1. The domain event, as the SNS subscription delivers it: the thank-you and the survey
    //    are planned.
    let response = runtime
        .invoke_ok(
            &mut function,
            sns_invocation(&domain_events, &event, "order_placed"),
            FIRST_INVOCATION,
        )
        .await;
    assert_eq!(response, json!({"planned": 2}));

    // 2. The schedule's tick: the thank-you is due and goes out through SES.
    let tick = json!({"tick": {
        "scheduled_time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "execution_id": "3f1a0b1e-0000-4000-8000-000000000001",
        "attempt": "1"
    }});
    let report = runtime.invoke_ok(&mut function, tick, INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    // 3. Something that is neither: an invocation error Lambda retries and dead-letters.
    let request_id = runtime.invoke(json!({"hello": "world"}));
    match runtime.outcome(&mut function, INVOCATION).await {
        Outcome::Error {
            request_id: id, body, ..
        } => {
            assert_eq!(id, request_id);
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("unrecognised invocation"), "{body}");
        }
        other => panic!("expected an invocation error, got {other:?}"),
    }
    assert!(function.exited().is_none(), "{}", function.log());

    // In DynamoDB: the thank-you sent (with SES's message id), the survey still planned.
    let store = DynamoDbStore::from_config(&config, &table);
    let shop = ShopId::from_domain(SHOP).unwrap();
    let messages = store.list_messages(Some(&shop)).await.unwrap();
    let step = |name: &str| {
        messages
            .iter()
            .find(|m| m.step == name)
            .unwrap_or_else(|| panic!("no {name} message in {messages:#?}"))
    };
    let thank_you = step("thank-you");
    assert_eq!(thank_you.status, MessageStatus::Sent, "{thank_you:#?}");
    let provider_id = thank_you.provider_id.clone().expect("SES's message id is kept");
    assert_eq!(step("feedback").status, MessageStatus::Planned);

    // ...and moto's SES has the message, from the shop's sender to the customer.
    let data = moto.data().await;
    let sent = data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == provider_id.as_str())
        .unwrap_or_else(|| panic!("SES message {provider_id} not recorded by moto"));
    assert!(
        sent["source"].as_str().unwrap_or_default().contains(SENDER),
        "{sent}"
    );
    let raw = sent["raw_data"].as_str().unwrap_or_default();
    assert!(
        raw.contains("To: \"John\" <john@example.com>"),
        "to the order's customer: {raw}"
    );
    assert!(
        raw.contains("X-Aftersale-Message: thank-you#820982911946154508#thank-you"),
        "{raw}"
    );

    eprintln!("thank-you runtime API test took {:?}", started.elapsed());
}
