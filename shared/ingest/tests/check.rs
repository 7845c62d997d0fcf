//! `Ingest::check`, behind `aftersale check-deliveries`: a captured delivery is verified,
//! parsed and normalised exactly as a live one, each failure says why, and nothing is stored.

use aftersale_ingest::capture::{read_line, write_line};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{DeadLetters, EventLog, ManualClock, NoEventBus};
use aftersale_testkit::MemoryStore;
use chrono::TimeZone;
use std::sync::Arc;

const SHOPIFY_SECRET: &str = "shpss_test_secret";
const WOO_SECRET: &str = "wc_test_secret";

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn setup(secrets: WebhookSecrets) -> (Arc<MemoryStore>, Ingest) {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap());
    let ingest = Ingest::new(store.clone(), Arc::new(NoEventBus), Arc::new(clock), secrets);
    (store, ingest)
}

fn both_secrets() -> WebhookSecrets {
    WebhookSecrets {
        shopify: Secret::new(SHOPIFY_SECRET),
        woocommerce_default: Secret::new(WOO_SECRET),
        ..Default::default()
    }
}

fn shopify_line(topic: &str, body: &[u8], secret: &str) -> String {
    let signature = sign_base64(secret.as_bytes(), body);
    write_line(
        [
            ("X-Shopify-Topic", topic),
            ("X-Shopify-Shop-Domain", "demo.myshopify.com"),
            ("X-Shopify-Event-Id", "evt-1"),
            ("X-Shopify-Hmac-Sha256", signature.as_str()),
        ],
        body,
    )
}

fn woocommerce_line(topic: &str, body: &[u8], secret: &str) -> String {
    let signature = sign_base64(secret.as_bytes(), body);
    write_line(
        [
            ("X-WC-Webhook-Topic", topic),
            ("X-WC-Webhook-Source", "https://shop.example/"),
            ("X-WC-Webhook-Signature", signature.as_str()),
        ],
        body,
    )
}

async fn check(ingest: &Ingest, line: &str) -> Result<usize, String> {
    let delivery = read_line(line).map_err(|e| e.to_string())?;
    ingest
        .check(&delivery)
        .await
        .map(|events| events.len())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn signed_real_deliveries_of_both_platforms_check_ok_and_nothing_is_stored() {
    let (store, ingest) = setup(both_secrets());
    let paid = fixture("shopify/orders_paid.json");
    assert_eq!(
        check(&ingest, &shopify_line("orders/paid", &paid, SHOPIFY_SECRET)).await,
        Ok(1)
    );
    let updated = fixture("woocommerce/order_updated.json");
    assert_eq!(
        check(&ingest, &woocommerce_line("order.updated", &updated, WOO_SECRET)).await,
        Ok(1)
    );
    assert!(
        store.list_events(None).await.unwrap().is_empty(),
        "check stores no event"
    );
    assert!(
        store.list_dead_letters().await.unwrap().is_empty(),
        "nor a dead letter"
    );
}

#[tokio::test]
async fn each_bad_delivery_says_why() {
    let (store, ingest) = setup(both_secrets());
    let paid = fixture("shopify/orders_paid.json");
    let updated = fixture("woocommerce/order_updated.json");
    let cases = [
        (
            shopify_line("orders/paid", &paid, "another secret"),
            "bad signature: ",
        ),
        (
            woocommerce_line("order.updated", &updated, "another secret"),
            "bad signature: ",
        ),
        (
            shopify_line("orders/paid", b"{\"id\": ", SHOPIFY_SECRET),
            "unparsable body: ",
        ),
        (
            shopify_line(
                "orders/paid",
                b"{\"id\": 1, \"total_price\": \"x\"}",
                SHOPIFY_SECRET,
            ),
            "unparsable body: ",
        ),
        (
            shopify_line("products/create", b"{}", SHOPIFY_SECRET),
            "topic \"products/create\" is not handled",
        ),
        (
            "{\"headers\": {\"X-Shopify-Topic\": \"orders/paid\"}, \"body_b64\": \"e30=\"}".to_string(),
            "bad signature: ",
        ),
        ("not json".to_string(), "bad JSON: "),
        (
            "{\"headers\": {\"X-Shopify-Topic\": \"orders/paid\"}, \"body_b64\": \"!!\"}".to_string(),
            "bad base64 in body_b64: ",
        ),
        (
            "{\"headers\": {}, \"body_b64\": \"e30=\"}".to_string(),
            "unknown platform: ",
        ),
    ];
    for (line, why) in cases {
        let got = check(&ingest, &line).await;
        assert!(
            got.as_ref().is_err_and(|e| e.starts_with(why)),
            "{why} expected, got {got:?} for {line}"
        );
    }
    assert!(store.list_events(None).await.unwrap().is_empty());
    assert!(store.list_dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_a_configured_secret_the_check_says_which() {
    let (_, ingest) = setup(WebhookSecrets::default());
    let paid = fixture("shopify/orders_paid.json");
    assert_eq!(
        check(&ingest, &shopify_line("orders/paid", &paid, SHOPIFY_SECRET)).await,
        Err("no secret is configured (SHOPIFY_API_SECRET)".to_string())
    );
    let updated = fixture("woocommerce/order_updated.json");
    assert_eq!(
        check(&ingest, &woocommerce_line("order.updated", &updated, WOO_SECRET)).await,
        Err("no secret is configured for this site".to_string())
    );
}
