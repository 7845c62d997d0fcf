//! End to end: the real `import` binary, run as Lambda runs it (against a local Runtime API),
//! with DynamoDB, SNS, SQS and SSM on moto server and the shop's Shopify (GraphQL Admin API and
//! the export's download) played by a local server.
//!
//! The install's `start` job starts the export; the signed `bulk_operations/finish` webhook,
//! stored by the webhook path, is delivered from the domain events topic; the first run is
//! given a deadline it cannot meet, so it stops after one order with the checkpoint saved and
//! publishes its own `continue` job, which the next invocation finishes from where it stopped.
//!
//! Needs `moto_server` and `python3` on PATH.

#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_domain::{EventKind, ShopId};
use aftersale_import::checkpoint::{self, Position};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventLog, NoEventBus, SystemClock};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use flow::{SHOP, Stack, sns_invocation};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP_SECRET_PARAM: &str = "/aftersale/shopify/api-secret";
const APP_SECRET: &str = "shpss_import_runtime_test";
const TOKEN_PARAM: &str = "/aftersale/demo.myshopify.com/shopify-token";
const TOKEN: &str = "shpat_import_runtime_test";
const OPERATION: &str = "gid://shopify/BulkOperation/77";
const ORDERS: usize = 12;

/// What the Shopify stand-in saw.
#[derive(Default)]
struct Seen {
    graphql: Vec<(Option<String>, Value)>,
    /// The `Range` header of each download.
    downloads: Vec<Option<String>>,
}

#[derive(Clone)]
struct Shopify {
    seen: Arc<Mutex<Seen>>,
    file: Arc<Vec<u8>>,
    base: Arc<Mutex<String>>,
}

async fn graphql(State(s): State<Shopify>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let query = body["query"].as_str().unwrap_or_default().to_string();
    s.seen.lock().unwrap().graphql.push((token, body));
    if query.contains("bulkOperationRunQuery") {
        return Json(json!({"data": {"bulkOperationRunQuery": {
            "bulkOperation": {"id": OPERATION, "status": "CREATED"}, "userErrors": []}}}));
    }
    assert!(query.contains("node(id: $id)"), "unexpected query {query}");
    let base = s.base.lock().unwrap().clone();
    Json(
        json!({"data": {"node": {"id": OPERATION, "status": "COMPLETED", "errorCode": null,
        "objectCount": (ORDERS * 3).to_string(), "rootObjectCount": ORDERS.to_string(),
        "fileSize": s.file.len().to_string(),
        "url": format!("{base}/storage/export.jsonl?X-Goog-Signature=abc"), "partialDataUrl": null}}}),
    )
}

async fn download(State(s): State<Shopify>, headers: HeaderMap) -> Response {
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    s.seen.lock().unwrap().downloads.push(range.clone());
    match range.and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok()) {
        Some(from) => (
            StatusCode::PARTIAL_CONTENT,
            [(
                "content-range",
                format!("bytes {from}-{}/{}", s.file.len() - 1, s.file.len()),
            )],
            Bytes::copy_from_slice(&s.file[from..]),
        )
            .into_response(),
        None => Bytes::copy_from_slice(&s.file).into_response(),
    }
}

/// A generated export of [`ORDERS`] orders (`infra/scripts/bulk_jsonl.py`, the benchmarks'
/// generator: orders with line items as `__parentId` children).
fn export_file() -> Vec<u8> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/scripts/bulk_jsonl.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(ORDERS.to_string())
        .output()
        .expect("python3 runs the export generator");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

async fn shopify_standin() -> (String, Arc<Mutex<Seen>>) {
    let shared = Shopify {
        seen: Arc::default(),
        file: Arc::new(export_file()),
        base: Arc::default(),
    };
    let seen = Arc::clone(&shared.seen);
    let base_slot = Arc::clone(&shared.base);
    let app = Router::new()
        .route("/admin/api/{version}/graphql.json", post(graphql))
        .route("/storage/export.jsonl", get(download))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    *base_slot.lock().unwrap() = base.clone();
    (base, seen)
}

