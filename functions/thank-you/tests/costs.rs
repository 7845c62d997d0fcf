//! What one order and its messages cost on AWS, counted, so the README's cost model ("What it
//! costs") is derived from what the code spends and cannot silently rot. A metering proxy
//! ([`support::meter`]) sits between the code and moto, counts every AWS call and prices
//! DynamoDB's on-demand read and write units from the items themselves.
//!
//! Counted, for the fixture order's Shopify webhooks from creation to delivery:
//! - the webhook path (what `shopify-webhook` runs: verify, record, fold, publish to SNS);
//! - every flow function the event reaches through its SNS filter policy (read from
//!   `template.yaml`), planning on it: the same `Engine::on_event` their handler calls, one
//!   engine per function as its Lambda builds it;
//! - the real `thank-you` binary: its cold start, the tick sending the thank-you through SES,
//!   and a tick with nothing due;
//! - every other flow function's tick with nothing due (the schedules' fixed cost).
//!
//! If a change makes any of these spend more, an assertion says which and by how much, and the
//! README's table must be updated with it. Needs `moto_server` on PATH.

#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;
mod support {
    pub mod meter;
}

use aftersale_aws::{DynamoDbStore, SesMailer, SnsAlerts, SnsEventBus, SnsSms};
use aftersale_domain::{Flow, ShopId, StoreEvent};
use aftersale_engine::bounces::apply_ses_notification;
use aftersale_engine::{Engine, Senders, Settings, TickBudget};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_links::LinkSigner;
use aftersale_platform_api::{AdminApiDiscounts, EnvSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventLog, SystemClock};
use aftersale_templates::Templates;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, SecondsFormat, Utc};
use flow::{INVOCATION, LINK_KEY_HEX, LINK_KEY_PARAM, SHOP, Stack, tick};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use support::meter::{Meter, Spend};

/// The fixture order's webhooks, in the order Shopify sends them, with the topics the install
/// registers: created, paid, updated, fulfilled, its fulfillment created and updated, and the
/// carrier's "delivered" event.
const LIFECYCLE: [(&str, &str); 7] = [
    ("orders/create", "orders_create.json"),
    ("orders/paid", "orders_paid.json"),
    ("orders/updated", "orders_updated.json"),
    ("orders/fulfilled", "orders_fulfilled.json"),
    ("fulfillments/create", "fulfillments_create.json"),
    ("fulfillments/update", "fulfillments_update.json"),
    ("fulfillment_events/create", "fulfillment_events_create.json"),
];

/// The fixtures' timestamps (Shopify's examples), shifted so the order is placed a minute ago
/// and the rest keep their spacing.
const FIXTURE_TIMES: [&str; 6] = [
    "2021-12-31T19:00:00-05:00",
    "2021-12-31T19:05:00-05:00",
    "2022-01-01T09:30:00-05:00",
    "2022-01-02T11:00:00-05:00",
    "2022-01-04T14:32:00-05:00",
    "2022-01-04T14:35:00-05:00",
];

/// The flows each flow function runs (its `main.rs`).
fn flows_of(function: &str) -> Option<Vec<Flow>> {
    Some(match function {
        "thank-you" => vec![Flow::ThankYou],
        "delivery-check-in" => vec![Flow::DeliveryCheckIn, Flow::CareGuide, Flow::MakeItRight],
        "review-request" => vec![Flow::ReviewRequest],
        "replenishment" => vec![Flow::Replenishment],
        "win-back" => vec![Flow::WinBack],
        "cross-sell" => vec![Flow::CrossSell],
        "vip" => vec![Flow::Vip, Flow::EarlyAccess, Flow::Points],
        "referral" => vec![Flow::Referral],
        "checkout-recovery" => vec![Flow::CheckoutRecovery],
        _ => return None,
    })
}

/// Each function's SNS subscription to the domain events: its binary and the event kinds its
/// filter policy lets through, read from `template.yaml` so the count follows the template.
fn subscriptions() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let template = std::fs::read_to_string(path).unwrap();
    let mut found = BTreeMap::new();
    let (mut binary, mut kinds): (Option<String>, BTreeSet<String>) = (None, BTreeSet::new());
    let mut lines = template.lines().peekable();
    while let Some(line) = lines.next() {
        // A resource starts at two spaces of indent.
        let resource_start = line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':');
        if resource_start || lines.peek().is_none() {
            if let (Some(binary), false) = (binary.take(), kinds.is_empty()) {
                found.insert(binary, std::mem::take(&mut kinds));
            }
            kinds.clear();
        }
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("Binary:") {
            binary = Some(name.trim().to_string());
        }
        if let Some(rest) = trimmed.strip_prefix("kind:") {
            let mut list = rest.to_string();
            while !list.contains(']') {
                list.push_str(lines.next().unwrap().trim());
            }
            let inner = list.split_once('[').unwrap().1.split_once(']').unwrap().0;
            kinds.extend(
                inner
                    .split(',')
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty()),
            );
        }
    }
    found
}

