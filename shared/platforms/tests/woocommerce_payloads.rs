//! WooCommerce's documented REST examples as webhook bodies, normalised.

use aftersale_domain::{EventKind, OrderStatus, ShopId, StoreEvent};
use aftersale_platforms::woocommerce::{Topic, is_creation_ping, normalise};
use aftersale_platforms::{Delivery, PayloadError};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/woocommerce/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn delivery() -> Delivery {
    Delivery {
        shop: ShopId::from_domain("http://example.com/").unwrap(),
        event_id: None,
        triggered_at: None,
    }
}

fn run(topic: Topic, body: &Value) -> Result<Vec<StoreEvent>, PayloadError> {
    normalise(topic, &delivery(), &serde_json::to_vec(body).unwrap())
}

#[test]
fn a_new_paid_order_is_placed_and_paid() {
    let events = run(Topic::OrderCreated, &fixture("order_created")).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind_name()).collect();
    assert_eq!(kinds, ["order_placed", "order_paid"]);
    let order = events[0].order().unwrap();
    assert_eq!(order.id.as_str(), "727");
    assert_eq!(order.total.to_string(), "29.35 USD");
    assert_eq!(
        order.subtotal.to_string(),
        "18.00 USD",
        "sum of line subtotals, not the float `price`"
    );
    assert_eq!(order.line_items[0].price.to_string(), "3.00 USD");
    assert_eq!(order.line_items[1].sku.as_deref(), Some("Bar3"));
    assert_eq!(order.line_items[1].variant_id.as_deref(), Some("23"));
    assert!(
        order.customer.id.as_str().starts_with("guest-"),
        "customer_id 0 is a guest"
    );
    assert_eq!(
        order.created_at.to_rfc3339(),
        "2017-03-22T19:28:02+00:00",
        "the _gmt fields are UTC"
    );
    assert_eq!(events[0].shop.as_str(), "example.com");
}

#[test]
fn repeated_identical_updates_share_one_event_id() {
    let body = fixture("order_updated");
    let first = run(Topic::OrderUpdated, &body).unwrap();
    let second = run(Topic::OrderUpdated, &body).unwrap();
    assert_eq!(first[0].event_id, second[0].event_id);
    assert_eq!(
        first[0].kind_name(),
        "order_fulfilled",
        "completed means fulfilled"
    );

    let mut later = body.clone();
    later["date_modified_gmt"] = json!("2017-03-23T10:00:00");
    let third = run(Topic::OrderUpdated, &later).unwrap();
    assert_ne!(
        first[0].event_id, third[0].event_id,
        "a new modification is a new state"
    );
}

#[test]
fn statuses_map_to_the_event_model() {
    let cases = [
        ("pending", OrderStatus::Pending, "order_updated"),
        ("processing", OrderStatus::Processing, "order_paid"),
        ("on-hold", OrderStatus::OnHold, "order_updated"),
        ("completed", OrderStatus::Completed, "order_fulfilled"),
        ("cancelled", OrderStatus::Cancelled, "order_cancelled"),
        ("refunded", OrderStatus::Refunded, "order_updated"),
        ("failed", OrderStatus::Failed, "order_updated"),
    ];
    for (raw, status, kind) in cases {
        let mut body = fixture("order_updated");
        body["status"] = json!(raw);
        let events = run(Topic::OrderUpdated, &body).unwrap();
        assert_eq!(events[0].order().unwrap().status, status, "{raw}");
        assert_eq!(events[0].kind_name(), kind, "{raw}");
    }
    let mut body = fixture("order_updated");
    body["status"] = json!("shipped-by-plugin");
    let err = run(Topic::OrderUpdated, &body).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown order status 'shipped-by-plugin'"),
        "{err}"
    );
}

#[test]
fn refunds_in_an_update_become_their_own_deduplicated_events() {
    let mut body = fixture("order_updated");
    body["refunds"] = json!([{"id": 726, "reason": "", "total": "-10.00"}]);
    let events = run(Topic::OrderUpdated, &body).unwrap();
    let refund = events
        .iter()
        .find(|e| e.kind_name() == "order_refunded")
        .expect("refund event");
    let EventKind::OrderRefunded(r) = &refund.kind else {
        unreachable!()
    };
    assert_eq!(
        r.refund.amount.to_string(),
        "10.00 USD",
        "refund totals are negative in WooCommerce"
    );
    assert_eq!(refund.event_id.as_str(), "wc:order:727:refund:726");

    // A later update carrying the same refund names the same refund event.
    body["date_modified_gmt"] = json!("2017-03-25T10:00:00");
    let again = run(Topic::OrderUpdated, &body).unwrap();
    assert!(
        again
            .iter()
            .any(|e| e.event_id.as_str() == "wc:order:727:refund:726")
    );
}

#[test]
fn customers_deletions_and_completions_normalise() {
    let events = run(Topic::CustomerCreated, &fixture("customer_created")).unwrap();
    let EventKind::CustomerCreated(c) = &events[0].kind else {
        panic!()
    };
    assert_eq!(c.id.as_str(), "25");
    assert_eq!(c.phone.as_deref(), Some("(555) 555-5555"));

    let deleted = run(Topic::OrderDeleted, &json!({"id": 727})).unwrap();
    assert_eq!(deleted[0].kind_name(), "order_deleted");

    let completed = run(
        Topic::OrderStatusCompleted,
        &json!({"action": "woocommerce_order_status_completed", "arg": 727}),
    )
    .unwrap();
    assert_eq!(completed[0].kind_name(), "shipment_updated");
    assert_eq!(completed[0].order_id().unwrap().as_str(), "727");
}

