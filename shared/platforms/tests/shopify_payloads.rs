//! Shopify's documented webhook examples, normalised.

use aftersale_domain::{Consent, EventId, EventKind, OrderStatus, ShipmentStatus, ShopId};
use aftersale_platforms::shopify::{Topic, event_id, normalise};
use aftersale_platforms::{Delivery, PayloadError};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/shopify/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn delivery() -> Delivery {
    Delivery {
        shop: ShopId::new("demo.myshopify.com").unwrap(),
        event_id: Some(EventId::new("shopify:abc-123").unwrap()),
        triggered_at: None,
    }
}

fn one(topic: Topic, name: &str) -> aftersale_domain::StoreEvent {
    let mut events = normalise(topic, &delivery(), &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(events.len(), 1);
    events.remove(0)
}

#[test]
fn every_topic_maps_to_its_event_kind() {
    let cases = [
        (Topic::OrdersCreate, "orders_create", "order_placed"),
        (Topic::OrdersPaid, "orders_paid", "order_paid"),
        (Topic::OrdersUpdated, "orders_updated", "order_updated"),
        (Topic::OrdersFulfilled, "orders_fulfilled", "order_fulfilled"),
        (
            Topic::OrdersPartiallyFulfilled,
            "orders_partially_fulfilled",
            "order_partially_fulfilled",
        ),
        (Topic::OrdersCancelled, "orders_cancelled", "order_cancelled"),
        (Topic::RefundsCreate, "refunds_create", "order_refunded"),
        (
            Topic::FulfillmentsCreate,
            "fulfillments_create",
            "shipment_updated",
        ),
        (
            Topic::FulfillmentsUpdate,
            "fulfillments_update",
            "shipment_updated",
        ),
        (
            Topic::FulfillmentEventsCreate,
            "fulfillment_events_create",
            "order_delivered",
        ),
        (Topic::CustomersCreate, "customers_create", "customer_created"),
        (Topic::CustomersUpdate, "customers_update", "customer_updated"),
        (Topic::CheckoutsCreate, "checkouts_create", "checkout_updated"),
        (Topic::CheckoutsUpdate, "checkouts_update", "checkout_updated"),
        (Topic::AppUninstalled, "app_uninstalled", "app_uninstalled"),
        (
            Topic::CustomersDataRequest,
            "customers_data_request",
            "customer_data_request",
        ),
        (Topic::CustomersRedact, "customers_redact", "customer_redact"),
        (Topic::ShopRedact, "shop_redact", "shop_redact"),
        (
            Topic::BulkOperationsFinish,
            "bulk_operations_finish",
            "bulk_operation_finished",
        ),
    ];
    assert_eq!(cases.len(), Topic::ALL.len(), "every topic has a fixture");
    for (topic, file, kind) in cases {
        assert_eq!(Topic::parse(topic.as_str()), Some(topic));
        let event = one(topic, file);
        assert_eq!(event.kind_name(), kind, "{file}");
        assert_eq!(event.shop.as_str(), "demo.myshopify.com");
    }
}

#[test]
fn order_ids_beyond_2_pow_53_survive_exactly() {
    let event = one(Topic::OrdersCreate, "orders_create");
    let order = event.order().unwrap();
    assert_eq!(order.id.as_str(), "820982911946154508");
    assert_eq!(order.customer.id.as_str(), "115310627314723954");
    assert!(order.line_items.iter().any(|li| li.id == "866550311766439020"));
}

#[test]
fn a_checkout_keeps_its_tokens_recovery_link_customer_and_the_box_they_ticked() {
    let created = one(Topic::CheckoutsCreate, "checkouts_create");
    let EventKind::CheckoutUpdated(checkout) = &created.kind else {
        panic!("{created:?}");
    };
    assert_eq!(checkout.token, "123123123");
    assert_eq!(
        checkout.cart_token.as_deref(),
        Some("eeafa272cebfd4b22385bc4b645e762c")
    );
    assert_eq!(
        checkout.recovery_url,
        "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token"
    );
    assert_eq!(checkout.customer.id.as_str(), "603851970716743426");
    assert_eq!(checkout.customer.email.as_deref(), Some("john@example.com"));
    assert_eq!(
        checkout.customer.email_marketing,
        Consent::Denied,
        "the box was not ticked"
    );
    assert_eq!(checkout.total.to_string(), "210.94 USD");
    assert_eq!(checkout.line_items[0].sku.as_deref(), Some("IPOD2008PINK"));
    assert_eq!(checkout.completed_at, None);
    assert_eq!(created.occurred_at.to_rfc3339(), "2022-01-01T00:00:00+00:00");

    let updated = one(Topic::CheckoutsUpdate, "checkouts_update");
    let EventKind::CheckoutUpdated(later) = &updated.kind else {
        panic!("{updated:?}");
    };
    assert_eq!(later.updated_at.to_rfc3339(), "2022-01-01T00:20:00+00:00");
    assert_eq!(
        later.customer.email_marketing,
        Consent::Granted,
        "ticked at checkout"
    );
}

#[test]
fn a_checkout_without_anyone_to_remind_is_nothing_and_a_bad_recovery_link_is_refused() {
    let body = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut checkout: serde_json::Value = serde_json::from_slice(&fixture("checkouts_create")).unwrap();
        edit(&mut checkout);
        serde_json::to_vec(&checkout).unwrap()
    };
    let anonymous = body(&|c| {
        c["email"] = serde_json::Value::Null;
        c["customer"] = serde_json::Value::Null;
    });
    assert!(
        normalise(Topic::CheckoutsCreate, &delivery(), &anonymous)
            .unwrap()
            .is_empty()
    );
    let plain_http = body(&|c| c["abandoned_checkout_url"] = "http://checkout.local/x".into());
    let err = normalise(Topic::CheckoutsUpdate, &delivery(), &plain_http).unwrap_err();
    assert!(err.to_string().contains("abandoned_checkout_url"), "{err}");
    let no_token = body(&|c| c["token"] = serde_json::Value::Null);
    let err = normalise(Topic::CheckoutsUpdate, &delivery(), &no_token).unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
}

