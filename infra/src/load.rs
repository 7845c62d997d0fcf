//! `aftersale load`: posts distinct signed deliveries to a running `serve` at a fixed
//! concurrency, then checks in its store that every accepted event is there exactly once, and
//! reports throughput and latency.
//!
//! The mix is what a busy shop sends: Shopify `orders/paid` and WooCommerce `order.updated`
//! (paid), with some deliveries sent twice (a platform retry racing the first attempt) and some
//! orders updated out of order (the newer update arrives before the older one). Every order,
//! customer and event id carries a run tag, so runs against one store never collide.

use crate::StoreArgs;
use crate::backend::Backend;
use aftersale_domain::{OrderId, ShopId};
use aftersale_ingest::{Ingest, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{NoEventBus, SystemClock};
use anyhow::{Context, bail};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const SHOPIFY_ORDER: &str = include_str!("../../tests/fixtures/shopify/orders_paid.json");
const WOOCOMMERCE_ORDER: &str = include_str!("../../tests/fixtures/woocommerce/order_updated.json");

/// What `aftersale load` was asked for.
pub struct LoadOptions {
    pub url: String,
    pub orders: usize,
    pub concurrency: usize,
    pub shop: String,
    pub site: String,
    /// Percent of the orders that come from the WooCommerce site.
    pub woocommerce_percent: usize,
    /// Percent of the deliveries that are sent a second time, right after the first.
    pub duplicate_percent: usize,
    /// Percent of the orders that also get a newer update, sent before their first delivery.
    pub reorder_percent: usize,
    pub capture: Option<PathBuf>,
    pub json: bool,
}

/// One delivery to post.
struct Delivery {
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// The order it is about and the `updated_at` it carries, for the newest-state check.
    order: (ShopId, OrderId, DateTime<Utc>),
}

/// What one post got back.
struct Answer {
    status: u16,
    outcome: String,
    micros: u64,
}

pub async fn run(options: &LoadOptions, store_args: &StoreArgs) -> anyhow::Result<bool> {
    if options.orders == 0 || options.concurrency == 0 {
        bail!("--orders and --concurrency must be at least 1");
    }
    let secrets = WebhookSecrets::from_env();
    let shopify_secret = secrets
        .shopify
        .clone()
        .context("SHOPIFY_API_SECRET must be set to the secret `serve` verifies with")?;
    let woo_secret = secrets.woocommerce_default.clone();
    if options.woocommerce_percent > 0 && woo_secret.is_none() {
        bail!("WOOCOMMERCE_WEBHOOK_SECRET must be set (or --woocommerce-percent 0)");
    }
    let shop = ShopId::shopify(&options.shop).context("--shop")?;
    let site = ShopId::from_domain(&options.site).context("--site")?;
    // Whole milliseconds: the deliveries' timestamps carry no more, and the check compares them.
    let now = Utc::now().timestamp_millis();
    let start = DateTime::from_timestamp_millis(now).context("the clock")?;
    let plan = Plan {
        run: now as u64,
        shop: options.shop.clone(),
        site: options.site.clone(),
        shop_id: shop.clone(),
        site_id: site.clone(),
        start,
    };
    let deliveries = plan.deliveries(
        options,
        shopify_secret.expose_bytes(),
        woo_secret.as_ref().map(|s| s.expose_bytes()),
    )?;
    if let Some(path) = &options.capture {
        write_capture(path, &deliveries)?;
    }

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    let deliveries = Arc::new(deliveries);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let (client, deliveries, next, url) = (
            client.clone(),
            Arc::clone(&deliveries),
            Arc::clone(&next),
            options.url.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(delivery) = deliveries.get(i) else { break };
                answers.push((i, post(&client, &url, delivery).await));
            }
            answers
        }));
    }
    let mut answers: Vec<(usize, Answer)> = Vec::with_capacity(deliveries.len());
    for worker in workers {
        answers.extend(worker.await?);
    }
    let elapsed = started.elapsed();
    answers.sort_by_key(|(i, _)| *i);

    let mut latencies: Vec<u64> = answers.iter().map(|(_, a)| a.micros).collect();
    latencies.sort_unstable();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1];
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for (_, a) in &answers {
        *outcomes.entry(format!("{} {}", a.status, a.outcome)).or_default() += 1;
    }
    let check = check_stored(store_args, &deliveries, &answers, &secrets).await?;
    let report = json!({
        "deliveries": deliveries.len(),
        "orders": options.orders,
        "concurrency": options.concurrency,
        "seconds": round3(elapsed.as_secs_f64()),
        "per_second": (deliveries.len() as f64 / elapsed.as_secs_f64()).round(),
        "orders_per_second": (options.orders as f64 / elapsed.as_secs_f64()).round(),
        "planned_orders_per_second": (options.orders as f64 / (elapsed + check.planned_after).as_secs_f64()).round(),
        "p50_ms": round3(pct(0.50) as f64 / 1000.0),
        "p99_ms": round3(pct(0.99) as f64 / 1000.0),
        "max_ms": round3(*latencies.last().unwrap_or(&0) as f64 / 1000.0),
        "answers": outcomes,
        "check": check.json(),
    });
    if options.json {
        println!("{report}");
    } else {
        println!(
            "{} deliveries ({} orders) at concurrency {} in {:.2} s: {} a second ({} orders; {} planned), p50 {} ms, p99 {} ms, max {} ms",
            deliveries.len(),
            options.orders,
            options.concurrency,
            elapsed.as_secs_f64(),
            report["per_second"],
            report["orders_per_second"],
            report["planned_orders_per_second"],
            report["p50_ms"],
            report["p99_ms"],
            report["max_ms"],
        );
        let mut lines: Vec<_> = outcomes.iter().collect();
        lines.sort();
        for (outcome, n) in lines {
            println!("  {n:>7}  {outcome}");
        }
        println!("{}", check.summary());
    }
    Ok(check.passed())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn post(client: &reqwest::Client, url: &str, delivery: &Delivery) -> Answer {
    let mut request = client
        .post(format!("{}{}", url.trim_end_matches('/'), delivery.path))
        .body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(*name, value);
    }
    let started = Instant::now();
    let (status, outcome) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let outcome = match (body["outcome"].as_str(), body["duplicates"].as_u64()) {
                (Some("accepted"), Some(n)) if n > 0 => "duplicate".to_string(),
                (Some(outcome), _) => outcome.to_string(),
                (None, _) => "no answer".to_string(),
            };
            (status, outcome)
        }
        Err(err) => (0, format!("connection error: {}", err.without_url())),
    };
    Answer {
        status,
        outcome,
        micros: started.elapsed().as_micros() as u64,
    }
}

