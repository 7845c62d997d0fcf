//! `aftersale import shopify|woocommerce` and `aftersale woocommerce reconcile` against local
//! stand-ins that speak the platforms' documented formats: Shopify's GraphQL bulk operation
//! (the mutation, `node(id:)` polling, a JSONL file with `__parentId` served with `Range`
//! support, `extensions.cost.throttleStatus` and a `THROTTLED` refusal, failed and expired
//! exports), and WooCommerce's REST pages (`per_page`, `X-WP-TotalPages`, a 429, a 401, a site
//! that is not WooCommerce, disabled webhooks).

#[path = "support/mod.rs"]
mod support;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use support::*;

const SHOP: &str = "demo.myshopify.com";
const TOKEN: &str = "shpat_import_test";
const KEY: &str = "ck_import";
const SECRET: &str = "cs_import";

/// Two tiers, so the history places customers in them (silently).
const VIP_CONFIG: &str = r#"
[flows.vip]
grace_days = 30
[[flows.vip.tiers]]
name = "Silver"
min_orders = 2
[[flows.vip.tiers]]
name = "Gold"
min_orders = 5
"#;

fn spawn(app: Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://127.0.0.1:{port}")
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn aftersale(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run aftersale")
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn load_config(data: &Path, shop: &str) {
    load_config_with(data, shop, "");
}

/// The tiers, plus `extra` TOML.
fn load_config_with(data: &Path, shop: &str, extra: &str) {
    let file = data.join("shop.toml");
    std::fs::write(&file, format!("{extra}\n{VIP_CONFIG}")).unwrap();
    let out = Command::new(binary())
        .args(["config", "load"])
        .arg(&file)
        .args(["--shop", shop, "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn sqlite(data: &Path) -> rusqlite::Connection {
    let files: Vec<_> = std::fs::read_dir(data)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "db" || x == "sqlite" || x == "sqlite3")
        })
        .collect();
    let path = files
        .first()
        .unwrap_or_else(|| panic!("no database in {}", data.display()));
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn count(data: &Path, sql: &str) -> i64 {
    sqlite(data).query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

/// Rows of `sql` (one text column), sorted: a store's state, to compare two stores by.
fn rows(data: &Path, sql: &str) -> Vec<String> {
    let db = sqlite(data);
    let mut statement = db.prepare(sql).unwrap();
    let mut found: Vec<String> = statement
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    found.sort();
    found
}

// ---------------------------------------------------------------- Shopify

/// One past order of the generated history.
struct Past {
    order: usize,
    customer: usize,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    /// When it was delivered, if that is already past.
    delivered: Option<DateTime<Utc>>,
    /// A discount code used at checkout (a friend's referral code).
    code: Option<String>,
    street: &'static str,
}

/// `n` orders by `n / 3` customers over the last two years; each customer's newest order is
/// recent, so some win-backs are still ahead.
fn history(n: usize, now: DateTime<Utc>) -> Vec<Past> {
    let customers = (n / 3).max(1);
    (0..n)
        .map(|i| {
            let created = now - Duration::hours(((n - i) * 17_520 / n) as i64 + 24);
            let delivered = created + Duration::days(2);
            Past {
                order: 10_000 + i,
                customer: i % customers + 1,
                created,
                updated: created + Duration::hours(30),
                delivered: (delivered <= now).then_some(delivered),
                code: None,
                street: "Via Roma 1",
            }
        })
        .collect()
}

/// The history in the bulk JSONL format with `groupObjects: true`: each order line, then its
/// line items with `__parentId` (GraphQL Admin API field names).
fn bulk_jsonl(history: &[Past]) -> String {
    let mut out = String::new();
    for p in history {
        let (order, customer) = (p.order, p.customer);
        let line = json!({
            "id": format!("gid://shopify/Order/{order}"), "name": format!("#{order}"),
            "email": format!("c{customer}@example.com"), "phone": null,
            "createdAt": at(p.created), "updatedAt": at(p.updated), "cancelledAt": null,
            "currencyCode": "EUR", "displayFinancialStatus": "PAID",
            "displayFulfillmentStatus": if p.delivered.is_some() { "FULFILLED" } else { "UNFULFILLED" },
            "customerLocale": "en", "clientIp": null, "discountCodes": p.code.iter().collect::<Vec<_>>(),
            "totalPriceSet": {"shopMoney": {"amount": "42.00", "currencyCode": "EUR"}},
            "subtotalPriceSet": {"shopMoney": {"amount": "42.00", "currencyCode": "EUR"}},
            "totalDiscountsSet": {"shopMoney": {"amount": "0.00", "currencyCode": "EUR"}},
            "shippingAddress": {"address1": p.street, "address2": null, "city": "Milano", "zip": "20100", "countryCodeV2": "IT"},
            "billingAddress": {"countryCodeV2": "IT"},
            "customer": {"id": format!("gid://shopify/Customer/{customer}"), "firstName": "Cliente", "lastName": "Prova",
                "locale": "en", "updatedAt": at(p.created),
                "defaultEmailAddress": {"emailAddress": format!("c{customer}@example.com"), "marketingState": "SUBSCRIBED"},
                "defaultPhoneNumber": null},
            "refunds": [],
            "fulfillments": match p.delivered {
                Some(delivered) => json!([{"id": format!("gid://shopify/Fulfillment/{order}"), "displayStatus": "DELIVERED",
                    "createdAt": at(p.created + Duration::days(1)), "updatedAt": at(delivered), "deliveredAt": at(delivered),
                    "trackingInfo": [{"number": format!("TRK{order}"), "url": null, "company": "DHL"}]}]),
                None => json!([]),
            },
        });
        out.push_str(&line.to_string());
        out.push('\n');
        let item = json!({
            "id": format!("gid://shopify/LineItem/{order}1"), "quantity": 1, "sku": "TEA-1", "title": "Green tea",
            "name": "Green tea", "product": {"id": "gid://shopify/Product/11"}, "variant": {"id": "gid://shopify/ProductVariant/12"},
            "originalUnitPriceSet": {"shopMoney": {"amount": "42.00", "currencyCode": "EUR"}},
            "__parentId": format!("gid://shopify/Order/{order}"),
        });
        out.push_str(&item.to_string());
        out.push('\n');
    }
    out
}

fn bulk_history(n: usize, now: DateTime<Utc>) -> String {
    bulk_jsonl(&history(n, now))
}

/// The same order as Shopify's `orders/paid` webhook carries it (REST field names).
fn rest_order(p: &Past) -> Value {
    let (order, customer) = (p.order, p.customer);
    json!({
        "id": order, "name": format!("#{order}"), "email": format!("c{customer}@example.com"),
        "created_at": at(p.created), "updated_at": at(p.updated), "cancelled_at": null,
        "currency": "EUR", "financial_status": "paid",
        "fulfillment_status": if p.delivered.is_some() { json!("fulfilled") } else { Value::Null },
        "total_price": "42.00", "subtotal_price": "42.00", "total_discounts": "0.00",
        "line_items": [{"id": order * 10 + 1, "product_id": 11, "variant_id": 12, "sku": "TEA-1", "title": "Green tea",
            "name": "Green tea", "quantity": 1, "price": "42.00"}],
        "discount_codes": p.code.iter().map(|c| json!({"code": c, "amount": "4.20", "type": "percentage"})).collect::<Vec<_>>(),
        "customer": {"id": customer, "email": format!("c{customer}@example.com"), "first_name": "Cliente",
            "last_name": "Prova", "locale": "en", "updated_at": at(p.created),
            "email_marketing_consent": {"state": "subscribed"}, "sms_marketing_consent": null},
        "customer_locale": "en",
        "shipping_address": {"address1": p.street, "address2": null, "city": "Milano", "zip": "20100", "country_code": "IT"},
        "billing_address": {"country_code": "IT"},
        "refunds": [],
    })
}

/// Its delivery as `fulfillments/update` carries it.
fn rest_fulfillment(p: &Past, delivered: DateTime<Utc>) -> Value {
    json!({"id": p.order, "order_id": p.order, "status": "success", "shipment_status": "delivered",
        "created_at": at(p.created + Duration::days(1)), "updated_at": at(delivered),
        "tracking_number": format!("TRK{}", p.order), "tracking_url": null, "tracking_company": "DHL"})
}

#[derive(Clone, Copy, PartialEq)]
enum End {
    Completed,
    Failed,
    Expired,
}

#[derive(Default)]
struct BulkLog {
    /// Every GraphQL request body.
    calls: Vec<Value>,
    /// When each GraphQL request arrived.
    arrivals: Vec<Instant>,
    /// `Range` headers of the file downloads (`None` for a whole file).
    downloads: Vec<Option<String>>,
    polls: usize,
}

#[derive(Clone)]
struct BulkShared {
    log: Arc<Mutex<BulkLog>>,
    file: Arc<Vec<u8>>,
    end: End,
    base: Arc<Mutex<String>>,
}

fn cost(available: f64) -> Value {
    json!({"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": 50.0}}})
}

async fn graphql(State(s): State<BulkShared>, headers: HeaderMap, body: String) -> Response {
    if headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return (StatusCode::UNAUTHORIZED, "[API] Invalid API key or access token").into_response();
    }
    let request: Value = serde_json::from_str(&body).unwrap();
    let query = request["query"].as_str().unwrap_or_default().to_string();
    let mut log = s.log.lock().unwrap();
    log.calls.push(request.clone());
    log.arrivals.push(Instant::now());
    // The very first call is refused for cost, with an empty bucket refilling at 50/s.
    if log.calls.len() == 1 {
        return axum::Json(json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": cost(0.0),
        }))
        .into_response();
    }
    if query.contains("bulkOperationRunQuery") {
        return axum::Json(json!({
            "data": {"bulkOperationRunQuery": {"bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"}, "userErrors": []}},
            "extensions": cost(990.0),
        }))
        .into_response();
    }
    assert!(query.contains("node(id: $id)"), "unexpected query {query}");
    log.polls += 1;
    let base = s.base.lock().unwrap().clone();
    let node = match (log.polls, s.end) {
        (1, _) => json!({"id": "gid://shopify/BulkOperation/1", "status": "RUNNING", "errorCode": null,
            "objectCount": "10", "rootObjectCount": "5", "url": null, "partialDataUrl": null}),
        (_, End::Failed) => {
            json!({"id": "gid://shopify/BulkOperation/1", "status": "FAILED", "errorCode": "TIMEOUT",
            "objectCount": "10", "rootObjectCount": "5", "url": null, "partialDataUrl": null})
        }
        _ => json!({"id": "gid://shopify/BulkOperation/1", "status": "COMPLETED", "errorCode": null,
            "objectCount": "20", "rootObjectCount": "10", "fileSize": s.file.len().to_string(),
            "url": format!("{base}/storage/export.jsonl?X-Goog-Signature=abc"), "partialDataUrl": null}),
    };
    axum::Json(json!({"data": {"node": node}, "extensions": cost(980.0)})).into_response()
}