#[test]
fn an_order_keeps_the_checkout_and_cart_it_came_from() {
    let mut order: serde_json::Value = serde_json::from_slice(&fixture("orders_create")).unwrap();
    order["checkout_token"] = "123123123".into();
    order["cart_token"] = "eeafa272cebfd4b22385bc4b645e762c".into();
    let events = normalise(
        Topic::OrdersCreate,
        &delivery(),
        &serde_json::to_vec(&order).unwrap(),
    )
    .unwrap();
    let order = events[0].order().unwrap();
    assert_eq!(order.checkout_token.as_deref(), Some("123123123"));
    assert_eq!(
        order.cart_token.as_deref(),
        Some("eeafa272cebfd4b22385bc4b645e762c")
    );
    let plain = one(Topic::OrdersCreate, "orders_create");
    assert_eq!(
        plain.order().unwrap().checkout_token,
        None,
        "null in the documented example"
    );
}

#[test]
fn order_money_is_decimal_with_currency() {
    let event = one(Topic::OrdersCreate, "orders_create");
    let order = event.order().unwrap();
    assert_eq!(order.total.to_string(), "388.00 USD");
    assert_eq!(order.line_items[0].price.to_string(), "199.00 USD");
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.customer.locale.as_deref(), Some("en"));
    assert_eq!(
        order.customer.email_marketing,
        Consent::Denied,
        "not_subscribed is not consent"
    );
}

#[test]
fn cancelled_and_fulfilled_orders_get_their_status() {
    assert_eq!(
        one(Topic::OrdersCancelled, "orders_cancelled")
            .order()
            .unwrap()
            .status,
        OrderStatus::Cancelled
    );
    let fulfilled = one(Topic::OrdersFulfilled, "orders_fulfilled");
    assert_eq!(
        fulfilled.order().unwrap().fulfillment,
        aftersale_domain::FulfillmentStatus::Fulfilled
    );
}

#[test]
fn refunds_sum_their_successful_transactions() {
    let event = one(Topic::RefundsCreate, "refunds_create");
    let EventKind::OrderRefunded(refund) = &event.kind else {
        panic!("not a refund")
    };
    assert_eq!(refund.order_id.as_str(), "820982911946154508");
    assert_eq!(
        refund.refund.amount.currency.as_str(),
        "USD",
        "currency taken from the refunded lines"
    );
    assert!(refund.refund.amount.amount > rust_decimal::Decimal::ZERO);
}

#[test]
fn shipment_progress_and_delivery_are_told_apart() {
    let EventKind::ShipmentUpdated(s) = one(Topic::FulfillmentsUpdate, "fulfillments_update").kind else {
        panic!("expected shipment update")
    };
    assert_eq!(s.status, ShipmentStatus::InTransit);
    assert_eq!(s.carrier.as_deref(), Some("UPS"));
    let EventKind::OrderDelivered(d) = one(Topic::FulfillmentEventsCreate, "fulfillment_events_create").kind
    else {
        panic!("expected delivery")
    };
    assert_eq!(d.order_id.as_str(), "820982911946154508");
    assert_eq!(d.happened_at.to_rfc3339(), "2022-01-04T19:32:00+00:00");
}

