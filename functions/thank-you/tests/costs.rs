//! What one order and its thank-you cost on AWS, counted, so the README's cost model is derived
//! from what the code spends and cannot silently rot: a metering proxy sits between the code and
//! moto and counts every AWS call, and DynamoDB's read and write units as on-demand bills them
//! (item sizes read back from the table, index writes included).
//!
//! Counted: the webhook path storing one paid order (the code `shopify-webhook` runs), then the
//! real `thank-you` binary's cold start, its plan on the order's event and its tick sending the
//! thank-you through SES. If a change makes any of these spend more, the assertion says by how
//! much, and the README's "What it costs" table must be updated with it.
//!
//! Needs `moto_server` on PATH.

#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_aws::DynamoDbStore;
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::SystemClock;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use flow::{INVOCATION, LINK_KEY_HEX, LINK_KEY_PARAM, SHOP, Stack, tick};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What was spent: calls per `service.Operation`, and DynamoDB units.
#[derive(Debug, Clone, Default, PartialEq)]
struct Spend {
    calls: BTreeMap<String, u64>,
    /// Read request units (4 KB strongly consistent = 1, eventually consistent = 0.5).
    read_units: f64,
    /// Write request units on the table (per 1 KB) plus on the indexes an item is in.
    write_units: f64,
}

impl Spend {
    fn since(&self, before: &Spend) -> Spend {
        let mut calls = self.calls.clone();
        for (op, n) in &before.calls {
            *calls.entry(op.clone()).or_default() -= n;
        }
        calls.retain(|_, n| *n > 0);
        Spend {
            calls,
            read_units: self.read_units - before.read_units,
            write_units: self.write_units - before.write_units,
        }
    }

    fn calls(&self, op: &str) -> u64 {
        self.calls.get(op).copied().unwrap_or(0)
    }
}

#[derive(Clone)]
struct Meter {
    moto: String,
    table: String,
    http: reqwest::Client,
    spend: Arc<Mutex<Spend>>,
}

/// DynamoDB's item size: attribute names plus values (strings and binaries by their bytes,
/// numbers about one byte per two digits, maps and lists 3 bytes plus their contents).
fn item_size(item: &serde_json::Map<String, Value>) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, |n| n.len().div_ceil(2) + 1),
        "B" => inner.as_str().map_or(0, |b| b.len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "M" => 3 + inner.as_object().map_or(0, item_size),
        "L" => 3 + inner.as_array().map_or(0, |l| l.iter().map(|v| 1 + value_size(v)).sum()),
        "SS" | "NS" => inner.as_array().map_or(0, |l| l.iter().map(|v| v.as_str().map_or(0, str::len)).sum()),
        _ => 0,
    }
}

/// The index key attributes of the table (`template.yaml`): an item is in GSI n while it has
/// `gsi{n}pk`. GSI1 also projects these attributes, so changing them rewrites its entry.
const INDEXES: [(&str, &[&str]); 4] = [
    ("gsi1", &["event", "received_at", "applied", "letter"]),
    ("gsi2", &[]),
    ("gsi3", &[]),
    ("gsi4", &[]),
];

/// Index writes for an item going from `before` to `after` (either may be absent): one for
/// an entry added, removed or rewritten, two when its key changed (delete and put).
fn index_writes(before: Option<&serde_json::Map<String, Value>>, after: Option<&serde_json::Map<String, Value>>) -> f64 {
    let attr = |item: Option<&serde_json::Map<String, Value>>, name: &str| item.and_then(|i| i.get(name)).cloned();
    let mut writes = 0.0;
    for (index, projected) in INDEXES {
        let key = |item| (attr(item, &format!("{index}pk")), attr(item, &format!("{index}sk")));
        let (was, now) = (key(before), key(after));
        writes += match (was.0.is_some(), now.0.is_some()) {
            (false, false) => 0.0,
            (true, false) | (false, true) => 1.0,
            (true, true) if was != now => 2.0,
            (true, true) => {
                let changed = projected.iter().any(|a| attr(before, a) != attr(after, a));
                if changed { 1.0 } else { 0.0 }
            }
        };
    }
    writes
}

fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.max(1).div_ceil(4096) as f64;
    if consistent { units } else { units / 2.0 }
}

fn write_units(bytes: usize) -> f64 {
    bytes.max(1).div_ceil(1024) as f64
}