async fn download(State(s): State<BulkShared>, headers: HeaderMap) -> Response {
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    s.log.lock().unwrap().downloads.push(range.clone());
    if s.end == End::Expired {
        return (StatusCode::FORBIDDEN, "<Error><Code>ExpiredToken</Code></Error>").into_response();
    }
    match range.and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse::<usize>().ok()) {
        Some(from) => (
            StatusCode::PARTIAL_CONTENT,
            [(
                "content-range",
                format!("bytes {from}-{}/{}", s.file.len() - 1, s.file.len()),
            )],
            s.file[from..].to_vec(),
        )
            .into_response(),
        None => s.file.to_vec().into_response(),
    }
}

fn shopify_standin(file: String, end: End) -> (Arc<Mutex<BulkLog>>, String) {
    let shared = BulkShared {
        log: Arc::default(),
        file: Arc::new(file.into_bytes()),
        end,
        base: Arc::default(),
    };
    let log = Arc::clone(&shared.log);
    let base_slot = Arc::clone(&shared.base);
    let app = Router::new()
        .route("/admin/api/2025-10/graphql.json", post(graphql))
        .route("/storage/export.jsonl", get(download))
        .with_state(shared);
    let base = spawn(app);
    *base_slot.lock().unwrap() = base.clone();
    (log, base)
}