#[test]
fn privacy_requests_keep_the_customer_and_orders() {
    let EventKind::CustomerRedact(r) = one(Topic::CustomersRedact, "customers_redact").kind else {
        panic!()
    };
    assert_eq!(r.customer_id.unwrap().as_str(), "191167");
    assert_eq!(r.order_ids.len(), 3);
    let EventKind::CustomerDataRequest(r) = one(Topic::CustomersDataRequest, "customers_data_request").kind
    else {
        panic!()
    };
    assert!(r.request_id.is_some());
}

#[test]
fn customer_consent_comes_from_the_marketing_consent_objects() {
    let EventKind::CustomerUpdated(c) = one(Topic::CustomersUpdate, "customers_update").kind else {
        panic!()
    };
    assert_eq!(c.email_marketing, Consent::Granted);
    assert_eq!(c.first_name.as_deref(), Some("John"));
}

#[test]
fn unknown_topics_are_not_parsed() {
    assert_eq!(Topic::parse("products/create"), None);
    assert_eq!(Topic::parse(""), None);
}

#[test]
fn truncated_and_incomplete_bodies_are_clear_errors() {
    let body = fixture("orders_create");
    let truncated = &body[..body.len() / 2];
    let err = normalise(Topic::OrdersCreate, &delivery(), truncated).unwrap_err();
    assert!(matches!(err, PayloadError::Json { .. }), "{err}");
    assert!(err.to_string().contains("orders/create"));

    let no_currency = br#"{"id": 1, "created_at": "2026-11-01T10:00:00Z", "total_price": "1.00", "currency": "EURO", "email": "a@b.c"}"#;
    let err = normalise(Topic::OrdersCreate, &delivery(), no_currency).unwrap_err();
    assert!(err.to_string().contains("currency"), "{err}");

    let no_customer =
        br#"{"id": 1, "created_at": "2026-11-01T10:00:00Z", "total_price": "1.00", "currency": "EUR"}"#;
    let err = normalise(Topic::OrdersCreate, &delivery(), no_customer).unwrap_err();
    assert!(err.to_string().contains("customer"), "{err}");

    let refund_without_order = br#"{"id": 5, "created_at": "2026-11-01T10:00:00Z", "transactions": []}"#;
    let err = normalise(Topic::RefundsCreate, &delivery(), refund_without_order).unwrap_err();
    assert!(err.to_string().contains("order_id"), "{err}");

    let not_json = b"\x00\xff\xfe";
    assert!(normalise(Topic::ShopRedact, &delivery(), not_json).is_err());
}

#[test]
fn guests_get_a_stable_id_from_their_email() {
    let body = br#"{"id": 9, "created_at": "2026-11-01T10:00:00Z", "total_price": "10.00", "currency": "EUR",
                   "email": "Guest@Example.com", "buyer_accepts_marketing": true}"#;
    let event = normalise(Topic::OrdersCreate, &delivery(), body)
        .unwrap()
        .remove(0);
    let customer = &event.order().unwrap().customer;
    assert!(customer.id.as_str().starts_with("guest-"));
    assert_eq!(customer.email_marketing, Consent::Granted);
}

