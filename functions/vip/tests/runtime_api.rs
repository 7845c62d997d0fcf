//! End to end: the real `vip` binary, run as Lambda runs it (against a local Runtime API),
//! invoked the two ways `template.yaml` invokes it: by an SNS delivery of a domain event (plan)
//! and by its schedule's `{"tick": ...}` (send), with DynamoDB, SES, SNS and SSM on moto server.
//! Between the two, an early-access campaign is created through the library on the same table,
//! as the operator's command does: the one function sends both flows' messages.
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
use aftersale_domain::lifecycle::vip::TierName;
use aftersale_domain::{CustomerId, Flow, Message, MessageStatus, ShopConfig, ShopId};
use aftersale_engine::discounts::FixedDiscounts;
use aftersale_engine::{Engine, Senders, Settings};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_links::LinkSigner;
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{
    EventLog, Messages, NoEventBus, RecordingAlerts, RecordingMailer, RecordingSms, ShopConfigs, SystemClock,
};
use aftersale_rewards::MemoryDiscounts;
use aftersale_templates::Templates;
use aws_sdk_ssm::types::ParameterType;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{SecondsFormat, Utc};
use lambda::{Function, RuntimeApi};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SHOP: &str = "demo.myshopify.com";
/// The shop's default sender (`hello@{shop}`), verified in SES below.
const SENDER: &str = "hello@demo.myshopify.com";
/// The fixture order and its customer.
const ORDER: &str = "820982911946154508";
const CUSTOMER: &str = "115310627314723954";
const LINK_KEY_PARAM: &str = "/aftersale/feedback/link-signing-key";
const LINK_KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const CAMPAIGN: &str = "Spring drop";
const CAMPAIGN_TEXT: &str = "New roasts, for you first.";
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

/// The schedule's input (`template.yaml`); its contents are informational.
fn tick(execution: u32) -> Value {
    json!({"tick": {
        "scheduled_time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "execution_id": format!("3f1a0b1e-0000-4000-8000-{execution:012}"),
        "attempt": "1"
    }})
}

/// Stores the fixture paid order (placed a minute ago, its customer subscribed to marketing
/// email: tier recognition and early access are marketing) the way the webhook function does,
/// and returns the JSON of the event it would publish.
async fn store_a_paid_order(store: DynamoDbStore) -> String {
    let path = format!(
        "{}/../../tests/fixtures/shopify/orders_paid.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let placed = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut order: Value = serde_json::from_str(
        &fixture
            .replace("2021-12-31T19:00:00-05:00", &placed)
            .replace("2021-12-31T19:05:00-05:00", &placed),
    )
    .unwrap();
    order["customer"]["email_marketing_consent"]["state"] = json!("subscribed");
    let body = serde_json::to_string(&order).unwrap();

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
        ("x-shopify-topic", "orders/paid"),
        ("x-shopify-shop-domain", SHOP),
        ("x-shopify-event-id", "evt-order-paid-1"),
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
    assert_eq!(events[0].event.kind_name(), "order_paid");
    serde_json::to_string(&events[0].event).unwrap()
}

/// The library's engine on the function's table, as the operator's tooling assembles it to
/// create a campaign: the store is real, nothing is sent from here.
fn campaign_engine(store: DynamoDbStore) -> Engine {
    Engine::new(
        Arc::new(store),
        Senders {
            mailer: Arc::new(RecordingMailer::new()),
            sms: Arc::new(RecordingSms::new()),
            alerts: Arc::new(RecordingAlerts::new()),
            discounts: Arc::new(FixedDiscounts(Arc::new(MemoryDiscounts::new()))),
        },
        Templates::builtin(),
        LinkSigner::new(b"aftersale-vip-runtime-api-tests!").unwrap(),
        Arc::new(SystemClock),
        Settings {
            flows: vec![Flow::Vip, Flow::EarlyAccess],
            ..Settings::default()
        },
    )
}

/// The customer's message of `flow` at `step`.
fn find<'a>(messages: &'a [Message], flow: Flow, step: &str) -> &'a Message {
    messages
        .iter()
        .find(|m| m.flow == flow && m.step == step)
        .unwrap_or_else(|| panic!("no {flow:?} {step} in {messages:#?}"))
}