fn import_shopify(data: &Path, base: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "import",
        "shopify",
        "--shop",
        SHOP,
        "--poll-seconds",
        "1",
        "--json",
    ];
    args.extend_from_slice(extra);
    aftersale(
        data,
        &args,
        &[
            ("AFTERSALE_SHOPIFY_BASE_URL", base),
            ("SHOPIFY_ACCESS_TOKEN", TOKEN),
        ],
    )
}

#[test]
fn a_shopify_history_comes_in_through_a_bulk_export_and_only_what_is_ahead_is_planned() {
    let now = Utc::now();
    let mut file = bulk_history(30, now);
    // A truncated line and an item whose order is not the one before it: kept, never fatal.
    file.push_str("{\"id\":\"gid://shopify/Order/99999\",\"name\":\n");
    file.push_str("{\"id\":\"gid://shopify/LineItem/5\",\"__parentId\":\"gid://shopify/Order/1\"}\n");
    let (log, base) = shopify_standin(file, End::Completed);
    let data = tempfile::tempdir().unwrap();
    load_config(data.path(), SHOP);
    let started = Utc::now();
    let summary = ok_json(&import_shopify(data.path(), &base, &[]));
    assert_eq!(summary["finished"], true, "{summary}");
    assert_eq!(summary["orders"], 30, "{summary}");
    assert_eq!(summary["dead_lettered"], 2, "{summary}");
    assert_eq!(summary["unchanged"], 0, "{summary}");
    let stored = count(data.path(), "SELECT count(*) FROM events");
    assert_eq!(summary["imported"], stored, "{summary}");
    assert_eq!(count(data.path(), "SELECT count(*) FROM orders"), 30);

    {
        let log = log.lock().unwrap();
        let mutation = &log.calls[1];
        assert!(mutation["query"].as_str().unwrap().contains("groupObjects: true"));
        let export = mutation["variables"]["query"].as_str().unwrap();
        for field in ["lineItems", "refunds", "fulfillments", "customer"] {
            assert!(export.contains(field), "the export asks for {field}");
        }
        // The THROTTLED refusal was retried once the bucket had refilled (10 points at 50/s).
        let waited = log.arrivals[1] - log.arrivals[0];
        assert!(waited >= std::time::Duration::from_millis(150), "{waited:?}");
        assert_eq!(log.calls[0], log.calls[1], "the refused call is sent again");
        assert!(log.polls >= 2, "polled until COMPLETED");
        assert_eq!(log.downloads, vec![None]);
    }

    // The dead letters say why, and what they kept.
    let letters = json_lines(&aftersale(data.path(), &["dead-letters", "--json"], &[]));
    assert_eq!(letters.len(), 2, "{letters:?}");
    let reasons: Vec<&str> = letters.iter().filter_map(|l| l["reason"].as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("line 61 is not valid JSON")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("__parentId")), "{reasons:?}");

    // Tiers are held (10 customers with 3 orders each: Silver), placed without a word.
    let members = json_lines(&aftersale(
        data.path(),
        &["customers", "--shop", SHOP, "--json"],
        &[],
    ));
    assert_eq!(members.len(), 10, "{members:?}");
    assert!(
        members.iter().all(|m| m["tier"] == "Silver" && m["orders"] == 3),
        "{members:?}"
    );
    let outbox = json_lines(&aftersale(data.path(), &["outbox", "--json"], &[]));
    for message in &outbox {
        let due = DateTime::parse_from_rfc3339(message["due_at"].as_str().unwrap()).unwrap();
        assert!(
            due > started,
            "nothing is planned for a moment already passed: {message}"
        );
        assert_ne!(message["step"], "tier-entered", "no welcome storm: {message}");
        assert_ne!(
            message["flow"], "review-request",
            "no review request for old orders: {message}"
        );
        assert_ne!(message["flow"], "thank-you", "{message}");
    }
    // What still makes sense is planned: a win-back for the customers whose lapse is ahead.
    assert!(
        outbox
            .iter()
            .any(|m| m["flow"] == "win-back" && m["status"] == "planned"),
        "{outbox:?}"
    );
    // Nothing goes out for the history at the next tick.
    let tick = aftersale(data.path(), &["tick", "--json"], &[]);
    assert!(tick.status.success(), "{}", String::from_utf8_lossy(&tick.stderr));
    assert!(!data.path().join("outbox").exists() || count_eml(&data.path().join("outbox")) == 0);

    // Importing the same history again stores nothing new.
    let again = ok_json(&import_shopify(data.path(), &base, &[]));
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["unchanged"], summary["imported"], "{again}");
    assert_eq!(count(data.path(), "SELECT count(*) FROM events"), stored);
}