#[test]
fn the_event_id_header_wins_and_the_webhook_id_is_the_fallback() {
    let id = |e, w| event_id(e, w).unwrap().unwrap().as_str().to_string();
    assert_eq!(id(Some("e1"), Some("w1")), "shopify:e1");
    assert_eq!(id(None, Some("w1")), "shopify:w1");
    assert_eq!(event_id(Some(" "), None), Ok(None));
    assert_eq!(
        event_id(Some("a b"), None).unwrap_err().to_string(),
        "event id contains a space, which is not allowed in ids",
        "a header that is there but unusable is not 'missing'"
    );
    let no_id = Delivery {
        event_id: None,
        ..delivery()
    };
    let err = normalise(Topic::OrdersCreate, &no_id, &fixture("orders_create")).unwrap_err();
    assert!(err.to_string().contains("X-Shopify-Event-Id"));
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn run(
    topic: Topic,
    delivery: &Delivery,
    body: &serde_json::Value,
) -> Result<Vec<aftersale_domain::StoreEvent>, PayloadError> {
    normalise(topic, delivery, &serde_json::to_vec(body).unwrap())
}

fn triggered(at: &str) -> Delivery {
    Delivery {
        triggered_at: Some(chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc()),
        ..delivery()
    }
}

/// Shopify's "Send test notification" for refunds/create: the sample refund with no time and
/// no transactions.
#[test]
fn shopifys_test_refund_notification_is_accepted_at_the_time_it_was_triggered() {
    let mut sample = json("refunds_create");
    sample["created_at"] = serde_json::Value::Null;
    sample["processed_at"] = serde_json::Value::Null;
    sample["transactions"] = serde_json::json!([]);
    let fired = triggered("2026-11-20T08:30:00Z");
    let events = run(Topic::RefundsCreate, &fired, &sample).unwrap();
    let EventKind::OrderRefunded(refund) = &events[0].kind else {
        panic!("{:?}", events[0].kind)
    };
    assert_eq!(refund.refund.created_at.to_rfc3339(), "2026-11-20T08:30:00+00:00");
    assert_eq!(
        refund.refund.amount.to_string(),
        "398.00 USD",
        "the refunded lines' value"
    );

    sample["refund_line_items"] = serde_json::json!([]);
    assert_eq!(
        run(Topic::RefundsCreate, &fired, &sample).unwrap(),
        vec![],
        "a refund that returned nothing is accepted with nothing to record"
    );

    let mut order = json("orders_create");
    order["created_at"] = serde_json::Value::Null;
    order["updated_at"] = serde_json::Value::Null;
    let placed = run(Topic::OrdersCreate, &fired, &order).unwrap();
    assert_eq!(
        placed[0].order().unwrap().created_at.to_rfc3339(),
        "2026-11-20T08:30:00+00:00"
    );
}

#[test]
fn a_missing_time_without_a_triggered_at_header_is_called_missing() {
    let mut sample = json("refunds_create");
    sample["created_at"] = serde_json::Value::Null;
    sample["processed_at"] = serde_json::Value::Null;
    let err = run(Topic::RefundsCreate, &delivery(), &sample)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "refunds/create: field `created_at`: missing");
}

/// The attack from issue 9: transaction amounts at `Decimal::MAX` used to panic when added.
#[test]
fn implausible_refund_amounts_are_refused_not_added_up() {
    let mut attack = json("refunds_create");
    attack["transactions"][0]["amount"] = "79228162514264337593543950335".into();
    attack["transactions"][1]["amount"] = "79228162514264337593543950335".into();
    let err = run(Topic::RefundsCreate, &delivery(), &attack)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "refunds/create: field `transactions.amount`: is implausibly large (more than 1000000000000 in any currency)"
    );

    attack["transactions"][0]["amount"] = "1000000000000".into();
    attack["transactions"][1]["amount"] = "1000000000000".into();
    let err = run(Topic::RefundsCreate, &delivery(), &attack)
        .unwrap_err()
        .to_string();
    assert!(err.contains("the sum is implausibly large"), "{err}");

    let mut order = json("orders_create");
    order["total_price"] = "-79228162514264337593543950335".into();
    let err = run(Topic::OrdersCreate, &delivery(), &order)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("total_price") && err.contains("implausibly large"),
        "{err}"
    );
}

#[test]
fn a_product_id_that_could_smuggle_a_header_is_refused() {
    let mut order = json("orders_create");
    order["line_items"][0]["product_id"] = "123\r\nSet-Cookie: x".into();
    let err = run(Topic::OrdersCreate, &delivery(), &order)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "orders/create: field `line_items.product_id`: product id contains a line break, which is not allowed in ids"
    );
    order["line_items"][0]["product_id"] = "632910392".into();
    order["line_items"][0]["variant_id"] = "8 9".into();
    let err = run(Topic::OrdersCreate, &delivery(), &order)
        .unwrap_err()
        .to_string();
    assert!(err.contains("variant id contains a space"), "{err}");
}

#[test]
fn a_reason_names_the_field_but_never_quotes_the_payload() {
    let mut order = json("orders_create");
    order["line_items"][1]["quantity"] = "laura.rossi@example.com".into();
    let err = run(Topic::OrdersCreate, &delivery(), &order)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "body is not the JSON expected for orders/create: field `line_items[1].quantity` has a type or value that does not fit"
    );

    let mut order = json("orders_create");
    order["customer"]["id"] = "Laura Rossi".into();
    let err = run(Topic::OrdersCreate, &delivery(), &order)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err, "orders/create: field `customer.id`: customer id contains a space, which is not allowed in ids",
        "an unusable id says what is wrong, not 'missing'"
    );

    let mut order = json("orders_create");
    order.as_object_mut().unwrap().remove("total_price");
    let err = run(Topic::OrdersCreate, &delivery(), &order)
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("field `total_price` is missing"), "{err}");

    let body = fixture("orders_create");
    let err = normalise(Topic::OrdersCreate, &delivery(), &body[..body.len() - 40])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ends early") && !err.contains('"'), "{err}");
}