/// The SES messages moto recorded for one Aftersale message.
fn ses_messages<'a>(data: &'a Value, message_id: &str) -> Vec<&'a Value> {
    let header = format!("X-Aftersale-Message: {message_id}");
    data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["raw_data"].as_str().unwrap_or_default().contains(&header))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_recognises_a_new_tier_and_sends_early_access_once() {
    let started = std::time::Instant::now();
    let moto = moto::moto();
    let config = moto.sdk_config().await;
    let shop = ShopId::from_domain(SHOP).unwrap();
    let customer = CustomerId::new(CUSTOMER).unwrap();

    let table = moto::unique("aftersale");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    assert_eq!(
        create_table(&dynamodb, &table).await.unwrap(),
        TableStatus::Created
    );

    // SES sends only from a verified identity: the shop's default sender.
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();

    // The link key only in SSM, as template.yaml deploys it.
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name(LINK_KEY_PARAM)
        .value(LINK_KEY_HEX)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();

    // The shop's config: one order makes a Silver member.
    let toml = r#"
[[flows.vip.tiers]]
name = "Silver"
min_orders = 1
"#;
    let shop_config = ShopConfig::from_toml(toml, &shop).unwrap();
    DynamoDbStore::from_config(&config, &table)
        .save_config(&shop, &shop_config)
        .await
        .unwrap();

    let event = store_a_paid_order(DynamoDbStore::from_config(&config, &table)).await;

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
        env!("CARGO_BIN_EXE_vip"),
        &runtime,
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AFTERSALE_TABLE", &table),
            ("LINK_SIGNING_KEY_PARAM", LINK_KEY_PARAM),
            ("SUPPORT_ALERTS_TOPIC_ARN", &alerts),
            ("FEEDBACK_BASE_URL", "https://feedback.example/"),
        ],
    );
    let store = DynamoDbStore::from_config(&config, &table);
    let entered_id = format!("vip#Silver@{ORDER}#tier-entered");

    // 1. The domain event, as the SNS subscription delivers it: the customer enters Silver,
    //    which plans the recognition (due now) and the first anniversary (a year on).
    let response = runtime
        .invoke_ok(
            &mut function,
            sns_invocation(&domain_events, &event, "order_paid"),
            FIRST_INVOCATION,
        )
        .await;
    assert_eq!(response, json!({"planned": 2}));
    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let entered = find(&messages, Flow::Vip, "tier-entered");
    assert_eq!(entered.id(), entered_id);
    assert_eq!(entered.status, MessageStatus::Planned, "{entered:#?}");
    assert_eq!(entered.details["tier"], "Silver", "{entered:#?}");
    let anniversary = find(&messages, Flow::Vip, "anniversary");
    assert_eq!(anniversary.status, MessageStatus::Planned, "{anniversary:#?}");
    assert_eq!(anniversary.details["tier"], "Silver", "{anniversary:#?}");
    assert!(
        anniversary.due_at > Utc::now() + chrono::Duration::days(300),
        "{anniversary:#?}"
    );

    // 2. An early-access campaign for Silver, created through the library on the same table.
    //    Its public start is two hours away with a day's lead: 10:00 UTC (the shop's zone) on
    //    the day before the launch day is already past, so "you first" is due now.
    let public_start = Utc::now() + chrono::Duration::hours(2);
    let report = campaign_engine(DynamoDbStore::from_config(&config, &table))
        .create_campaign(
            &shop,
            CAMPAIGN,
            public_start,
            1,
            vec![TierName("Silver".into())],
            CAMPAIGN_TEXT,
        )
        .await
        .unwrap();
    assert_eq!(report.invited, 1, "{report:?}");
    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let you_first = find(&messages, Flow::EarlyAccess, "you-first");
    assert_eq!(you_first.status, MessageStatus::Planned, "{you_first:#?}");
    assert!(you_first.due_at <= Utc::now(), "{you_first:#?}");
    let you_first_id = you_first.id();

    // 3. The schedule's tick: the recognition and the early access both go out through SES.
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 2, "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let data = moto.data().await;
    for (flow, step, id, text) in [
        (Flow::Vip, "tier-entered", entered_id.as_str(), "Silver"),
        (
            Flow::EarlyAccess,
            "you-first",
            you_first_id.as_str(),
            CAMPAIGN_TEXT,
        ),
    ] {
        let message = find(&messages, flow, step);
        assert_eq!(message.status, MessageStatus::Sent, "{message:#?}");
        let provider_id = message.provider_id.clone().expect("SES's message id is kept");
        let sent = ses_messages(&data, id);
        assert_eq!(sent.len(), 1, "{id}: {sent:#?}");
        let sent = sent[0];
        assert_eq!(sent["id"], provider_id.as_str(), "{sent}");
        assert!(
            sent["source"].as_str().unwrap_or_default().contains(SENDER),
            "{sent}"
        );
        let raw = sent["raw_data"].as_str().unwrap_or_default();
        assert!(
            raw.contains("To: \"John\" <john@example.com>"),
            "to the order's customer: {raw}"
        );
        assert!(raw.contains(text), "{id} says {text}: {raw}");
    }
    assert_eq!(
        find(&messages, Flow::Vip, "anniversary").status,
        MessageStatus::Planned
    );

    // 4. The next tick: nothing more is sent.
    let report = runtime.invoke_ok(&mut function, tick(2), INVOCATION).await;
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let data = moto.data().await;
    for id in [&entered_id, &you_first_id] {
        assert_eq!(ses_messages(&data, id).len(), 1, "{id} is sent once");
    }
    assert!(function.exited().is_none(), "{}", function.log());

    eprintln!("vip runtime API test took {:?}", started.elapsed());
}