fn count_eml(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_failed_or_expired_export_is_explained_and_nothing_is_half_imported() {
    let now = Utc::now();
    let (_, failing) = shopify_standin(bulk_history(3, now), End::Failed);
    let data = tempfile::tempdir().unwrap();
    let out = import_shopify(data.path(), &failing, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Shopify's export failed (TIMEOUT); run the import again"),
        "{err}"
    );
    assert_eq!(count(data.path(), "SELECT count(*) FROM orders"), 0);

    let (_, expired) = shopify_standin(bulk_history(3, now), End::Expired);
    let data = tempfile::tempdir().unwrap();
    let out = import_shopify(data.path(), &expired, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the export's download link has expired"), "{err}");
    assert!(
        !err.contains("X-Goog-Signature"),
        "the signed URL is never printed: {err}"
    );

    let out = import_shopify(data.path(), &expired, &["--resume"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("download link has expired"), "{err}");
    let fresh = tempfile::tempdir().unwrap();
    let out = import_shopify(fresh.path(), &expired, &["--resume"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no import of demo.myshopify.com to resume"), "{err}");

    let out = aftersale(
        data.path(),
        &["import", "shopify", "--shop", "evil.example", "--json"],
        &[("SHOPIFY_ACCESS_TOKEN", TOKEN)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("give the shop's permanent domain, e.g. demo.myshopify.com"),
        "{err}"
    );
}

#[test]
fn an_import_killed_mid_way_resumes_with_nothing_lost_and_nothing_counted_twice() {
    let now = Utc::now();
    let orders = 240;
    let file = bulk_history(orders, now);
    let (log, base) = shopify_standin(file, End::Completed);
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .args([
            "import",
            "shopify",
            "--shop",
            SHOP,
            "--poll-seconds",
            "1",
            "--json",
            "--data-dir",
        ])
        .arg(data.path())
        .env("AFTERSALE_SHOPIFY_BASE_URL", &base)
        .env("SHOPIFY_ACCESS_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let checkpointed = data.path().read_dir().unwrap().count() > 0
            && count(
                data.path(),
                "SELECT count(*) FROM documents WHERE key = 'import#shopify' AND body LIKE '%\"offset\":0,%' ",
            ) == 0
            && count(
                data.path(),
                "SELECT count(*) FROM documents WHERE key = 'import#shopify'",
            ) == 1
            && count(data.path(), "SELECT count(*) FROM orders") >= 60;
        if checkpointed {
            break;
        }
        assert!(Instant::now() < deadline, "the import made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to tidy up
    child.wait().unwrap();
    let before = count(data.path(), "SELECT count(*) FROM orders");
    assert!(before < orders as i64, "killed mid-way ({before} of {orders})");

    let resumed = ok_json(&import_shopify(data.path(), &base, &["--resume"]));
    assert_eq!(resumed["finished"], true, "{resumed}");
    assert_eq!(resumed["orders"], orders, "every order counted once: {resumed}");
    let events = count(data.path(), "SELECT count(*) FROM events");
    let counted = resumed["imported"].as_i64().unwrap() + resumed["unchanged"].as_i64().unwrap();
    assert_eq!(counted, events, "{resumed}");
    assert_eq!(resumed["dead_lettered"], 0);
    assert_eq!(count(data.path(), "SELECT count(*) FROM orders"), orders as i64);
    {
        let log = log.lock().unwrap();
        assert_eq!(log.downloads.len(), 2, "{:?}", log.downloads);
        let range = log.downloads[1]
            .as_deref()
            .expect("the resume asks for the rest only");
        let from: u64 = range
            .trim_start_matches("bytes=")
            .trim_end_matches('-')
            .parse()
            .unwrap();
        assert!(from > 0, "{range}");
    }

    // The same state as an import that was never interrupted.
    let clean = tempfile::tempdir().unwrap();
    let (_, clean_base) = shopify_standin(bulk_history(orders, now), End::Completed);
    let whole = ok_json(&import_shopify(clean.path(), &clean_base, &[]));
    assert_eq!(whole["imported"], events, "{whole}");
    for sql in [
        "SELECT event_id FROM events",
        "SELECT body FROM orders",
        "SELECT body FROM customers",
        "SELECT key || body FROM documents WHERE key LIKE 'stats#%' OR key LIKE 'customer#%#orders'",
    ] {
        assert_eq!(rows(data.path(), sql), rows(clean.path(), sql), "{sql}");
    }
}

// ---------------------------------------------------------------- WooCommerce

#[derive(Default)]
struct WooLog {
    /// `resource?page` of every successful page request.
    pages: Vec<String>,
    refused_once: bool,
    /// The first page of customers failed once with a 503, as an overloaded host does.
    failed_once: bool,
    queries: Vec<BTreeMap<String, String>>,
}

#[derive(Clone)]
struct WooShared {
    log: Arc<Mutex<WooLog>>,
    orders: Arc<Mutex<Vec<Value>>>,
    customers: Arc<Vec<Value>>,
    webhooks: Arc<Mutex<Vec<Value>>>,
    kind: WooKind,
}

#[derive(Clone, Copy, PartialEq)]
enum WooKind {
    WooCommerce,
    NotWordPress,
}

/// A WooCommerce order as the REST API returns it (and its webhooks carry).
fn woo_order(id: u64, customer: u64, created: DateTime<Utc>, status: &str) -> Value {
    let mut order: Value = serde_json::from_slice(&fixture("woocommerce/order_created.json")).unwrap();
    let gmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    order["id"] = json!(id);
    order["number"] = json!(id.to_string());
    order["status"] = json!(status);
    order["customer_id"] = json!(customer);
    order["billing"]["email"] = json!(format!("w{customer}@example.com"));
    order["date_created_gmt"] = json!(gmt(created));
    order["date_modified_gmt"] = json!(gmt(created + Duration::hours(3)));
    order["date_paid_gmt"] = json!(gmt(created + Duration::minutes(5)));
    order["refunds"] = json!([]);
    order["coupon_lines"] = json!([]);
    order
}

fn woo_history(n: u64, now: DateTime<Utc>) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let created = now - Duration::hours(((n - i) * 8_760 / n) as i64 + 24);
            woo_order(500 + i, i % (n / 4).max(1) + 1, created, "completed")
        })
        .collect()
}

fn woo_customer(id: u64, now: DateTime<Utc>) -> Value {
    let mut customer: Value = serde_json::from_slice(&fixture("woocommerce/customer_created.json")).unwrap();
    customer["id"] = json!(id);
    customer["email"] = json!(format!("w{id}@example.com"));
    customer["date_modified_gmt"] = json!((now - Duration::days(30)).format("%Y-%m-%dT%H:%M:%S").to_string());
    customer
}

/// The OAuth 1.0a parameters WooCommerce requires over plain HTTP (the signature itself is
/// checked byte for byte by tests/woocommerce.rs against the same client).
fn woo_gate(s: &WooShared, headers: &HeaderMap, q: &BTreeMap<String, String>) -> Option<Response> {
    if s.kind == WooKind::NotWordPress {
        return Some((StatusCode::NOT_FOUND, "<html><body>Nothing here</body></html>").into_response());
    }
    let signed = q.get("oauth_consumer_key").map(String::as_str) == Some(KEY)
        && q.get("oauth_signature_method").map(String::as_str) == Some("HMAC-SHA256")
        && q.contains_key("oauth_signature")
        && !headers.contains_key("authorization");
    (!signed).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid.", "data": {"status": 401}})),
        )
            .into_response()
    })
}

fn paged(s: &WooShared, resource: &str, items: &[Value], q: &BTreeMap<String, String>) -> Response {
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let mut log = s.log.lock().unwrap();
    log.queries.push(q.clone());
    // Page 2 of the orders is refused once for load, as a busy host does.
    if resource == "orders" && page == 2 && !log.refused_once {
        log.refused_once = true;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"code": "too_many_requests", "message": "Slow down"})),
        )
            .into_response();
    }
    if resource == "customers" && page == 1 && !log.failed_once {
        log.failed_once = true;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html><body>Service Temporarily Unavailable</body></html>",
        )
            .into_response();
    }
    log.pages.push(format!("{resource}?{page}"));
    let total_pages = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    (
        [
            ("x-wp-total", items.len().to_string()),
            ("x-wp-totalpages", total_pages.to_string()),
        ],
        axum::Json(slice),
    )
        .into_response()
}

