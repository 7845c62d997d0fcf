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

/// Reads what the server answers on a raw connection until it closes it (or `limit` passes).
fn read_until_closed(stream: &mut std::net::TcpStream, limit: std::time::Duration) -> String {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Issue 9: a client sending its headers a byte at a time held a connection for over 45 s.
#[test]
fn a_slowloris_client_is_dropped_within_seconds() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let server = Server::start();
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // One more header byte a second, as slowloris does, for at most 20 s.
    let mut closed_at = None;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_secs(1));
        if stream.write_all(b"X").is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
        stream.set_nonblocking(true).unwrap();
        let mut probe = [0u8; 1];
        let gone = matches!(std::io::Read::read(&mut stream, &mut probe), Ok(0));
        stream.set_nonblocking(false).unwrap();
        if gone {
            closed_at = Some(started.elapsed());
            break;
        }
    }
    let closed_at = closed_at.expect("the connection was still open after 20 s");
    assert!(closed_at < Duration::from_secs(10), "dropped after {closed_at:?}");
}

/// A body sent slowly after complete headers gets 408, and the server stays healthy.
#[test]
fn a_body_that_never_arrives_gets_408() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let server = Server::start();
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"id\":")
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request body not received in time"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let health = reqwest::blocking::get(format!("{}/healthz", server.base)).unwrap();
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = health.json().unwrap();
    assert_eq!(health["status"], "ok", "{health}");
}

/// A Content-Length over 1 MiB is refused at once, before any of the body is sent.
#[test]
fn a_declared_oversized_body_is_refused_before_it_is_read() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let server = Server::start();
    let address = server.base.trim_start_matches("http://");
    for path in ["/webhooks/shopify", "/webhooks/woocommerce"] {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let started = Instant::now();
        let request = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5));
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(answer.contains("body too large"), "{path}: {answer}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
    }
}

/// Anyone who can read `link.key` can forge links; `aftersale.db` holds customers' details.
#[cfg(unix)]
#[test]
fn the_link_key_and_the_database_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    post_shopify(
        &server,
        "orders/create",
        "o-1",
        &fixture("shopify/orders_create.json"),
    );
    for file in ["link.key", "aftersale.db"] {
        let mode = std::fs::metadata(server.data_dir().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is {:o}", mode & 0o777);
    }
}

/// Issue 9: the attack on one order stopped every shop's sending. Two signed refunds with
/// `Decimal::MAX` transactions each get an answer; the server goes on serving.
#[test]
fn refunds_of_decimal_max_get_an_answer_and_stop_nothing() {
    let server = Server::start();
    let mut refund: Value = serde_json::from_slice(&fixture("shopify/refunds_create.json")).unwrap();
    for tx in refund["transactions"].as_array_mut().unwrap() {
        tx["amount"] = "79228162514264337593543950335".into();
    }
    for (i, id) in [890088186047892319u64, 890088186047892320].iter().enumerate() {
        refund["id"] = (*id).into();
        let (status, reply) = post_shopify(
            &server,
            "refunds/create",
            &format!("max-{i}"),
            &serde_json::to_vec(&refund).unwrap(),
        );
        assert_eq!((status, reply.as_str()), (200, r#"{"outcome":"dead-lettered"}"#));
    }
    let letters = server.cli_json(&["dead-letters", "--json"]);
    assert_eq!(letters.len(), 2);
    assert!(
        letters[0]["reason"].as_str().unwrap().ends_with(
            "field `transactions.amount`: is implausibly large (more than 1000000000000 in any currency)"
        ),
        "{}",
        letters[0]["reason"]
    );
    let (status, _) = post_shopify(
        &server,
        "orders/paid",
        "o-1",
        &fixture("shopify/orders_paid.json"),
    );
    assert_eq!(status, 200, "the next order is still taken");
    let out = server.cli(&["tick", "--now", "2026-11-22T12:00:00Z"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