impl Meter {
    /// Starts the proxy in front of `moto`; returns its endpoint.
    async fn start(moto: &str, table: &str) -> (Meter, String) {
        let meter = Meter {
            moto: moto.trim_end_matches('/').to_string(),
            table: table.to_string(),
            http: reqwest::Client::new(),
            spend: Arc::default(),
        };
        let app = axum::Router::new().fallback(forward).with_state(meter.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (meter, endpoint)
    }

    fn snapshot(&self) -> Spend {
        self.spend.lock().unwrap().clone()
    }

    /// The item at `key` as moto has it now (not counted: the meter's own look).
    async fn item(&self, key: &Value) -> Option<serde_json::Map<String, Value>> {
        let body = json!({"TableName": self.table, "Key": key, "ConsistentRead": true});
        let answer: Value = self
            .http
            .post(&self.moto)
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer.get("Item")?.as_object().cloned()
    }

    /// Units of one DynamoDB call, from its request, the answer and the items around it.
    async fn dynamodb(&self, op: &str, request: &Value, answer: &Value, before: Vec<(Value, Option<serde_json::Map<String, Value>>)>) {
        let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
        let (mut reads, mut writes) = (0.0, 0.0);
        match op {
            "GetItem" => {
                reads += read_units(answer["Item"].as_object().map_or(0, item_size), consistent);
            }
            "Query" | "Scan" => {
                let bytes: usize = answer["Items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                    .map(item_size)
                    .sum();
                reads += read_units(bytes, consistent);
            }
            "BatchGetItem" => {
                for items in answer["Responses"].as_object().into_iter().flat_map(|t| t.values()) {
                    for item in items.as_array().into_iter().flatten().filter_map(Value::as_object) {
                        reads += read_units(item_size(item), consistent);
                    }
                }
            }
            "PutItem" | "UpdateItem" | "DeleteItem" | "ConditionCheckItem" | "BatchWriteItem" => {
                for (key, was) in before {
                    let now = self.item(&key).await;
                    let bytes = was.as_ref().map_or(0, item_size).max(now.as_ref().map_or(0, item_size));
                    writes += write_units(bytes) + index_writes(was.as_ref(), now.as_ref());
                }
            }
            _ => {}
        }
        let mut spend = self.spend.lock().unwrap();
        spend.read_units += reads;
        spend.write_units += writes;
    }

    /// The keys a write touches, with the items as they were.
    async fn before_write(&self, op: &str, request: &Value) -> Vec<(Value, Option<serde_json::Map<String, Value>>)> {
        let keys: Vec<Value> = match op {
            "PutItem" => {
                let item = &request["Item"];
                vec![json!({"pk": item["pk"], "sk": item["sk"]})]
            }
            "UpdateItem" | "DeleteItem" => vec![request["Key"].clone()],
            "BatchWriteItem" => request["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|t| t.values())
                .flat_map(|reqs| reqs.as_array().cloned().unwrap_or_default())
                .map(|r| {
                    if let Some(put) = r.get("PutRequest") {
                        json!({"pk": put["Item"]["pk"], "sk": put["Item"]["sk"]})
                    } else {
                        r["DeleteRequest"]["Key"].clone()
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for key in keys {
            let item = self.item(&key).await;
            out.push((key, item));
        }
        out
    }
}

/// The service and operation of an AWS request: DynamoDB and SSM name it in `X-Amz-Target`,
/// SES v2 in its REST path, SNS in the form's `Action`.
fn operation(headers: &HeaderMap, uri: &Uri, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (service, op) = target.split_once('.').unwrap_or(("?", target));
        let service = if service.starts_with("DynamoDB") { "dynamodb" } else if service.starts_with("AmazonSSM") { "ssm" } else { service };
        return format!("{service}.{op}");
    }
    if uri.path().starts_with("/v2/email/outbound-emails") {
        return "ses.SendEmail".into();
    }
    if uri.path().starts_with("/v2/email") {
        return format!("ses.{}", uri.path());
    }
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    match form.get("Action") {
        Some(action) => format!("sns.{action}"),
        None => format!("?.{}", uri.path()),
    }
}

async fn forward(State(meter): State<Meter>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let op = operation(&headers, &uri, &body);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let dynamo_op = op.strip_prefix("dynamodb.").map(str::to_string);
    let before = match &dynamo_op {
        Some(op) => meter.before_write(op, &request).await,
        None => Vec::new(),
    };
    let url = format!("{}{}", meter.moto, uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut outgoing = meter.http.request(method, url).body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    };
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    *meter.spend.lock().unwrap().calls.entry(op).or_default() += 1;
    if let Some(op) = dynamo_op {
        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        meter.dynamodb(&op, &request, &parsed, before).await;
    }
    let mut response = (status, bytes).into_response();
    for (name, value) in &answer_headers {
        if name != "content-length" && name != "transfer-encoding" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

/// The paid order's webhook, stored by the code `shopify-webhook` runs, on the metered store;
/// returns the event JSON it publishes.
async fn store_paid_order(store: DynamoDbStore) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/shopify/orders_paid.json");
    let placed = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut order: Value = serde_json::from_str(
        &std::fs::read_to_string(path)
            .unwrap()
            .replace("2021-12-31T19:00:00-05:00", &placed)
            .replace("2021-12-31T19:05:00-05:00", &placed),
    )
    .unwrap();
    order["customer"]["email_marketing_consent"]["state"] = json!("subscribed");
    let body = serde_json::to_vec(&order).unwrap();
    let secret = "shpss_costs_test";
    let events = Arc::new(bus::Collect::default());
    let ingest = Ingest::new(
        Arc::new(store),
        events.clone(),
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
        ("x-shopify-event-id", "evt-costs-1"),
        ("x-shopify-hmac-sha256", &sign_base64(secret.as_bytes(), &body)),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!(reply.outcome, "accepted", "{reply:?}");
    let published = events.0.lock().unwrap().clone();
    assert_eq!(published.len(), 1, "one event published");
    published[0].clone()
}

/// An event bus that keeps what is published (the webhook's one SNS publish per event).
mod bus {
    use aftersale_domain::StoreEvent;
    use aftersale_ports::{EventBus, StoreError};
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Collect(pub Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl EventBus for Collect {
        async fn publish(&self, event: &StoreEvent) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(serde_json::to_string(event).unwrap());
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_paid_order_and_its_thank_you_cost_these_aws_calls_and_units() {
    let stack = Stack::new(&[(LINK_KEY_PARAM, LINK_KEY_HEX)]).await;
    let (meter, endpoint) = Meter::start(&stack.moto.endpoint, &stack.table).await;
    let metered = stack.config.to_builder().endpoint_url(&endpoint).build();

    // 1. The webhook path, one paid order (its one SNS publish is counted by the bus above).
    let start = meter.snapshot();
    let event = store_paid_order(DynamoDbStore::from_config(&metered, &stack.table)).await;
    let order = meter.snapshot().since(&start);

    // 2. The thank-you function: cold start, plan on the event, tick sending the thank-you.
    let metered_stack = Stack {
        moto: stack.moto,
        config: metered,
        table: stack.table.clone(),
        alerts: stack.alerts.clone(),
        domain_events: stack.domain_events.clone(),
    };
    let runtime_api = flow::lambda::RuntimeApi::start().await;
    let mut runtime = runtime_api;
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AFTERSALE_TABLE", metered_stack.table.as_str()),
        ("SUPPORT_ALERTS_TOPIC_ARN", metered_stack.alerts.as_str()),
        ("FEEDBACK_BASE_URL", "https://feedback.example/"),
        ("LINK_SIGNING_KEY_PARAM", LINK_KEY_PARAM),
    ];
    let before_start = meter.snapshot();
    let mut function = flow::lambda::Function::spawn(env!("CARGO_BIN_EXE_thank-you"), &runtime, &env);
    let invocation = flow::sns_invocation(&stack.domain_events, &event, "order_paid");
    let planned = flow::plan(&mut runtime, &mut function, invocation).await;
    assert_eq!(planned, json!({"planned": 2}));
    let plan = meter.snapshot().since(&before_start);
    let before_tick = meter.snapshot();
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}");
    let send = meter.snapshot().since(&before_tick);

    eprintln!("order event: {order:#?}\ncold start + plan: {plan:#?}\ntick sending one: {send:#?}");
    // The README's "What it costs" is computed from exactly these.
    assert_eq!(
        (order.calls("dynamodb.PutItem"), order.calls("dynamodb.UpdateItem"), order.calls("dynamodb.GetItem"), order.calls("dynamodb.Query")),
        (0, 0, 0, 0),
        "{order:#?}"
    );
    assert_eq!((order.write_units, order.read_units), (0.0, 0.0), "{order:#?}");
    assert_eq!(plan.calls("ssm.GetParameter"), 1, "the link key, once per cold start: {plan:#?}");
    assert_eq!((plan.write_units, plan.read_units), (0.0, 0.0), "{plan:#?}");
    assert_eq!(send.calls("ses.SendEmail"), 1, "{send:#?}");
    assert_eq!((send.write_units, send.read_units), (0.0, 0.0), "{send:#?}");
}
