//! Care guides end to end: signed Shopify webhooks into `aftersale serve` (an order with three
//! guided items, its delivery), the guide sent by `aftersale tick --now` and read from
//! `aftersale outbox --json` and the `.eml` file; a refund before it is due skips it; a config
//! with a bad guide is refused naming the field, and changes nothing.

#[path = "support/mod.rs"]
mod support;

use serde_json::{Value, json};
use support::mail::emails;
use support::*;

/// Three guides for the order's three items. The repair kit's has the highest priority, so it
/// wins over the dearer grinder.
const GUIDES: &str = r#"
[[flows.care_guide.guides]]
name = "moka-setup"
product_ids = ["111"]
kind = "setup"
title = "Your first moka"
tips = ["Rinse it with water only"]
link = "https://demo.example/guides/moka"

[[flows.care_guide.guides]]
name = "grinder-care"
skus = ["GRIND-1"]
kind = "care"
title = "Keep the burrs sharp"
tips = ["Brush them weekly"]
link = "https://demo.example/guides/grinder"

[[flows.care_guide.guides]]
name = "repair-kit"
product_ids = ["333"]
kind = "setup"
delay_days = 2
priority = 5
title = { en = "Your repair kit in 60 seconds", it = "Il kit di riparazione in 60 secondi" }
tips = [
  { en = "Clean the surface before you glue", it = "Pulisci la superficie prima di incollare" },
  "Let it set for 24 hours",
]
link = "https://demo.example/guides/repair-kit"
"#;

/// The fixtures' paid order (delivered on 2022-01-04 at 19:32 UTC), with a moka pot, a
/// grinder and a repair kit instead of its two iPods.
fn order() -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixture("shopify/orders_paid.json")).unwrap();
    let template = order["line_items"][0].clone();
    let line = |id: u64, product: u64, sku: &str, title: &str, price: &str| {
        let mut line = template.clone();
        line["id"] = id.into();
        line["product_id"] = product.into();
        line["variant_id"] = (product * 10).into();
        line["sku"] = sku.into();
        line["title"] = title.into();
        line["name"] = title.into();
        line["price"] = price.into();
        line
    };
    order["line_items"] = json!([
        line(1, 111, "MOKA-3", "Moka pot", "40.00"),
        line(2, 222, "GRIND-1", "Burr grinder", "120.00"),
        line(3, 333, "KIT-1", "Repair kit", "18.00"),
    ]);
    serde_json::to_vec(&order).unwrap()
}

fn server_with(config: &str) -> Server {
    let server = Server::start_with(&["--now", "2022-01-01T00:30:00Z"], &[]);
    let file = server.data_dir().join("shop.toml");
    std::fs::write(&file, format!("shop = \"demo.myshopify.com\"\n{config}")).unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server
}

fn ok(response: (u16, String)) {
    assert_eq!(response.0, 200, "{}", response.1);
}

