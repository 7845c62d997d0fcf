//! End to end: the hourly `WooCommerceReconcileSchedule` event (its input exactly as
//! `template.yaml` writes it) handled by the real `import` binary, run as Lambda runs it
//! (against a local Runtime API), with DynamoDB, SNS, SQS and SSM on moto server and the
//! WooCommerce site played by a local server speaking its REST API (`/wp-json/wc/v3/webhooks`,
//! `/orders?modified_after=…`).
//!
//! The site was connected two days ago. Since then one order arrived through its signed
//! webhook, one changed without any delivery, and WooCommerce disabled the `order.updated`
//! webhook. The sweep opens the site's sealed keys with the sealing key from SSM, reactivates
//! the webhook, stores the missed order (and only that one as new), alerts the owner on the
//! support topic with the count, and remembers the sweep: the next hour finds nothing.
//!
//! Needs `moto_server` and `python3` on PATH.

#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_domain::{Platform, ShopId};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platform_api::sealed::SealingKey;
use aftersale_platform_api::woocommerce::connection::{self, Connection, Credentials};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventLog, NoEventBus, ShopRegistry, ShopState, SystemClock};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use flow::Stack;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const SEALING_KEY_PARAM: &str = "/aftersale/sealing-key";
const SEALING_KEY_HEX: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const KEY: &str = "ck_reconcile_schedule";
const SECRET: &str = "cs_reconcile_schedule";
const WEBHOOK_SECRET: &str = "whsec_reconcile_schedule";
const DELIVERY_URL: &str = "https://aftersale.example/webhooks/woocommerce";