fn write_capture(path: &PathBuf, deliveries: &[Delivery]) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for d in deliveries {
        let line =
            aftersale_ingest::capture::write_line(d.headers.iter().map(|(k, v)| (*k, v.as_str())), &d.body);
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// Builds the run's deliveries.
struct Plan {
    run: u64,
    shop: String,
    site: String,
    shop_id: ShopId,
    site_id: ShopId,
    start: DateTime<Utc>,
}

impl Plan {
    fn deliveries(
        &self,
        options: &LoadOptions,
        shopify_secret: &[u8],
        woo_secret: Option<&[u8]>,
    ) -> anyhow::Result<Vec<Delivery>> {
        let shopify: Value = serde_json::from_str(SHOPIFY_ORDER)?;
        let woo: Value = serde_json::from_str(WOOCOMMERCE_ORDER)?;
        let mut out = Vec::with_capacity(options.orders * 11 / 10);
        // Spread each share evenly: order i is WooCommerce when its share's counter ticks.
        let every =
            |percent: usize, i: usize| percent > 0 && (i * percent) / 100 != ((i + 1) * percent) / 100;
        for i in 0..options.orders {
            let placed = self.start + Duration::milliseconds(i as i64);
            let woocommerce = every(options.woocommerce_percent, i);
            let make = |updated: DateTime<Utc>, newest: bool| -> anyhow::Result<Delivery> {
                if woocommerce {
                    self.woocommerce(&woo, i, placed, updated, newest, woo_secret.unwrap_or_default())
                } else {
                    self.shopify(&shopify, i, placed, updated, newest, shopify_secret)
                }
            };
            if every(options.reorder_percent, i) {
                // The newer state first; the older delivery after it must not win.
                out.push(make(placed + Duration::hours(1), true)?);
            }
            let first = make(placed, false)?;
            let again = every(options.duplicate_percent, i).then(|| Delivery {
                path: first.path,
                headers: first.headers.clone(),
                body: first.body.clone(),
                order: first.order.clone(),
            });
            out.push(first);
            out.extend(again);
        }
        Ok(out)
    }

    /// A Shopify `orders/paid` (or, for the newer update, `orders/updated`) of a distinct
    /// order; every second order is the same customer's second.
    fn shopify(
        &self,
        template: &Value,
        i: usize,
        placed: DateTime<Utc>,
        updated: DateTime<Utc>,
        newest: bool,
        secret: &[u8],
    ) -> anyhow::Result<Delivery> {
        let order_id = self.run * 1_000_000 + i as u64;
        let customer_id = self.run * 1_000_000 + (i / 2) as u64;
        let mut body = template.clone();
        body["id"] = json!(order_id);
        body["name"] = json!(format!("#L{i}"));
        body["order_number"] = json!(i);
        body["created_at"] = json!(rfc3339(placed));
        body["processed_at"] = json!(rfc3339(placed));
        body["updated_at"] = json!(rfc3339(updated));
        body["email"] = json!(format!("load-{}-{}@example.com", self.run, i / 2));
        body["customer"]["id"] = json!(customer_id);
        body["customer"]["email"] = body["email"].clone();
        if newest {
            body["note"] = json!("load: newest");
        }
        let body = serde_json::to_vec(&body)?;
        let topic = if newest { "orders/updated" } else { "orders/paid" };
        let event = format!("load-{}-{i}-{}", self.run, if newest { "u" } else { "p" });
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-shopify-topic", topic.to_string()),
            ("x-shopify-shop-domain", self.shop.clone()),
            ("x-shopify-event-id", event.clone()),
            ("x-shopify-webhook-id", format!("wh-{event}")),
            ("x-shopify-api-version", "2025-10".to_string()),
            ("x-shopify-triggered-at", rfc3339(updated)),
            ("x-shopify-hmac-sha256", sign_base64(secret, &body)),
        ];
        Ok(Delivery {
            path: "/webhooks/shopify",
            headers,
            body,
            order: (self.shop_id.clone(), OrderId::new(order_id.to_string())?, updated),
        })
    }

    /// A WooCommerce `order.updated` of a distinct paid order (`processing`; the newer update
    /// is `completed`).
    fn woocommerce(
        &self,
        template: &Value,
        i: usize,
        placed: DateTime<Utc>,
        updated: DateTime<Utc>,
        newest: bool,
        secret: &[u8],
    ) -> anyhow::Result<Delivery> {
        let order_id = self.run * 1_000_000 + i as u64;
        let naive = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%S").to_string();
        let mut body = template.clone();
        body["id"] = json!(order_id);
        body["number"] = json!(i.to_string());
        body["status"] = json!(if newest { "completed" } else { "processing" });
        body["customer_id"] = json!(self.run * 1_000_000 + (i / 2) as u64);
        body["billing"]["email"] = json!(format!("load-{}-{}@example.com", self.run, i / 2));
        for key in ["date_created", "date_created_gmt", "date_paid", "date_paid_gmt"] {
            body[key] = json!(naive(placed));
        }
        for key in ["date_modified", "date_modified_gmt"] {
            body[key] = json!(naive(updated));
        }
        let body = serde_json::to_vec(&body)?;
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-wc-webhook-topic", "order.updated".to_string()),
            ("x-wc-webhook-source", self.site.clone()),
            ("x-wc-webhook-resource", "order".to_string()),
            ("x-wc-webhook-event", "updated".to_string()),
            ("x-wc-webhook-delivery-id", format!("{}{i}", self.run % 100_000)),
            ("x-wc-webhook-id", "7".to_string()),
            ("x-wc-webhook-signature", sign_base64(secret, &body)),
        ];
        // WooCommerce dates have whole seconds.
        let updated = DateTime::parse_from_rfc3339(&format!("{}Z", naive(updated)))?.with_timezone(&Utc);
        Ok(Delivery {
            path: "/webhooks/woocommerce",
            headers,
            body,
            order: (self.site_id.clone(), OrderId::new(order_id.to_string())?, updated),
        })
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What the store holds after the run, against what was accepted.
struct Check {
    /// Distinct events in accepted deliveries.
    expected: usize,
    stored_once: usize,
    missing: Vec<String>,
    orders: usize,
    /// Orders whose stored snapshot is not the newest delivered.
    stale_orders: Vec<String>,
    /// Paid orders with at least one message planned.
    orders_with_messages: usize,
    refused: usize,
    /// Accepted events still not planned when the check gave up waiting.
    unplanned: usize,
    /// From the last reply until every accepted event was planned.
    planned_after: std::time::Duration,
}

impl Check {
    fn passed(&self) -> bool {
        self.missing.is_empty()
            && self.stale_orders.is_empty()
            && self.refused == 0
            && self.stored_once == self.expected
            && self.unplanned == 0
            && self.orders_with_messages == self.orders
    }

    fn json(&self) -> Value {
        json!({
            "passed": self.passed(),
            "events_expected": self.expected,
            "events_stored_once": self.stored_once,
            "events_missing": self.missing.len(),
            "orders": self.orders,
            "orders_not_newest": self.stale_orders.len(),
            "orders_with_messages": self.orders_with_messages,
            "deliveries_not_accepted": self.refused,
            "events_unplanned": self.unplanned,
            "planned_after_seconds": round3(self.planned_after.as_secs_f64()),
        })
    }

    fn summary(&self) -> String {
        let mut text = format!(
            "check: {} of {} accepted events stored exactly once; {} of {} orders hold their newest state; {} have messages planned",
            self.stored_once,
            self.expected,
            self.orders - self.stale_orders.len(),
            self.orders,
            self.orders_with_messages,
        );
        text.push_str(&format!(
            "\n  every accepted event planned {:.2} s after the last reply",
            self.planned_after.as_secs_f64()
        ));
        if self.unplanned > 0 {
            text.push_str(&format!(
                "\n  {} accepted events were still not planned after {} s",
                self.unplanned,
                PLANNING_TIMEOUT.as_secs()
            ));
        }
        if self.refused > 0 {
            text.push_str(&format!("\n  {} deliveries were not accepted", self.refused));
        }
        for id in self.missing.iter().take(5) {
            text.push_str(&format!("\n  missing event {id}"));
        }
        for id in self.stale_orders.iter().take(5) {
            text.push_str(&format!("\n  order {id} does not hold its newest update"));
        }
        text.push_str(if self.passed() { "\nPASS" } else { "\nFAIL" });
        text
    }
}

/// Reads the store `serve` writes to (the same `--data-dir` or `--dynamodb-table`).
async fn check_stored(
    store_args: &StoreArgs,
    deliveries: &[Delivery],
    answers: &[(usize, Answer)],
    secrets: &WebhookSecrets,
) -> anyhow::Result<Check> {
    let backend = Backend::open(store_args)
        .await
        .context("opening the store `serve` writes to")?;
    let store = Arc::clone(&backend.store);
    // The same parser `serve` runs names the events each delivery holds; nothing is stored.
    let parser = Ingest::new(
        Arc::new(aftersale_store_sqlite::SqliteStore::in_memory()?),
        Arc::new(NoEventBus),
        Arc::new(SystemClock),
        secrets.clone(),
    );
    let mut expected: HashMap<(ShopId, String), ()> = HashMap::new();
    let mut newest: HashMap<(ShopId, OrderId), DateTime<Utc>> = HashMap::new();
    let mut refused = 0;
    for (i, answer) in answers {
        let delivery = &deliveries[*i];
        if answer.status != 200 || !matches!(answer.outcome.as_str(), "accepted" | "duplicate") {
            refused += 1;
            continue;
        }
        let line = aftersale_ingest::capture::write_line(
            delivery.headers.iter().map(|(k, v)| (*k, v.as_str())),
            &delivery.body,
        );
        let captured = aftersale_ingest::capture::read_line(&line)?;
        for event in parser
            .check(&captured)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            expected.insert((event.shop.clone(), event.event_id.to_string()), ());
        }
        let (shop, order, at) = delivery.order.clone();
        let slot = newest.entry((shop, order)).or_insert(at);
        *slot = (*slot).max(at);
    }
    let (unplanned, planned_after) = wait_until_planned(store.as_ref(), &expected).await?;
    let mut counts: HashMap<(ShopId, String), usize> = HashMap::new();
    let shops: std::collections::BTreeSet<ShopId> = expected.keys().map(|(s, _)| s.clone()).collect();
    let mut planned: HashMap<(ShopId, String), usize> = HashMap::new();
    for shop in &shops {
        for stored in store.list_events(Some(shop)).await? {
            *counts
                .entry((shop.clone(), stored.event.event_id.to_string()))
                .or_default() += 1;
        }
        for message in store.list_messages(Some(shop)).await? {
            if let Some(order) = &message.order_id {
                *planned.entry((shop.clone(), order.to_string())).or_default() += 1;
            }
        }
    }
    let mut stored_once = 0;
    let mut missing = Vec::new();
    for key in expected.keys() {
        match counts.get(key) {
            Some(1) => stored_once += 1,
            _ => missing.push(key.1.clone()),
        }
    }
    let mut stale_orders = Vec::new();
    let mut orders_with_messages = 0;
    for ((shop, order), at) in &newest {
        let stored_at = store
            .load_order(shop, order)
            .await?
            .and_then(|r| r.value.snapshot)
            .map(|o| o.updated_at);
        if stored_at != Some(*at) {
            stale_orders.push(format!("{shop}/{order}"));
        }
        if planned.contains_key(&(shop.clone(), order.to_string())) {
            orders_with_messages += 1;
        }
    }
    Ok(Check {
        expected: expected.len(),
        stored_once,
        missing,
        orders: newest.len(),
        stale_orders,
        orders_with_messages,
        refused,
        unplanned,
        planned_after,
    })
}

/// The longest `serve` may take to plan what it answered (it plans after the replies while
/// deliveries are in flight, and within two seconds of the oldest when they go on).
const PLANNING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits until none of the accepted events is unfinished in the store, and returns how many
/// still were at [`PLANNING_TIMEOUT`], and how long after the last reply the planning ended.
async fn wait_until_planned(
    store: &dyn aftersale_ports::Store,
    expected: &HashMap<(ShopId, String), ()>,
) -> anyhow::Result<(usize, std::time::Duration)> {
    let started = Instant::now();
    let far_future = Utc::now() + Duration::days(365);
    loop {
        let unplanned = store
            .unfinished_events(far_future)
            .await?
            .iter()
            .filter(|e| expected.contains_key(&(e.event.shop.clone(), e.event.event_id.to_string())))
            .count();
        if unplanned == 0 || started.elapsed() >= PLANNING_TIMEOUT {
            return Ok((unplanned, started.elapsed()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
