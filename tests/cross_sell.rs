//! Cross-sell, learned, end to end: signed Shopify orders into `aftersale serve`, the pairs
//! read back with `aftersale recommendations`, and bad arguments refused with clear errors.

#[path = "support/mod.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

const SHOP: &str = "demo.myshopify.com";

/// The fixture's paid order as order `n` of customer `customer`, placed `day` days after
/// 2022-01-01, with one line per `(product id, title)`; subscribed to email marketing.
fn order(n: u64, customer: u64, day: i64, items: &[(u64, &str)]) -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixture("shopify/orders_paid.json")).unwrap();
    let at =
        chrono::DateTime::parse_from_rfc3339("2022-01-01T09:00:00Z").unwrap() + chrono::Duration::days(day);
    let line = order["line_items"][0].clone();
    order["id"] = json!(n);
    order["name"] = json!(format!("#{n}"));
    order["order_number"] = json!(n);
    order["created_at"] = json!(at.to_rfc3339());
    order["updated_at"] = json!(at.to_rfc3339());
    order["customer"]["id"] = json!(customer);
    order["customer"]["email"] = json!(format!("c{customer}@example.com"));
    order["email"] = json!(format!("c{customer}@example.com"));
    order["customer"]["email_marketing_consent"] =
        json!({ "state": "subscribed", "opt_in_level": "single_opt_in" });
    order["line_items"] = items
        .iter()
        .enumerate()
        .map(|(i, (product, title))| {
            let mut l = line.clone();
            l["id"] = json!(n * 100 + i as u64);
            l["product_id"] = json!(product);
            l["variant_id"] = json!(product * 10);
            l["title"] = json!(title);
            l["name"] = json!(title);
            l["sku"] = json!(format!("SKU-{product}"));
            l
        })
        .collect();
    serde_json::to_vec(&order).unwrap()
}

fn paid(server: &Server, body: &[u8], event: &str) {
    let (status, reply) = post_shopify(server, "orders/paid", event, body);
    assert_eq!(status, 200, "{reply}");
}

const BEANS: (u64, &str) = (1, "Espresso beans");
const GRINDER: (u64, &str) = (2, "Hand grinder");
const FILTERS: (u64, &str) = (3, "Paper filters");
const MUG: (u64, &str) = (4, "Stoneware mug");

/// Ten customers buy beans with a grinder, six of them come back for filters 20 days later;
/// six others buy a mug alone. Counted by hand: 22 orders of 16 customers; beans with grinder
/// in 10 orders of 22 (support 0.4545, confidence 1, lift 2.2); filters after beans for 6 of
/// the 10 beans customers, of 16 (confidence 0.6, lift 0.6 / (6/16) = 1.6).
fn shop_history(server: &Server) {
    let mut n = 5000;
    for c in 0..10u64 {
        n += 1;
        paid(server, &order(n, 100 + c, 0, &[BEANS, GRINDER]), &format!("e{n}"));
        if c < 6 {
            n += 1;
            paid(server, &order(n, 100 + c, 20, &[FILTERS]), &format!("e{n}"));
        }
    }
    for c in 0..6u64 {
        n += 1;
        paid(server, &order(n, 200 + c, 2, &[MUG]), &format!("e{n}"));
    }
}