async fn woo_orders(
    State(s): State<WooShared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(refused) = woo_gate(&s, &headers, &q) {
        return refused;
    }
    let mut orders = s.orders.lock().unwrap().clone();
    if let Some(after) = q.get("modified_after") {
        let after = DateTime::parse_from_rfc3339(after).unwrap().with_timezone(&Utc);
        orders.retain(|o| {
            let modified = o["date_modified_gmt"].as_str().unwrap();
            let modified = chrono::NaiveDateTime::parse_from_str(modified, "%Y-%m-%dT%H:%M:%S")
                .unwrap()
                .and_utc();
            modified > after
        });
    }
    paged(&s, "orders", &orders, &q)
}

async fn woo_customers(
    State(s): State<WooShared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(refused) = woo_gate(&s, &headers, &q) {
        return refused;
    }
    let customers = s.customers.to_vec();
    paged(&s, "customers", &customers, &q)
}

async fn woo_webhooks(
    State(s): State<WooShared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(refused) = woo_gate(&s, &headers, &q) {
        return refused;
    }
    axum::Json(s.webhooks.lock().unwrap().clone()).into_response()
}

async fn woo_create_webhook(
    State(s): State<WooShared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: String,
) -> Response {
    if let Some(refused) = woo_gate(&s, &headers, &q) {
        return refused;
    }
    let body: Value = serde_json::from_str(&body).unwrap();
    let mut hooks = s.webhooks.lock().unwrap();
    let hook = json!({"id": 100 + hooks.len(), "name": body["name"], "status": "active", "topic": body["topic"], "delivery_url": body["delivery_url"]});
    hooks.push(hook.clone());
    (StatusCode::CREATED, axum::Json(hook)).into_response()
}

async fn woo_update_webhook(
    State(s): State<WooShared>,
    UrlPath(id): UrlPath<u64>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: String,
) -> Response {
    if let Some(refused) = woo_gate(&s, &headers, &q) {
        return refused;
    }
    let body: Value = serde_json::from_str(&body).unwrap();
    let mut hooks = s.webhooks.lock().unwrap();
    let hook = hooks.iter_mut().find(|h| h["id"] == id).unwrap();
    hook["status"] = body["status"].clone();
    axum::Json(hook.clone()).into_response()
}