/// What the site holds, and the queries it was asked.
#[derive(Clone, Default)]
struct Site {
    orders: Arc<Mutex<Vec<Value>>>,
    webhooks: Arc<Mutex<Vec<Value>>>,
    queries: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

/// Over plain HTTP the client signs every request with OAuth 1.0a: the site refuses anything
/// not signed with the stored consumer key (so the sealed keys were really opened).
fn refused(q: &BTreeMap<String, String>) -> Option<Response> {
    if q.get("oauth_consumer_key").map(String::as_str) == Some(KEY) && q.contains_key("oauth_signature") {
        return None;
    }
    Some((
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid.", "data": {"status": 401}})),
    )
        .into_response())
}

fn gmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

async fn orders(State(site): State<Site>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    if let Some(refused) = refused(&q) {
        return refused;
    }
    site.queries.lock().unwrap().push(q.clone());
    let mut orders = site.orders.lock().unwrap().clone();
    if let Some(after) = q.get("modified_after") {
        let after = DateTime::parse_from_rfc3339(after).unwrap().with_timezone(&Utc);
        orders.retain(|o| {
            let modified = o["date_modified_gmt"].as_str().unwrap();
            chrono::NaiveDateTime::parse_from_str(modified, "%Y-%m-%dT%H:%M:%S")
                .unwrap()
                .and_utc()
                > after
        });
    }
    (
        [
            ("x-wp-total", orders.len().to_string()),
            ("x-wp-totalpages", "1".to_string()),
        ],
        Json(orders),
    )
        .into_response()
}

async fn webhooks(State(site): State<Site>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    if let Some(refused) = refused(&q) {
        return refused;
    }
    Json(site.webhooks.lock().unwrap().clone()).into_response()
}

async fn update_webhook(
    State(site): State<Site>,
    Path(id): Path<u64>,
    Query(q): Query<BTreeMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = refused(&q) {
        return refused;
    }
    let mut hooks = site.webhooks.lock().unwrap();
    let hook = hooks.iter_mut().find(|h| h["id"] == id).unwrap();
    hook["status"] = body["status"].clone();
    Json(hook.clone()).into_response()
}

async fn woo_standin(site: Site) -> String {
    let app = Router::new()
        .route("/wp-json/wc/v3/orders", get(orders))
        .route("/wp-json/wc/v3/webhooks", get(webhooks))
        .route("/wp-json/wc/v3/webhooks/{id}", put(update_webhook))
        .with_state(site);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// An order as the REST API returns it and its webhooks carry.
fn woo_order(id: u64, customer: u64, created: DateTime<Utc>) -> Value {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/woocommerce/order_created.json"
    );
    let mut order: Value = serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    order["id"] = json!(id);
    order["number"] = json!(id.to_string());
    order["status"] = json!("processing");
    order["customer_id"] = json!(customer);
    order["billing"]["email"] = json!(format!("w{customer}@example.com"));
    order["date_created_gmt"] = json!(gmt(created));
    order["date_modified_gmt"] = json!(gmt(created + Duration::minutes(5)));
    order["date_paid_gmt"] = json!(gmt(created + Duration::minutes(5)));
    order["refunds"] = json!([]);
    order["coupon_lines"] = json!([]);
    order
}

/// A queue subscribed (raw) to `topic`, to read what the function published there.
async fn subscribe_queue(stack: &Stack, topic: &str) -> String {
    let sns = aws_sdk_sns::Client::new(&stack.config);
    let sqs = aws_sdk_sqs::Client::new(&stack.config);
    let queue = sqs
        .create_queue()
        .queue_name(flow::moto::unique("alerts-copy"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
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
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    queue
}

async fn received(stack: &Stack, queue: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&stack.config);
    let answer = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    answer
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.body.unwrap())
        .collect()
}

/// The order's `order.created` delivery, signed with the site's secret, through the webhook
/// path (as the `woocommerce-webhook` function takes it).
async fn deliver(stack: &Stack, site: &ShopId, base: &str, order: &Value) {
    let mut sites = std::collections::HashMap::new();
    sites.insert(site.clone(), Secret::new(WEBHOOK_SECRET).unwrap());
    let ingest = Ingest::new(
        Arc::new(stack.store()),
        Arc::new(NoEventBus),
        Arc::new(SystemClock),
        WebhookSecrets {
            woocommerce_sites: sites,
            ..WebhookSecrets::default()
        },
    );
    let body = serde_json::to_vec(order).unwrap();
    let mut headers = HeaderMap::new();
    let signature = sign_base64(WEBHOOK_SECRET.as_bytes(), &body);
    let source = format!("{base}/");
    for (name, value) in [
        ("x-wc-webhook-topic", "order.created"),
        ("x-wc-webhook-source", source.as_str()),
        ("x-wc-webhook-delivery-id", "31"),
        ("x-wc-webhook-id", "101"),
        ("x-wc-webhook-signature", signature.as_str()),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let reply = ingest.woocommerce(&headers, &body).await;
    assert_eq!(reply.outcome, "accepted", "{reply:?}");
}

/// The schedule's input, as `template.yaml` writes it.
fn schedule(at: DateTime<Utc>) -> Value {
    json!({"reconcile": {"scheduled_time": at.to_rfc3339(), "execution_id": "c0ffee00-reconcile"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_reconcile_schedule_stores_the_missed_order_reactivates_the_webhook_and_alerts_the_owner()
{
    let now = Utc::now();
    let stack = Stack::new(&[(SEALING_KEY_PARAM, SEALING_KEY_HEX)]).await;
    let woo = Site::default();
    let base = woo_standin(woo.clone()).await;
    let site = connection::site_id(&base).unwrap();

    // Connected two days ago: its six webhooks, one since disabled by WooCommerce.
    let topics = aftersale_platform_api::woocommerce::TOPICS;
    *woo.webhooks.lock().unwrap() = topics
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            let status = if *topic == "order.updated" { "disabled" } else { "active" };
            json!({"id": 101 + i, "name": format!("Aftersale {topic}"), "status": status, "topic": topic, "delivery_url": DELIVERY_URL})
        })
        .collect();
    let store = stack.store();
    let key = SealingKey::from_hex(SEALING_KEY_HEX).unwrap();
    connection::save(
        &store,
        &key,
        &Connection {
            site: base.clone(),
            delivery_url: DELIVERY_URL.into(),
            webhook_ids: (101..101 + topics.len() as u64).collect(),
            connected_at: now - Duration::days(2),
            credentials: Credentials {
                consumer_key: Secret::new(KEY).unwrap(),
                consumer_secret: Secret::new(SECRET).unwrap(),
                webhook_secret: Secret::new(WEBHOOK_SECRET).unwrap(),
            },
        },
    )
    .await
    .unwrap();
    store
        .save_shop(
            &site,
            &ShopState::installed(Platform::Woocommerce, now - Duration::days(2)),
        )
        .await
        .unwrap();

    // An order from before the connection (not read again), one delivered by its webhook
    // yesterday, and one no webhook ever delivered.
    let before = woo_order(700, 1, now - Duration::days(30));
    let delivered = woo_order(701, 2, now - Duration::days(1));
    let missed = woo_order(702, 3, now - Duration::hours(3));
    deliver(&stack, &site, &base, &delivered).await;
    *woo.orders.lock().unwrap() = vec![before, delivered, missed];

    let alerts = subscribe_queue(&stack, &stack.alerts).await;
    let (mut runtime, mut function) = stack
        .start(
            env!("CARGO_BIN_EXE_import"),
            &[
                ("DOMAIN_EVENTS_TOPIC_ARN", stack.domain_events.as_str()),
                ("IMPORT_JOBS_TOPIC_ARN", stack.domain_events.as_str()),
                ("AFTERSALE_SEALING_KEY_PARAM", SEALING_KEY_PARAM),
            ],
        )
        .await;

    let first = runtime
        .invoke_ok(&mut function, schedule(now), flow::FIRST_INVOCATION)
        .await;
    let reconciled = first["reconciled"].as_array().unwrap();
    assert_eq!(reconciled.len(), 1, "{first}; log:\n{}", function.log());
    let report = &reconciled[0]["report"];
    assert_eq!(reconciled[0]["site"], site.as_str(), "{first}");
    assert_eq!(
        report["orders_seen"], 2,
        "only what changed since the connection: {first}"
    );
    assert_eq!(report["missed_orders"], 1, "{first}");
    assert_eq!(
        report["repaired_webhooks"],
        json!(["order.updated (was disabled)"]),
        "{first}"
    );
    assert_eq!(report["alerted"], true, "{first}");
    let since = woo.queries.lock().unwrap()[0]["modified_after"].clone();
    let since = DateTime::parse_from_rfc3339(&since).unwrap().with_timezone(&Utc);
    let expected = now - Duration::days(2) - Duration::minutes(5);
    assert!(
        (since - expected).num_seconds().abs() <= 1,
        "the first sweep reads from the connection, with 5 minutes of overlap: {since}"
    );

    // The site: the webhook is active again. The store: the missed order is in.
    assert!(
        woo.webhooks
            .lock()
            .unwrap()
            .iter()
            .all(|h| h["status"] == "active"),
        "{:?}",
        woo.webhooks.lock().unwrap()
    );
    let orders: BTreeSet<String> = store
        .list_events(Some(&site))
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.event.order().map(|o| o.id.to_string()))
        .collect();
    assert_eq!(orders, BTreeSet::from(["701".to_string(), "702".to_string()]));

    // The owner reads, on the support topic, how many orders no webhook had delivered.
    let messages = received(&stack, &alerts).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let alert = &messages[0];
    assert!(
        alert.contains("1 order(s) had changes that no webhook had delivered"),
        "{alert}"
    );
    assert!(
        alert.contains("now active again: order.updated (was disabled)"),
        "{alert}"
    );
    assert!(
        !alert.contains("@example.com"),
        "no customer details in the alert: {alert}"
    );

    // An hour later: nothing new, nothing repaired, no alert; it reads from the last sweep.
    let second = runtime
        .invoke_ok(
            &mut function,
            schedule(now + Duration::hours(1)),
            flow::INVOCATION,
        )
        .await;
    let report = &second["reconciled"][0]["report"];
    assert_eq!(report["missed_orders"], 0, "{second}");
    assert_eq!(report["repaired_webhooks"], json!([]), "{second}");
    assert_eq!(report["alerted"], false, "{second}");
    let since = woo.queries.lock().unwrap().last().unwrap()["modified_after"].clone();
    let since = DateTime::parse_from_rfc3339(&since).unwrap().with_timezone(&Utc);
    assert!(
        since > now - Duration::minutes(10),
        "the second sweep starts from the first: {since}"
    );
    assert!(received(&stack, &alerts).await.is_empty());
    let log = function.log();
    assert!(
        !log.contains(SECRET) && !log.contains(WEBHOOK_SECRET),
        "no secret in the logs"
    );
}
