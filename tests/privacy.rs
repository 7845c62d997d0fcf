//! Shopify's mandatory privacy webhooks end to end, through the real `aftersale serve`:
//! a data request builds an export the merchant reads with `aftersale data-requests`, and a
//! redaction leaves no trace of the customer's id, email or phone anywhere on disk (the
//! SQLite files' raw bytes, the outbox) or in the logs of every process that ran.

#[path = "support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::*;

const CUSTOMER: &str = "115310627314723954";
const ORDER: &str = "820982911946154508";
const EMAIL: &str = "john@example.com";
const ORDER_EMAIL: &str = "jon@example.com";
const PHONE: &str = "+393471234567";

/// `aftersale serve` with its logs (level info) kept in a file, so the test can read them.
struct LoggedServer {
    server: Server,
    log: PathBuf,
}

fn start() -> LoggedServer {
    let data_dir = tempfile::tempdir().unwrap();
    let log = data_dir.path().with_extension("serve.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir.path())
        .env("SHOPIFY_API_SECRET", SHOPIFY_SECRET)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    LoggedServer {
        server: Server::adopt(child, base, data_dir),
        log,
    }
}

/// Runs a CLI command with logs at info level, appending them to `logs`.
fn cli(s: &LoggedServer, args: &[&str], logs: &mut String) -> String {
    let out = Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(s.server.data_dir())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    logs.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn order_with_phone() -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixture("shopify/orders_create.json")).unwrap();
    order["customer"]["phone"] = json!(PHONE);
    order["phone"] = json!(PHONE);
    serde_json::to_vec(&order).unwrap()
}