fn ordered_and_delivered(server: &Server) {
    ok(post_shopify(server, "orders/paid", "o-1", &order()));
    ok(post_shopify(
        server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
}

fn guides(server: &Server) -> Vec<Value> {
    server
        .cli_json(&["outbox", "--json"])
        .into_iter()
        .filter(|m| m["flow"] == "care-guide")
        .collect()
}

fn tick(server: &Server, now: &str) -> Value {
    server
        .cli_json(&["tick", "--json", "--now", now])
        .into_iter()
        .next()
        .expect("tick report")
}

#[test]
fn one_guide_for_the_item_that_needs_it_most_goes_the_days_after_delivery_its_kind_asks() {
    let server = server_with(GUIDES);
    ordered_and_delivered(&server);

    let planned = guides(&server);
    assert_eq!(planned.len(), 1, "one guide per order: {planned:#?}");
    let guide = &planned[0];
    assert_eq!(guide["step"], "guide");
    assert_eq!(guide["class"], "service");
    assert_eq!(guide["details"]["guide"], "repair-kit", "{guide}");
    assert_eq!(
        guide["due_at"], "2022-01-06T19:32:00+00:00",
        "2 days after delivery"
    );

    tick(&server, "2022-01-06T19:00:00Z");
    assert_eq!(guides(&server)[0]["status"], "planned", "not before");
    tick(&server, "2022-01-06T19:32:00Z");
    let sent = &guides(&server)[0];
    assert_eq!(sent["status"], "sent", "{sent}");
    let mail: Vec<String> = emails(&server)
        .into_iter()
        .filter(|m| m.contains("Your repair kit in 60 seconds"))
        .collect();
    assert_eq!(mail.len(), 1, "the guide was emailed once");
    let mail = &mail[0];
    assert!(
        mail.contains("Subject: John, getting started with your Repair kit"),
        "{mail}"
    );
    assert!(
        mail.contains("Since you chose the Repair kit, here is how to get off to a good start."),
        "{mail}"
    );
    assert!(
        mail.contains("1. Clean the surface before you glue") && mail.contains("2. Let it set for 24 hours"),
        "{mail}"
    );
    assert!(
        mail.contains("The full guide: https://demo.example/guides/repair-kit"),
        "{mail}"
    );
    assert!(
        !mail.contains("Burr grinder") && !mail.contains("Moka pot"),
        "{mail}"
    );
    assert!(!mail.contains("X-Aftersale-Class: transactional"), "{mail}");
    assert!(mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));

    tick(&server, "2022-01-20T10:00:00Z");
    assert_eq!(
        emails(&server)
            .iter()
            .filter(|m| m.contains("Your repair kit in 60 seconds"))
            .count(),
        1,
        "never twice"
    );
}

#[test]
fn an_order_refunded_before_its_guide_is_due_gets_none_and_the_outbox_says_why() {
    let server = server_with(&format!("locale = \"it\"\n{GUIDES}"));
    ordered_and_delivered(&server);
    assert_eq!(guides(&server)[0]["status"], "planned");

    let mut refund: Value = serde_json::from_slice(&fixture("shopify/refunds_create.json")).unwrap();
    refund["transactions"] = json!([{
        "id": 1, "order_id": 820982911946154508_u64, "kind": "refund", "status": "success",
        "amount": "388.00", "currency": "USD", "created_at": "2022-01-05T10:00:00-05:00"
    }]);
    ok(post_shopify(
        &server,
        "refunds/create",
        "r-1",
        &serde_json::to_vec(&refund).unwrap(),
    ));

    tick(&server, "2022-01-06T19:32:00Z");
    let guide = &guides(&server)[0];
    assert_eq!(
        (guide["status"].as_str(), guide["reason"].as_str()),
        (Some("skipped"), Some("skipped: refunded")),
        "{guide}"
    );
    assert!(
        emails(&server)
            .iter()
            .all(|m| !m.contains("Il kit di riparazione")),
        "nothing about the refunded kit was sent"
    );
}

#[test]
fn a_bad_guide_is_refused_naming_the_field_and_the_stored_config_is_unchanged() {
    let server = server_with(GUIDES);
    let file = server.data_dir().join("bad.toml");
    for (bad, says) in [
        (
            GUIDES.replace("delay_days = 2", "delay_days = 9"),
            "flows.care_guide.guides.delay_days: guide 'repair-kit': a setup guide goes 0 to 3 days after delivery",
        ),
        (
            GUIDES.replace("https://demo.example/guides/moka", "demo.example/moka"),
            "flows.care_guide.guides.link: guide 'moka-setup': must be a link starting with https:// or http://",
        ),
        (
            GUIDES.replace("tips = [\"Brush them weekly\"]", "tips = []"),
            "flows.care_guide.guides.tips: guide 'grinder-care': give 1 to 5 tips",
        ),
        (
            GUIDES.replace("kind = \"care\"", "kind = \"maintenance\""),
            "unknown variant `maintenance`, expected `setup` or `care`",
        ),
    ] {
        std::fs::write(&file, format!("shop = \"demo.myshopify.com\"\n{bad}")).unwrap();
        let out = server.cli(&["config", "load", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}");
        assert!(stderr.contains(says), "{stderr}");
    }
    // The stored config is the good one: the order still gets the repair kit's guide, 2 days on.
    ordered_and_delivered(&server);
    let planned = guides(&server);
    assert_eq!(planned.len(), 1);
    assert_eq!(planned[0]["details"]["guide"], "repair-kit");
    assert_eq!(planned[0]["due_at"], "2022-01-06T19:32:00+00:00");
}
