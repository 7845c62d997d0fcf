//! Cross-sell end to end on the embedded SQLite store: signed Shopify orders teach the shop's
//! pairs; a month after a counted order the customer hears about the best complement they do
//! not own, under the one sending policy; the learned pairs are re-learned on the schedule.

mod support;

use aftersale_domain::{Flow, MessageStatus};
use aftersale_rewards::{DiscountValue, UsageLimit};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use support::*;

use MessageStatus::{HeldOut, Sent, Skipped};

/// 2026-03-02 10:00 UTC, a Monday.
fn t0() -> DateTime<Utc> {
    at("2026-03-02T10:00:00Z")
}

fn day(n: i64) -> DateTime<Utc> {
    t0() + Duration::days(n)
}

const BEANS: (u64, &str) = (101, "Espresso beans");
const GRINDER: (u64, &str) = (102, "Hand grinder");
const FILTERS: (u64, &str) = (103, "Paper filters");
const MUG: (u64, &str) = (104, "Stoneware mug");

/// The documented paid order as order `id` of customer `customer`, placed at `at`, one line
/// per product; `subscribed` to email marketing or not.
fn order(id: u64, customer: u64, at: DateTime<Utc>, items: &[(u64, &str)], subscribed: bool) -> Vec<u8> {
    let mut o = fixture_json("shopify/orders_paid.json");
    let template = o["line_items"][0].clone();
    o["line_items"] = items
        .iter()
        .enumerate()
        .map(|(i, (product, title))| {
            let mut line = template.clone();
            line["id"] = json!(id * 10 + i as u64);
            line["product_id"] = json!(product);
            line["variant_id"] = json!(product * 10);
            line["title"] = json!(title);
            line["name"] = json!(title);
            line
        })
        .collect();
    o["id"] = json!(id);
    o["name"] = json!(format!("#{id}"));
    for field in ["created_at", "updated_at", "processed_at"] {
        o[field] = json!(at.to_rfc3339());
    }
    let email = format!("c{customer}@example.com");
    o["email"] = json!(email);
    o["contact_email"] = json!(email);
    o["customer"]["id"] = json!(customer);
    o["customer"]["email"] = json!(email);
    o["customer"]["first_name"] = json!(format!("Customer{customer}"));
    o["customer"]["email_marketing_consent"]["state"] = json!(if subscribed {
        "subscribed"
    } else {
        "not_subscribed"
    });
    bytes(&o)
}

const CROSS_SELL: &str = r#"
[flows.cross_sell]
enabled = true
holdout_percent = 0
"#;

/// Ten customers bought beans with a grinder 80 days before t0, six of them came back for
/// filters 20 days later, six others bought a mug alone (none of them subscribed, so their
/// own suggestions go nowhere). Beans → grinder: lift 2.2 (together); beans → filters: 1.6
/// (in sequence).
async fn shop_with_history(config: &str) -> Harness {
    let h = Harness::lifecycle(&[Flow::CrossSell]);
    h.save_config(&shop(), config).await;
    h.set_clock(day(-80));
    let mut n = 5000;
    for c in 0..10u64 {
        n += 1;
        h.shopify(
            "orders/paid",
            &order(n, 100 + c, day(-80), &[BEANS, GRINDER], false),
        )
        .await;
        if c < 6 {
            n += 1;
            h.shopify("orders/paid", &order(n, 100 + c, day(-60), &[FILTERS], false))
                .await;
        }
    }
    for c in 0..6u64 {
        n += 1;
        h.shopify("orders/paid", &order(n, 200 + c, day(-78), &[MUG], false))
            .await;
    }
    h
}

/// The suggestion planned for order `order`.
async fn about(h: &Harness, order: &str) -> aftersale_domain::Message {
    h.messages()
        .await
        .into_iter()
        .find(|m| m.flow() == Flow::CrossSell && m.subject == order)
        .unwrap_or_else(|| panic!("no cross-sell suggestion for order {order}"))
}

