//! What the flow functions' runtime API tests (thank-you, referral, vip) share: moto set up as
//! `template.yaml` deploys the stack, the fixture order stored as the webhook function stores it,
//! and the two invocations' payloads.

// moto server, as the AWS adapters' tests run it.
#[allow(dead_code)]
#[path = "../../../../shared/aws/tests/aws_on_moto/support.rs"]
pub mod moto;
// The Runtime API and process guard the shopify-webhook function's test defines.
#[allow(dead_code)]
#[path = "lambda.rs"]
pub mod lambda;

use aftersale_aws::{DynamoDbStore, TableStatus, create_table};
use aftersale_domain::{ShopConfig, ShopId};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventLog, NoEventBus, ShopConfigs, SystemClock};
use aws_config::SdkConfig;
use aws_sdk_ssm::types::ParameterType;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{SecondsFormat, Utc};
use lambda::{Function, RuntimeApi};
use moto::Moto;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const SHOP: &str = "demo.myshopify.com";
/// The shop's default sender (`hello@{shop}`), verified in SES by [`Stack::new`].
pub const SENDER: &str = "hello@demo.myshopify.com";
/// The fixture order's customer.
pub const CUSTOMER: &str = "115310627314723954";
/// Where template.yaml keeps the link signing key, for the functions that read it from SSM.
pub const LINK_KEY_PARAM: &str = "/aftersale/feedback/link-signing-key";
/// The env of a function that reads its link key from SSM.
pub const LINK_KEY_FROM_SSM: &[(&str, &str)] = &[("AFTERSALE_LINK_KEY_PARAM", LINK_KEY_PARAM)];
pub const LINK_KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
pub const FIRST_INVOCATION: Duration = Duration::from_secs(60);
pub const INVOCATION: Duration = Duration::from_secs(20);

/// The stack's resources on moto, each test's own (unique names).
pub struct Stack {
    pub moto: &'static Moto,
    pub config: SdkConfig,
    pub table: String,
    pub alerts: String,
    pub domain_events: String,
}

impl Stack {
    /// Creates the table, verifies [`SENDER`] (SES sends only from a verified identity), puts
    /// `secrets` in SSM as SecureStrings (as template.yaml deploys them) and creates the alerts
    /// and domain-events topics.
    pub async fn new(secrets: &[(&str, &str)]) -> Stack {
        let moto = moto::moto();
        let config = moto.sdk_config().await;

        let table = moto::unique("aftersale");
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        assert_eq!(
            create_table(&dynamodb, &table).await.unwrap(),
            TableStatus::Created
        );

        aws_sdk_sesv2::Client::new(&config)
            .create_email_identity()
            .email_identity(SENDER)
            .send()
            .await
            .unwrap();

        let ssm = aws_sdk_ssm::Client::new(&config);
        for (name, value) in secrets {
            ssm.put_parameter()
                .name(*name)
                .value(*value)
                .r#type(ParameterType::SecureString)
                .overwrite(true)
                .send()
                .await
                .unwrap();
        }

        let sns = aws_sdk_sns::Client::new(&config);
        let topic = async |label: &str| {
            sns.create_topic()
                .name(moto::unique(label))
                .send()
                .await
                .unwrap()
                .topic_arn
                .unwrap()
        };
        let alerts = topic("support-alerts").await;
        let domain_events = topic("domain-events").await;

        Stack {
            moto,
            config,
            table,
            alerts,
            domain_events,
        }
    }

    /// A store on the stack's table.
    pub fn store(&self) -> DynamoDbStore {
        DynamoDbStore::from_config(&self.config, &self.table)
    }

    /// Saves the shop's config, parsed from `toml`.
    pub async fn save_config(&self, toml: &str) {
        let shop = ShopId::from_domain(SHOP).unwrap();
        let config = ShopConfig::from_toml(toml, &shop).unwrap();
        self.store().save_config(&shop, &config).await.unwrap();
    }

