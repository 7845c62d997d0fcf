//! End to end through the real binary: the links in the `.eml` files `tick` writes, followed
//! over HTTP against `aftersale serve` the way a browser, a mail scanner and a mail client's
//! one-click unsubscribe do.
//!
//! The order is placed "now" (the real clock): `serve` checks links against it.

#[path = "support/mod.rs"]
mod support;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use support::mail::{emails, links, list_unsubscribe, order};
use support::*;

fn tick(server: &Server, now: DateTime<Utc>) -> Value {
    let lines = server.cli_json(&["tick", "--json", "--now", &now.to_rfc3339()]);
    lines.into_iter().next().expect("tick report")
}

fn outcome(server: &Server, order: &str, step: &str) -> (String, String) {
    let messages = server.cli_json(&["outbox", "--json"]);
    let m = messages
        .iter()
        .find(|m| m["flow"] == "thank-you" && m["step"] == step && m["order_id"] == order)
        .unwrap_or_else(|| panic!("no thank-you/{step} for {order} in {messages:#?}"));
    (
        m["status"].as_str().unwrap().to_owned(),
        m["reason"].as_str().unwrap().to_owned(),
    )
}

/// The text a visitor reads: tags dropped, whitespace collapsed.
fn visible(html: &str) -> String {
    let body = html.split_once("<body>").map_or(html, |(_, b)| b);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&#x27;", "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn get(url: &str, language: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .get(url)
        .header("accept-language", language)
        .send()
        .expect("GET a link");
    (response.status().as_u16(), response.text().unwrap())
}

fn post(url: &str, body: &'static str) -> (u16, String) {
    let response = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .expect("POST a link");
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn survey_links_confirm_before_recording_and_one_click_unsubscribe_spares_the_next_thank_you() {
    // Its own due work runs on the real clock, which is when this order is due: only ours.
    let server = Server::start_with(&["--tick-seconds", "3600"], &[]);
    let placed = Utc::now() - Duration::minutes(5);
    let (status, _) = post_shopify(&server, "orders/create", "o-1", &order(placed, 5001, "#1001"));
    assert_eq!(status, 200);
    assert_eq!(
        tick(&server, placed + Duration::minutes(10))["sent"],
        1,
        "thank-you"
    );
    assert_eq!(tick(&server, placed + Duration::days(3))["sent"], 1, "survey");
    let survey = emails(&server)
        .into_iter()
        .find(|m| m.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"))
        .expect("the survey");

    // A scanner (or the customer) fetching a CSAT link sees a confirmation; nothing is stored.
    let csat_2 = links(&server, &survey)[1].clone();
    let (status, page) = get(&csat_2, "en-GB,en;q=0.9");
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\">"), "{page}");
    assert_eq!(
        visible(&page),
        "How happy are you with your order #1001? You chose 2 out of 5 (1 = not happy, 5 = very \
         happy). Send my answer Tapped the wrong number? Go back to the email and tap the right one."
    );
    let alerts = server.data_dir().join("outbox/alerts.jsonl");
    assert!(!alerts.exists(), "a GET alerts nobody");
    // The button's POST records it and tells support once, naming the shop's order number.
    for _ in 0..2 {
        let (status, page) = post(&csat_2, "");
        assert_eq!(status, 200);
        assert_eq!(
            visible(&page),
            "Thank you! Your answer has been recorded. We've told the team; someone will get in \
             touch with you soon. demo.myshopify.com"
        );
    }
    let alerts = std::fs::read_to_string(&alerts).expect("outbox/alerts.jsonl");
    assert_eq!(alerts.lines().count(), 1, "{alerts}");
    assert!(
        alerts.contains("CSAT 2/5") && alerts.contains("order #1001"),
        "{alerts}"
    );

    // The visible unsubscribe link asks first, in the visitor's language.
    let unsubscribe = list_unsubscribe(&server, &survey);
    let (status, page) = get(&unsubscribe, "it-IT,it;q=0.9");
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\">"), "{page}");
    assert!(
        visible(&page).starts_with("Stop emails from demo.myshopify.com?"),
        "the customer's language (en) wins: {page}"
    );
    // A mail client's RFC 8058 one-click POST unsubscribes directly.
    let (status, page) = post(&unsubscribe, "List-Unsubscribe=One-Click");
    assert_eq!(status, 200);
    assert!(visible(&page).starts_with("You're unsubscribed"), "{page}");

    // The next order is still thanked; its survey is not sent.
    let again = placed + Duration::days(4);
    post_shopify(&server, "orders/create", "o-2", &order(again, 5002, "#1002"));
    assert_eq!(tick(&server, again + Duration::minutes(10))["sent"], 1);
    assert_eq!(
        outcome(&server, "5002", "thank-you"),
        ("sent".into(), "sent".into())
    );
    tick(&server, again + Duration::days(3));
    assert_eq!(
        outcome(&server, "5002", "feedback"),
        ("skipped".into(), "skipped: suppressed: unsubscribed".into())
    );

    // A link someone edited is refused in the visitor's language.
    let (status, page) = get(&format!("{unsubscribe}x"), "it");
    assert_eq!(status, 400);
    assert_eq!(
        visible(&page),
        "Questo link non è valido Usa il link esattamente come appare nel messaggio originale."
    );
}