fn recommendations(server: &Server, extra: &[&str]) -> Value {
    let mut args = vec!["recommendations", "--shop", SHOP, "--json"];
    args.extend_from_slice(extra);
    let out = server.cli(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn learned_pairs_from_signed_orders_are_shown_with_their_counts_and_measures() {
    let server = Server::start();
    shop_history(&server);
    let found = recommendations(&server, &[]);
    assert_eq!(
        (found["orders"].as_u64(), found["customers"].as_u64()),
        (Some(22), Some(16))
    );
    let pairs = found["pairs"].as_array().unwrap();
    let pair = |product: &str, complement: &str, kind: &str| {
        pairs
            .iter()
            .find(|p| p["product"] == product && p["complement"] == complement && p["kind"] == kind)
            .unwrap_or_else(|| panic!("{product} → {complement} ({kind}) in {pairs:?}"))
    };
    let bg = pair("1", "2", "together");
    assert_eq!(bg["product_title"], "Espresso beans");
    assert_eq!(bg["complement_title"], "Hand grinder");
    assert_eq!(
        (
            bg["support"].as_str(),
            bg["confidence"].as_str(),
            bg["lift"].as_str()
        ),
        (Some("0.4545"), Some("1"), Some("2.2"))
    );
    assert_eq!(
        bg["counts"],
        json!({"both": 10, "with_product": 10, "with_complement": 10, "of": 22})
    );
    let bf = pair("1", "3", "in_sequence");
    assert_eq!(
        (bf["confidence"].as_str(), bf["lift"].as_str()),
        (Some("0.6"), Some("1.6"))
    );
    assert_eq!(
        bf["counts"],
        json!({"both": 6, "with_product": 10, "with_complement": 6, "of": 16})
    );
    assert!(
        pairs
            .iter()
            .all(|p| p["product"] != "4" && p["complement"] != "4"),
        "the mug goes alone"
    );
    let text = String::from_utf8(server.cli(&["recommendations", "--shop", SHOP]).stdout).unwrap();
    assert!(text.contains("from 22 counted orders of 16 customers"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("Espresso beans (1)") && l.contains("Paper filters (3)"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("in sequence") && row.contains("0.6") && row.contains("1.6"),
        "{row}"
    );

    // Two orders prove nothing: a shop whose minimum is met only by the big pair.
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!("shop = \"{SHOP}\"\n[flows.cross_sell]\nmin_orders = 7\n"),
    )
    .unwrap();
    assert!(
        server
            .cli(&["config", "load", file.to_str().unwrap()])
            .status
            .success()
    );
    let strict = recommendations(&server, &[]);
    let kinds: Vec<(&str, &str)> = strict["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["product"].as_str().unwrap(), p["complement"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("1", "2"), ("2", "1")],
        "6 customers are under 7; relearnt as the minimum changed"
    );
    assert_eq!(strict["min_orders"], 7);

    // shop/redact erases the learned pairs with the orders they came from.
    let body = br#"{"shop_id":954889,"shop_domain":"demo.myshopify.com"}"#;
    assert_eq!(post_shopify(&server, "shop/redact", "s-red", body).0, 200);
    let after = recommendations(&server, &[]);
    assert_eq!(after["pairs"], json!([]), "{after}");
    assert_eq!(after["orders"], 0);
}

#[test]
fn bad_arguments_to_recommendations_get_clear_errors() {
    let server = Server::start();
    let fails = |args: &[&str]| {
        let out = server.cli(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(
        fails(&["recommendations"]).contains("--shop"),
        "the shop is required"
    );
    let bad = fails(&["recommendations", "--shop", "not a shop"]);
    assert!(bad.contains("--shop"), "{bad}");
    let unknown = fails(&["recommendations", "--shop", SHOP, "--min-lift", "2"]);
    assert!(unknown.contains("--min-lift"), "{unknown}");
    let nowhere = tempfile::tempdir().unwrap();
    let missing = std::process::Command::new(binary())
        .args(["recommendations", "--shop", SHOP])
        .current_dir(nowhere.path())
        .env_remove("AFTERSALE_DATA_DIR")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("no store here") && said.contains("--data-dir"),
        "{said}"
    );
    let empty = String::from_utf8(server.cli(&["recommendations", "--shop", SHOP]).stdout).unwrap();
    assert!(
        empty.contains("from 0 counted orders of 0 customers")
            && empty.contains("No pair clears the minimums yet."),
        "{empty}"
    );
}

#[test]
fn simulate_and_outbox_show_the_suggestion_with_its_decision_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shop.toml");
    std::fs::write(
        &config,
        format!(
            "shop = \"{SHOP}\"\n[flows.cross_sell]\nenabled = true\nholdout_percent = 0\n\
             [[flows.cross_sell.complements]]\nproduct_id = \"1\"\nsuggest = \"9\"\ntitle = \"Coffee scale\"\n"
        ),
    )
    .unwrap();
    let line = |at: &str, body: Vec<u8>| {
        let body: Value = serde_json::from_slice(&body).unwrap();
        json!({"at": at, "platform": "shopify", "topic": "orders/paid", "shop": SHOP, "body": body})
            .to_string()
    };
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        [
            line("2022-01-01T09:00:00Z", order(7001, 71, 0, &[BEANS])),
            line("2022-01-01T09:00:00Z", order(7002, 72, 0, &[MUG])),
        ]
        .join("\n"),
    )
    .unwrap();
    let out = std::process::Command::new(binary())
        .args(["simulate", "--days-after", "40", "--events"])
        .arg(&events)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let at_its_day = |what: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("2022-01-31 10:00") && l.contains("cross-sell/suggest") && l.contains(what)
            })
            .unwrap_or_else(|| panic!("no cross-sell line with {what:?} on 2022-01-31 in\n{text}"))
            .to_string()
    };
    assert!(
        at_its_day("sent: ").contains("suggests Coffee scale (configured)"),
        "30 days after the order, 10:00: {text}"
    );
    at_its_day("skipped: nothing left to suggest");

    // The same on a store, in `outbox`, and a config error names its field.
    let server = Server::start();
    paid(&server, &order(7101, 81, 0, &[BEANS]), "e7101");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("shop = \"{SHOP}\"\n[flows.cross_sell]\nmin_orders = 2\n"),
    )
    .unwrap();
    // `config check` reads a file and no store, so it takes no `--data-dir`.
    let check = |file: &std::path::Path| {
        std::process::Command::new(binary())
            .args(["config", "check", file.to_str().unwrap()])
            .output()
            .expect("run aftersale")
    };
    let refused = check(&bad);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("flows.cross_sell.min_orders") && said.contains("two orders prove nothing"),
        "{said}"
    );
    std::fs::write(
        &bad,
        format!("shop = \"{SHOP}\"\n[flows.cross_sell]\nenabled = true\ndelay_days = 0\n"),
    )
    .unwrap();
    let said = String::from_utf8_lossy(&check(&bad).stderr).into_owned();
    assert!(said.contains("flows.cross_sell.delay_days"), "{said}");
    assert!(
        server
            .cli(&["config", "load", config.to_str().unwrap()])
            .status
            .success()
    );
    paid(&server, &order(7102, 82, 0, &[BEANS]), "e7102");
    let listen = server.base.trim_start_matches("http://");
    let tick = std::process::Command::new(binary())
        .args([
            "tick",
            "--now",
            "2022-01-31T10:00:00Z",
            "--listen",
            listen,
            "--data-dir",
        ])
        .arg(server.data_dir())
        .output()
        .unwrap();
    assert!(tick.status.success(), "{}", String::from_utf8_lossy(&tick.stderr));
    let outbox = String::from_utf8(server.cli(&["outbox"]).stdout).unwrap();
    let line = outbox
        .lines()
        .find(|l| l.contains("cross-sell/suggest") && l.contains("sent"))
        .unwrap_or_else(|| panic!("{outbox}"));
    assert!(line.contains("suggests Coffee scale (configured)"), "{line}");
}

