//! Checkout recovery end to end through the CLI: Shopify's signed `checkouts/create` and
//! `checkouts/update` into `aftersale serve`, reminders sent by `aftersale tick --now`, read
//! from `aftersale outbox --json` and the `.eml` files.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::mail::emails;
use support::*;

const RECOVERY_URL: &str =
    "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token";

fn outbox(server: &Server) -> Vec<Value> {
    server.cli_json(&["outbox", "--json"])
}

fn tick(server: &Server, now: &str) -> Value {
    server
        .cli_json(&["tick", "--json", "--now", now])
        .into_iter()
        .next()
        .expect("tick report")
}

fn find<'a>(messages: &'a [Value], step: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["flow"] == "checkout-recovery" && m["step"] == step)
        .unwrap_or_else(|| panic!("no checkout-recovery/{step} in {messages:#?}"))
}

/// The fixture order, as the one that completed the fixture checkout.
fn completing_order() -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixture("shopify/orders_create.json")).unwrap();
    order["checkout_token"] = "123123123".into();
    order["cart_token"] = "eeafa272cebfd4b22385bc4b645e762c".into();
    order["customer"]["id"] = 603851970716743426_u64.into();
    serde_json::to_vec(&order).unwrap()
}

#[test]
fn a_checkout_left_behind_is_reminded_an_hour_after_its_last_change_and_its_order_ends_the_rest() {
    let server = Server::start();
    let created = fixture("shopify/checkouts_create.json");
    let updated = fixture("shopify/checkouts_update.json");
    assert_eq!(post_shopify(&server, "checkouts/create", "c-1", &created).0, 200);
    assert_eq!(post_shopify(&server, "checkouts/update", "c-2", &updated).0, 200);
    let (status, body) = post_shopify(&server, "checkouts/update", "c-2", &updated);
    assert_eq!((status, body.contains("\"duplicates\":1")), (200, true), "{body}");

    // The last change was at 00:20: the reminder waits until 01:20, the second until the next day.
    let planned = outbox(&server);
    assert_eq!(find(&planned, "reminder")["due_at"], "2022-01-01T01:20:00+00:00");
    assert_eq!(
        find(&planned, "second-reminder")["due_at"],
        "2022-01-02T00:20:00+00:00"
    );
    assert_eq!(
        planned
            .iter()
            .filter(|m| m["flow"] == "checkout-recovery")
            .count(),
        2
    );

    assert_eq!(
        tick(&server, "2022-01-01T01:10:00Z")["sent"],
        0,
        "not before the hour is up"
    );
    assert_eq!(tick(&server, "2022-01-01T01:20:00Z")["sent"], 1);
    let sent = find(&outbox(&server), "reminder").clone();
    assert_eq!(
        (sent["status"].as_str(), sent["to"].as_str()),
        (Some("sent"), Some("john@example.com"))
    );
    let mail = emails(&server);
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("Subject: John, you left something in your basket"),
        "{}",
        mail[0]
    );
    assert!(mail[0].contains(RECOVERY_URL), "{}", mail[0]);
    assert!(mail[0].contains("IPod Nano - 8GB"), "{}", mail[0]);
    assert_eq!(sent["class"], "marketing", "{sent}");
    assert!(mail[0].contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));

    // The order that completes it: the second reminder is skipped at once, and never sent.
    assert_eq!(
        post_shopify(&server, "orders/create", "o-1", &completing_order()).0,
        200
    );
    let second = find(&outbox(&server), "second-reminder").clone();
    assert_eq!(second["status"], "skipped", "{second}");
    assert_eq!(second["reason"], "skipped: checkout completed");
    tick(&server, "2022-01-02T01:00:00Z");
    assert_eq!(
        emails(&server)
            .iter()
            .filter(|m| m.contains(RECOVERY_URL))
            .count(),
        1
    );
}

#[test]
fn a_checkout_without_marketing_consent_is_never_reminded_and_says_why() {
    let server = Server::start();
    post_shopify(
        &server,
        "checkouts/create",
        "c-1",
        &fixture("shopify/checkouts_create.json"),
    );
    assert_eq!(tick(&server, "2022-01-01T01:00:00Z")["sent"], 0);
    let reminder = find(&outbox(&server), "reminder").clone();
    assert_eq!(
        reminder["reason"], "skipped: no consent",
        "the box was not ticked: {reminder}"
    );
    assert!(emails(&server).is_empty());
}

#[test]
fn an_order_stored_before_the_checkout_event_arrives_means_no_reminder_at_all() {
    let server = Server::start();
    post_shopify(&server, "orders/create", "o-1", &completing_order());
    // Shopify's checkouts/update can come after the order: the stored order says it is done.
    post_shopify(
        &server,
        "checkouts/update",
        "c-2",
        &fixture("shopify/checkouts_update.json"),
    );
    let messages = outbox(&server);
    assert!(
        messages
            .iter()
            .all(|m| m["flow"] != "checkout-recovery" || m["status"] == "skipped"),
        "{messages:#?}"
    );
    tick(&server, "2022-01-01T01:20:00Z");
    assert!(emails(&server).iter().all(|m| !m.contains(RECOVERY_URL)));
}

#[test]
fn simulate_shows_the_reminder_sent_and_the_second_skipped_when_the_order_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let event = |at: &str, topic: &str, body: Vec<u8>| {
        let body: Value = serde_json::from_slice(&body).unwrap();
        serde_json::json!({"at": at, "platform": "shopify", "topic": topic, "shop": "demo.myshopify.com", "body": body})
            .to_string()
    };
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        [
            event(
                "2022-01-01T00:20:00Z",
                "checkouts/update",
                fixture("shopify/checkouts_update.json"),
            ),
            event("2022-01-01T09:00:00Z", "orders/create", completing_order()),
        ]
        .join("\n"),
    )
    .unwrap();
    let out = std::process::Command::new(binary())
        .args(["simulate", "--days-after", "3", "--events"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |step: &str, what: &str| {
        text.lines()
            .find(|l| l.contains(&format!("checkout-recovery/{step} ")) && l.contains(what))
            .unwrap_or_else(|| panic!("no checkout-recovery/{step} with {what:?} in\n{text}"))
            .to_string()
    };
    assert!(
        line("reminder", "sent: ").starts_with("2022-01-01 01:20"),
        "{text}"
    );
    assert!(
        line("second-reminder", "skipped: checkout completed").starts_with("2022-01-01 09:00"),
        "{text}"
    );
}