#[test]
fn missing_fields_and_truncated_bodies_are_named() {
    let mut body = fixture("order_created");
    body.as_object_mut().unwrap().remove("currency");
    let err = run(Topic::OrderCreated, &body).unwrap_err();
    assert!(err.to_string().contains("currency"), "{err}");

    let mut guest_without_email = fixture("order_created");
    guest_without_email["billing"]["email"] = json!("");
    let err = run(Topic::OrderCreated, &guest_without_email).unwrap_err();
    assert!(err.to_string().contains("billing.email"), "{err}");

    let raw = serde_json::to_vec(&fixture("order_created")).unwrap();
    let err = normalise(Topic::OrderCreated, &delivery(), &raw[..raw.len() - 10]).unwrap_err();
    assert!(matches!(err, PayloadError::Json { .. }));
}

#[test]
fn only_the_exact_creation_ping_is_a_ping() {
    assert!(is_creation_ping(b"webhook_id=12"));
    assert!(!is_creation_ping(b"webhook_id="));
    assert!(!is_creation_ping(b"webhook_id=12&x=1"));
    assert!(!is_creation_ping(b"webhook_id=abc"));
    assert!(!is_creation_ping(br#"{"webhook_id":12}"#));
    assert!(Topic::parse("coupon.created").is_none());
}

#[test]
fn html_entities_in_names_are_decoded_once() {
    let mut body = fixture("order_created");
    body["line_items"][0]["name"] = json!("Ship Your Idea &ndash; Color");
    body["line_items"][1]["name"] = json!("Caf&eacute; &amp;ndash; Moka &#8211; 6 cups");
    body["billing"]["first_name"] = json!("Laura &amp; Co");
    let events = run(Topic::OrderCreated, &body).unwrap();
    let order = events[0].order().unwrap();
    assert_eq!(order.line_items[0].title, "Ship Your Idea – Color");
    assert_eq!(
        order.line_items[1].title, "Café &ndash; Moka – 6 cups",
        "one layer of encoding is removed, not two"
    );
    assert_eq!(order.customer.first_name.as_deref(), Some("Laura & Co"));
}

/// Issue 9: with the refund ids joined into the event id, about 68 refunds overflowed its
/// 512-character limit and every later update of the order was dead-lettered.
#[test]
fn an_order_with_a_hundred_refunds_can_still_be_cancelled() {
    let mut body = fixture("order_updated");
    let refunds: Vec<Value> = (0..100)
        .map(|i| json!({"id": 100_000_000 + i, "reason": "", "total": "-0.10"}))
        .collect();
    body["refunds"] = json!(refunds);
    body["status"] = json!("cancelled");
    let events = run(Topic::OrderUpdated, &body).unwrap();
    assert_eq!(events[0].kind_name(), "order_cancelled");
    assert_eq!(events.len(), 101, "the cancellation and each refund");
    assert!(events[0].event_id.as_str().len() < 100, "{}", events[0].event_id);

    let mut fewer = body.clone();
    fewer["refunds"].as_array_mut().unwrap().pop();
    let other = run(Topic::OrderUpdated, &fewer).unwrap();
    assert_ne!(
        other[0].event_id, events[0].event_id,
        "the refunds still tell states apart"
    );
    let mut reordered = body.clone();
    reordered["refunds"].as_array_mut().unwrap().reverse();
    assert_eq!(
        run(Topic::OrderUpdated, &reordered).unwrap()[0].event_id,
        events[0].event_id,
        "the same refunds in another order are the same state"
    );
}

#[test]
fn implausible_line_subtotals_are_refused_not_added_up() {
    let mut body = fixture("order_created");
    body["line_items"][0]["subtotal"] = json!("79228162514264337593543950335");
    body["line_items"][1]["subtotal"] = json!("79228162514264337593543950335");
    let err = run(Topic::OrderCreated, &body).unwrap_err().to_string();
    assert!(
        err.contains("line_items.subtotal") && err.contains("implausibly large"),
        "{err}"
    );

    body["line_items"][0]["subtotal"] = json!("1000000000000");
    body["line_items"][1]["subtotal"] = json!("1000000000000");
    let err = run(Topic::OrderCreated, &body).unwrap_err().to_string();
    assert!(err.contains("the sum is implausibly large"), "{err}");
}

#[test]
fn product_ids_are_validated_and_reasons_quote_no_values() {
    let mut body = fixture("order_created");
    body["line_items"][0]["product_id"] = json!("123\r\nSet-Cookie: x");
    let err = run(Topic::OrderCreated, &body).unwrap_err().to_string();
    assert!(err.contains("product id contains a line break"), "{err}");

    let mut body = fixture("order_created");
    body["billing"]["first_name"] = json!({"laura.rossi@example.com": 1});
    let err = run(Topic::OrderCreated, &body).unwrap_err().to_string();
    assert!(
        err.contains("billing.first_name") && !err.contains("laura"),
        "{err}"
    );
}