/// The outbox's cross-sell suggestion of `customer`: its status and reason.
fn suggestion(server: &Server, customer: &str) -> (String, String) {
    let all = server.cli_json(&["outbox", "--json"]);
    let m = all
        .iter()
        .find(|m| m["flow"] == "cross-sell" && m["customer_id"] == customer)
        .unwrap_or_else(|| panic!("no suggestion for {customer} in {all:#?}"));
    (
        m["status"].as_str().unwrap_or_default().to_string(),
        m["reason"].as_str().unwrap_or_default().to_string(),
    )
}

fn tick_at(server: &Server, now: &str) {
    let listen = server.base.trim_start_matches("http://");
    let out = std::process::Command::new(binary())
        .args(["tick", "--now", now, "--listen", listen, "--data-dir"])
        .arg(server.data_dir())
        .env("SHOP_ADMIN_TOKEN", "shpat_local")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_suggestion_obeys_consent_the_cap_quiet_hours_and_suppression_and_its_code_is_for_the_suggested_product()
{
    let admin = support::shopify_admin::FakeShopifyAdmin::start();
    // Links signed by the ticks below must still be valid when followed.
    let server = Server::start_with(
        &["--now", "2022-01-04T12:00:00Z"],
        &[("SHOP_ADMIN_TOKEN", "shpat_local")],
    );
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!(
            "shop = \"{SHOP}\"\ntime_zone = \"UTC\"\n\
             [admin_api]\nbase_url = \"{}\"\naccess_token_secret = \"SHOP_ADMIN_TOKEN\"\n\
             [caps]\nmarketing_per_window = 1\nwindow_days = 30\n\
             [quiet_hours]\nstart = \"09:30\"\nend = \"10:30\"\napply_to_email = true\n\
             [flows.checkout_recovery]\nsecond_reminder_hours = 0\n\
             [flows.cross_sell]\nenabled = true\nholdout_percent = 0\ndiscount_percent = \"10\"\n\
             [[flows.cross_sell.complements]]\nproduct_id = \"1\"\nsuggest = \"9\"\ntitle = \"Coffee scale\"\n",
            admin.base
        ),
    )
    .unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Four customers buy beans on 1 January: 301 is free to hear from us, 302 never agreed
    // to marketing, 303 will have had a marketing email the day before, 304 unsubscribes.
    for c in [301, 303, 304] {
        paid(&server, &order(8000 + c, c, 0, &[BEANS]), &format!("e{c}"));
    }
    let mut no_consent: Value = serde_json::from_slice(&order(8302, 302, 0, &[BEANS])).unwrap();
    no_consent["customer"]["email_marketing_consent"] =
        json!({ "state": "not_subscribed", "opt_in_level": null });
    no_consent["buyer_accepts_marketing"] = json!(false);
    paid(&server, &serde_json::to_vec(&no_consent).unwrap(), "e302");

    // 304 unsubscribes with one click from the thank-you survey.
    tick_at(&server, "2022-01-04T12:00:00Z");
    let survey = support::mail::emails(&server)
        .into_iter()
        .find(|m| m.contains("c304@example.com>") && m.contains("List-Unsubscribe-Post"))
        .expect("304's survey with its unsubscribe");
    let unsubscribe = support::mail::list_unsubscribe(&server, &survey);
    let response = reqwest::blocking::Client::new()
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // 303 leaves a checkout behind on 30 January: its reminder is the one marketing email the
    // cap allows in 30 days.
    let mut checkout: Value = serde_json::from_slice(&fixture("shopify/checkouts_update.json")).unwrap();
    checkout["customer"]["id"] = json!(303);
    checkout["customer"]["email"] = json!("c303@example.com");
    checkout["email"] = json!("c303@example.com");
    checkout["created_at"] = json!("2022-01-30T08:00:00Z");
    checkout["updated_at"] = json!("2022-01-30T08:00:00Z");
    assert_eq!(
        post_shopify(
            &server,
            "checkouts/update",
            "k303",
            &serde_json::to_vec(&checkout).unwrap()
        )
        .0,
        200
    );
    tick_at(&server, "2022-01-30T11:00:00Z");
    let reminder = server
        .cli_json(&["outbox", "--json"])
        .into_iter()
        .find(|m| m["flow"] == "checkout-recovery" && m["customer_id"] == "303")
        .expect("303's reminder");
    assert_eq!(reminder["status"], "sent", "{reminder}");

    // 31 January, 10:00 (30 days on): inside quiet hours, so the suggestion waits; consent,
    // suppression and the cap decide the others.
    tick_at(&server, "2022-01-31T10:00:00Z");
    assert_eq!(
        suggestion(&server, "301"),
        ("planned".into(), "deferred: quiet hours".into())
    );
    assert_eq!(
        suggestion(&server, "302"),
        ("skipped".into(), "skipped: no consent".into())
    );
    assert_eq!(
        suggestion(&server, "304"),
        ("skipped".into(), "skipped: suppressed: unsubscribed".into())
    );
    assert!(admin.created().is_empty(), "no code before the send");

    // After quiet hours it goes, with a real code for the suggested product only.
    tick_at(&server, "2022-01-31T10:30:00Z");
    assert_eq!(suggestion(&server, "301"), ("sent".into(), "sent".into()));
    let (status, reason) = suggestion(&server, "303");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("skipped", "skipped: over frequency cap"),
        "303 had its one marketing email of the window, and room comes later than a suggestion waits"
    );
    let created = admin.created();
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(
        created[0]["customerGets"]["items"],
        json!({ "products": { "productsToAdd": ["gid://shopify/Product/9"] } }),
        "the bundle code takes its 10% off the suggested product"
    );
    let code = created[0]["code"].as_str().unwrap();
    let mail = support::mail::emails(&server)
        .into_iter()
        .find(|m| m.contains(code))
        .expect("301's suggestion");
    assert!(mail.contains("c301@example.com>"), "{mail}");
    assert!(
        mail.contains(&format!("here's 10% off it with the code {code}")),
        "{mail}"
    );
    let outbox = String::from_utf8(server.cli(&["outbox"]).stdout).unwrap();
    for (customer, says) in [
        ("301", "sent"),
        ("302", "skipped: no consent"),
        ("303", "skipped: over frequency cap"),
        ("304", "skipped: suppressed: unsubscribed"),
    ] {
        assert!(
            outbox
                .lines()
                .any(|l| l.contains("cross-sell/suggest") && l.contains(customer) && l.contains(says)),
            "{customer}: {says} in\n{outbox}"
        );
    }
}