    /// Starts the Runtime API and the function `binary` against it, with the stack's env
    /// plus `env` (how the function gets its link key differs).
    pub async fn start(&self, binary: &str, env: &[(&str, &str)]) -> (RuntimeApi, Function) {
        let runtime = RuntimeApi::start().await;
        let mut all = vec![
            ("AWS_ENDPOINT_URL", self.moto.endpoint.as_str()),
            ("AFTERSALE_TABLE", self.table.as_str()),
            ("SUPPORT_ALERTS_TOPIC_ARN", self.alerts.as_str()),
            ("FEEDBACK_BASE_URL", "https://feedback.example/"),
        ];
        all.extend_from_slice(env);
        let function = Function::spawn(binary, &runtime, &all);
        (runtime, function)
    }
}

/// Delivers the order's SNS invocation: the function's first, with its cold start.
pub async fn plan(runtime: &mut RuntimeApi, function: &mut Function, invocation: Value) -> Value {
    runtime.invoke_ok(function, invocation, FIRST_INVOCATION).await
}

/// The webhook delivering a fixture order.
pub struct Webhook<'a> {
    /// Under `tests/fixtures/shopify/`.
    pub fixture: &'a str,
    pub topic: &'a str,
    pub event_id: &'a str,
    /// The domain event's kind it becomes.
    pub kind: &'a str,
    /// Whether the customer is subscribed to marketing email (the fixture's is not).
    pub subscribed: bool,
}

/// The fixture order as created (`orders/create`).
pub const ORDER_CREATED: Webhook<'static> = Webhook {
    fixture: "orders_create.json",
    topic: "orders/create",
    event_id: "evt-order-1",
    kind: "order_placed",
    subscribed: false,
};

/// The fixture order as paid, its customer subscribed: the flows that send marketing need that.
pub const ORDER_PAID_BY_A_SUBSCRIBER: Webhook<'static> = Webhook {
    fixture: "orders_paid.json",
    topic: "orders/paid",
    event_id: "evt-order-paid-1",
    kind: "order_paid",
    subscribed: true,
};

impl Stack {
    /// Stores the fixture order (placed a minute ago, so its messages are still timely) the
    /// way the webhook function does, and returns the SNS invocation delivering its event.
    pub async fn store_order(&self, webhook: Webhook<'_>) -> Value {
        self.store_order_placed(webhook, Utc::now() - chrono::Duration::minutes(1))
            .await
    }

    /// [`Stack::store_order`], the order placed at `placed` (a flow that waits a day or a
    /// month needs an older order).
    pub async fn store_order_placed(&self, webhook: Webhook<'_>, placed: chrono::DateTime<Utc>) -> Value {
        let event = ingest(self.store(), &webhook, placed).await;
        sns_invocation(&self.domain_events, &event, webhook.kind)
    }
}

/// The event JSON the webhook function would publish.
async fn ingest(store: DynamoDbStore, webhook: &Webhook<'_>, placed: chrono::DateTime<Utc>) -> String {
    let path = format!(
        "{}/../../tests/fixtures/shopify/{}",
        env!("CARGO_MANIFEST_DIR"),
        webhook.fixture
    );
    let fixture = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let placed = placed.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut body = fixture
        .replace("2021-12-31T19:00:00-05:00", &placed)
        .replace("2021-12-31T19:05:00-05:00", &placed);
    if webhook.subscribed {
        let mut order: Value = serde_json::from_str(&body).unwrap();
        order["customer"]["email_marketing_consent"]["state"] = json!("subscribed");
        body = serde_json::to_string(&order).unwrap();
    }

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
        ("x-shopify-topic", webhook.topic),
        ("x-shopify-shop-domain", SHOP),
        ("x-shopify-event-id", webhook.event_id),
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
    assert_eq!(events[0].event.kind_name(), webhook.kind);
    serde_json::to_string(&events[0].event).unwrap()
}

/// Lambda's SNS event, one record carrying `message` with the bus's attributes.
pub fn sns_invocation(topic: &str, message: &str, kind: &str) -> Value {
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
pub fn tick(execution: u32) -> Value {
    json!({"tick": {
        "scheduled_time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "execution_id": format!("3f1a0b1e-0000-4000-8000-{execution:012}"),
        "attempt": "1"
    }})
}

/// The SES messages moto recorded for one Aftersale message.
pub fn ses_messages<'a>(data: &'a Value, message_id: &str) -> Vec<&'a Value> {
    let header = format!("X-Aftersale-Message: {message_id}");
    data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["raw_data"].as_str().unwrap_or_default().contains(&header))
        .collect()
}