fn woo_standin(orders: Vec<Value>, customers: Vec<Value>, kind: WooKind) -> (WooShared, String) {
    let shared = WooShared {
        log: Arc::default(),
        orders: Arc::new(Mutex::new(orders)),
        customers: Arc::new(customers),
        webhooks: Arc::default(),
        kind,
    };
    let app = Router::new()
        .route("/wp-json/wc/v3/orders", get(woo_orders))
        .route("/wp-json/wc/v3/customers", get(woo_customers))
        .route(
            "/wp-json/wc/v3/webhooks",
            get(woo_webhooks).post(woo_create_webhook),
        )
        .route("/wp-json/wc/v3/webhooks/{id}", put(woo_update_webhook))
        .route("/", get(|| async { "<html>home</html>" }))
        .with_state(shared.clone());
    (shared, spawn(app))
}

fn import_woo(data: &Path, site: &str, extra: &[&str]) -> Output {
    let mut args = vec!["import", "woocommerce", "--url", site, "--json"];
    args.extend_from_slice(extra);
    aftersale(data, &args, &[])
}

#[test]
fn a_woocommerce_history_pages_through_orders_then_customers_and_waits_out_a_429_and_a_503() {
    let now = Utc::now();
    let (site, base) = woo_standin(
        woo_history(250, now),
        (1..=3).map(|i| woo_customer(i, now)).collect(),
        WooKind::WooCommerce,
    );
    let data = tempfile::tempdir().unwrap();
    let summary = ok_json(&import_woo(
        data.path(),
        &base,
        &["--consumer-key", KEY, "--consumer-secret", SECRET],
    ));
    assert_eq!(summary["orders"], 250, "{summary}");
    assert_eq!(summary["customers"], 3, "{summary}");
    assert_eq!(summary["dead_lettered"], 0, "{summary}");
    assert_eq!(count(data.path(), "SELECT count(*) FROM orders"), 250);
    let log = site.log.lock().unwrap();
    assert_eq!(
        log.pages,
        vec!["orders?1", "orders?2", "orders?3", "customers?1"],
        "page 2 was asked again after the 429, customers' page 1 after the 503"
    );
    assert!(log.refused_once && log.failed_once);
    assert!(
        log.queries
            .iter()
            .all(|q| q.get("per_page").map(String::as_str) == Some("100"))
    );
    drop(log);

    // Again, with the keys `woocommerce connect` would have stored: refused without them.
    let out = import_woo(tempfile::tempdir().unwrap().path(), &base, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not connected: give --consumer-key and --consumer-secret"),
        "{err}"
    );
    // And the same site imported twice stores nothing twice.
    let again = ok_json(&import_woo(
        data.path(),
        &base,
        &["--consumer-key", KEY, "--consumer-secret", SECRET],
    ));
    assert_eq!(again["imported"], 0, "{again}");
}