/// A flow function's engine on the metered endpoint, wired as `aftersale_lambda::engine`
/// wires it (its own store client, so its own due-watermark cache, as a separate process has).
fn engine(config: &aws_config::SdkConfig, table: &str, alerts: &str, flows: Vec<Flow>) -> Engine {
    let sns = aws_sdk_sns::Client::new(config);
    let admin_api = Arc::new(AdminApiDiscounts::new(Arc::new(EnvSecrets)));
    let senders = Senders {
        mailer: Arc::new(SesMailer::from_config(config)),
        sms: Arc::new(SnsSms::new(sns.clone())),
        alerts: Arc::new(SnsAlerts::new(sns, alerts)),
        discounts: admin_api.clone(),
        catalogue: admin_api,
    };
    let settings = Settings {
        link_base_url: "https://feedback.example".into(),
        flows,
        email_rate: Some(1.0),
        sms_rate: Some(aftersale_engine::DEFAULT_SMS_RATE),
        ..Settings::default()
    };
    Engine::new(
        Arc::new(DynamoDbStore::from_config(config, table)),
        senders,
        Templates::builtin(),
        LinkSigner::new(&hex(LINK_KEY_HEX)).unwrap(),
        Arc::new(SystemClock),
        settings,
    )
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A fixture's body with its times shifted to start at `placed`, its customer subscribed to
/// marketing email (the flows that send marketing need that).
fn fixture_body(file: &str, placed: DateTime<Utc>) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/shopify/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = std::fs::read_to_string(&path).unwrap();
    let origin = DateTime::parse_from_rfc3339(FIXTURE_TIMES[0]).unwrap();
    for time in FIXTURE_TIMES {
        let at = placed + (DateTime::parse_from_rfc3339(time).unwrap() - origin);
        text = text.replace(time, &at.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    let mut body: Value = serde_json::from_str(&text).unwrap();
    if body["customer"].is_object() {
        body["customer"]["email_marketing_consent"]["state"] = json!("subscribed");
    }
    serde_json::to_vec(&body).unwrap()
}

async fn deliver(ingest: &Ingest, secret: &str, topic: &str, event_id: &str, body: &[u8]) {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-shopify-topic", topic),
        ("x-shopify-shop-domain", SHOP),
        ("x-shopify-event-id", event_id),
        ("x-shopify-hmac-sha256", &sign_base64(secret.as_bytes(), body)),
    ] {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let reply = ingest.shopify(&headers, body).await;
    assert_eq!(reply.outcome, "accepted", "{topic}: {reply:?}");
}

/// What the costs are made of, printed for the README and asserted below.
#[derive(Debug, Default)]
struct Ledger {
    /// Per webhook: the ingest function's spend, and the events it published.
    webhooks: Vec<(String, Spend, Vec<String>)>,
    /// Per flow function: its spend planning on every event it received, and how many.
    planning: BTreeMap<String, (Spend, u64)>,
}

impl Ledger {
    fn print(&self) {
        let units = |s: &Spend| json!({"calls": s.calls, "rru": s.read_units, "wru": s.write_units});
        for (topic, spend, kinds) in &self.webhooks {
            eprintln!("webhook {topic} -> {kinds:?}: {}", units(spend));
        }
        for (function, (spend, invocations)) in &self.planning {
            eprintln!("plan {function} x{invocations}: {}", units(spend));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_and_its_thank_you_cost_these_aws_calls_and_units() {
    let stack = Stack::new(&[(LINK_KEY_PARAM, LINK_KEY_HEX)]).await;
    let (meter, endpoint) = Meter::start(&stack.moto.endpoint).await;
    let metered = stack.config.to_builder().endpoint_url(&endpoint).build();
    let shop = ShopId::from_domain(SHOP).unwrap();

    let subscriptions = subscriptions();
    let mut engines = BTreeMap::new();
    for (function, kinds) in &subscriptions {
        if kinds
            .iter()
            .any(|k| k.starts_with("order_") || k == "shipment_updated")
        {
            let flows = flows_of(function)
                .unwrap_or_else(|| panic!("{function} plans on order events: add its flows"));
            engines.insert(
                function.clone(),
                engine(&metered, &stack.table, &stack.alerts, flows),
            );
        }
    }

    // 1. Every webhook of the order through ingest, and every flow function its events reach.
    let secret = "shpss_costs_test";
    let ingest = Ingest::new(
        Arc::new(DynamoDbStore::from_config(&metered, &stack.table)),
        Arc::new(SnsEventBus::new(
            aws_sdk_sns::Client::new(&metered),
            &stack.domain_events,
        )),
        Arc::new(SystemClock),
        WebhookSecrets {
            shopify: Secret::new(secret),
            ..WebhookSecrets::default()
        },
    );
    let placed = Utc::now() - chrono::Duration::minutes(1);
    let mut ledger = Ledger::default();
    let mut seen = BTreeSet::new();
    for (n, (topic, file)) in LIFECYCLE.iter().enumerate() {
        let before = meter.snapshot();
        deliver(
            &ingest,
            secret,
            topic,
            &format!("evt-costs-{n}"),
            &fixture_body(file, placed),
        )
        .await;
        let spend = meter.snapshot().since(&before);
        let events: Vec<StoreEvent> = stack
            .store()
            .list_events(Some(&shop))
            .await
            .unwrap()
            .into_iter()
            .map(|stored| stored.event)
            .filter(|event| seen.insert(event.event_id.clone()))
            .collect();
        ledger.webhooks.push((
            topic.to_string(),
            spend,
            events.iter().map(|e| e.kind_name().to_string()).collect(),
        ));
        for event in &events {
            for (function, engine) in &engines {
                if subscriptions[function].contains(event.kind_name()) {
                    let before = meter.snapshot();
                    engine.on_event(event).await.unwrap();
                    let entry = ledger.planning.entry(function.clone()).or_default();
                    entry.0 = entry.0.plus(&meter.snapshot().since(&before));
                    entry.1 += 1;
                }
            }
        }
    }
    ledger.print();

    // 2. The real thank-you binary: cold start (an empty SNS delivery), the tick that sends the
    // thank-you, and a tick with nothing due.
    let mut runtime = flow::lambda::RuntimeApi::start().await;
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AFTERSALE_TABLE", stack.table.as_str()),
        ("SUPPORT_ALERTS_TOPIC_ARN", stack.alerts.as_str()),
        ("FEEDBACK_BASE_URL", "https://feedback.example/"),
        ("AFTERSALE_LINK_KEY_PARAM", LINK_KEY_PARAM),
    ];
    let before = meter.snapshot();
    let mut function = flow::lambda::Function::spawn(env!("CARGO_BIN_EXE_thank-you"), &runtime, &env);
    let nothing = runtime
        .invoke_ok(&mut function, json!({"Records": []}), flow::FIRST_INVOCATION)
        .await;
    assert_eq!(nothing, json!({"planned": 0}));
    let cold_start = meter.snapshot().since(&before);
    let before = meter.snapshot();
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}");
    let send = meter.snapshot().since(&before);
    let before = meter.snapshot();
    let report = runtime.invoke_ok(&mut function, tick(2), INVOCATION).await;
    assert_eq!(report["sent"], 0, "{report}");
    let idle_thank_you = meter.snapshot().since(&before);
    eprintln!(
        "cold start: {cold_start:?}\ntick sending one: {send:?}\ntick with nothing due: {idle_thank_you:?}"
    );
    assert_eq!(idle_thank_you.write_units, 0.0, "{idle_thank_you:?}");

    // 3. What the ses-events function spends on the SES events of the sent thank-you (the
    // configuration set publishes delivery, open and click to SNS, one invocation each).
    let ses_events = DynamoDbStore::from_config(&metered, &stack.table);
    let mut engagement = BTreeMap::new();
    for kind in ["Delivery", "Open", "Click"] {
        let before = meter.snapshot();
        let applied = apply_ses_notification(&ses_events, &ses_event(kind), Utc::now())
            .await
            .unwrap();
        assert_eq!(applied, 0, "{kind} suppresses nobody");
        engagement.insert(kind, meter.snapshot().since(&before));
    }
    eprintln!("ses-events: {engagement:?}");

    // 4. Every other flow function's tick with nothing due (the second one: a first tick may
    // do a daily job, such as cross-sell's learning, which is printed too).
    let mut idle = BTreeMap::new();
    for (function, engine) in &engines {
        let budget = TickBudget::of(Duration::from_secs(60), Duration::from_secs(10));
        let before = meter.snapshot();
        let first = engine.tick_within(Utc::now(), budget).await.unwrap();
        let first_spend = meter.snapshot().since(&before);
        let before = meter.snapshot();
        let report = engine.tick_within(Utc::now(), budget).await.unwrap();
        let spend = meter.snapshot().since(&before);
        eprintln!(
            "tick {function}: first (sent {}) {first_spend:?}; idle {spend:?}",
            first.sent
        );
        assert_eq!(report.sent, 0, "{function}: {report:?}");
        idle.insert(function.clone(), spend);
    }
    let stored = meter.stored(&stack.table).await;
    eprintln!("stored after the order: {stored:?}");

    assert_costs(&ledger, &cold_start, &send, &idle);
    for (kind, spend) in &engagement {
        assert_eq!(spend.calls("dynamodb.Scan"), 0, "{kind}: {spend:?}");
        assert!(
            spend.write_units <= 7.0 && spend.read_units <= 11.0,
            "{kind}: {spend:?}"
        );
    }
}

/// An SES event-publishing notification for the thank-you, with the headers the sender sets.
fn ses_event(kind: &str) -> String {
    let detail = kind.to_lowercase();
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "eventType": kind,
        detail: {"timestamp": at},
        "mail": {
            "timestamp": at,
            "messageId": "ses-costs-1",
            "headers": [
                {"name": "X-Aftersale-Shop", "value": SHOP},
                {"name": "X-Aftersale-Customer", "value": flow::CUSTOMER},
                {"name": "X-Aftersale-Message", "value": "thank-you#820982911946154508#thank-you"}
            ]
        }
    })
    .to_string()
}

/// A tick reads every shard (4) of every hour bucket of the due index from its watermark, less
/// an hour's margin, to now: two buckets, three just after the hour. That is the only part of
/// the counts that depends on the time of day.
const DUE_SHARDS: u64 = 4;

/// The counted figures, as bounds: more calls or units than these is a regression (or a change
/// the README's cost model must follow, with these numbers).
fn assert_costs(ledger: &Ledger, cold_start: &Spend, send: &Spend, idle: &BTreeMap<String, Spend>) {
    let all = ledger
        .webhooks
        .iter()
        .map(|(_, spend, _)| spend)
        .chain(ledger.planning.values().map(|(spend, _)| spend))
        .chain(idle.values())
        .chain([cold_start, send]);
    for spend in all {
        assert_eq!(
            spend.calls("dynamodb.Scan"),
            0,
            "no scan on a hot path: {spend:?}"
        );
    }

    // The webhook path: one SNS publish per event, and these units for the whole order.
    let ingest = ledger
        .webhooks
        .iter()
        .fold(Spend::default(), |sum, (_, s, _)| sum.plus(s));
    let events: usize = ledger.webhooks.iter().map(|(_, _, kinds)| kinds.len()).sum();
    assert_eq!((ledger.webhooks.len(), events), (7, 7), "{ledger:?}");
    assert_eq!(ingest.calls("sns.Publish"), 7, "{ingest:?}");
    assert!(ingest.write_units <= 90.0, "ingest of one order: {ingest:?}");
    assert!(ingest.read_units <= 112.0, "ingest of one order: {ingest:?}");
    for (topic, spend, _) in &ledger.webhooks {
        assert!(
            spend.write_units <= 22.0 && spend.read_units <= 21.0,
            "{topic}: {spend:?}"
        );
    }

    // The flow functions the order's events reach (template.yaml's filter policies).
    let invocations: u64 = ledger.planning.values().map(|(_, n)| n).sum();
    assert_eq!(invocations, 36, "{ledger:?}");
    let planning = ledger
        .planning
        .values()
        .fold(Spend::default(), |sum, (s, _)| sum.plus(s));
    assert!(
        planning.write_units <= 67.0,
        "planning on one order: {planning:?}"
    );
    assert!(
        planning.read_units <= 421.0,
        "planning on one order: {planning:?}"
    );
    assert_eq!(
        planning.service_calls("ses") + planning.service_calls("sns"),
        0,
        "{planning:?}"
    );

    // A cold start reads the link key and the account's sending rate, and nothing else.
    assert_eq!(cold_start.calls("ssm.GetParameter"), 1, "{cold_start:?}");
    assert_eq!(cold_start.calls("ses.GetAccount"), 1, "{cold_start:?}");
    assert_eq!(cold_start.service_calls("dynamodb"), 0, "{cold_start:?}");

    // The tick sending the thank-you: one email, and its claim, re-check and record.
    let extra_bucket = DUE_SHARDS as f64 * 0.5;
    assert_eq!(send.calls("ses.SendEmail"), 1, "{send:?}");
    assert!(send.write_units <= 11.0, "{send:?}");
    assert!(send.read_units <= 29.0 + extra_bucket, "{send:?}");

    // A tick with nothing due: the watermark, and at most three hours of due-index shards.
    for (function, spend) in idle {
        assert!(
            spend.service_calls("dynamodb") <= 3 + 3 * DUE_SHARDS,
            "{function}: {spend:?}"
        );
        assert!(
            spend.read_units <= 3.0 + 3.0 * extra_bucket,
            "{function}: {spend:?}"
        );
        assert_eq!(spend.write_units, 0.0, "{function}: {spend:?}");
    }
}
