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
            GUIDES.replace(
                "skus = [\"GRIND-1\"]",
                "skus = [\"GRIND-1\"]\nproduct_types = [\" \"]",
            ),
            "flows.care_guide.guides.product_types: guide 'grinder-care' has a blank product type",
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

/// A guide by product type (the moka pot is a "Stovetop Pot" in the shop's catalogue) above
/// the grinder's guide by SKU.
const BY_TYPE: &str = r#"
[[flows.care_guide.guides]]
name = "pots"
product_types = ["stovetop pot"]
kind = "setup"
delay_days = 1
priority = 9
title = "Your stovetop pot"
tips = ["Keep the flame under the base"]
link = "https://demo.example/guides/pots"

[[flows.care_guide.guides]]
name = "grinder-care"
skus = ["GRIND-1"]
kind = "care"
title = "Keep the burrs sharp"
tips = ["Brush them weekly"]
link = "https://demo.example/guides/grinder"
"#;

/// Due work as of `now`, with the shop's Admin API token in the environment.
fn tick_with_token(server: &Server, now: &str) {
    let out = std::process::Command::new(binary())
        .args(["tick", "--json", "--now", now, "--data-dir"])
        .arg(server.data_dir())
        .env("SHOP_ADMIN_TOKEN", "shpat_local")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The same order again as order `id`, delivered at the same time.
fn another_order_delivered(server: &Server, id: u64) {
    let mut order: Value = serde_json::from_slice(&order()).unwrap();
    order["id"] = id.into();
    order["name"] = format!("#{id}").into();
    ok(post_shopify(
        server,
        "orders/paid",
        &format!("o-{id}"),
        &serde_json::to_vec(&order).unwrap(),
    ));
    let mut delivered: Value =
        serde_json::from_slice(&fixture("shopify/fulfillment_events_create.json")).unwrap();
    delivered["order_id"] = id.into();
    delivered["id"] = (id + 1).into();
    ok(post_shopify(
        server,
        "fulfillment_events/create",
        &format!("f-{id}"),
        &serde_json::to_vec(&delivered).unwrap(),
    ));
}

#[test]
fn a_guide_by_product_type_asks_the_catalogue_when_due_retries_a_failed_lookup_and_asks_once_per_product() {
    let admin = support::shopify_admin::FakeShopifyAdmin::with_product_types(&[("111", "Stovetop Pot")]);
    admin.fail_product_queries(1);
    let server = Server::start_with(
        &["--now", "2022-01-01T00:30:00Z"],
        &[("SHOP_ADMIN_TOKEN", "shpat_local")],
    );
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!(
            "shop = \"demo.myshopify.com\"\n[admin_api]\nbase_url = \"{}\"\naccess_token_secret = \"SHOP_ADMIN_TOKEN\"\n{BY_TYPE}",
            admin.base
        ),
    )
    .unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ordered_and_delivered(&server);

    // Planned on the delivery without asking anyone: at the earliest day a guide by type may
    // go, naming the guide by SKU found so far.
    let planned = &guides(&server)[0];
    assert_eq!(planned["due_at"], "2022-01-05T19:32:00+00:00", "{planned}");
    assert_eq!(planned["details"]["guide"], "grinder-care");
    assert_eq!(admin.product_queries(), 0, "no lookup on the event path");

    // Due: the catalogue is down, so the guide waits and says why.
    tick_with_token(&server, "2022-01-05T19:32:00Z");
    let waiting = &guides(&server)[0];
    assert_eq!(waiting["status"], "planned", "{waiting}");
    let reason = waiting["reason"].as_str().unwrap();
    assert!(reason.starts_with("retrying: product types: Shopify"), "{reason}");
    assert_eq!(admin.product_queries(), 1);

    // An hour on it answers: the moka pot is a stovetop pot, whose guide wins.
    tick_with_token(&server, "2022-01-05T20:40:00Z");
    let sent = &guides(&server)[0];
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["details"]["guide"], "pots");
    assert_eq!(sent["products"], json!(["111"]));
    let mail: Vec<String> = emails(&server)
        .into_iter()
        .filter(|m| m.contains("Your stovetop pot"))
        .collect();
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("Moka pot") && mail[0].contains("Keep the flame under the base"),
        "{}",
        mail[0]
    );
    assert!(
        !mail[0].contains("Keep the burrs sharp"),
        "one guide: {}",
        mail[0]
    );
    assert_eq!(admin.product_queries(), 2);

    // Another order of the same products uses the cached types: nobody is asked again.
    another_order_delivered(&server, 820982911946154600);
    tick_with_token(&server, "2022-01-05T21:00:00Z");
    let both = guides(&server);
    assert_eq!(both.len(), 2, "{both:#?}");
    assert!(
        both.iter()
            .all(|g| g["status"] == "sent" && g["details"]["guide"] == "pots"),
        "{both:#?}"
    );
    assert_eq!(admin.product_queries(), 2, "each product asked about once");
}

