//! End to end through the CLI: real payloads into `aftersale serve`, due work run with
//! `aftersale tick --now`, and the result read from `aftersale outbox --json` and the `.eml`
//! files a mail client would open.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;

fn outbox(server: &Server) -> Vec<Value> {
    server.cli_json(&["outbox", "--json"])
}

fn tick(server: &Server, now: &str) -> Value {
    let lines = server.cli_json(&["tick", "--json", "--now", now]);
    lines.into_iter().next().expect("tick report")
}

fn find<'a>(messages: &'a [Value], flow: &str, step: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["flow"] == flow && m["step"] == step)
        .unwrap_or_else(|| panic!("no {flow}/{step} in {messages:#?}"))
}

fn emails(server: &Server) -> Vec<String> {
    let dir = server.data_dir().join("outbox/email");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn a_shopify_order_gets_its_thank_you_survey_check_in_and_review_request_once_each() {
    let server = Server::start();
    assert_eq!(
        post_shopify(
            &server,
            "orders/create",
            "o-1",
            &fixture("shopify/orders_create.json")
        )
        .0,
        200
    );
    assert_eq!(
        post_shopify(
            &server,
            "orders/paid",
            "o-2",
            &fixture("shopify/orders_paid.json")
        )
        .0,
        200
    );

    let planned = outbox(&server);
    let thank_you = find(&planned, "thank-you", "thank-you");
    assert_eq!(thank_you["status"], "planned");
    assert_eq!(thank_you["order_id"], "820982911946154508");
    assert_eq!(thank_you["customer_id"], "115310627314723954");
    assert_eq!(
        find(&planned, "thank-you", "feedback")["due_at"],
        "2022-01-04T00:00:00+00:00"
    );

    // The order was placed 2022-01-01T00:00Z; an hour later the thank-you goes out, once.
    let report = tick(&server, "2022-01-01T01:00:00Z");
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(
        tick(&server, "2022-01-01T01:00:00Z")["sent"],
        0,
        "a second tick sends nothing"
    );
    let after = outbox(&server);
    let sent = find(&after, "thank-you", "thank-you");
    assert_eq!(
        (sent["status"].as_str(), sent["reason"].as_str()),
        (Some("sent"), Some("sent"))
    );
    assert_eq!(sent["to"], "john@example.com");
    assert_eq!(sent["channel"], "email");
    assert!(sent["subject"].as_str().unwrap().contains("John"), "{sent}");

    let mail = emails(&server);
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("To: John <john@example.com>"));
    assert!(mail[0].contains("X-Aftersale-Class: transactional"));
    assert!(
        !mail[0].contains("List-Unsubscribe"),
        "transactional mail carries no unsubscribe"
    );

    // Delivery arrives; check-in a day later, survey at +3 days, review request after 14 days.
    post_shopify(
        &server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    );
    assert_eq!(tick(&server, "2022-01-04T01:00:00Z")["sent"], 1, "survey");
    assert_eq!(tick(&server, "2022-01-05T20:00:00Z")["sent"], 1, "check-in");
    let survey = emails(&server)
        .into_iter()
        .find(|m| m.contains("List-Unsubscribe-Post"))
        .expect("survey email");
    assert!(survey.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert_eq!(tick(&server, "2022-01-18T20:00:00Z")["sent"], 1, "review request");
    let messages = outbox(&server);
    assert_eq!(
        find(&messages, "review-request", "request")["products"][0],
        "632910392"
    );
    assert_eq!(find(&messages, "review-request", "reminder")["status"], "planned");
}

#[test]
fn a_cancelled_order_is_skipped_with_its_reason() {
    let server = Server::start();
    post_shopify(
        &server,
        "orders/create",
        "o-1",
        &fixture("shopify/orders_create.json"),
    );
    post_shopify(
        &server,
        "orders/cancelled",
        "o-2",
        &fixture("shopify/orders_cancelled.json"),
    );
    let report = tick(&server, "2022-01-04T01:00:00Z");
    assert_eq!(report["sent"], 0, "{report}");
    let messages = outbox(&server);
    for m in &messages {
        assert_eq!(m["status"], "skipped", "{m}");
        assert_eq!(m["reason"], "skipped: cancelled", "{m}");
    }
    assert!(emails(&server).is_empty());
}

#[test]
fn a_woocommerce_order_is_thanked_and_its_survey_follows_the_shop_consent_default() {
    let server = Server::start();
    assert_eq!(
        post_woocommerce(
            &server,
            "order.created",
            &fixture("woocommerce/order_created.json")
        )
        .0,
        200
    );
    let config = server.data_dir().join("shop.toml");
    std::fs::write(
        &config,
        "shop = \"shop.example\"\nshop_name = \"Example Shop\"\n[consent]\nservice_requires_consent = true\n",
    )
    .unwrap();
    let out = server.cli(&["config", "load", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Placed 2017-03-22T19:28:02Z.
    assert_eq!(tick(&server, "2017-03-22T20:00:00Z")["sent"], 1);
    tick(&server, "2017-03-26T20:00:00Z");
    let messages = outbox(&server);
    assert_eq!(
        find(&messages, "thank-you", "thank-you")["to"],
        "john.doe@example.com"
    );
    assert_eq!(
        find(&messages, "thank-you", "feedback")["reason"],
        "skipped: no consent"
    );
    assert!(emails(&server)[0].contains("Example Shop"));
}

#[test]
fn config_files_are_checked_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "shop = \"demo.myshopify.com\"\n[flows.review_request]\ndelay_days = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(binary())
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("flows.review_request.delay_days") && err.contains("bad.toml"),
        "{err}"
    );

    let no_shop = dir.path().join("noshop.toml");
    std::fs::write(&no_shop, "locale = \"it\"\n").unwrap();
    let out = std::process::Command::new(binary())
        .args(["config", "check"])
        .arg(&no_shop)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --shop"));
    let out = std::process::Command::new(binary())
        .args(["config", "check", "--shop", "demo.myshopify.com"])
        .arg(&no_shop)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("locale = \"it\""));
}

