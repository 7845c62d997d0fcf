//! Tick throughput: sends per second of one tick over many due messages, on the embedded
//! store (SQLite file) with the file outbox, at several concurrencies, optionally with a
//! simulated provider round trip and a time budget.
//!
//! ```sh
//! nice -n 10 cargo run --release -p aftersale-engine --example tick_bench -- \
//!     --orders 5000 --concurrency 1,16 --latency-ms 0,40
//! nice -n 10 cargo run --release -p aftersale-engine --example tick_bench -- \
//!     --orders 50000 --concurrency 16 --budget-s 30
//! ```
//!
//! Each run starts from a fresh store: `--orders` signed Shopify orders (spread over 50 shops)
//! go through the real ingest, each planning a thank-you due at once; then one tick sends
//! them (with `--budget-s`, a budget-limited tick first, then one that sends the rest). It
//! checks that every order's thank-you was written to the outbox once.

use aftersale_domain::{Flow, MessageStatus};
use aftersale_engine::{Engine, InProcessBus, Senders, Settings, TickBudget};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_links::LinkSigner;
use aftersale_outbox::{FileMailer, RecordingAlerts, RecordingSms};
use aftersale_ports::{
    Clock, FlowStore, Mailer, ManualClock, Messages, OutgoingEmail, SendError, SentId, Store,
};
use aftersale_rewards::{FixedDiscounts, MemoryDiscounts};
use aftersale_store_sqlite::SqliteStore;
use aftersale_templates::Templates;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "shpss_tick_bench";
const SHOPS: usize = 50;

/// The file outbox behind a provider round trip of `latency` (SES answers in ~30-80 ms).
struct Distant {
    files: FileMailer,
    latency: Duration,
}

#[async_trait]
impl Mailer for Distant {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<SentId, SendError> {
        tokio::time::sleep(self.latency).await;
        self.files.send_email(email).await
    }
}

struct Options {
    orders: usize,
    concurrency: Vec<usize>,
    latency_ms: Vec<u64>,
    budget: Option<Duration>,
}

fn options() -> Options {
    let mut options = Options {
        orders: 5000,
        concurrency: vec![1, 16],
        latency_ms: vec![0],
        budget: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = |v: &str| -> Vec<u64> {
        v.split(',')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("not a number: {n}")))
            .collect()
    };
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            panic!("flags take a value: {pair:?}");
        };
        match flag.as_str() {
            "--orders" => options.orders = value.parse().expect("--orders N"),
            "--concurrency" => options.concurrency = list(value).into_iter().map(|n| n as usize).collect(),
            "--latency-ms" => options.latency_ms = list(value),
            "--budget-s" => options.budget = Some(Duration::from_secs(value.parse().expect("--budget-s N"))),
            other => panic!("unknown flag {other} (--orders, --concurrency, --latency-ms, --budget-s)"),
        }
    }
    options
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// The fixture orders are dated 2021-12-31T19:00:00-05:00; their thank-yous are due then.
fn order_at() -> DateTime<Utc> {
    at("2022-01-01T00:00:00Z")
}

