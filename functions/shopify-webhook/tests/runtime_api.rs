//! End to end: the real `shopify-webhook` binary, run as Lambda runs it (against a local Runtime
//! API), fed Lambda Function URL events carrying Shopify webhooks, with DynamoDB, SSM and SNS on
//! moto server. Proves the wiring `main.rs` and `aftersale-lambda` do: the secret read from an
//! SSM SecureString, base64 Function URL bodies verified over their decoded bytes, the event
//! stored in DynamoDB and published to the domain-events topic.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`).

#[allow(dead_code)]
#[path = "support/lambda.rs"]
mod lambda;
#[allow(dead_code)]
#[path = "../../../shared/aws/tests/aws_on_moto/support.rs"]
mod moto;

use aftersale_aws::{DynamoDbStore, TableStatus, create_table};
use aftersale_domain::{EventKind, ShopId, StoreEvent};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::EventLog;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_ssm::types::ParameterType;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda::{Function, Outcome, RuntimeApi};
use serde_json::{Value, json};
use std::time::Duration;

const SHOP: &str = "demo.myshopify.com";
const ORDER_ID: &str = "820982911946154508";
/// Cold start included: SSM read, SDK clients, first connections to moto.
const FIRST_INVOCATION: Duration = Duration::from_secs(60);
const INVOCATION: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A Lambda Function URL request (the API Gateway HTTP API v2 payload format) as Lambda
/// delivers a Shopify webhook: lower-case headers, the body base64-encoded or not.
fn function_url_event(headers: &[(&str, &str)], body: &[u8], base64: bool) -> Value {
    let mut all = serde_json::Map::new();
    for (name, value) in [
        (
            "host",
            "abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws",
        ),
        ("user-agent", "Shopify-Captain-Hook"),
        ("accept", "*/*"),
        ("content-type", "application/json"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "34.66.12.3"),
        ("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793"),
    ]
    .into_iter()
    .chain(headers.iter().copied())
    {
        all.insert(name.to_string(), Value::String(value.to_string()));
    }
    let body = if base64 {
        STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("a text body")
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": all,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz0123",
            "domainName": "abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz0123",
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "34.66.12.3",
                "userAgent": "Shopify-Captain-Hook"
            },
            "requestId": "c5b1a8d6-2f4e-4d2a-9f0e-5d7c3e0a1b2c",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_341_600_000_u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// A Shopify delivery's headers, signed with `secret`.
fn shopify_event(topic: &str, event_id: &str, body: &[u8], secret: &str, base64: bool) -> Value {
    let signature = sign_base64(secret.as_bytes(), body);
    let webhook_id = format!("wh-{event_id}");
    function_url_event(
        &[
            ("x-shopify-topic", topic),
            ("x-shopify-shop-domain", SHOP),
            ("x-shopify-event-id", event_id),
            ("x-shopify-webhook-id", &webhook_id),
            ("x-shopify-api-version", "2025-07"),
            ("x-shopify-triggered-at", "2026-11-22T10:00:00Z"),
            ("x-shopify-hmac-sha256", &signature),
        ],
        body,
        base64,
    )
}

/// The HTTP status and the JSON body of a Function URL response.
fn http_reply(response: &Value) -> (u64, Value) {
    let status = response["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("no statusCode in {response}"));
    let body = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"] == true {
        String::from_utf8(STANDARD.decode(body).expect("a base64 body")).expect("a UTF-8 body")
    } else {
        body.to_string()
    };
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("a JSON body: {body}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_verifies_stores_and_publishes_a_function_url_webhook() {
    let started = std::time::Instant::now();
    let moto = moto::moto();
    let config = moto.sdk_config().await;

    let table = moto::unique("aftersale");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    assert_eq!(
        create_table(&dynamodb, &table).await.unwrap(),
        TableStatus::Created
    );

    // The secret only in SSM, as template.yaml deploys it: the function must read it there.
    let secret = moto::unique("shpss");
    let parameter = format!("/aftersale/test/{}", moto::unique("shopify-api-secret"));
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name(&parameter)
        .value(&secret)
        .r#type(ParameterType::SecureString)
        // The SDK retries a put that moto was slow to answer; overwriting keeps that retry from
        // failing with ParameterAlreadyExists for a write that had already succeeded.
        .overwrite(true)
        .send()
        .await
        .unwrap();

    // The domain-events topic, with a queue subscribed to see what the function publishes.
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(moto::unique("domain-events"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(moto::unique("events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();

    let mut runtime = RuntimeApi::start().await;
    let mut function = Function::spawn(
        env!("CARGO_BIN_EXE_shopify-webhook"),
        &runtime,
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AFTERSALE_TABLE", &table),
            ("SHOPIFY_API_SECRET_PARAM", &parameter),
            ("DOMAIN_EVENTS_TOPIC_ARN", &topic),
        ],
    );

    let order = fixture("shopify/orders_create.json");

    // 1. A signed orders/create, body base64-encoded: stored.
    let delivery = shopify_event("orders/create", "evt-order-1", &order, &secret, true);
    let response = runtime
        .invoke_ok(&mut function, delivery.clone(), FIRST_INVOCATION)
        .await;
    let (status, body) = http_reply(&response);
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("accepted")),
        "{response}"
    );
    assert_eq!(body["stored"], 1, "{response}");

    // 2. Shopify retrying the same delivery: a duplicate, stored once.
    let response = runtime.invoke_ok(&mut function, delivery, INVOCATION).await;
    let (status, body) = http_reply(&response);
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("accepted")),
        "{response}"
    );
    assert_eq!(body["duplicates"], 1, "{response}");
    assert!(body.get("stored").is_none(), "{response}");

    // 3. A forged signature (another secret), for a new event id: refused.
    let forged = shopify_event("orders/create", "evt-forged", &order, "not-the-secret", true);
    let response = runtime.invoke_ok(&mut function, forged, INVOCATION).await;
    let (status, body) = http_reply(&response);
    assert_eq!(
        (status, &body["outcome"]),
        (401, &json!("invalid signature")),
        "{response}"
    );

    // 4. A signed topic Aftersale does not handle, as a plain-text body this time: ignored.
    let unknown = shopify_event("products/create", "evt-product", br#"{"id":1}"#, &secret, false);
    let response = runtime.invoke_ok(&mut function, unknown, INVOCATION).await;
    let (status, body) = http_reply(&response);
    assert_eq!((status, &body["outcome"]), (200, &json!("ignored")), "{response}");

    // The function is still up, waiting for its next invocation.
    assert!(function.exited().is_none(), "{}", function.log());

    // Exactly one event in DynamoDB: the order, applied.
    let store = DynamoDbStore::from_config(&config, &table);
    let shop = ShopId::from_domain(SHOP).unwrap();
    let events = store.list_events(Some(&shop)).await.unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    let stored = &events[0];
    assert_eq!(stored.event.kind_name(), "order_placed");
    assert_eq!(stored.event.event_id.as_str(), "shopify:evt-order-1");
    assert!(stored.applied, "the event's work finished");
    let EventKind::OrderPlaced(placed) = &stored.event.kind else {
        unreachable!()
    };
    assert_eq!(placed.id.as_str(), ORDER_ID, "ids beyond 2^53 kept exactly");

    // ...and published once to the domain-events topic, with the routing attributes.
    let received = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "one publish for one new event: {received:#?}");
    let envelope: Value = serde_json::from_str(received[0].body().unwrap()).unwrap();
    assert_eq!(envelope["MessageAttributes"]["kind"]["Value"], "order_placed");
    assert_eq!(envelope["MessageAttributes"]["shop"]["Value"], SHOP);
    let published: StoreEvent = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(published, stored.event);

    eprintln!("runtime API end-to-end test took {:?}", started.elapsed());
}

/// A deployment whose secret parameter is missing fails its cold start, saying which
/// parameter, instead of answering webhooks with a 503 for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ssm_parameter_fails_the_cold_start_naming_the_parameter() {
    let moto = moto::moto();
    let config = moto.sdk_config().await;
    let table = moto::unique("aftersale");
    create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
        .await
        .unwrap();
    let parameter = format!("/aftersale/test/{}", moto::unique("never-created"));

    let mut runtime = RuntimeApi::start().await;
    let mut function = Function::spawn(
        env!("CARGO_BIN_EXE_shopify-webhook"),
        &runtime,
        &[
            ("AWS_ENDPOINT_URL", &moto.endpoint),
            ("AFTERSALE_TABLE", &table),
            ("SHOPIFY_API_SECRET_PARAM", &parameter),
        ],
    );
    let status = function.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success(), "{status}");
    let log = function.log();
    assert!(log.contains(&parameter), "the error names the parameter: {log}");

    // Lambda learns of it from the exit (Runtime.ExitError): main.rs returns the error before
    // the runtime client exists, so nothing reaches /runtime/init/error today. Either is fine;
    // anything else is not.
    match runtime.reported() {
        None | Some(Outcome::InitError { .. }) => {}
        Some(other) => panic!("a cold start that failed reported {other:?}"),
    }
}