/// The import jobs topic, with an SQS queue subscribed to read what the function published.
async fn jobs_topic(stack: &Stack) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(&stack.config);
    let sqs = aws_sdk_sqs::Client::new(&stack.config);
    let topic = sns
        .create_topic()
        .name(flow::moto::unique("import-jobs"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(flow::moto::unique("import-jobs-copy"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    (topic, queue)
}

/// The jobs published so far (and taken off the queue).
async fn published_jobs(stack: &Stack, queue: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&stack.config);
    let received = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    received
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| serde_json::from_str(&m.body.unwrap()).unwrap())
        .collect()
}

/// Shopify's signed `bulk_operations/finish`, through the webhook path; returns the event JSON
/// the webhook function publishes.
async fn finish_webhook(stack: &Stack) -> String {
    let body = json!({"admin_graphql_api_id": OPERATION, "completed_at": "2026-12-01T10:05:00-05:00",
        "created_at": "2026-12-01T10:00:00-05:00", "error_code": null, "status": "completed", "type": "query"})
    .to_string();
    let store = Arc::new(stack.store());
    let ingest = Ingest::new(
        store.clone(),
        Arc::new(NoEventBus),
        Arc::new(SystemClock),
        WebhookSecrets {
            shopify: Secret::new(APP_SECRET),
            ..WebhookSecrets::default()
        },
    );
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-shopify-topic", "bulk_operations/finish"),
        ("x-shopify-shop-domain", SHOP),
        ("x-shopify-event-id", "evt-bulk-finish-1"),
        (
            "x-shopify-hmac-sha256",
            &sign_base64(APP_SECRET.as_bytes(), body.as_bytes()),
        ),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    // A wrong signature is refused like any other topic's.
    let mut forged = headers.clone();
    forged.insert(
        "x-shopify-hmac-sha256",
        HeaderValue::from_str(&sign_base64(b"not the secret", body.as_bytes())).unwrap(),
    );
    assert_eq!(
        ingest.shopify(&forged, body.as_bytes()).await.status,
        StatusCode::UNAUTHORIZED
    );

    let reply = ingest.shopify(&headers, body.as_bytes()).await;
    assert_eq!(reply.outcome, "accepted", "{reply:?}");
    let shop = ShopId::from_domain(SHOP).unwrap();
    let events = store.list_events(Some(&shop)).await.unwrap();
    let finished = events
        .iter()
        .find(|e| matches!(e.event.kind, EventKind::BulkOperationFinished(_)))
        .expect("the finish event is stored");
    serde_json::to_string(&finished.event).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_starts_the_export_and_its_finish_webhook_streams_it_resuming_after_the_deadline() {
    let shop = ShopId::from_domain(SHOP).unwrap();
    let token = json!({"access_token": TOKEN, "scopes": ["read_orders", "read_all_orders"]}).to_string();
    let stack = Stack::new(&[(APP_SECRET_PARAM, APP_SECRET), (TOKEN_PARAM, token.as_str())]).await;
    let (jobs, queue) = jobs_topic(&stack).await;
    let (shopify, seen) = shopify_standin().await;
    let (mut runtime, mut function) = stack
        .start(
            env!("CARGO_BIN_EXE_import"),
            &[
                ("DOMAIN_EVENTS_TOPIC_ARN", stack.domain_events.as_str()),
                ("IMPORT_JOBS_TOPIC_ARN", jobs.as_str()),
                ("SHOPIFY_API_KEY", "app-client-id"),
                ("SHOPIFY_API_SECRET_PARAM", APP_SECRET_PARAM),
                ("AFTERSALE_PUBLIC_URL", "https://app.example"),
                ("AFTERSALE_SHOPIFY_BASE_URL", shopify.as_str()),
            ],
        )
        .await;
    let store = stack.store();
    let job = |job: &str| {
        sns_invocation(
            &jobs,
            &json!({"job": job, "shop": SHOP}).to_string(),
            "import_job",
        )
    };

    // 1. The install's job: the export is started with the installed token; nothing is read.
    let started = runtime
        .invoke_ok(&mut function, job("start"), flow::FIRST_INVOCATION)
        .await;
    assert_eq!(started["results"][0]["started"], OPERATION, "{started}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.graphql.len(), 1);
        assert_eq!(seen.graphql[0].0.as_deref(), Some(TOKEN));
        assert!(
            seen.graphql[0].1["query"]
                .as_str()
                .unwrap()
                .contains("bulkOperationRunQuery")
        );
        assert!(seen.downloads.is_empty());
    }

    // 2. The finish webhook, with a deadline already inside the stop margin: one order is
    //    stored, the checkpoint saved at its boundary, and a `continue` job published.
    let finished = finish_webhook(&stack).await;
    let request = runtime.invoke_with_deadline(
        sns_invocation(&stack.domain_events, &finished, "bulk_operation_finished"),
        Duration::from_secs(5),
    );
    let paused = runtime
        .response_to(&mut function, request, flow::INVOCATION)
        .await;
    let first = &paused["results"][0]["paused"];
    assert_eq!(first["orders"], 1, "{paused}; log:\n{}", function.log());
    let saved = checkpoint::load(&store, &shop, "shopify").await.unwrap().unwrap();
    assert!(!saved.finished);
    let Position::ShopifyBulk {
        offset, lines, url, ..
    } = saved.position.clone()
    else {
        panic!("{saved:?}");
    };
    assert!(
        offset > 0 && lines == 3,
        "one order and its two line items: {saved:?}"
    );
    assert!(url.unwrap().contains("/storage/export.jsonl"));
    assert_eq!(
        published_jobs(&stack, &queue).await,
        vec![json!({"job": "continue", "shop": SHOP})]
    );

    // 3. The continue job (as SNS delivers what was published): the rest of the file, read
    //    from the checkpoint's byte offset, to the end.
    let request = runtime.invoke_with_deadline(job("continue"), Duration::from_secs(900));
    let done = runtime
        .response_to(&mut function, request, Duration::from_secs(60))
        .await;
    let rest = &done["results"][0]["finished"];
    assert_eq!(rest["orders"], ORDERS as u64, "{done}; log:\n{}", function.log());
    assert_eq!(rest["dead_lettered"], 0, "{done}");
    assert_eq!(rest["unchanged"], 0, "nothing read twice: {done}");
    assert_eq!(
        seen.lock().unwrap().downloads,
        vec![None, Some(format!("bytes={offset}-"))],
        "the second run downloads from the checkpoint on"
    );
    assert!(
        published_jobs(&stack, &queue).await.is_empty(),
        "no job after the end"
    );

    // Every order is stored once, as the webhooks would store it, and the counts agree.
    let events = store.list_events(Some(&shop)).await.unwrap();
    let imported: Vec<_> = events
        .iter()
        .filter(|e| e.event.order().is_some() || e.event.kind_name() == "order_delivered")
        .collect();
    let ids: BTreeSet<_> = imported.iter().map(|e| e.event.event_id.to_string()).collect();
    assert_eq!(ids.len(), imported.len(), "no event stored twice");
    assert_eq!(
        rest["imported"].as_u64().unwrap(),
        events.len() as u64 - 1,
        "every stored event but the finish webhook was imported, once: {done}"
    );
    let orders: BTreeSet<_> = imported
        .iter()
        .filter_map(|e| e.event.order().map(|o| o.id.to_string()))
        .collect();
    assert_eq!(orders.len(), ORDERS, "{orders:?}");

    // The finish event delivered again (SNS is at least once) finds the import done.
    let again = runtime
        .invoke_ok(
            &mut function,
            sns_invocation(&stack.domain_events, &finished, "bulk_operation_finished"),
            flow::INVOCATION,
        )
        .await;
    assert_eq!(
        again["results"][0]["ignored"], "not the pending import",
        "{again}"
    );
    assert!(!function.log().contains(TOKEN), "the token never reaches a log");
}
