//! End to end: the real `aftersale serve`, real platform payloads signed as the platforms
//! sign them, and the stored result read back through `aftersale events` / `dead-letters`.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[test]
fn every_shopify_topic_is_verified_normalised_and_stored() {
    let server = Server::start();
    let topics = [
        ("orders/create", "orders_create", "order_placed"),
        ("orders/paid", "orders_paid", "order_paid"),
        ("orders/updated", "orders_updated", "order_updated"),
        (
            "orders/partially_fulfilled",
            "orders_partially_fulfilled",
            "order_partially_fulfilled",
        ),
        ("orders/fulfilled", "orders_fulfilled", "order_fulfilled"),
        ("fulfillments/create", "fulfillments_create", "shipment_updated"),
        ("fulfillments/update", "fulfillments_update", "shipment_updated"),
        (
            "fulfillment_events/create",
            "fulfillment_events_create",
            "order_delivered",
        ),
        ("refunds/create", "refunds_create", "order_refunded"),
        ("orders/cancelled", "orders_cancelled", "order_cancelled"),
        ("customers/create", "customers_create", "customer_created"),
        ("customers/update", "customers_update", "customer_updated"),
        (
            "customers/data_request",
            "customers_data_request",
            "customer_data_request",
        ),
        ("app/uninstalled", "app_uninstalled", "app_uninstalled"),
    ];
    for (i, (topic, file, _)) in topics.iter().enumerate() {
        let (status, body) = post_shopify(
            &server,
            topic,
            &format!("evt-{i}"),
            &fixture(&format!("shopify/{file}.json")),
        );
        assert_eq!(status, 200, "{topic}: {body}");
        assert!(body.contains("accepted"), "{topic}: {body}");
    }
    let events = server.events();
    let expected: Vec<&str> = topics.iter().map(|t| t.2).collect();
    assert_eq!(kinds(&events), expected);
    for event in &events {
        assert_eq!(event["shop"], "demo.myshopify.com");
        assert_eq!(event["platform"], "shopify");
        assert!(chrono_like(event["occurred_at"].as_str().unwrap()), "{event}");
    }
    let delivered = &events[7];
    assert_eq!(
        delivered["order_id"], "820982911946154508",
        "ids beyond 2^53 kept exactly"
    );
    assert_eq!(
        delivered["customer_id"], "115310627314723954",
        "customer resolved through the order"
    );
    let refund = &events[8];
    assert_eq!(refund["customer_id"], "115310627314723954");

    // A data request is answered from one customer's events, found through their orders too.
    let theirs = server.cli_json(&[
        "events",
        "--json",
        "--shop",
        "demo.myshopify.com",
        "--customer",
        "115310627314723954",
    ]);
    assert_eq!(
        theirs.len(),
        12,
        "the order and customer events; not the uninstall or another customer's request"
    );
    assert!(theirs.iter().all(|e| e["customer_id"] == "115310627314723954"));
    assert!(
        refund["data"]["refund"]["amount"]["amount"].is_string(),
        "money is a decimal string"
    );
}

fn chrono_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.contains('T')
}

#[test]
fn forged_oversized_unknown_and_broken_deliveries_get_the_right_answers() {
    let server = Server::start();
    let body = fixture("shopify/orders_create.json");

    let (status, reply) = post_shopify_signed(&server, "orders/create", "f1", &body, &sign("wrong", &body));
    assert_eq!(status, 401);
    assert!(!reply.contains("hmac") && !reply.contains("secret"), "{reply}");
    let (status, _) = post_shopify_signed(&server, "orders/create", "f2", &body, "");
    assert_eq!(status, 401);

    let huge = vec![b'x'; 1024 * 1024 + 10];
    let (status, _) = post_shopify(&server, "orders/create", "big", &huge);
    assert_eq!(status, 413);

    let (status, reply) = post_shopify(&server, "products/update", "p1", b"{}");
    assert_eq!((status, reply.contains("ignored")), (200, true));

    let truncated = &body[..body.len() - 40];
    let (status, reply) = post_shopify(&server, "orders/create", "trunc-1", truncated);
    assert_eq!((status, reply.contains("dead-lettered")), (200, true), "{reply}");

    assert!(server.events().is_empty(), "nothing stored for bad input");
    let letters = server.cli_json(&["dead-letters", "--json"]);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["topic"], "orders/create");
    assert_eq!(letters[0]["status"], "pending");
    assert!(letters[0]["reason"].as_str().unwrap().contains("orders/create"));
    let headers = letters[0]["headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "x-shopify-event-id" && h[1] == "trunc-1")
    );

    // Replay with today's parser: the body is still truncated, so it stays pending and visible.
    let replay = server.cli_json(&["dead-letters", "--json", "replay"]);
    assert_eq!(replay[0]["status"], "failing");
    assert_eq!(server.cli_json(&["dead-letters", "--json"])[0]["attempts"], 1);
}