fn suggestion_of(h: &Harness, customer: u64) -> Option<aftersale_ports::OutgoingEmail> {
    let to = format!("c{customer}@example.com");
    h.emails(Flow::CrossSell, "suggest")
        .into_iter()
        .find(|e| e.to.address == to)
}

#[tokio::test]
async fn a_month_after_an_order_the_customer_hears_of_the_best_complement_they_do_not_own() {
    let h = shop_with_history(CROSS_SELL).await;
    h.set_clock(t0());
    // 900 buys beans; 901 buys beans but owns a grinder from before; 902 buys a mug.
    h.shopify("orders/paid", &order(9001, 900, t0(), &[BEANS], true))
        .await;
    h.shopify("orders/paid", &order(9011, 901, day(-40), &[GRINDER], true))
        .await;
    h.shopify("orders/paid", &order(9012, 901, t0(), &[BEANS], true))
        .await;
    h.shopify("orders/paid", &order(9021, 902, t0(), &[MUG], true))
        .await;

    let planned = about(&h, "9001").await;
    assert_eq!(
        planned.due_at,
        at("2026-04-01T10:00:00Z"),
        "30 days later, 10:00 in the shop's zone (UTC)"
    );
    assert!(
        h.engine.cross_sell_pairs(&shop()).await.unwrap().run.is_none(),
        "nothing is learned per event"
    );

    h.tick(day(29)).await;
    assert!(suggestion_of(&h, 900).is_none(), "not before its day");
    h.tick(day(30)).await;

    let email = suggestion_of(&h, 900).expect("900's suggestion");
    assert_eq!(
        email.subject,
        "Customer900, customers who loved Espresso beans often add this"
    );
    assert!(
        email
            .text
            .contains("Customers who loved it often add the Hand grinder."),
        "{}",
        email.text
    );
    assert!(
        email
            .text
            .contains("See the Hand grinder: https://demo.myshopify.com/cart/1020:1"),
        "{}",
        email.text
    );
    assert!(
        email.html.contains("Unsubscribe"),
        "marketing carries its unsubscribe"
    );
    let next = suggestion_of(&h, 901).expect("901's suggestion");
    assert!(
        next.text.contains("often add the Paper filters."),
        "901 owns a grinder: {}",
        next.text
    );

    let sent = about(&h, "9001").await;
    assert_outcome(&sent, Sent, "sent");
    assert_eq!(
        sent.details()["chosen_by"],
        "learned, bought together: lift 1.97, confidence 0.83, 10 of 12 orders",
        "10 × 26 / (12 × 11): the new beans orders (900, 901) and 901's grinder count too"
    );
    let mug = about(&h, "9021").await;
    assert_outcome(&mug, Skipped, "skipped: nothing left to suggest");
    // Learned once, in the tick, from the counted orders (the suggestions' own orders too).
    let run = h
        .engine
        .cross_sell_pairs(&shop())
        .await
        .unwrap()
        .run
        .expect("learned on the schedule");
    assert_eq!(
        (run.orders, run.customers, run.learned_at),
        (26, 19, day(30)),
        "learned at day 29's tick, and again at day 30's, a day later"
    );

    // Exactly once: a later tick sends nothing more.
    h.tick(day(31)).await;
    assert_eq!(h.emails(Flow::CrossSell, "suggest").len(), 2);
}

#[tokio::test]
async fn configured_complements_win_and_a_newer_order_replaces_the_pending_suggestion() {
    let config = format!(
        "{CROSS_SELL}[[flows.cross_sell.complements]]\nproduct_id = \"101\"\nsuggest = \"777\"\ntitle = {{ en = \"Coffee scale\", it = \"Bilancia da caffè\" }}\nurl = \"https://demo.myshopify.com/products/scale\"\n"
    );
    let h = shop_with_history(&config).await;
    h.set_clock(t0());
    h.shopify("orders/paid", &order(9101, 910, t0(), &[MUG], true))
        .await;
    h.set_clock(day(2));
    h.shopify("orders/paid", &order(9102, 910, day(2), &[BEANS], true))
        .await;
    let replaced = about(&h, "9101").await;
    assert_outcome(
        &replaced,
        Skipped,
        "skipped: a newer order's suggestion replaces it",
    );

    h.tick(day(32)).await;
    let email = suggestion_of(&h, 910).expect("910's suggestion");
    assert!(
        email.text.contains("often add the Coffee scale."),
        "{}",
        email.text
    );
    assert!(
        email.text.contains("https://demo.myshopify.com/products/scale"),
        "{}",
        email.text
    );
    assert_eq!(about(&h, "9102").await.details()["chosen_by"], "configured");
}