#[test]
fn simulate_prints_the_customers_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let events = dir.path().join("events.jsonl");
    let line = |at: &str, topic: &str, file: &str| {
        format!(
            r#"{{"at":"{at}","platform":"shopify","topic":"{topic}","shop":"demo.myshopify.com","body_file":"{}"}}"#,
            fixtures.join(file).display()
        )
    };
    std::fs::write(
        &events,
        [
            line(
                "2022-01-01T00:00:00Z",
                "orders/create",
                "shopify/orders_create.json",
            ),
            line(
                "2022-01-04T19:32:00Z",
                "fulfillment_events/create",
                "shopify/fulfillment_events_create.json",
            ),
        ]
        .join("\n"),
    )
    .unwrap();
    let out = std::process::Command::new(binary())
        .args(["simulate", "--json", "--events"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let timeline: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sent: Vec<&str> = timeline
        .iter()
        .filter(|e| e["detail"].as_str().unwrap().starts_with("sent"))
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        sent,
        [
            "thank-you/thank-you (email)",
            "thank-you/feedback (email)",
            "delivery-check-in/check-in (email)",
            "review-request/request (email)",
            "review-request/reminder (email)",
        ]
    );
    let times: Vec<&str> = timeline.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "the timeline is in time order");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"at\": \"yesterday\"}\n").unwrap();
    let out = std::process::Command::new(binary())
        .args(["simulate", "--events"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.jsonl:1"));
}

/// Undoes the `.eml` quoted-printable encoding (RFC 2045), to read a part as a mail client shows it.
fn unquote(qp: &str) -> String {
    let joined = qp.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Issue 9: WooCommerce sends names HTML-encoded (`&ndash;`). They reached the text part as
/// they were and the HTML part escaped twice (`&amp;ndash;`).
#[test]
fn woocommerce_names_read_as_plain_text_in_both_parts_of_the_thank_you() {
    let server = Server::start();
    let mut order: Value = serde_json::from_slice(&fixture("woocommerce/order_created.json")).unwrap();
    order["line_items"][0]["name"] = "Ship Your Idea &ndash; Color".into();
    order["billing"]["first_name"] = "Laura &amp; Co".into();
    let (status, reply) = post_woocommerce(&server, "order.created", &serde_json::to_vec(&order).unwrap());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(tick(&server, "2017-03-22T20:00:00Z")["sent"], 1);

    let eml = unquote(&emails(&server)[0]);
    let text_part = eml.split("Content-Type: text/html").next().unwrap();
    let html_part = eml.split("Content-Type: text/html").nth(1).unwrap();
    assert!(text_part.contains("- Ship Your Idea – Color"), "{text_part}");
    assert!(text_part.contains("Thanks, Laura & Co."), "{text_part}");
    assert!(html_part.contains("<li>Ship Your Idea – Color"), "{html_part}");
    assert!(
        html_part.contains("Laura &amp; Co"),
        "escaped once in HTML: {html_part}"
    );
    for part in [text_part, html_part] {
        assert!(!part.contains("ndash") && !part.contains("&amp;amp;"), "{part}");
    }
}