#[test]
fn redelivery_and_out_of_order_delivery_store_each_event_once() {
    let server = Server::start();
    // The refund arrives before the order it refunds, and everything arrives twice.
    for _ in 0..2 {
        assert_eq!(
            post_shopify(
                &server,
                "refunds/create",
                "r-1",
                &fixture("shopify/refunds_create.json")
            )
            .0,
            200
        );
        assert_eq!(
            post_shopify(
                &server,
                "orders/paid",
                "o-1",
                &fixture("shopify/orders_paid.json")
            )
            .0,
            200
        );
    }
    let events = server.events();
    assert_eq!(kinds(&events), ["order_refunded", "order_paid"]);
    assert_eq!(
        events[0]["customer_id"], "115310627314723954",
        "refund linked once the order arrived"
    );
}

#[test]
fn woocommerce_deliveries_ping_dedupe_and_map_statuses() {
    let server = Server::start();
    let ping = reqwest::blocking::Client::new()
        .post(format!("{}/webhooks/woocommerce", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-wc-webhook-source", "https://shop.example/")
        .body("webhook_id=7")
        .send()
        .unwrap();
    assert_eq!(ping.status().as_u16(), 200);

    assert_eq!(
        post_woocommerce(
            &server,
            "order.created",
            &fixture("woocommerce/order_created.json")
        )
        .0,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            post_woocommerce(
                &server,
                "order.updated",
                &fixture("woocommerce/order_updated.json")
            )
            .0,
            200
        );
    }
    let mut refunded: Value = serde_json::from_slice(&fixture("woocommerce/order_updated.json")).unwrap();
    refunded["status"] = "refunded".into();
    refunded["date_modified_gmt"] = "2017-03-23T09:00:00".into();
    refunded["refunds"] = serde_json::json!([{"id": 726, "reason": "damaged", "total": "-29.35"}]);
    assert_eq!(
        post_woocommerce(&server, "order.updated", &serde_json::to_vec(&refunded).unwrap()).0,
        200
    );
    assert_eq!(
        post_woocommerce(
            &server,
            "customer.created",
            &fixture("woocommerce/customer_created.json")
        )
        .0,
        200
    );

    let events = server.events();
    assert_eq!(
        kinds(&events),
        [
            "order_placed",
            "order_paid",
            "order_fulfilled",
            "order_updated",
            "order_refunded",
            "customer_created"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["platform"] == "woocommerce" && e["shop"] == "shop.example")
    );
    assert_eq!(events[4]["data"]["refund"]["amount"]["amount"], "29.35");

    let (status, _) = post_woocommerce(&server, "order.updated", b"{\"id\": 727, \"status\":");
    assert_eq!(status, 200);
    assert_eq!(server.cli_json(&["dead-letters", "--json"]).len(), 1);
}

#[test]
fn privacy_webhooks_delete_the_customers_data() {
    let server = Server::start();
    post_shopify(
        &server,
        "orders/create",
        "o-1",
        &fixture("shopify/orders_create.json"),
    );
    let redact = br#"{"shop_id":1,"shop_domain":"demo.myshopify.com","customer":{"id":115310627314723954,"email":"john@example.com","phone":null},"orders_to_redact":[820982911946154508]}"#;
    assert_eq!(post_shopify(&server, "customers/redact", "red-1", redact).0, 200);
    let events = server.events();
    assert_eq!(kinds(&events), ["customer_redact"]);
    assert!(!events[0].to_string().contains("john@example.com"));
}