#[tokio::test]
async fn the_sending_policy_holds_consent_refunds_holdout_and_a_real_single_use_code() {
    let config = "[admin_api]\naccess_token_secret = \"SHOPIFY_ADMIN_TOKEN\"\n[flows.cross_sell]\nenabled = true\nholdout_percent = 0\ndiscount_percent = \"10\"\n";
    let h = shop_with_history(config).await;
    h.set_clock(t0());
    h.shopify("orders/paid", &order(9201, 920, t0(), &[BEANS], true))
        .await;
    h.shopify("orders/paid", &order(9211, 921, t0(), &[BEANS], false))
        .await;
    h.shopify("orders/paid", &order(9221, 922, t0(), &[BEANS], true))
        .await;
    let refund = {
        let mut r = fixture_json("shopify/refunds_create.json");
        r["id"] = json!(89221);
        r["order_id"] = json!(9221);
        r["created_at"] = json!(day(3).to_rfc3339());
        r["processed_at"] = json!(day(3).to_rfc3339());
        r["transactions"] =
            json!([{"id": 1, "kind": "refund", "status": "success", "amount": "10000", "currency": "USD"}]);
        r
    };
    h.set_clock(day(3));
    h.shopify("refunds/create", &bytes(&refund)).await;

    h.tick(day(30)).await;
    let email = suggestion_of(&h, 920).expect("920's suggestion");
    let code = about(&h, "9201").await.details()["offer_code"].clone();
    assert!(code.starts_with("ADD-"), "{code}");
    assert!(
        email.text.contains(&format!("10% off it with the code {code}")),
        "{}",
        email.text
    );
    let created = h.discounts.created();
    assert_eq!(
        created.len(),
        1,
        "one real code, for the one suggestion sent: {created:?}"
    );
    assert_eq!(created[0].code.as_str(), code);
    assert_eq!(created[0].usage, UsageLimit::SingleUse);
    let suggested = about(&h, "9201").await.details()["complement_id"].clone();
    assert_eq!(
        created[0].products,
        [suggested],
        "the code is for the suggested product, not the whole order"
    );
    assert!(matches!(created[0].value, DiscountValue::Percentage(p) if p == "10".parse().unwrap()));
    assert_outcome(&about(&h, "9211").await, Skipped, "skipped: no consent");
    assert_outcome(&about(&h, "9221").await, Skipped, "skipped: refunded");

    // Everyone held out: decided like the others, recorded, never sent; counted in the funnel.
    let held = shop_with_history("[flows.cross_sell]\nenabled = true\nholdout_percent = 100\n").await;
    held.set_clock(t0());
    held.shopify("orders/paid", &order(9301, 930, t0(), &[BEANS], true))
        .await;
    held.tick(day(30)).await;
    assert!(suggestion_of(&held, 930).is_none());
    let m = about(&held, "9301").await;
    assert_eq!(m.status, HeldOut, "{m:#?}");
    let report = aftersale_metrics::shop_report(held.store.as_ref(), &shop(), Default::default(), day(31))
        .await
        .unwrap()
        .to_json();
    let funnel: &Value = &report["flows"]["cross-sell"];
    assert_eq!(funnel["held_out"], 1, "{funnel}");
    assert_eq!(
        funnel["planned"], 23,
        "the 22 orders of the history and 9301: {funnel}"
    );
}
