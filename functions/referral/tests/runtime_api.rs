//! End to end: the real `referral` binary, run as Lambda runs it (against a local Runtime API),
//! invoked the two ways `template.yaml` invokes it: by an SNS delivery of a domain event (plan)
//! and by its schedule's `{"tick": ...}` (send), with DynamoDB, SES, SNS and SSM on moto server
//! and the shop's Shopify GraphQL Admin API played by a local server.
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
use aftersale_domain::{CustomerId, MessageStatus, ShopConfig, ShopId};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventLog, Messages, NoEventBus, ShopConfigs, SystemClock};
use aws_sdk_ssm::types::ParameterType;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use lambda::{Function, RuntimeApi};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHOP: &str = "demo.myshopify.com";
/// The shop's default sender (`hello@{shop}`), verified in SES below.
const SENDER: &str = "hello@demo.myshopify.com";
/// The fixture order's customer.
const CUSTOMER: &str = "115310627314723954";
const ADMIN_TOKEN_PARAM: &str = "/aftersale/demo.myshopify.com/admin-token";
const LINK_KEY_PARAM: &str = "/aftersale/feedback/link-signing-key";
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

/// What the Admin API received: the access token header and the GraphQL request.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// The shop's GraphQL Admin API, as much as creating a basic discount code needs; returns
/// its base URL and what it was sent.
async fn shopify_admin() -> (String, Seen) {
    async fn graphql(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        seen.lock().unwrap().push((token, body));
        Json(json!({"data": {"discountCodeBasicCreate": {
            "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1"}, "userErrors": []}}}))
    }
    let seen = Seen::default();
    let app = Router::new()
        .route("/admin/api/2025-01/graphql.json", post(graphql))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port for the Admin API");
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the Admin API serves") });
    (base, seen)
}

/// Stores the fixture paid order (placed a minute ago, its customer subscribed to marketing
/// email: a referral invitation is marketing) the way the webhook function does, and returns
/// the JSON of the event it would publish.
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
async fn the_function_binary_plans_a_share_on_a_paid_order_and_sends_it_once_with_a_real_code() {
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

    // The secrets only in SSM, as template.yaml deploys them: the link key the stack's, the
    // Admin API token under the shop's own prefix.
    let admin_token = moto::unique("shpat");
    let ssm = aws_sdk_ssm::Client::new(&config);
    for (name, value) in [
        (
            LINK_KEY_PARAM,
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        (ADMIN_TOKEN_PARAM, admin_token.as_str()),
    ] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }

    // The shop's config, with referrals on and its Admin API on a local server.
    let (admin_api, seen) = shopify_admin().await;
    let toml = format!(
        r#"
[admin_api]
base_url = "{admin_api}"
access_token_secret = "{ADMIN_TOKEN_PARAM}"

[flows.referral]
enabled = true
eligible_after = "paid"
"#
    );
    let shop_config = ShopConfig::from_toml(&toml, &shop).unwrap();
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
        env!("CARGO_BIN_EXE_referral"),
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
    let share_id = format!("referral#{CUSTOMER}#share");

    // 1. The domain event, as the SNS subscription delivers it: the share message is planned
    //    with the customer's code, and no discount exists yet.
    let response = runtime
        .invoke_ok(
            &mut function,
            sns_invocation(&domain_events, &event, "order_paid"),
            FIRST_INVOCATION,
        )
        .await;
    assert_eq!(response, json!({"planned": 1}));
    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let share = messages
        .iter()
        .find(|m| m.id() == share_id)
        .unwrap_or_else(|| panic!("no {share_id} in {messages:#?}"));
    assert_eq!(share.status, MessageStatus::Planned, "{share:#?}");
    let code = share.details["code"].clone();
    assert!(code.starts_with("FRIEND-"), "{code}");
    assert!(seen.lock().unwrap().is_empty(), "no code is created at planning");

    // 2. The schedule's tick: the code becomes a real discount (with the token from SSM), then
    //    the share email goes out through SES.
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:#?}");
        let (token, request) = &seen[0];
        assert_eq!(token.as_deref(), Some(admin_token.as_str()));
        assert!(
            request["query"]
                .as_str()
                .unwrap_or_default()
                .contains("discountCodeBasicCreate"),
            "{request}"
        );
        let input = &request["variables"]["basicCodeDiscount"];
        assert_eq!(input["code"], code.as_str(), "{request}");
        assert_eq!(input["appliesOncePerCustomer"], true, "{request}");
    }

    let share = store
        .list_messages(Some(&shop))
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id() == share_id)
        .unwrap_or_else(|| panic!("{share_id} is gone"));
    assert_eq!(share.status, MessageStatus::Sent, "{share:#?}");
    let provider_id = share.provider_id.clone().expect("SES's message id is kept");

    // ...and moto's SES has it, from the shop's sender to the customer, with the code.
    let data = moto.data().await;
    let sent = ses_messages(&data, &share_id);
    assert_eq!(sent.len(), 1, "{sent:#?}");
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
    assert!(raw.contains(&code), "the email shares the code {code}: {raw}");

    // 3. The next tick: nothing more is created or sent.
    let report = runtime.invoke_ok(&mut function, tick(2), INVOCATION).await;
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the code is created once");
    assert_eq!(
        ses_messages(&moto.data().await, &share_id).len(),
        1,
        "the share is sent once"
    );
    assert!(function.exited().is_none(), "{}", function.log());

    eprintln!("referral runtime API test took {:?}", started.elapsed());
}