#[test]
fn without_admin_api_access_a_guide_by_type_cannot_match_and_the_guide_by_sku_goes_on_its_day() {
    let server = server_with(BY_TYPE);
    ordered_and_delivered(&server);
    tick(&server, "2022-01-05T19:32:00Z");
    let waiting = &guides(&server)[0];
    assert_eq!(
        (
            waiting["status"].as_str(),
            waiting["reason"].as_str(),
            waiting["due_at"].as_str()
        ),
        (
            Some("planned"),
            Some("deferred: until the chosen care guide's day"),
            Some("2022-01-14T19:32:00+00:00")
        ),
        "no types without a token: the grinder's guide by SKU, 10 days after delivery"
    );
    assert!(emails(&server).iter().all(|m| !m.contains("Your stovetop pot")));
    tick(&server, "2022-01-14T19:32:00Z");
    let sent = &guides(&server)[0];
    assert_eq!(
        (sent["status"].as_str(), sent["details"]["guide"].as_str()),
        (Some("sent"), Some("grinder-care")),
        "{sent}"
    );
    assert_eq!(
        emails(&server)
            .iter()
            .filter(|m| m.contains("Keep the burrs sharp"))
            .count(),
        1
    );
}

#[test]
fn a_catalogue_down_for_a_day_gives_way_to_the_guide_by_sku_rather_than_lose_the_guide() {
    let admin = support::shopify_admin::FakeShopifyAdmin::with_product_types(&[("111", "Stovetop Pot")]);
    admin.fail_product_queries(1000);
    let server = Server::start_with(
        &["--now", "2022-01-01T00:30:00Z"],
        &[("SHOP_ADMIN_TOKEN", "shpat_local")],
    );
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!(
            "shop = \"demo.myshopify.com\"\n[admin_api]\nbase_url = \"{}\"\naccess_token_secret = \"SHOP_ADMIN_TOKEN\"\n{BY_TYPE}",
            admin.base
        ),
    )
    .unwrap();
    assert!(
        server
            .cli(&["config", "load", file.to_str().unwrap()])
            .status
            .success()
    );
    ordered_and_delivered(&server);
    for now in [
        "2022-01-05T19:32:00Z",
        "2022-01-05T20:40:00Z",
        "2022-01-06T19:00:00Z",
    ] {
        tick_with_token(&server, now);
        let reason = guides(&server)[0]["reason"].as_str().unwrap().to_string();
        assert!(reason.starts_with("retrying: product types:"), "{now}: {reason}");
    }
    tick_with_token(&server, "2022-01-06T20:00:00Z");
    let fallback = &guides(&server)[0];
    assert_eq!(
        (
            fallback["reason"].as_str(),
            fallback["due_at"].as_str(),
            fallback["details"]["guide"].as_str()
        ),
        (
            Some("deferred: until the chosen care guide's day"),
            Some("2022-01-14T19:32:00+00:00"),
            Some("grinder-care")
        ),
        "{fallback}"
    );
    assert_eq!(admin.product_queries(), 4);
    // On its day, still down: it goes at once, not a day later.
    tick_with_token(&server, "2022-01-14T19:32:00Z");
    let sent = &guides(&server)[0];
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(
        emails(&server)
            .iter()
            .filter(|m| m.contains("Keep the burrs sharp"))
            .count(),
        1
    );
}

#[test]
fn simulate_shows_the_one_guide_with_its_decision_and_a_refunded_orders_skip_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shop.toml");
    std::fs::write(&config, format!("shop = \"demo.myshopify.com\"\n{GUIDES}")).unwrap();
    let event = |at: &str, topic: &str, body: Vec<u8>| {
        let body: Value = serde_json::from_slice(&body).unwrap();
        json!({"at": at, "platform": "shopify", "topic": topic, "shop": "demo.myshopify.com", "body": body})
            .to_string()
    };
    let delivered = fixture("shopify/fulfillment_events_create.json");
    let simulate = |lines: Vec<String>| {
        let events = dir.path().join("events.jsonl");
        std::fs::write(&events, lines.join("\n")).unwrap();
        let out = std::process::Command::new(binary())
            .args(["simulate", "--days-after", "10", "--events"])
            .arg(&events)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = simulate(vec![
        event("2022-01-01T00:30:00Z", "orders/paid", order()),
        event(
            "2022-01-04T19:35:00Z",
            "fulfillment_events/create",
            delivered.clone(),
        ),
    ]);
    let guide: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("care-guide/guide") && l.contains("sent: "))
        .collect();
    assert_eq!(guide.len(), 1, "one guide: {text}");
    assert!(
        guide[0].starts_with("2022-01-06 19:32")
            && guide[0].contains("sent: \"John, getting started with your Repair kit\""),
        "the repair kit's guide, 2 days after delivery: {text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("2022-01-04 19:35")
            && l.contains("care-guide/guide")
            && l.contains("planned for 2022-01-06 19:32")),
        "planned on the delivery: {text}"
    );

    let mut refund: Value = serde_json::from_slice(&fixture("shopify/refunds_create.json")).unwrap();
    refund["transactions"] = json!([{
        "id": 1, "order_id": 820982911946154508_u64, "kind": "refund", "status": "success",
        "amount": "388.00", "currency": "USD", "created_at": "2022-01-05T10:00:00-05:00"
    }]);
    let text = simulate(vec![
        event("2022-01-01T00:30:00Z", "orders/paid", order()),
        event("2022-01-04T19:35:00Z", "fulfillment_events/create", delivered),
        event(
            "2022-01-05T15:00:00Z",
            "refunds/create",
            serde_json::to_vec(&refund).unwrap(),
        ),
    ]);
    assert!(
        text.lines()
            .any(|l| l.contains("care-guide/guide") && l.contains("skipped: refunded")),
        "{text}"
    );
}
