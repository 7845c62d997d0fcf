//! The ingest contract on an in-memory store: every answer a platform can get.

use aftersale_domain::{OrderId, ShopId};
use aftersale_ingest::{Ingest, MAX_BODY_BYTES, ReplayOutcome, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{
    CustomerProfiles, DeadLetterStatus, DeadLetters, EventLog, ManualClock, NoEventBus, OrderRecords,
    ShopRegistry,
};
use aftersale_testkit::{MemoryStore, MemoryTokens};
use chrono::TimeZone;
use http::{HeaderMap, HeaderValue, StatusCode};
use std::sync::Arc;

const SHOPIFY_SECRET: &str = "shpss_test_secret";
const WOO_SECRET: &str = "wc_test_secret";
const SHOP: &str = "demo.myshopify.com";

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn setup() -> (Arc<MemoryStore>, Ingest) {
    let store = Arc::new(MemoryStore::new());
    let secrets = WebhookSecrets {
        shopify: Secret::new(SHOPIFY_SECRET),
        woocommerce_default: Secret::new(WOO_SECRET),
        ..Default::default()
    };
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap());
    let ingest = Ingest::new(store.clone(), Arc::new(NoEventBus), Arc::new(clock), secrets);
    (store, ingest)
}

fn shopify_headers(topic: &str, event_id: &str, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-shopify-topic", HeaderValue::from_str(topic).unwrap());
    h.insert("x-shopify-shop-domain", HeaderValue::from_static(SHOP));
    h.insert("x-shopify-event-id", HeaderValue::from_str(event_id).unwrap());
    h.insert(
        "x-shopify-webhook-id",
        HeaderValue::from_static("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    );
    let sig = sign_base64(SHOPIFY_SECRET.as_bytes(), body);
    h.insert("x-shopify-hmac-sha256", HeaderValue::from_str(&sig).unwrap());
    h
}

fn woo_headers(topic: &str, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-wc-webhook-topic", HeaderValue::from_str(topic).unwrap());
    h.insert(
        "x-wc-webhook-source",
        HeaderValue::from_static("https://shop.example/"),
    );
    h.insert("x-wc-webhook-delivery-id", HeaderValue::from_static("42"));
    let sig = sign_base64(WOO_SECRET.as_bytes(), body);
    h.insert("x-wc-webhook-signature", HeaderValue::from_str(&sig).unwrap());
    h
}

async fn event_count(store: &MemoryStore) -> usize {
    store.list_events(None).await.unwrap().len()
}

#[tokio::test]
async fn a_signed_shopify_order_is_stored_once() {
    let (store, ingest) = setup();
    let body = fixture("shopify/orders_create.json");
    let headers = shopify_headers("orders/create", "evt-1", &body);
    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!(
        (reply.status, reply.outcome, reply.stored),
        (StatusCode::OK, "accepted", 1)
    );

    let again = ingest.shopify(&headers, &body).await;
    assert_eq!(
        (again.status, again.stored, again.duplicates),
        (StatusCode::OK, 0, 1)
    );
    assert_eq!(event_count(&store).await, 1);

    let shop = ShopId::new(SHOP).unwrap();
    let order = store
        .load_order(&shop, &OrderId::new("820982911946154508").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.value.customer_id().unwrap().as_str(), "115310627314723954");
    assert!(store.load_shop(&shop).await.unwrap().unwrap().is_installed());
    let customer = store
        .load_customer(&shop, order.value.customer_id().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.email.as_deref(), Some("john@example.com"));
}

#[tokio::test]
async fn forged_missing_and_foreign_signatures_get_401_and_store_nothing() {
    let (store, ingest) = setup();
    let body = fixture("shopify/orders_create.json");
    let mut headers = shopify_headers("orders/create", "evt-1", &body);

    let mut tampered = body.clone();
    tampered[100] ^= 1;
    assert_eq!(
        ingest.shopify(&headers, &tampered).await.status,
        StatusCode::UNAUTHORIZED
    );

    headers.insert(
        "x-shopify-hmac-sha256",
        HeaderValue::from_static("bm90IHRoZSBzaWduYXR1cmU="),
    );
    assert_eq!(
        ingest.shopify(&headers, &body).await.status,
        StatusCode::UNAUTHORIZED
    );

    headers.insert(
        "x-shopify-hmac-sha256",
        HeaderValue::from_static("***not base64***"),
    );
    assert_eq!(
        ingest.shopify(&headers, &body).await.status,
        StatusCode::UNAUTHORIZED
    );

    headers.remove("x-shopify-hmac-sha256");
    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.json(),
        r#"{"outcome":"invalid signature"}"#,
        "no internals in the body"
    );

    // Signed with WooCommerce's secret: still not Shopify's.
    let woo_signed = woo_headers("order.created", &body);
    headers.insert(
        "x-shopify-hmac-sha256",
        woo_signed["x-wc-webhook-signature"].clone(),
    );
    assert_eq!(
        ingest.shopify(&headers, &body).await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(event_count(&store).await, 0);
    assert!(store.list_dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn huge_bodies_get_413_before_anything_else() {
    let (store, ingest) = setup();
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let headers = shopify_headers("orders/create", "evt-big", &body);
    assert_eq!(
        ingest.shopify(&headers, &body).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        ingest
            .woocommerce(&woo_headers("order.created", &body), &body)
            .await
            .status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(event_count(&store).await, 0);
}

#[tokio::test]
async fn unknown_topics_are_acknowledged_and_ignored() {
    let (store, ingest) = setup();
    let body = br#"{"id": 1}"#;
    let reply = ingest
        .shopify(&shopify_headers("products/create", "evt-p", body), body)
        .await;
    assert_eq!((reply.status, reply.outcome), (StatusCode::OK, "ignored"));
    let reply = ingest
        .woocommerce(&woo_headers("coupon.created", body), body)
        .await;
    assert_eq!((reply.status, reply.outcome), (StatusCode::OK, "ignored"));
    assert_eq!(event_count(&store).await, 0);
}

#[tokio::test]
async fn signed_but_unparseable_bodies_become_dead_letters_that_replay() {
    let (store, ingest) = setup();
    let body = fixture("shopify/orders_create.json");
    let truncated = &body[..body.len() / 3];
    let headers = shopify_headers("orders/create", "evt-trunc", truncated);
    let reply = ingest.shopify(&headers, truncated).await;
    assert_eq!((reply.status, reply.outcome), (StatusCode::OK, "dead-lettered"));
    // The platform retries: still one dead letter.
    ingest.shopify(&headers, truncated).await;
    let letters = store.list_dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(letter.reason.contains("orders/create"), "{}", letter.reason);
    assert!(
        letter
            .headers
            .iter()
            .any(|(k, v)| k == "x-shopify-event-id" && v == "evt-trunc")
    );
    assert_eq!(event_count(&store).await, 0);

    // Still broken: replay reports it and keeps the letter pending.
    let mut pending = letter.clone();
    assert!(matches!(
        ingest.replay(&mut pending).await.unwrap(),
        ReplayOutcome::StillFailing { .. }
    ));
    assert_eq!(pending.attempts, 1);

    // Once the body is good (as after a parser fix), replay stores the events.
    use base64::Engine;
    pending.body_base64 = base64::engine::general_purpose::STANDARD.encode(&body);
    assert_eq!(
        ingest.replay(&mut pending).await.unwrap(),
        ReplayOutcome::Stored { events: 1 }
    );
    assert_eq!(
        store.list_dead_letters().await.unwrap()[0].status,
        DeadLetterStatus::Replayed
    );
    assert_eq!(event_count(&store).await, 1);
}

#[tokio::test]
async fn a_refund_before_its_order_is_folded_in_when_the_order_arrives() {
    let (store, ingest) = setup();
    let refund = fixture("shopify/refunds_create.json");
    ingest
        .shopify(&shopify_headers("refunds/create", "evt-r", &refund), &refund)
        .await;
    let shop = ShopId::new(SHOP).unwrap();
    let order_id = OrderId::new("820982911946154508").unwrap();
    let refunded = store.load_order(&shop, &order_id).await.unwrap().unwrap();
    assert!(refunded.value.snapshot.is_none());
    let order = fixture("shopify/orders_paid.json");
    ingest
        .shopify(&shopify_headers("orders/paid", "evt-o", &order), &order)
        .await;

    let record = store.load_order(&shop, &order_id).await.unwrap().unwrap();
    assert!(record.value.snapshot.is_some());
    assert_eq!(record.value.refunds.len(), 1);
    assert_eq!(
        record.version,
        refunded.version + 1,
        "the record, written once more"
    );
}

#[tokio::test]
async fn an_event_whose_first_attempt_died_is_finished_on_redelivery() {
    let (store, ingest) = setup();
    let body = fixture("shopify/orders_paid.json");
    let headers = shopify_headers("orders/paid", "evt-crash", &body);
    // Simulate a Lambda that recorded the event and died before folding it.
    let delivery = aftersale_platforms::Delivery {
        shop: ShopId::new(SHOP).unwrap(),
        event_id: aftersale_platforms::shopify::event_id(Some("evt-crash"), None).unwrap(),
        triggered_at: None,
    };
    let events = aftersale_platforms::shopify::normalise(
        aftersale_platforms::shopify::Topic::OrdersPaid,
        &delivery,
        &body,
    )
    .unwrap();
    store.record_event(&events[0], chrono::Utc::now()).await.unwrap();

    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!(reply.stored, 1, "resumed, not skipped as a duplicate");
    let shop = ShopId::new(SHOP).unwrap();
    assert!(
        store
            .load_order(&shop, &OrderId::new("820982911946154508").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.list_events(None).await.unwrap()[0].applied);
}

#[tokio::test]
async fn uninstall_and_redact_requests_are_honoured() {
    let (store, ingest) = setup();
    let shop = ShopId::new(SHOP).unwrap();
    let order = fixture("shopify/orders_create.json");
    ingest
        .shopify(&shopify_headers("orders/create", "evt-1", &order), &order)
        .await;

    let uninstall = fixture("shopify/app_uninstalled.json");
    ingest
        .shopify(
            &shopify_headers("app/uninstalled", "evt-u", &uninstall),
            &uninstall,
        )
        .await;
    assert!(!store.load_shop(&shop).await.unwrap().unwrap().is_installed());

    let redact = br#"{"shop_id": 1, "shop_domain": "demo.myshopify.com", "customer": {"id": 115310627314723954, "email": "john@example.com", "phone": null}, "orders_to_redact": [820982911946154508]}"#;
    let reply = ingest
        .shopify(&shopify_headers("customers/redact", "evt-red", redact), redact)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let customer_id = aftersale_domain::CustomerId::new("115310627314723954").unwrap();
    assert!(store.load_customer(&shop, &customer_id).await.unwrap().is_none());
    assert!(
        store
            .load_order(&shop, &OrderId::new("820982911946154508").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let left: Vec<String> = store
        .list_events(None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind_name().to_string())
        .collect();
    assert_eq!(
        left,
        ["app_uninstalled", "customer_redact"],
        "only the audit of the request stays"
    );
    let audit = serde_json::to_string(&store.list_events(None).await.unwrap()[1].event).unwrap();
    assert!(
        !audit.contains("john@example.com"),
        "the audit copy holds no contact details"
    );

    let shop_redact = fixture("shopify/shop_redact.json");
    ingest
        .shopify(
            &shopify_headers("shop/redact", "evt-sr", &shop_redact),
            &shop_redact,
        )
        .await;
    let left: Vec<String> = store
        .list_events(None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind_name().to_string())
        .collect();
    assert_eq!(left, ["shop_redact"]);
    let record = store.load_shop(&shop).await.unwrap().unwrap();
    assert_eq!(record.status, aftersale_ports::ShopStatus::Redacted);
    assert!(record.scopes.is_empty() && record.webhooks.is_none());
}

#[tokio::test]
async fn woocommerce_ping_is_acknowledged_without_storing() {
    let (store, ingest) = setup();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-wc-webhook-source",
        HeaderValue::from_static("https://shop.example/"),
    );
    let reply = ingest.woocommerce(&headers, b"webhook_id=17").await;
    assert_eq!((reply.status, reply.outcome), (StatusCode::OK, "ping"));
    // An unsigned body that is not the ping is refused.
    assert_eq!(
        ingest.woocommerce(&headers, b"{\"id\":1}").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(event_count(&store).await, 0);
}

#[tokio::test]
async fn woocommerce_repeated_updates_store_one_state() {
    let (store, ingest) = setup();
    let created = fixture("woocommerce/order_created.json");
    let reply = ingest
        .woocommerce(&woo_headers("order.created", &created), &created)
        .await;
    assert_eq!(reply.stored, 2, "placed and paid");
    let updated = fixture("woocommerce/order_updated.json");
    for _ in 0..3 {
        ingest
            .woocommerce(&woo_headers("order.updated", &updated), &updated)
            .await;
    }
    let kinds: Vec<String> = store
        .list_events(None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind_name().to_string())
        .collect();
    assert_eq!(kinds, ["order_placed", "order_paid", "order_fulfilled"]);
}

#[tokio::test]
async fn woocommerce_per_site_secrets_and_unknown_sites() {
    let store = Arc::new(MemoryStore::new());
    let mut secrets = WebhookSecrets::default();
    secrets.woocommerce_sites.insert(
        ShopId::new("shop.example").unwrap(),
        Secret::new("site-secret").unwrap(),
    );
    let ingest = Ingest::new(
        store.clone(),
        Arc::new(NoEventBus),
        Arc::new(aftersale_ports::SystemClock),
        secrets,
    );
    let body = fixture("woocommerce/customer_created.json");
    let mut headers = woo_headers("customer.created", &body);
    assert_eq!(
        ingest.woocommerce(&headers, &body).await.status,
        StatusCode::UNAUTHORIZED,
        "default secret is not this site's"
    );
    headers.insert(
        "x-wc-webhook-signature",
        HeaderValue::from_str(&sign_base64(b"site-secret", &body)).unwrap(),
    );
    assert_eq!(ingest.woocommerce(&headers, &body).await.status, StatusCode::OK);
    headers.insert(
        "x-wc-webhook-source",
        HeaderValue::from_static("https://elsewhere.example/"),
    );
    assert_eq!(
        ingest.woocommerce(&headers, &body).await.status,
        StatusCode::UNAUTHORIZED,
        "unknown site, no default"
    );
}

#[tokio::test]
async fn a_missing_shopify_secret_is_503_so_shopify_retries() {
    let store = Arc::new(MemoryStore::new());
    let ingest = Ingest::new(
        store,
        Arc::new(NoEventBus),
        Arc::new(aftersale_ports::SystemClock),
        WebhookSecrets::default(),
    );
    let body = fixture("shopify/orders_create.json");
    let reply = ingest
        .shopify(&shopify_headers("orders/create", "e", &body), &body)
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_bad_shop_header_on_a_signed_body_is_dead_lettered() {
    let (store, ingest) = setup();
    let body = fixture("shopify/orders_create.json");
    let mut headers = shopify_headers("orders/create", "evt-x", &body);
    headers.insert("x-shopify-shop-domain", HeaderValue::from_static("bad#shop"));
    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!(reply.outcome, "dead-lettered");
    assert!(
        store.list_dead_letters().await.unwrap()[0]
            .reason
            .contains("X-Shopify-Shop-Domain")
    );
}

fn json_fixture(path: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

/// The attack from issue 9: two signed refunds of `Decimal::MAX` used to panic when added up,
/// and the second delivery closed with no reply.
#[tokio::test]
async fn refunds_of_implausible_amounts_are_answered_and_dead_lettered() {
    let (store, ingest) = setup();
    let mut refund = json_fixture("shopify/refunds_create.json");
    for tx in refund["transactions"].as_array_mut().unwrap() {
        tx["amount"] = "79228162514264337593543950335".into();
    }
    for (i, id) in ["890088186047892319", "890088186047892320"].iter().enumerate() {
        refund["id"] = serde_json::json!(id);
        let body = serde_json::to_vec(&refund).unwrap();
        let reply = ingest
            .shopify(
                &shopify_headers("refunds/create", &format!("evt-max-{i}"), &body),
                &body,
            )
            .await;
        assert_eq!((reply.status, reply.outcome), (StatusCode::OK, "dead-lettered"));
    }
    let letters = store.list_dead_letters().await.unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(
        letters[0].reason,
        "refunds/create: field `transactions.amount`: is implausibly large (more than 1000000000000 in any currency)"
    );
    assert_eq!(event_count(&store).await, 0);
}

/// Shopify often sends `orders/create` and `orders/paid` with one body: each dead letter is
/// kept, and each replays into its own event.
#[tokio::test]
async fn dead_letters_of_two_topics_with_one_body_are_both_kept_and_both_replay() {
    let (store, ingest) = setup();
    let good = fixture("shopify/orders_create.json");
    let broken = &good[..good.len() - 30];
    for (topic, id) in [("orders/create", "evt-c"), ("orders/paid", "evt-p")] {
        let reply = ingest.shopify(&shopify_headers(topic, id, broken), broken).await;
        assert_eq!(reply.outcome, "dead-lettered");
    }
    // Shopify's retry of one of them (same event id) is still one letter.
    ingest
        .shopify(&shopify_headers("orders/paid", "evt-p", broken), broken)
        .await;
    let letters = store.list_dead_letters().await.unwrap();
    let mut topics: Vec<&str> = letters.iter().map(|l| l.topic.as_str()).collect();
    topics.sort();
    assert_eq!(topics, ["orders/create", "orders/paid"]);

    use base64::Engine;
    for mut letter in letters {
        letter.body_base64 = base64::engine::general_purpose::STANDARD.encode(&good);
        assert_eq!(
            ingest.replay(&mut letter).await.unwrap(),
            ReplayOutcome::Stored { events: 1 }
        );
    }
    let kinds: Vec<String> = store
        .list_events(None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind_name().to_string())
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"order_placed".to_string()) && kinds.contains(&"order_paid".to_string()));
}

/// Issue 9: one event delivered under three spellings of the shop was stored three times.
#[tokio::test]
async fn one_event_under_three_spellings_of_the_shop_is_stored_once() {
    let (store, ingest) = setup();
    let body = fixture("shopify/orders_create.json");
    let mut outcomes = Vec::new();
    for spelling in [
        "demo.myshopify.com",
        "demo.myshopify.com.",
        "demo.myshopify.com:443",
        "DEMO.myshopify.com",
    ] {
        let mut headers = shopify_headers("orders/create", "evt-same", &body);
        headers.insert("x-shopify-shop-domain", HeaderValue::from_static(spelling));
        let reply = ingest.shopify(&headers, &body).await;
        outcomes.push((spelling, reply.outcome, reply.stored, reply.duplicates));
    }
    assert_eq!(
        outcomes,
        [
            ("demo.myshopify.com", "accepted", 1, 0),
            ("demo.myshopify.com.", "dead-lettered", 0, 0),
            ("demo.myshopify.com:443", "dead-lettered", 0, 0),
            ("DEMO.myshopify.com", "accepted", 0, 1),
        ]
    );
    assert_eq!(event_count(&store).await, 1);
    let reasons: Vec<String> = store
        .list_dead_letters()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.reason)
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| r == "header X-Shopify-Shop-Domain: shop is not a *.myshopify.com domain"),
        "{reasons:?}"
    );
    for hostile in ["evil.com", "..", "a/b", "user@demo.myshopify.com"] {
        let mut headers = shopify_headers("orders/create", "evt-hostile", &body);
        headers.insert("x-shopify-shop-domain", HeaderValue::from_static(hostile));
        assert_eq!(
            ingest.shopify(&headers, &body).await.outcome,
            "dead-lettered",
            "{hostile}"
        );
    }
    assert_eq!(event_count(&store).await, 1);

    // A WooCommerce site is one site however its URL is spelled.
    let order = fixture("woocommerce/order_created.json");
    let mut replies = Vec::new();
    for source in [
        "https://shop.example/",
        "https://shop.example:443/",
        "https://Shop.Example./",
    ] {
        let mut headers = woo_headers("order.created", &order);
        headers.insert("x-wc-webhook-source", HeaderValue::from_static(source));
        let reply = ingest.woocommerce(&headers, &order).await;
        replies.push((reply.outcome, reply.stored, reply.duplicates));
    }
    assert_eq!(
        replies,
        [("accepted", 2, 0), ("accepted", 0, 2), ("accepted", 0, 2)]
    );
}

/// Shopify's "Send test notification": the refunds/create sample has no time and no
/// transactions. It is accepted, dated by `X-Shopify-Triggered-At`.
#[tokio::test]
async fn shopifys_test_notifications_are_accepted() {
    let (store, ingest) = setup();
    let mut sample = json_fixture("shopify/refunds_create.json");
    sample["created_at"] = serde_json::Value::Null;
    sample["processed_at"] = serde_json::Value::Null;
    sample["transactions"] = serde_json::json!([]);
    let body = serde_json::to_vec(&sample).unwrap();
    let mut headers = shopify_headers("refunds/create", "evt-test", &body);
    headers.insert(
        "x-shopify-triggered-at",
        HeaderValue::from_static("2026-11-22T11:59:58.123Z"),
    );
    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!((reply.outcome, reply.stored), ("accepted", 1));
    let stored = store.list_events(None).await.unwrap();
    assert_eq!(
        stored[0].event.occurred_at.to_rfc3339(),
        "2026-11-22T11:59:58.123+00:00"
    );
}

/// Dead-letter reasons are logged and listed: they name the field, never the value.
#[tokio::test]
async fn dead_letter_reasons_quote_no_payload_value() {
    let (store, ingest) = setup();
    let mut order = json_fixture("shopify/orders_create.json");
    order["line_items"][0]["quantity"] = "laura.rossi@example.com".into();
    order["customer"]["first_name"] = serde_json::json!(["Laura"]);
    let body = serde_json::to_vec(&order).unwrap();
    ingest
        .shopify(&shopify_headers("orders/create", "evt-pii", &body), &body)
        .await;
    let reason = &store.list_dead_letters().await.unwrap()[0].reason;
    assert!(!reason.contains("laura") && !reason.contains("Laura"), "{reason}");
    assert!(
        reason.contains("line_items[0].quantity") || reason.contains("customer.first_name"),
        "{reason}"
    );
}

/// Issue 9: after `customers/redact`, the customer's dead letters (whole payloads) and their
/// entry in the shop's statistics stayed behind.
#[tokio::test]
async fn a_redacted_customer_leaves_no_dead_letter_or_statistic_behind() {
    let (store, ingest) = setup();
    let shop = ShopId::new(SHOP).unwrap();
    let order = fixture("shopify/orders_paid.json");
    ingest
        .shopify(&shopify_headers("orders/paid", "evt-1", &order), &order)
        .await;
    let spend = aftersale_ports::lifecycle::spend_table(store.as_ref(), &shop, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        spend.spend.samples.len(),
        1,
        "the paid order counted in the shop's spend"
    );
    // The same customer's later delivery could not be parsed; another customer's neither.
    let broken = &order[..order.len() - 30];
    ingest
        .shopify(&shopify_headers("orders/updated", "evt-2", broken), broken)
        .await;
    let mut other = json_fixture("shopify/orders_create.json");
    other["id"] = serde_json::json!(1);
    other["email"] = "someone.else@example.com".into();
    other["contact_email"] = "someone.else@example.com".into();
    other["customer"] = serde_json::json!({"id": 42, "email": "someone.else@example.com"});
    other["currency"] = "EURO".into();
    let other = serde_json::to_vec(&other).unwrap();
    ingest
        .shopify(&shopify_headers("orders/create", "evt-3", &other), &other)
        .await;
    assert_eq!(store.list_dead_letters().await.unwrap().len(), 2);

    let redact = br#"{"shop_id": 1, "shop_domain": "demo.myshopify.com", "customer": {"id": 115310627314723954, "email": "john@example.com", "phone": null}, "orders_to_redact": []}"#;
    ingest
        .shopify(&shopify_headers("customers/redact", "evt-red", redact), redact)
        .await;

    use base64::Engine;
    let letters = store.list_dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "another customer's dead letter stays");
    for letter in &letters {
        let body = base64::engine::general_purpose::STANDARD
            .decode(&letter.body_base64)
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("john@example.com") && !text.contains("jon@example.com"));
        assert!(!text.contains("115310627314723954"));
    }
    let documents = aftersale_ports::Documents::list_documents(store.as_ref(), &shop, "")
        .await
        .unwrap();
    let held =
        serde_json::to_string(&documents.iter().map(|(k, v)| (k, &v.value)).collect::<Vec<_>>()).unwrap();
    assert!(!held.contains("115310627314723954"), "{held}");
}

#[tokio::test]
async fn an_uninstall_deletes_the_token_but_keeps_the_install_record_for_a_reinstall() {
    use aftersale_ports::{ShopState, ShopStatus, ShopToken, ShopTokens};
    let store = Arc::new(MemoryStore::new());
    let tokens = Arc::new(MemoryTokens::new());
    let secrets = WebhookSecrets {
        shopify: Secret::new(SHOPIFY_SECRET),
        ..WebhookSecrets::default()
    };
    let ingest = Ingest::new(
        store.clone(),
        Arc::new(NoEventBus),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        secrets,
    )
    .with_tokens(tokens.clone());
    let shop = ShopId::new(SHOP).unwrap();
    let mut installed = ShopState::installed(aftersale_domain::Platform::Shopify, chrono::Utc::now());
    installed.scopes = vec!["read_orders".into()];
    installed.token_expires_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    store.save_shop(&shop, &installed).await.unwrap();
    let token = ShopToken {
        access_token: Secret::new("shpat_x").unwrap(),
        scopes: vec!["read_orders".into()],
        expires_at: installed.token_expires_at,
        refresh_token: Secret::new("shprt_x"),
        refresh_token_expires_at: None,
    };
    tokens.save_token(&shop, &token).await.unwrap();

    let uninstall = fixture("shopify/app_uninstalled.json");
    let reply = ingest
        .shopify(
            &shopify_headers("app/uninstalled", "evt-u1", &uninstall),
            &uninstall,
        )
        .await;
    assert_eq!(reply.json(), r#"{"outcome":"accepted","stored":1}"#);
    assert_eq!(tokens.load_token(&shop).await.unwrap(), None);
    let state = store.load_shop(&shop).await.unwrap().unwrap();
    assert_eq!(state.status, ShopStatus::Uninstalled);
    assert_eq!(state.scopes, ["read_orders"], "kept until shop/redact");
    assert_eq!(state.token_expires_at, None);
}

/// An ingest with a token store, and `SHOP` reinstalled through OAuth at `installed_at` with a
/// stored token, as the callback leaves it.
async fn reinstalled_shop(
    installed_at: chrono::DateTime<chrono::Utc>,
) -> (Arc<MemoryStore>, Arc<MemoryTokens>, Ingest) {
    use aftersale_ports::{ShopState, ShopStatus, ShopToken, ShopTokens};
    let store = Arc::new(MemoryStore::new());
    let tokens = Arc::new(MemoryTokens::new());
    let secrets = WebhookSecrets {
        shopify: Secret::new(SHOPIFY_SECRET),
        ..WebhookSecrets::default()
    };
    let ingest = Ingest::new(
        store.clone(),
        Arc::new(NoEventBus),
        Arc::new(ManualClock::new(installed_at)),
        secrets,
    )
    .with_tokens(tokens.clone());
    let shop = ShopId::new(SHOP).unwrap();
    let first_install = installed_at - chrono::Duration::days(30);
    let mut state = ShopState::installed(aftersale_domain::Platform::Shopify, first_install);
    state.set_status(ShopStatus::Uninstalled, installed_at - chrono::Duration::hours(2));
    state.reinstalled(installed_at);
    store.save_shop(&shop, &state).await.unwrap();
    let token = ShopToken {
        access_token: Secret::new("shpat_reinstalled").unwrap(),
        scopes: vec!["write_discounts".into()],
        expires_at: None,
        refresh_token: None,
        refresh_token_expires_at: None,
    };
    tokens.save_token(&shop, &token).await.unwrap();
    (store, tokens, ingest)
}

fn uninstall_triggered_at(event_id: &str, triggered_at: &str) -> (HeaderMap, Vec<u8>) {
    let body = fixture("shopify/app_uninstalled.json");
    let mut headers = shopify_headers("app/uninstalled", event_id, &body);
    headers.insert(
        "x-shopify-triggered-at",
        HeaderValue::from_str(triggered_at).unwrap(),
    );
    (headers, body)
}

/// Shopify retried the uninstall of the merchant's first install for hours; it arrives after
/// they installed again. It is older than the install, so it changes nothing.
#[tokio::test]
async fn a_late_uninstall_from_before_a_reinstall_is_ignored() {
    use aftersale_ports::{ShopStatus, ShopTokens};
    let installed_at = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap();
    let (store, tokens, ingest) = reinstalled_shop(installed_at).await;
    let shop = ShopId::new(SHOP).unwrap();
    let (headers, body) = uninstall_triggered_at("evt-late", "2026-12-01T09:00:00.000Z");
    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!(reply.json(), r#"{"outcome":"accepted","stored":1}"#);
    let state = store.load_shop(&shop).await.unwrap().unwrap();
    assert_eq!(state.status, ShopStatus::Installed);
    assert_eq!(state.changed_at, installed_at);
    assert_eq!(
        tokens
            .load_token(&shop)
            .await
            .unwrap()
            .unwrap()
            .access_token
            .expose(),
        "shpat_reinstalled",
        "the new install's token is kept"
    );
}

/// The same shop, uninstalled after the reinstall: that uninstall is the merchant's latest
/// word, and it is applied.
#[tokio::test]
async fn an_uninstall_triggered_after_the_reinstall_is_applied() {
    use aftersale_ports::{ShopStatus, ShopTokens};
    let installed_at = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap();
    let (store, tokens, ingest) = reinstalled_shop(installed_at).await;
    let shop = ShopId::new(SHOP).unwrap();
    let (headers, body) = uninstall_triggered_at("evt-now", "2026-12-01T11:30:00.000Z");
    let reply = ingest.shopify(&headers, &body).await;
    assert_eq!(reply.json(), r#"{"outcome":"accepted","stored":1}"#);
    let state = store.load_shop(&shop).await.unwrap().unwrap();
    assert_eq!(state.status, ShopStatus::Uninstalled);
    assert_eq!(
        state.changed_at.to_rfc3339(),
        "2026-12-01T11:30:00+00:00",
        "dated by X-Shopify-Triggered-At"
    );
    assert_eq!(tokens.load_token(&shop).await.unwrap(), None);
}

/// A bulk export's pieces kept by the import replay through the export's own normaliser, as
/// history: still broken, they stay pending with the reason; once good (as after a fix), their
/// events are stored marked imported, so the flows plan only what is still ahead.
#[tokio::test]
async fn an_imported_orders_dead_letter_replays_as_history_once_it_can_be_read() {
    use aftersale_domain::Origin;
    use aftersale_platforms::shopify_bulk::{BULK_TOPIC, Reassembler};
    use base64::Engine;
    let (store, ingest) = setup();
    let shop = ShopId::shopify(SHOP).unwrap();
    let order = r##"{"id":"gid://shopify/Order/5001","name":"#1001","email":"ada@example.com","createdAt":"2024-03-01T10:00:00Z","updatedAt":"2024-03-05T09:00:00Z","cancelledAt":null,"currencyCode":"EUR","displayFinancialStatus":"PAID","displayFulfillmentStatus":"UNFULFILLED","discountCodes":[],"totalPriceSet":{"shopMoney":{"amount":"55.00","currencyCode":"EUR"}},"subtotalPriceSet":{"shopMoney":{"amount":"55.00","currencyCode":"EUR"}},"totalDiscountsSet":{"shopMoney":{"amount":"0.00","currencyCode":"EUR"}},"customer":{"id":"gid://shopify/Customer/77","firstName":"Ada","lastName":"L","locale":"it","updatedAt":"2024-03-01T10:00:00Z","defaultEmailAddress":{"emailAddress":"ada@example.com","marketingState":"SUBSCRIBED"},"defaultPhoneNumber":null},"refunds":[],"fulfillments":[]}"##;
    let item = r#"{"id":"gid://shopify/LineItem/61","quantity":2,"sku":"TEA-1","title":"Green tea","name":"Green tea","product":{"id":"gid://shopify/Product/11"},"variant":{"id":"gid://shopify/ProductVariant/12"},"originalUnitPriceSet":{"shopMoney":{"amount":"27.50","currencyCode":"EUR"}},"__parentId":"gid://shopify/Order/5001"}"#;
    let truncated = &order[..order.len() / 2];
    ingest
        .dead_letter_import(
            aftersale_domain::Platform::Shopify,
            &shop,
            BULK_TOPIC,
            truncated.as_bytes(),
            "line 1 is not valid JSON (column 400)".into(),
        )
        .await
        .unwrap();
    let mut letter = store.list_dead_letters().await.unwrap().remove(0);
    assert_eq!(letter.topic, BULK_TOPIC);
    let ReplayOutcome::StillFailing { reason } = ingest.replay(&mut letter).await.unwrap() else {
        panic!("a truncated line is still no order")
    };
    assert!(reason.contains("not valid JSON"), "{reason}");
    assert!(
        !reason.contains("is not handled"),
        "the topic is replayable: {reason}"
    );
    let kept = store.list_dead_letters().await.unwrap();
    assert_eq!(
        (kept.len(), kept[0].status, kept[0].attempts),
        (1, DeadLetterStatus::Pending, 1),
        "never dropped"
    );

    // The whole order, as the import keeps one its normaliser refused, now reads.
    let mut r = Reassembler::default();
    r.feed(order);
    r.feed(item);
    letter.body_base64 = base64::engine::general_purpose::STANDARD.encode(r.finish().unwrap().to_json());
    assert_eq!(
        ingest.replay(&mut letter).await.unwrap(),
        ReplayOutcome::Stored { events: 1 }
    );
    assert_eq!(
        store.list_dead_letters().await.unwrap()[0].status,
        DeadLetterStatus::Replayed
    );
    let events = store.list_events(Some(&shop)).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.origin, Origin::Imported, "still history");
    assert_eq!(
        events[0].event.event_id.as_str(),
        "shopify:import:order:5001:1709629200"
    );
    let stored = store
        .load_order(&shop, &OrderId::new("5001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.value.snapshot.unwrap().line_items.len(), 1);
}