fn fixture() -> Value {
    let path = format!(
        "{}/../../tests/fixtures/shopify/orders_create.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// `orders` distinct signed orders through the real ingest (which plans their thank-yous).
async fn seed(ingest: &Ingest, orders: usize) {
    let template = fixture();
    for i in 0..orders {
        let mut order = template.clone();
        let email = format!("bench{i}@example.com");
        order["id"] = (100_000_000_000u64 + i as u64).into();
        order["name"] = format!("#{}", 10_000 + i).into();
        order["email"] = email.clone().into();
        order["contact_email"] = email.clone().into();
        order["customer"]["id"] = (200_000_000_000u64 + i as u64).into();
        order["customer"]["email"] = email.into();
        let body = serde_json::to_vec(&order).unwrap();
        let mut headers = HeaderMap::new();
        let shop = format!("bench{}.myshopify.com", i % SHOPS);
        headers.insert("x-shopify-topic", HeaderValue::from_static("orders/create"));
        headers.insert("x-shopify-shop-domain", HeaderValue::from_str(&shop).unwrap());
        headers.insert(
            "x-shopify-event-id",
            HeaderValue::from_str(&format!("bench-{i}")).unwrap(),
        );
        headers.insert(
            "x-shopify-webhook-id",
            HeaderValue::from_str(&format!("wh-{i}")).unwrap(),
        );
        let signature = aftersale_platforms::signature::sign_base64(SECRET.as_bytes(), &body);
        headers.insert(
            "x-shopify-hmac-sha256",
            HeaderValue::from_str(&signature).unwrap(),
        );
        let reply = ingest.shopify(&headers, &body).await;
        assert_eq!(reply.stored, 1, "order {i}: {}", reply.json());
    }
}

fn engine(
    store: Arc<dyn FlowStore>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
) -> Engine {
    Engine::new(
        store,
        Senders {
            mailer,
            sms: Arc::new(RecordingSms::new()),
            alerts: Arc::new(RecordingAlerts::new()),
            discounts: Arc::new(FixedDiscounts(Arc::new(MemoryDiscounts::new()))),
            catalogue: Arc::new(aftersale_ports::NoCatalogue),
        },
        Templates::builtin(),
        LinkSigner::new(b"aftersale-tick-benchmark-key-32b").unwrap(),
        clock,
        Settings {
            flows: vec![Flow::ThankYou],
            send_concurrency: concurrency,
            outbox_marks_delivery: true,
            ..Settings::default()
        },
    )
}

async fn run(orders: usize, concurrency: usize, latency: Duration, budget: Option<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("aftersale.db")).unwrap());
    let clock = Arc::new(ManualClock::new(order_at()));
    let files = FileMailer::with_clock(dir.path().join("outbox"), clock.clone());
    let mailer: Arc<dyn Mailer> = Arc::new(Distant {
        files: files.clone(),
        latency,
    });
    let engine = Arc::new(engine(store.clone(), mailer, clock.clone(), concurrency));
    let ingest = Ingest::new(
        store.clone() as Arc<dyn Store>,
        Arc::new(InProcessBus::new(engine.clone())),
        clock.clone(),
        WebhookSecrets {
            shopify: Secret::new(SECRET),
            ..Default::default()
        },
    );
    let started = Instant::now();
    seed(&ingest, orders).await;
    let seeded = started.elapsed();

    let due = order_at() + chrono::Duration::minutes(1);
    clock.set(due);
    let started = Instant::now();
    let mut first = None;
    if let Some(budget) = budget {
        let report = engine
            .tick_within(due, TickBudget::of(budget, engine.settings().tick_margin))
            .await
            .unwrap();
        first = Some((started.elapsed(), report));
    }
    let second_started = Instant::now();
    let report = engine.tick(due).await.unwrap();
    let rest = second_started.elapsed();

    let written = std::fs::read_dir(files.email_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml"))
        .count();
    let messages = store.list_messages(None).await.unwrap();
    let sent = messages
        .iter()
        .filter(|m| m.flow() == Flow::ThankYou && m.status == MessageStatus::Sent)
        .count();
    assert_eq!(
        (written, sent),
        (orders, orders),
        "every thank-you written once and sent"
    );
    let line = |label: &str, took: Duration, n: usize| {
        println!(
            "{label}: {n} sent in {:.2} s = {:.0} sends/s",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    };
    println!(
        "orders {orders}, concurrency {concurrency}, provider latency {} ms (seeded in {:.1} s)",
        latency.as_millis(),
        seeded.as_secs_f64()
    );
    match first {
        Some((took, first)) => {
            line("  budget-limited tick", took, first.sent);
            println!(
                "    budget_exhausted {}, left planned for the next tick {}",
                first.budget_exhausted,
                orders - first.sent
            );
            line("  next tick", rest, report.sent);
        }
        None => line("  tick", rest, report.sent),
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    for &latency in &options.latency_ms {
        for &concurrency in &options.concurrency {
            run(
                options.orders,
                concurrency,
                Duration::from_millis(latency),
                options.budget,
            )
            .await;
        }
    }
}