#[test]
fn woocommerce_refusals_are_explained_in_a_shop_owners_words() {
    let now = Utc::now();
    let (_, base) = woo_standin(woo_history(5, now), vec![], WooKind::WooCommerce);
    let data = tempfile::tempdir().unwrap();
    let out = import_woo(
        data.path(),
        &base,
        &["--consumer-key", "ck_wrong", "--consumer-secret", SECRET],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the REST API keys (401"), "{err}");
    assert!(!err.contains(SECRET), "{err}");

    let (_, other) = woo_standin(vec![], vec![], WooKind::NotWordPress);
    let out = import_woo(
        data.path(),
        &other,
        &["--consumer-key", KEY, "--consumer-secret", SECRET],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not look like a WordPress site with WooCommerce"),
        "{err}"
    );
}

/// The history as its webhooks deliver it: `orders/paid`, then `fulfillments/update` once
/// delivered.
fn deliver_live(live: &Server, past: &[Past]) {
    for p in past {
        let order = p.order;
        let body = serde_json::to_vec(&rest_order(p)).unwrap();
        assert_eq!(
            post_shopify(live, "orders/paid", &format!("paid-{order}"), &body).0,
            200
        );
        if let Some(delivered) = p.delivered {
            let body = serde_json::to_vec(&rest_fulfillment(p, delivered)).unwrap();
            assert_eq!(
                post_shopify(live, "fulfillments/update", &format!("ful-{order}"), &body).0,
                200
            );
        }
    }
}

#[test]
fn the_same_history_imported_or_delivered_live_gives_the_same_state() {
    let now = Utc::now();
    let past = history(45, now);
    let (_, base) = shopify_standin(bulk_jsonl(&past), End::Completed);
    let imported = tempfile::tempdir().unwrap();
    load_config(imported.path(), SHOP);
    ok_json(&import_shopify(imported.path(), &base, &[]));

    let live = Server::start();
    load_config(&live.data_dir(), SHOP);
    deliver_live(&live, &past);
    // Orders, customers, learned statistics (order gaps, spend, supply), each customer's
    // orders and tier, referral attribution: the same, whichever way the history came.
    for sql in [
        "SELECT body FROM orders",
        "SELECT body FROM customers",
        "SELECT key || body FROM documents WHERE key LIKE 'stats#%' OR key LIKE 'customer#%#orders' OR key LIKE 'customer#%#tier' OR key LIKE 'referral#%'",
    ] {
        let (a, b) = (rows(imported.path(), sql), rows(&live.data_dir(), sql));
        assert!(!a.is_empty() || sql.contains("referral"), "{sql}");
        assert_eq!(a, b, "{sql}");
    }
    let tiers = |data: &Path| json_lines(&aftersale(data, &["customers", "--shop", SHOP, "--json"], &[]));
    let members = tiers(imported.path());
    assert_eq!(members, tiers(&live.data_dir()));
    assert_eq!(members.len(), 15, "{members:?}");
    // Only the messages differ: the live webhooks greeted and asked; the history did not.
    let steps = |outbox: Vec<Value>| -> Vec<String> {
        outbox
            .iter()
            .map(|m| format!("{}/{}", m["flow"], m["step"]).replace('"', ""))
            .collect()
    };
    let live_steps = steps(json_lines(&live.cli(&["outbox", "--json"])));
    assert!(
        live_steps.iter().any(|s| s == "vip/tier-entered"),
        "{live_steps:?}"
    );
    assert!(
        live_steps.iter().any(|s| s.starts_with("review-request/")),
        "{live_steps:?}"
    );
    let imported_outbox = json_lines(&aftersale(imported.path(), &["outbox", "--json"], &[]));
    assert!(imported_outbox.len() < live_steps.len(), "{imported_outbox:?}");
    for message in &imported_outbox {
        assert_ne!(message["step"], "tier-entered", "{message}");
        let due = DateTime::parse_from_rfc3339(message["due_at"].as_str().unwrap()).unwrap();
        assert!(due > now, "only what is still ahead: {message}");
    }
}

/// A webhook is a snapshot like any other: whichever of it and the export's copy of the order
/// changed last wins, in whatever order they arrive, and each is stored once.
#[test]
fn a_webhook_arriving_during_the_import_is_stored_once_and_the_newest_snapshot_wins() {
    let now = Utc::now();
    let past = history(9, now);
    let live = Server::start();
    load_config(&live.data_dir(), SHOP);
    // Before the export is read, Shopify delivers a cancellation of customer 1's newest
    // order, made after the export's snapshot of it; and an update older than the export's
    // snapshot of customer 2's newest order (a delivery retried for hours).
    let (newer, older) = (&past[6], &past[7]);
    let mut cancelled = rest_order(newer);
    cancelled["cancelled_at"] = json!(at(newer.updated + Duration::hours(2)));
    cancelled["updated_at"] = json!(at(newer.updated + Duration::hours(2)));
    cancelled["financial_status"] = json!("voided");
    let body = serde_json::to_vec(&cancelled).unwrap();
    assert_eq!(
        post_shopify(&live, "orders/cancelled", "cancel-newer", &body).0,
        200
    );
    let mut stale = rest_order(older);
    stale["updated_at"] = json!(at(older.updated - Duration::hours(20)));
    stale["financial_status"] = json!("pending");
    let body = serde_json::to_vec(&stale).unwrap();
    assert_eq!(
        post_shopify(&live, "orders/updated", "update-older", &body).0,
        200
    );

    let (_, base) = shopify_standin(bulk_jsonl(&past), End::Completed);
    let summary = ok_json(&import_shopify(&live.data_dir(), &base, &[]));
    assert_eq!(summary["orders"], 9, "{summary}");
    assert_eq!(count(&live.data_dir(), "SELECT count(*) FROM orders"), 9);
    let order = |id: usize| -> Value {
        let body = rows(
            &live.data_dir(),
            &format!("SELECT body FROM orders WHERE order_id = '{id}'"),
        );
        serde_json::from_str(body.first().unwrap_or_else(|| panic!("order {id} is stored"))).unwrap()
    };
    let text = order(newer.order).to_string();
    assert!(
        text.contains("\"cancelled\""),
        "the later cancellation wins: {text}"
    );
    let text = order(older.order).to_string();
    assert!(
        !text.contains("\"pending\""),
        "the export's newer snapshot wins: {text}"
    );
    // Customer 1 has two orders that count, customer 2 three: their tiers say so.
    let members = json_lines(&aftersale(
        &live.data_dir(),
        &["customers", "--shop", SHOP, "--json"],
        &[],
    ));
    let orders_of = |customer: &str| -> Value {
        members
            .iter()
            .find(|m| m["customer_id"] == customer)
            .unwrap_or_else(|| panic!("{customer} in {members:?}"))["orders"]
            .clone()
    };
    assert_eq!(
        (orders_of("1"), orders_of("2")),
        (json!(2), json!(3)),
        "{members:?}"
    );

    // The same webhook again, and the export again: nothing stored twice.
    let events = count(&live.data_dir(), "SELECT count(*) FROM events");
    assert_eq!(
        post_shopify(
            &live,
            "orders/cancelled",
            "cancel-newer",
            &serde_json::to_vec(&cancelled).unwrap()
        )
        .0,
        200
    );
    let again = ok_json(&import_shopify(&live.data_dir(), &base, &[]));
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(count(&live.data_dir(), "SELECT count(*) FROM events"), events);
}

/// Referrals on, codes made through `[admin_api]` (only when a message is sent, never here).
const REFERRAL_CONFIG: &str = r#"
[admin_api]
access_token_secret = "SHOPIFY_ADMIN_TOKEN"
[flows.referral]
enabled = true
eligible_after = "paid"
"#;

/// The customer's own referral code in a store.
fn advocate_code(data: &Path, customer: usize) -> String {
    let body = rows(
        data,
        &format!("SELECT body FROM documents WHERE key = 'customer#{customer}#referral'"),
    );
    let doc: Value = serde_json::from_str(body.first().expect("the advocate has a code")).unwrap();
    doc["code"].as_str().unwrap().to_string()
}

/// `aftersale referrals --json`, with the advocate's code (random in each store) named.
fn referrals(data: &Path, code: &str) -> Vec<String> {
    let mut lines: Vec<String> = json_lines(&aftersale(data, &["referrals", "--shop", SHOP, "--json"], &[]))
        .iter()
        .map(|r| r.to_string().replace(code, "<advocate's code>"))
        .collect();
    lines.sort();
    lines
}

/// The advocates' rewards planned in a store, as the outbox shows them.
fn rewards(data: &Path) -> Vec<String> {
    let mut found: Vec<String> = json_lines(&aftersale(data, &["outbox", "--json"], &[]))
        .iter()
        .filter(|m| m["flow"] == "referral" && m["step"] == "reward")
        .map(|m| {
            format!(
                "{} {} friend's order {}",
                m["customer_id"], m["status"], m["details"]["friend_order"]
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn imported_referrals_are_attributed_and_rewarded_as_if_their_webhooks_had_come_live() {
    let now = Utc::now();
    // Three customers with three orders each: each gets a code of their own, in both stores.
    let advocates = history(9, now);
    let imported = tempfile::tempdir().unwrap();
    load_config_with(imported.path(), SHOP, REFERRAL_CONFIG);
    let (_, base) = shopify_standin(bulk_jsonl(&advocates), End::Completed);
    ok_json(&import_shopify(imported.path(), &base, &[]));
    let live = Server::start();
    load_config_with(&live.data_dir(), SHOP, REFERRAL_CONFIG);
    deliver_live(&live, &advocates);
    let (imported_code, live_code) = (
        advocate_code(imported.path(), 1),
        advocate_code(&live.data_dir(), 1),
    );

    // Then friends ordered with customer 1's code: a new customer from elsewhere (accepted),
    // and customer 2, who had bought before (refused by the fraud checks). In each store the
    // code is the one that store gave customer 1, as the real shop would have it.
    let friends = |code: &str| -> Vec<Past> {
        [(20_001, 101, "Corso Como 9", 40), (20_002, 2, "Via Dante 3", 30)]
            .into_iter()
            .map(|(order, customer, street, days_ago)| {
                let created = now - Duration::days(days_ago);
                Past {
                    order,
                    customer,
                    created,
                    updated: created + Duration::hours(30),
                    delivered: Some(created + Duration::days(2)),
                    code: Some(code.to_string()),
                    street,
                }
            })
            .collect()
    };
    let (_, base) = shopify_standin(bulk_jsonl(&friends(&imported_code)), End::Completed);
    let second = ok_json(&import_shopify(imported.path(), &base, &[]));
    assert_eq!(second["orders"], 2, "{second}");
    deliver_live(&live, &friends(&live_code));

    let attributed = referrals(imported.path(), &imported_code);
    assert_eq!(attributed, referrals(&live.data_dir(), &live_code));
    assert_eq!(attributed.len(), 2, "{attributed:?}");
    let verdict = |order: &str| -> Value {
        let line = attributed.iter().find(|l| l.contains(order)).unwrap();
        serde_json::from_str::<Value>(line).unwrap()["verdict"].clone()
    };
    assert_eq!(verdict("20001"), "accepted", "{attributed:?}");
    assert!(
        verdict("20002").as_str().unwrap().starts_with("rejected: "),
        "{attributed:?}"
    );
    // The reward for the friend's order that held is planned once, in both.
    let planned = rewards(imported.path());
    assert_eq!(planned, rewards(&live.data_dir()));
    assert_eq!(
        planned,
        vec![r#""1" "planned" friend's order "20001""#.to_string()]
    );
}

#[test]
fn reconcile_brings_in_what_no_webhook_delivered_reactivates_webhooks_and_tells_the_owner() {
    let now = Utc::now();
    let (site, base) = woo_standin(woo_history(6, now), vec![], WooKind::WooCommerce);
    let data = tempfile::tempdir().unwrap();
    let out = aftersale(
        data.path(),
        &[
            "woocommerce",
            "connect",
            "--url",
            &base,
            "--consumer-key",
            KEY,
            "--consumer-secret",
            SECRET,
            "--public-url",
            "https://aftersale.example",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok_json(&import_woo(data.path(), &base, &[]));

    // Overnight WooCommerce disabled a webhook, and two orders changed without a delivery.
    site.webhooks.lock().unwrap()[1]["status"] = json!("disabled");
    {
        let mut orders = site.orders.lock().unwrap();
        orders.push(woo_order(900, 1, now - Duration::minutes(30), "processing"));
        let mut refunded = orders[5].clone();
        refunded["status"] = json!("refunded");
        refunded["date_modified_gmt"] = json!(now.format("%Y-%m-%dT%H:%M:%S").to_string());
        orders[5] = refunded;
    }
    let out = aftersale(data.path(), &["woocommerce", "reconcile", "--url", &base], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 had changes no webhook had delivered"), "{text}");
    assert!(
        text.contains("webhook order.updated (was disabled): active again"),
        "{text}"
    );
    assert_eq!(site.webhooks.lock().unwrap()[1]["status"], "active");
    let last = site.log.lock().unwrap().queries.last().cloned().unwrap();
    assert!(last.contains_key("modified_after"), "{last:?}");
    let alerts = std::fs::read_to_string(data.path().join("outbox/alerts.jsonl")).unwrap();
    assert!(alerts.contains("2 order(s) no webhook had delivered"), "{alerts}");
    assert!(
        !alerts.contains("@example.com"),
        "no customer details in the alert: {alerts}"
    );
    assert_eq!(count(data.path(), "SELECT count(*) FROM orders"), 7);

    // The next sweep finds nothing new, and says nothing.
    let out = aftersale(
        data.path(),
        &["woocommerce", "reconcile", "--url", &base, "--json"],
        &[],
    );
    let report = ok_json(&out);
    assert_eq!(report["report"]["missed_orders"], 0, "{report}");
    assert_eq!(report["report"]["alerted"], false, "{report}");
}