fn privacy_body(extra: Value) -> Vec<u8> {
    let mut body = json!({
        "shop_id": 954889,
        "shop_domain": "demo.myshopify.com",
        "customer": { "id": CUSTOMER.parse::<u64>().unwrap(), "email": EMAIL, "phone": PHONE },
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::to_vec(&body).unwrap()
}

/// Every file under `dir`, bytes and all.
fn raw_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(raw_bytes(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

fn holding(files: &[(PathBuf, Vec<u8>)], needle: &str) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(path, _)| path.clone())
        .collect()
}

#[test]
fn a_data_request_is_exported_and_a_redaction_leaves_no_trace_on_disk_or_in_the_logs() {
    let s = start();
    let mut logs = String::new();
    assert_eq!(
        post_shopify(&s.server, "orders/create", "p-order", &order_with_phone()).0,
        200
    );
    // The thank-you goes out (an .eml file in the outbox) before the customer asks.
    cli(&s, &["tick", "--now", "2030-01-01T00:00:00Z"], &mut logs);
    let outbox = s.server.data_dir().join("outbox");
    assert!(
        !holding(&raw_bytes(&outbox), ORDER_EMAIL).is_empty()
            || !holding(&raw_bytes(&outbox), EMAIL).is_empty(),
        "a message was sent to the customer"
    );

    // customers/data_request: 401 unsigned, 200 signed, once however often delivered.
    let request = privacy_body(
        json!({ "orders_requested": [ORDER.parse::<u64>().unwrap()], "data_request": { "id": 9999 } }),
    );
    assert_eq!(
        post_shopify_signed(&s.server, "customers/data_request", "p-dr", &request, "bad").0,
        401
    );
    assert_eq!(
        post_shopify(&s.server, "customers/data_request", "p-dr", &request).0,
        200
    );
    assert_eq!(
        post_shopify(&s.server, "customers/data_request", "p-dr", &request).0,
        200
    );
    let text = cli(&s, &["data-requests", "--shop", "demo.myshopify.com"], &mut logs);
    assert!(
        text.contains(&format!("request 9999 · customer {CUSTOMER}")),
        "{text}"
    );
    assert!(text.contains("1 order(s), 2 message(s)"), "{text}");
    assert!(
        text.contains("\"reason\": \"skipped: too late\""),
        "every message with its reason: {text}"
    );
    assert!(
        text.contains("\"status\": \"sent\""),
        "the message with its status: {text}"
    );
    assert!(text.contains("\"email_marketing\""), "the consents: {text}");
    assert!(text.contains(ORDER), "the order: {text}");
    let json_lines: Vec<Value> = cli(
        &s,
        &["data-requests", "--shop", "demo.myshopify.com", "--json"],
        &mut logs,
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(json_lines.len(), 1, "a redelivery builds no second export");
    assert_eq!(json_lines[0]["export"]["profile"]["phone"], PHONE);
    let alerts = std::fs::read_to_string(outbox.join("alerts.jsonl")).unwrap();
    assert_eq!(alerts.lines().count(), 1, "the merchant is told once: {alerts}");
    assert!(
        alerts.contains("Customer data request for demo.myshopify.com")
            && alerts.contains("aftersale data-requests")
    );
    assert!(
        !alerts.contains(EMAIL) && !alerts.contains(CUSTOMER),
        "the alert names no one: {alerts}"
    );

    // customers/redact: 401 unsigned, 200 signed, idempotent.
    let redact = privacy_body(json!({ "orders_to_redact": [ORDER.parse::<u64>().unwrap()] }));
    assert_eq!(
        post_shopify_signed(&s.server, "customers/redact", "p-red", &redact, "bad").0,
        401
    );
    assert_eq!(
        post_shopify(&s.server, "customers/redact", "p-red", &redact).0,
        200
    );
    let (status, again) = post_shopify(&s.server, "customers/redact", "p-red", &redact);
    assert_eq!(
        (status, again.as_str()),
        (200, r#"{"outcome":"accepted","duplicates":1}"#)
    );
    assert_eq!(
        cli(
            &s,
            &["data-requests", "--shop", "demo.myshopify.com", "--json"],
            &mut logs
        ),
        "",
        "the export went with the customer"
    );

    std::thread::sleep(std::time::Duration::from_millis(200));
    logs.push_str(&std::fs::read_to_string(&s.log).unwrap());
    let files = raw_bytes(&s.server.data_dir());
    for value in [CUSTOMER, EMAIL, ORDER_EMAIL, PHONE] {
        assert_eq!(
            holding(&files, value),
            Vec::<PathBuf>::new(),
            "{value} is still on disk"
        );
        assert!(!logs.contains(value), "{value} is in the logs:\n{logs}");
    }
    assert!(
        logs.contains("customer erased"),
        "the logs say what happened:\n{logs}"
    );
}

#[test]
fn a_shop_redaction_erases_the_shop_and_is_idempotent() {
    let s = start();
    let mut logs = String::new();
    assert_eq!(
        post_shopify(&s.server, "orders/create", "s-order", &order_with_phone()).0,
        200
    );
    cli(&s, &["tick", "--now", "2030-01-01T00:00:00Z"], &mut logs);
    let request = privacy_body(json!({ "data_request": { "id": 77 } }));
    assert_eq!(
        post_shopify(&s.server, "customers/data_request", "s-dr", &request).0,
        200
    );

    let body = br#"{"shop_id":954889,"shop_domain":"demo.myshopify.com"}"#;
    assert_eq!(
        post_shopify_signed(&s.server, "shop/redact", "s-red", body, "bad").0,
        401
    );
    assert_eq!(post_shopify(&s.server, "shop/redact", "s-red", body).0, 200);
    let (status, again) = post_shopify(&s.server, "shop/redact", "s-red", body);
    assert_eq!(
        (status, again.as_str()),
        (200, r#"{"outcome":"accepted","duplicates":1}"#)
    );

    assert_eq!(cli(&s, &["outbox", "--json"], &mut logs), "", "no message left");
    assert_eq!(
        cli(
            &s,
            &["data-requests", "--shop", "demo.myshopify.com", "--json"],
            &mut logs
        ),
        ""
    );
    let files = raw_bytes(&s.server.data_dir());
    for value in [CUSTOMER, EMAIL, ORDER_EMAIL, PHONE, ORDER] {
        assert_eq!(
            holding(&files, value),
            Vec::<PathBuf>::new(),
            "{value} is still on disk"
        );
    }
    let left: Vec<PathBuf> = raw_bytes(&s.server.data_dir().join("outbox"))
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert!(left.is_empty(), "the shop's sent mail is erased: {left:?}");
}
