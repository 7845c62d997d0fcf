//! Flows II end to end on the embedded SQLite store: replenishment, win-back, VIP tiers with
//! early access, and referrals. Orders are signed Shopify webhooks built from the documented
//! fixture; ticks run on a manual clock; discount codes go to an in-memory Admin API.

mod support;

use aftersale_domain::flows::vip::{TierName, TierStatus};
use aftersale_domain::{Flow, Message, MessageClass, MessageStatus};
use aftersale_rewards::{CustomerEligibility, DiscountError, DiscountValue, UsageLimit};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use support::*;

use MessageStatus::{Planned, Sent, Skipped};

/// 2026-03-02 10:00 UTC, a Monday, outside quiet hours.
fn t0() -> DateTime<Utc> {
    at("2026-03-02T10:00:00Z")
}

fn day(n: i64) -> DateTime<Utc> {
    t0() + Duration::days(n)
}

/// A paid Shopify order built from the documented fixture.
struct Order {
    id: String,
    customer: String,
    email: String,
    at: DateTime<Utc>,
    /// (product id, quantity, unit price)
    lines: Vec<(&'static str, u32, &'static str)>,
    codes: Vec<String>,
    ip: Option<&'static str>,
    address: &'static str,
    subscribed: bool,
}

fn order(id: &str, customer: &str, at: DateTime<Utc>, lines: &[(&'static str, u32, &'static str)]) -> Order {
    Order {
        id: id.into(),
        customer: customer.into(),
        email: format!("c{customer}@example.com"),
        at,
        lines: lines.to_vec(),
        codes: Vec::new(),
        ip: None,
        address: "1 Main Street",
        subscribed: true,
    }
}

impl Order {
    fn total(&self) -> Decimal {
        self.lines
            .iter()
            .map(|(_, q, p)| Decimal::from(*q) * p.parse::<Decimal>().unwrap())
            .sum()
    }

    fn json(&self) -> Value {
        let mut o = fixture_json("shopify/orders_paid.json");
        let template = o["line_items"][0].clone();
        let lines: Vec<Value> = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, (product, quantity, price))| {
                let mut line = template.clone();
                line["id"] = json!(format!("{}{i}", self.id).parse::<u64>().unwrap());
                line["product_id"] = json!(product.parse::<u64>().unwrap());
                line["variant_id"] = json!(format!("{product}1").parse::<u64>().unwrap());
                line["title"] = json!(format!("Product {product}"));
                line["name"] = json!(format!("Product {product}"));
                line["quantity"] = json!(quantity);
                line["current_quantity"] = json!(quantity);
                line["price"] = json!(price);
                line
            })
            .collect();
        let total = self.total().to_string();
        let when = self.at.to_rfc3339();
        o["id"] = json!(self.id.parse::<u64>().unwrap());
        o["name"] = json!(format!("#{}", self.id));
        for field in ["created_at", "updated_at", "processed_at"] {
            o[field] = json!(when);
        }
        for field in [
            "total_price",
            "subtotal_price",
            "current_total_price",
            "current_subtotal_price",
        ] {
            o[field] = json!(total);
        }
        o["total_discounts"] = json!("0.00");
        o["line_items"] = json!(lines);
        o["email"] = json!(self.email);
        o["contact_email"] = json!(self.email);
        o["customer"]["id"] = json!(self.customer.parse::<u64>().unwrap());
        o["customer"]["email"] = json!(self.email);
        o["customer"]["first_name"] = json!(format!("Customer{}", self.customer));
        o["customer"]["email_marketing_consent"]["state"] = json!(if self.subscribed {
            "subscribed"
        } else {
            "not_subscribed"
        });
        o["discount_codes"] = json!(
            self.codes
                .iter()
                .map(|c| json!({"code": c, "amount": "1.00", "type": "percentage"}))
                .collect::<Vec<_>>()
        );
        o["browser_ip"] = json!(self.ip);
        o["shipping_address"]["address1"] = json!(self.address);
        o
    }
}

impl Harness {
    async fn pay(&self, order: &Order) {
        self.shopify("orders/paid", &bytes(&order.json())).await;
    }

    async fn ship(&self, order_id: &str, at: DateTime<Utc>) {
        let mut f = fixture_json("shopify/fulfillments_create.json");
        f["id"] = json!(format!("9{order_id}").parse::<u64>().unwrap());
        f["order_id"] = json!(order_id.parse::<u64>().unwrap());
        f["created_at"] = json!(at.to_rfc3339());
        f["updated_at"] = json!(at.to_rfc3339());
        self.shopify("fulfillments/create", &bytes(&f)).await;
    }

    async fn refund(&self, order_id: &str, amount: &str, at: DateTime<Utc>) -> aftersale_ingest::Reply {
        let mut r = fixture_json("shopify/refunds_create.json");
        r["id"] = json!(format!("8{order_id}").parse::<u64>().unwrap());
        r["order_id"] = json!(order_id.parse::<u64>().unwrap());
        r["created_at"] = json!(at.to_rfc3339());
        r["processed_at"] = json!(at.to_rfc3339());
        r["transactions"] =
            json!([{"id": 1, "kind": "refund", "status": "success", "amount": amount, "currency": "USD"}]);
        self.shopify("refunds/create", &bytes(&r)).await
    }

    /// The message of `flow`/`step` about `subject`.
    async fn about(&self, flow: Flow, step: &str, subject: &str) -> Message {
        let all = self.of(flow, step).await;
        all.into_iter()
            .find(|m| m.subject == subject)
            .unwrap_or_else(|| panic!("no {flow}/{step} about {subject}"))
    }

    /// The one message of `flow`/`step` for `customer`.
    async fn one(&self, flow: Flow, step: &str, customer: &str) -> Message {
        let mut found: Vec<Message> = self
            .of(flow, step)
            .await
            .into_iter()
            .filter(|m| m.customer_id.as_str() == customer)
            .collect();
        assert_eq!(found.len(), 1, "{flow}/{step} of {customer}: {found:#?}");
        found.remove(0)
    }

    async fn of(&self, flow: Flow, step: &str) -> Vec<Message> {
        let mut found: Vec<Message> = self
            .messages()
            .await
            .into_iter()
            .filter(|m| m.flow() == flow && m.step.as_str() == step)
            .collect();
        found.sort_by_key(|m| (m.customer_id.to_string(), m.due_at));
        found
    }
}

/// These tests are about what a reminder says and when, so nobody is held out (customer 11
/// falls in the default 5% holdout; `a_held_out_customer_...` below is about that).
const REPLENISH: &str = r#"
[flows.replenishment]
holdout_percent = 0
lead_days = 5
follow_up_after_days = 4
[[flows.replenishment.supply]]
product_id = "501"
days_per_unit = 30
[[flows.replenishment.complements]]
product_id = "501"
suggest = "777"
title = "Ceramic dripper"
url = "https://demo.myshopify.com/products/dripper"
"#;

/// An order event refreshes the customer's funnel figures once, after all its flows have
/// planned and withdrawn: the owner's figures must still count every message, as a rebuild
/// from the records does.
#[tokio::test]
async fn every_message_an_order_plans_or_withdraws_is_in_the_funnels_as_a_rebuild_counts_it() {
    let h = Harness::lifecycle(&[
        Flow::ThankYou,
        Flow::ReviewRequest,
        Flow::Replenishment,
        Flow::WinBack,
    ]);
    h.save_config(&shop(), REPLENISH).await;
    h.set_clock(t0());
    h.pay(&order("1001", "11", t0(), &[("501", 2, "12.00")])).await;
    h.set_clock(day(57));
    // The reorder plans again and withdraws the first order's follow-up.
    h.pay(&order("1002", "11", day(57), &[("501", 1, "12.00")])).await;

    let messages = h.messages().await;
    let count = |flow: Flow, status: Option<MessageStatus>| {
        messages
            .iter()
            .filter(|m| m.flow() == flow && status.is_none_or(|s| m.status == s))
            .count()
    };
    assert!(count(Flow::Replenishment, Some(Skipped)) >= 1, "{messages:#?}");
    let figures = || async {
        aftersale_metrics::shop_report(h.store.as_ref(), &shop(), Default::default(), day(58))
            .await
            .unwrap()
            .to_json()
    };
    let live = figures().await;
    for flow in [
        Flow::ThankYou,
        Flow::ReviewRequest,
        Flow::Replenishment,
        Flow::WinBack,
    ] {
        let funnel = &live["flows"][flow.as_str()];
        assert_eq!(
            funnel["planned"],
            count(flow, None),
            "{flow}: every message planned is counted: {funnel}"
        );
    }
    assert_eq!(
        live["flows"]["replenishment"]["skipped"]["reordered"],
        count(Flow::Replenishment, Some(Skipped)),
        "{live}"
    );
    aftersale_metrics::rollups::rebuild(h.store.as_ref(), &shop())
        .await
        .unwrap();
    assert_eq!(figures().await, live, "the figures kept live are a rebuild's");
}

#[tokio::test]
async fn a_replenishment_reminder_goes_before_run_out_and_a_reorder_withdraws_the_follow_up() {
    let h = Harness::lifecycle(&[Flow::Replenishment]);
    h.save_config(&shop(), REPLENISH).await;
    h.set_clock(t0());
    h.pay(&order("1001", "11", t0(), &[("501", 2, "12.00")])).await;

    // 2 units × 30 days = run-out at day 60; reminder 5 days before, follow-up 4 days after.
    let reminder = h.message(Flow::Replenishment, "reminder").await;
    assert_eq!(
        (reminder.due_at, reminder.class),
        (day(55), MessageClass::Marketing)
    );
    assert_eq!(reminder.details()["supply"], "configured");
    assert_eq!(h.message(Flow::Replenishment, "follow-up").await.due_at, day(59));

    // Planning is idempotent: the same webhook again (a retry) stores nothing new.
    h.pay(&order("1001", "11", t0(), &[("501", 2, "12.00")])).await;
    assert_eq!(h.messages().await.len(), 2);

    assert_eq!(h.tick(day(54)).await.sent, 0, "not due yet");
    assert_eq!(h.tick(day(55) + Duration::minutes(1)).await.sent, 1);
    let email = h.email(Flow::Replenishment, "reminder");
    assert_eq!(email.to.address, "c11@example.com");
    assert!(email.text.contains("Product 501"), "{}", email.text);
    assert!(
        email.text.contains("around Friday, 1 May."),
        "run-out date: {}",
        email.text
    );
    assert!(
        email.text.contains("https://demo.myshopify.com/cart/5011:2"),
        "{}",
        email.text
    );
    assert!(
        email.text.contains("Ceramic dripper"),
        "complete the set: {}",
        email.text
    );
    assert!(header(&email, "List-Unsubscribe").is_some());

    // The customer reorders before the follow-up: it is withdrawn at once.
    h.set_clock(day(57));
    h.pay(&order("1002", "11", day(57), &[("501", 1, "12.00")])).await;
    let follow_up = h
        .of(Flow::Replenishment, "follow-up")
        .await
        .into_iter()
        .find(|m| m.order_id.as_ref().unwrap().as_str() == "1001")
        .unwrap();
    assert_eq!(
        (follow_up.status, follow_up.reason.to_string().as_str()),
        (Skipped, "skipped: reordered")
    );
    h.tick(day(60)).await;
    assert_eq!(h.emails(Flow::Replenishment, "follow-up").len(), 0);
}

#[tokio::test]
async fn a_reminder_writes_its_date_and_suggestion_in_each_customers_language_and_zone() {
    let h = Harness::lifecycle(&[Flow::Replenishment]);
    // Kiritimati is UTC+14: a run-out at 10:00 UTC on Friday 1 May is already Saturday there.
    let config = REPLENISH
        .replace(
            r#"title = "Ceramic dripper""#,
            r#"title = { en = "Ceramic dripper", it = "Dripper in ceramica" }"#,
        )
        .replace(
            "[flows.replenishment]",
            "time_zone = \"Pacific/Kiritimati\"\n[flows.replenishment]",
        );
    h.save_config(&shop(), &config).await;
    h.set_clock(t0());
    for (customer, locale) in [("11", "it"), ("12", "en")] {
        let mut paid = order(&format!("10{customer}"), customer, t0(), &[("501", 2, "12.00")]).json();
        paid["customer_locale"] = json!(locale);
        h.shopify("orders/paid", &bytes(&paid)).await;
    }
    assert_eq!(h.tick(day(55) + Duration::minutes(1)).await.sent, 2);
    let emails = h.emails(Flow::Replenishment, "reminder");
    let to = |address: &str| emails.iter().find(|e| e.to.address == address).unwrap();

    let it = to("c11@example.com");
    assert!(
        it.text
            .contains("potresti rimanerne senza verso sabato 2 maggio."),
        "{}",
        it.text
    );
    assert!(
        it.text.contains(
            "potrebbe piacerti anche \"Dripper in ceramica\": https://demo.myshopify.com/products/dripper"
        ),
        "{}",
        it.text
    );
    let en = to("c12@example.com");
    assert!(
        en.text.contains("you may be running low around Saturday, 2 May."),
        "{}",
        en.text
    );
    assert!(
        en.text.contains("you might also like the Ceramic dripper: "),
        "{}",
        en.text
    );
    for email in [it, en] {
        assert!(
            !email.text.contains("2026-05") && !email.html.contains("2026-05"),
            "{}",
            email.text
        );
    }
}

#[tokio::test]
async fn replenishment_is_skipped_after_a_refund_or_without_consent() {
    let h = Harness::lifecycle(&[Flow::Replenishment]);
    h.save_config(&shop(), REPLENISH).await;
    h.set_clock(t0());
    h.pay(&order("2001", "21", t0(), &[("501", 1, "12.00")])).await;
    h.pay(&Order {
        subscribed: false,
        ..order("2002", "22", t0(), &[("501", 1, "12.00")])
    })
    .await;
    h.refund("2001", "12.00", day(3)).await;

    h.tick(day(26)).await;
    let reasons: Vec<(String, String)> = h
        .of(Flow::Replenishment, "reminder")
        .await
        .into_iter()
        .map(|m| (m.customer_id.to_string(), m.reason.to_string()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("21".to_string(), "skipped: refunded".to_string()),
            ("22".to_string(), "skipped: no consent".to_string())
        ]
    );
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn replenishment_learns_the_median_supply_from_the_shops_repeat_purchases() {
    let h = Harness::lifecycle(&[Flow::Replenishment]);
    h.save_config(&shop(), "[flows.replenishment]\nmin_samples = 5\nlead_days = 3\n")
        .await;
    // Seven customers rebuy tea after 20, 22, 24, 26, 28, 30, 32 days: the median is 26.
    // One buys two bags and comes back after 52 days: 26 per unit, the same lesson.
    for (i, gap) in [20i64, 22, 24, 26, 28, 30, 32].iter().enumerate() {
        let customer = format!("3{i}");
        h.set_clock(t0());
        h.pay(&order(&format!("3{i}01"), &customer, t0(), &[("600", 1, "9.00")]))
            .await;
        h.set_clock(day(*gap));
        h.pay(&order(
            &format!("3{i}02"),
            &customer,
            day(*gap),
            &[("600", 1, "9.00")],
        ))
        .await;
    }
    h.set_clock(t0());
    h.pay(&order("3801", "38", t0(), &[("600", 2, "9.00")])).await;
    h.set_clock(day(52));
    h.pay(&order("3802", "38", day(52), &[("600", 1, "9.00")])).await;
    h.set_clock(day(100));
    h.pay(&order("3901", "39", day(100), &[("600", 1, "9.00")])).await;

    let reminder = h
        .of(Flow::Replenishment, "reminder")
        .await
        .into_iter()
        .find(|m| m.customer_id.as_str() == "39")
        .expect("a reminder from the learned supply");
    assert_eq!(reminder.due_at, day(100) + Duration::days(26 - 3));
    assert_eq!(reminder.details()["supply"], "learned from 8 repeat purchases");
}

const WINBACK: &str = r#"
[admin_api]
access_token_secret = "SHOPIFY_ADMIN_TOKEN"
[flows.win_back]
window_days = 60
[flows.win_back.incentives]
recent_first_timer = { discount = "10" }
"#;

#[tokio::test]
async fn a_lapsed_first_timer_gets_four_steps_with_a_real_code_and_an_order_stops_them() {
    let h = Harness::lifecycle(&[Flow::WinBack]);
    h.save_config(&shop(), WINBACK).await;
    h.set_clock(t0() - Duration::days(1));
    // Ten bigger spenders, so customer 41 is not in the top 10% by spend.
    for i in 0..10 {
        h.pay(&order(
            &format!("40{i}0"),
            &format!("40{i}"),
            t0() - Duration::days(1),
            &[("700", 1, "100.00")],
        ))
        .await;
    }
    // Three of them came back for product 700: the social proof's number. Customer 400 spent
    // the most, alone at the top: the shop's one high-value customer (11 × 10% = 1 seat).
    for i in 0..3 {
        let at = t0() - Duration::hours(12);
        let price = if i == 0 { "300.00" } else { "100.00" };
        h.pay(&order(
            &format!("49{i}1"),
            &format!("40{i}"),
            at,
            &[("700", 1, price)],
        ))
        .await;
    }
    h.set_clock(t0());
    h.pay(&order("4001", "41", t0(), &[("700", 1, "30.00")])).await;

    // The due index holds the lapse: the value step at the last order + 60 days.
    let value = h.one(Flow::WinBack, "value", "41").await;
    assert_eq!((value.subject.as_str(), value.due_at), ("4001", day(60)));

    h.tick(day(60) + Duration::minutes(5)).await;
    assert_eq!(h.one(Flow::WinBack, "value", "41").await.status, Sent);
    let offer = h.one(Flow::WinBack, "offer", "41").await;
    assert_eq!(offer.due_at, day(64));
    assert_eq!(
        offer.details()["incentive"],
        "discount",
        "a recent first-timer gets a small discount"
    );
    assert_eq!(offer.details()["discount_percent"], "10");
    let code = offer.details()["offer_code"].clone();
    assert!(code.starts_with("BACK-"), "{code}");
    let social_proof = h.one(Flow::WinBack, "social-proof", "41").await;
    assert_eq!(social_proof.due_at, day(70));
    assert_eq!(
        social_proof.products[0].title, "Product 700",
        "what they bought last"
    );
    assert_eq!(
        social_proof.details()["repeat_buyers"],
        "3",
        "customers who came back for it"
    );
    assert_eq!(h.one(Flow::WinBack, "last-call", "41").await.due_at, day(77));
    let big = h
        .of(Flow::WinBack, "offer")
        .await
        .into_iter()
        .find(|m| m.customer_id.as_str() == "400")
        .unwrap();
    assert_eq!(
        big.details()["incentive"],
        "early_access",
        "high value gets recognition, not a discount"
    );
    let their_proof = h.one(Flow::WinBack, "social-proof", "400").await;
    assert_eq!(
        their_proof.details()["repeat_buyers"],
        "2",
        "customer 400 came back for it too, but is not told about themself"
    );

    // The offer creates the code in the shop before it is sent, and states it.
    h.tick(day(64) + Duration::minutes(5)).await;
    // (The seven one-order customers outside the top spenders get one too.)
    let created: Vec<_> = h
        .discounts
        .created()
        .into_iter()
        .filter(|d| d.code.as_str() == code)
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].value, DiscountValue::Percentage(Decimal::TEN));
    assert_eq!(created[0].usage, UsageLimit::SingleUse);
    let offers = h.emails(Flow::WinBack, "offer");
    assert!(
        offers
            .iter()
            .any(|e| e.to.address == "c41@example.com" && e.text.contains(&code))
    );

    // Ordering again ends the sequence at once.
    h.set_clock(day(66));
    h.pay(&order("4002", "41", day(66), &[("700", 1, "30.00")])).await;
    for step in ["social-proof", "last-call"] {
        let m = h.one(Flow::WinBack, step, "41").await;
        assert_eq!(
            (m.status, m.reason.to_string().as_str()),
            (Skipped, "skipped: ordered again"),
            "{step}"
        );
    }
    // ...and plans the next lapse, once, from the new last order.
    let next: Vec<Message> = h
        .of(Flow::WinBack, "value")
        .await
        .into_iter()
        .filter(|m| m.customer_id.as_str() == "41" && m.status == Planned)
        .collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].due_at, day(126));
    h.tick(day(80)).await;
    assert!(
        !h.emails(Flow::WinBack, "last-call")
            .iter()
            .any(|e| e.to.address == "c41@example.com")
    );
}

#[tokio::test]
async fn the_lapse_window_is_learned_from_the_shops_gaps_between_orders() {
    let h = Harness::lifecycle(&[Flow::WinBack]);
    h.save_config(
        &shop(),
        "[flows.win_back]\nmin_samples = 10\nwindow_percentile = 80\n",
    )
    .await;
    // Ten customers come back after 10, 20, ..., 100 days: the 80th percentile is 80 days.
    for i in 1..=10i64 {
        let customer = format!("5{i:02}");
        h.set_clock(t0());
        h.pay(&order(
            &format!("5{i:02}1"),
            &customer,
            t0(),
            &[("800", 1, "5.00")],
        ))
        .await;
        h.set_clock(day(i * 10));
        h.pay(&order(
            &format!("5{i:02}2"),
            &customer,
            day(i * 10),
            &[("800", 1, "5.00")],
        ))
        .await;
    }
    h.set_clock(day(200));
    h.pay(&order("5991", "599", day(200), &[("800", 1, "5.00")]))
        .await;
    let value = h
        .of(Flow::WinBack, "value")
        .await
        .into_iter()
        .find(|m| m.customer_id.as_str() == "599")
        .unwrap();
    assert_eq!(value.due_at, day(280));
    assert_eq!(value.details()["window_days"], "80");
}

const VIP: &str = r#"
time_zone = "Europe/Rome"
[flows.vip]
grace_days = 30
[[flows.vip.tiers]]
name = "Silver"
min_orders = 2
[[flows.vip.tiers]]
name = "Gold"
min_net_spend = { amount = "500", currency = "USD" }
"#;

#[tokio::test]
async fn entering_a_tier_is_recognised_and_a_refund_lowers_it_quietly_after_the_grace() {
    let h = Harness::lifecycle(&[Flow::Vip]);
    h.save_config(&shop(), VIP).await;
    h.set_clock(t0());
    h.pay(&order("6001", "61", t0(), &[("900", 1, "100.00")])).await;
    assert!(
        h.of(Flow::Vip, "tier-entered").await.is_empty(),
        "one order is no tier"
    );

    h.set_clock(day(10));
    h.pay(&order("6002", "61", day(10), &[("900", 1, "450.00")]))
        .await;
    let entered = h.of(Flow::Vip, "tier-entered").await;
    assert_eq!(entered.len(), 1, "straight to Gold: {entered:#?}");
    assert_eq!(entered[0].details()["tier"], "Gold");
    h.tick(day(10) + Duration::minutes(1)).await;
    let email = h.email(Flow::Vip, "tier-entered");
    assert!(email.text.contains("Gold"), "{}", email.text);
    // Tier members are greeted on the anniversary of their first order, at 10:00 in Rome.
    let anniversary = h.message(Flow::Vip, "anniversary").await;
    assert_eq!(anniversary.due_at, at("2027-03-02T09:00:00Z"));

    // A refund takes them below Gold: they keep it through the grace, then drop quietly.
    h.set_clock(day(20));
    h.refund("6002", "450.00", day(20)).await;
    h.set_clock(day(51));
    h.pay(&order("6003", "61", day(51), &[("900", 1, "10.00")])).await;
    let entered = h.of(Flow::Vip, "tier-entered").await;
    assert_eq!(entered.len(), 1, "no message for a lowered tier: {entered:#?}");
    let tier = aftersale_ports::documents::load::<TierStatus, _>(
        h.store.as_ref(),
        &shop(),
        &aftersale_ports::documents::keys::customer_tier(&customer("61")),
    )
    .await
    .unwrap()
    .unwrap()
    .value;
    assert_eq!(
        tier.tier,
        Some(TierName("Silver".into())),
        "3 orders, $560 less $450 refunded"
    );
    h.tick(day(52)).await;
    assert_eq!(h.emails(Flow::Vip, "tier-entered").len(), 1);
}

#[tokio::test]
async fn an_early_access_campaign_reaches_its_tiers_first_and_never_after_the_launch() {
    let h = Harness::lifecycle(&[Flow::Vip, Flow::EarlyAccess]);
    h.save_config(&shop(), VIP).await;
    h.set_clock(t0());
    h.pay(&order("7001", "71", t0(), &[("900", 1, "600.00")])).await; // Gold
    h.pay(&order("7002", "72", t0(), &[("900", 1, "20.00")])).await; // no tier
    h.tick(t0() + Duration::minutes(1)).await;

    let launch = at("2026-03-20T08:00:00Z");
    let report = h
        .engine
        .create_campaign(
            &shop(),
            "Spring drop",
            launch,
            3,
            vec![TierName("Gold".into())],
            "New roasts.",
        )
        .await
        .unwrap();
    assert_eq!(report.invited, 1);
    let you_first = h.message(Flow::EarlyAccess, "you-first").await;
    assert_eq!(you_first.customer_id.as_str(), "71");
    // 10:00 in Rome three days before the launch day.
    assert_eq!(you_first.due_at, at("2026-03-17T09:00:00Z"));
    let again = h
        .engine
        .create_campaign(
            &shop(),
            "Spring drop",
            launch,
            3,
            vec![TierName("Gold".into())],
            "Again",
        )
        .await;
    assert!(again.unwrap_err().to_string().contains("already exists"));
    let unknown = h
        .engine
        .create_campaign(
            &shop(),
            "Other",
            launch,
            3,
            vec![TierName("Platinum".into())],
            "x",
        )
        .await;
    assert!(unknown.unwrap_err().to_string().contains("Platinum"));

    h.tick(at("2026-03-17T09:01:00Z")).await;
    let email = h.email(Flow::EarlyAccess, "you-first");
    assert!(email.text.contains("New roasts."), "{}", email.text);
    assert!(email.text.contains("Spring drop"), "{}", email.text);

    // A campaign whose messages fall due after the launch sends nothing.
    let late = h
        .engine
        .create_campaign(
            &shop(),
            "Flash",
            at("2026-03-18T12:00:00Z"),
            1,
            vec![TierName("Gold".into())],
            "Hi",
        )
        .await
        .unwrap();
    assert_eq!(late.invited, 1);
    h.tick(at("2026-03-18T12:30:00Z")).await;
    let flash = h
        .of(Flow::EarlyAccess, "you-first")
        .await
        .into_iter()
        .find(|m| m.subject == "flash")
        .unwrap();
    assert_eq!(
        (flash.status, flash.reason.to_string().as_str()),
        (Skipped, "skipped: already public")
    );
}

const REFERRAL: &str = r#"
[admin_api]
access_token_secret = "SHOPIFY_ADMIN_TOKEN"
[flows.referral]
enabled = true
eligible_after = "paid"
holding_days = 14
max_orders_per_ip = 2
"#;

/// The advocate (customer 81) gets a code and shares it; returns the code.
async fn advocate_with_code(h: &Harness) -> String {
    h.save_config(&shop(), REFERRAL).await;
    h.set_clock(t0());
    h.pay(&Order {
        address: "8 Advocate Road",
        ..order("8001", "81", t0(), &[("950", 1, "40.00")])
    })
    .await;
    let share = h.message(Flow::Referral, "share").await;
    let code = share.details()["code"].clone();
    assert!(code.starts_with("FRIEND-"), "{code}");
    h.tick(t0() + Duration::minutes(1)).await;
    let created = h.discounts.created();
    assert_eq!(created.len(), 1, "the shared code is a real discount first");
    // By default a friend code serves first orders only, at most 50 of them.
    assert_eq!(
        (
            created[0].code.as_str(),
            created[0].usage,
            created[0].customers.clone()
        ),
        (
            code.as_str(),
            UsageLimit::OncePerCustomer {
                max_total: std::num::NonZeroU32::new(50)
            },
            CustomerEligibility::FirstOrderOnly
        )
    );
    assert!(h.email(Flow::Referral, "share").text.contains(&code));
    code
}

#[tokio::test]
async fn a_friend_code_serves_anyone_when_first_order_only_is_off() {
    let h = Harness::lifecycle(&[Flow::Referral]);
    let config = format!("{REFERRAL}friend_code_first_order_only = false\n");
    h.save_config(&shop(), &config).await;
    h.set_clock(t0());
    h.pay(&order("8001", "81", t0(), &[("950", 1, "40.00")])).await;
    h.tick(t0() + Duration::minutes(1)).await;
    let created = h.discounts.created();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].customers, CustomerEligibility::Anyone);
    assert_eq!(created[0].usage, UsageLimit::OncePerCustomer { max_total: None });
}

#[tokio::test]
async fn a_friends_order_with_the_code_earns_a_real_reward_after_the_holding_period() {
    let h = Harness::lifecycle(&[Flow::Referral]);
    let code = advocate_with_code(&h).await;

    h.set_clock(day(1));
    h.pay(&Order {
        codes: vec![code.to_lowercase()],
        ip: Some("203.0.113.9"),
        ..order("8101", "82", day(1), &[("950", 1, "40.00")])
    })
    .await;
    let reward = h
        .of(Flow::Referral, "reward")
        .await
        .into_iter()
        .next()
        .expect("a reward planned for the advocate");
    assert_eq!(reward.customer_id.as_str(), "81");

    // Not fulfilled yet: the reward waits.
    h.tick(day(15)).await;
    let waiting = h.of(Flow::Referral, "reward").await.remove(0);
    assert_eq!(
        (waiting.status, waiting.reason.to_string().as_str()),
        (
            Planned,
            "deferred: waiting for the friend's order to be fulfilled"
        )
    );

    h.ship("8101", day(16)).await;
    h.tick(day(17)).await;
    let holding = h.of(Flow::Referral, "reward").await.remove(0);
    assert_eq!(
        (holding.reason.to_string().as_str(), holding.due_at),
        ("deferred: holding period", day(30))
    );

    // The Admin API fails once: retried, visible, support told; then it works.
    h.discounts.fail_next(DiscountError::Transient("HTTP 503".into()));
    h.tick(day(30) + Duration::minutes(1)).await;
    let retrying = h.of(Flow::Referral, "reward").await.remove(0);
    assert!(
        retrying.reason.to_string().starts_with("retrying: discount code"),
        "{}",
        retrying.reason
    );
    assert_eq!(h.alerts.sent().len(), 1);
    h.tick(day(31)).await;
    let rewarded = h.of(Flow::Referral, "reward").await.remove(0);
    assert_eq!(rewarded.status, Sent, "{}", rewarded.reason);
    let reward_code = rewarded.details()["reward_code"].clone();
    let created = h.discounts.created();
    assert_eq!(created.last().unwrap().code.as_str(), reward_code);
    assert_eq!(created.last().unwrap().usage, UsageLimit::SingleUse);
    let email = h.email(Flow::Referral, "reward");
    assert_eq!(email.to.address, "c81@example.com");
    assert!(email.text.contains(&reward_code), "{}", email.text);
}

#[tokio::test]
async fn a_refund_inside_the_holding_period_cancels_the_reward() {
    let h = Harness::lifecycle(&[Flow::Referral]);
    let code = advocate_with_code(&h).await;
    h.set_clock(day(1));
    h.pay(&Order {
        codes: vec![code],
        ..order("8201", "83", day(1), &[("950", 1, "40.00")])
    })
    .await;
    h.ship("8201", day(2)).await;
    let reply = h.refund("8201", "5.00", day(10)).await;
    assert_eq!(reply.outcome, "accepted", "{}", reply.json());
    h.tick(day(17)).await;
    let reward = h.of(Flow::Referral, "reward").await.remove(0);
    assert_eq!(
        (reward.status, reward.reason.to_string().as_str()),
        (
            Skipped,
            "skipped: the friend's order was refunded within the holding period"
        )
    );
    assert!(
        h.discounts
            .created()
            .iter()
            .all(|d| d.code.as_str().starts_with("FRIEND-")),
        "only referral codes, no reward"
    );
}

#[tokio::test]
async fn self_referrals_existing_customers_and_one_network_placing_many_orders_earn_nothing() {
    let h = Harness::lifecycle(&[Flow::Referral]);
    let code = advocate_with_code(&h).await;
    // The advocate's own email under another account.
    h.set_clock(day(1));
    h.pay(&Order {
        codes: vec![code.clone()],
        email: "c81@example.com".into(),
        ..order("8301", "84", day(1), &[("950", 1, "40.00")])
    })
    .await;
    // Shipping to the advocate's address.
    h.pay(&Order {
        codes: vec![code.clone()],
        address: "8 Advocate Road",
        ..order("8302", "85", day(1), &[("950", 1, "40.00")])
    })
    .await;
    // An existing customer.
    h.pay(&order("8303", "86", t0(), &[("950", 1, "40.00")])).await;
    h.pay(&Order {
        codes: vec![code.clone()],
        ..order("8304", "86", day(1), &[("950", 1, "40.00")])
    })
    .await;
    // Three referred orders from one network within a day: the third is refused.
    for (i, customer) in ["87", "88", "89"].iter().enumerate() {
        h.pay(&Order {
            codes: vec![code.clone()],
            ip: Some("198.51.100.7"),
            ..order(
                &format!("840{i}"),
                customer,
                day(2) + Duration::hours(i as i64),
                &[("950", 1, "40.00")],
            )
        })
        .await;
    }
    let rewarded: Vec<String> = h
        .of(Flow::Referral, "reward")
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(rewarded, vec!["8400".to_string(), "8401".to_string()]);
}

#[tokio::test]
async fn an_expired_grace_counts_without_any_new_order_and_birthdays_greet_tier_members() {
    let h = Harness::lifecycle(&[Flow::Vip, Flow::EarlyAccess]);
    h.save_config(&shop(), VIP).await;
    h.set_clock(t0());
    h.pay(&order("6101", "62", t0(), &[("900", 1, "600.00")])).await; // Gold
    h.refund("6101", "300.00", day(5)).await; // below Gold: grace until day 35

    // A birthday imported by the merchant: 10:00 in Rome on the day.
    let at = h
        .engine
        .set_birthday(&shop(), &customer("62"), 3, 20)
        .await
        .unwrap();
    assert_eq!(at, Some(at_rome("2026-03-20T10:00:00")));
    let bad = h.engine.set_birthday(&shop(), &customer("62"), 2, 30).await;
    assert!(bad.unwrap_err().to_string().contains("02-30"));
    h.tick(at_rome("2026-03-20T10:01:00")).await;
    let greeting = h.email(Flow::Vip, "birthday");
    assert!(
        greeting.text.contains("Gold"),
        "still Gold during the grace: {}",
        greeting.text
    );
    // ...and next year's is planned once this one went.
    let next = h.of(Flow::Vip, "birthday").await;
    assert_eq!(next.iter().filter(|m| m.status == Planned).count(), 1);

    // Past the grace, with no event in between, a campaign for Gold no longer reaches them.
    h.set_clock(day(40));
    let report = h
        .engine
        .create_campaign(&shop(), "Autumn", day(60), 5, vec![TierName("Gold".into())], "Hi")
        .await
        .unwrap();
    assert_eq!(report.invited, 0);
}

fn customer(id: &str) -> aftersale_domain::CustomerId {
    aftersale_domain::CustomerId::new(id).unwrap()
}

fn at_rome(local: &str) -> DateTime<Utc> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S").unwrap();
    chrono_tz::Europe::Rome
        .from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_woocommerce_coupon_line_with_the_code_is_attributed() {
    let h = Harness::lifecycle(&[Flow::Referral]);
    h.save_config(
        &woo_shop(),
        &format!("{REFERRAL}\n[consent]\nwoocommerce_default = \"granted\"\n").replace(
            "access_token_secret = \"SHOPIFY_ADMIN_TOKEN\"",
            "base_url = \"https://shop.example\"\nconsumer_key_secret = \"WC_KEY\"\nconsumer_secret_secret = \"WC_SECRET\"",
        ),
    )
    .await;
    h.set_clock(woo_order_at());
    h.woo("order.created", &fixture("woocommerce/order_created.json"))
        .await;
    h.tick(woo_order_at() + Duration::minutes(1)).await;
    let share = h.message(Flow::Referral, "share").await;
    let (advocate, code) = (share.customer_id.clone(), share.details()["code"].clone());
    assert!(h.email(Flow::Referral, "share").text.contains(&code));

    let mut friend = fixture_json("woocommerce/order_created.json");
    friend["id"] = json!(728);
    friend["number"] = json!("728");
    friend["billing"]["email"] = json!("jane@example.com");
    friend["billing"]["phone"] = json!("(555) 000-1111");
    friend["billing"]["address_1"] = json!("1 Other Street");
    friend["shipping"]["address_1"] = json!("1 Other Street");
    friend["customer_ip_address"] = json!("203.0.113.5");
    friend["coupon_lines"] = json!([{"id": 1, "code": code.to_lowercase(), "discount": "1.00"}]);
    h.woo("order.created", &bytes(&friend)).await;
    let reward = h.message(Flow::Referral, "reward").await;
    assert_eq!(reward.customer_id, advocate);
    assert_eq!(reward.details()["friend_order"], "728");
}

/// A local server speaking the GraphQL Admin API: records what it was sent.
async fn shopify_admin() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>,
) {
    use axum::{Json, Router, extract::State, http::HeaderMap, routing::post};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>;
    let seen: Seen = Default::default();
    async fn graphql(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let query = body["query"].as_str().unwrap_or_default().to_string();
        seen.lock().unwrap().push((token, body));
        // A shop without Aftersale's first-order segment yet: it is looked up, then created.
        if query.starts_with("query segments") {
            return Json(json!({"data": {"segments": {"nodes": []}}}));
        }
        if query.contains("segmentCreate(") {
            return Json(
                json!({"data": {"segmentCreate": {"segment": {"id": "gid://shopify/Segment/42",
                "name": "Aftersale new customers", "query": "number_of_orders = 0"}, "userErrors": []}}}),
            );
        }
        Json(json!({"data": {"discountCodeBasicCreate": {
            "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1057371297"}, "userErrors": []}}}))
    }
    let app = Router::new()
        .route("/admin/api/2025-10/graphql.json", post(graphql))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

/// Secrets by name, as SSM or the environment would give them.
struct NamedSecrets(std::collections::BTreeMap<String, String>);

#[async_trait::async_trait]
impl aftersale_platform_api::SecretSource for NamedSecrets {
    async fn secret(&self, name: &str) -> Result<String, String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name} is not set"))
    }
}

/// A referral harness whose codes go through the real Admin API clients, with secrets from
/// `secrets`: the shop's config names `token_secret` (and `base_url`, else the shop's own
/// domain); the advocate `(order, customer)` has paid at t0 and a tick has run.
async fn advocate_via_admin_api(
    secrets: impl aftersale_platform_api::SecretSource + 'static,
    base_url: Option<&str>,
    token_secret: &str,
    (order_id, customer): (&str, &str),
) -> Harness {
    let apis = aftersale_platform_api::AdminApiDiscounts::new(std::sync::Arc::new(secrets));
    let h = Harness::with_discounts(&[Flow::Referral], std::sync::Arc::new(apis));
    let base = base_url
        .map(|url| format!("base_url = \"{url}\"\n"))
        .unwrap_or_default();
    let config = REFERRAL.replace(
        "access_token_secret = \"SHOPIFY_ADMIN_TOKEN\"",
        &format!("{base}access_token_secret = \"{token_secret}\""),
    );
    h.save_config(&shop(), &config).await;
    h.set_clock(t0());
    h.pay(&order(order_id, customer, t0(), &[("950", 1, "40.00")]))
        .await;
    h.tick(t0() + Duration::minutes(1)).await;
    h
}

#[tokio::test]
async fn the_shared_code_is_created_through_the_shopify_admin_api_with_the_shops_token() {
    let (base, seen) = shopify_admin().await;
    let secrets = NamedSecrets(
        [(
            "/aftersale/demo/admin-token".to_string(),
            "shpat_local".to_string(),
        )]
        .into(),
    );
    let token = "/aftersale/demo/admin-token";
    let h = advocate_via_admin_api(secrets, Some(&base), token, ("8501", "91")).await;
    let share = h.message(Flow::Referral, "share").await;
    assert_eq!(share.status, Sent, "{}", share.reason);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "segment lookup, segment creation, discount");
    assert!(
        seen.iter()
            .all(|(token, _)| token.as_deref() == Some("shpat_local"))
    );
    assert_eq!(seen[1].1["variables"]["query"], "number_of_orders = 0");
    let input = &seen[2].1["variables"]["basicCodeDiscount"];
    assert_eq!(input["code"], share.details()["code"].as_str());
    assert_eq!(input["customerGets"]["value"]["percentage"], 0.1);
    assert_eq!(input["appliesOncePerCustomer"], true);
    assert_eq!(
        input["customerSelection"],
        json!({"customerSegments": {"add": ["gid://shopify/Segment/42"]}}),
        "the friend code serves first orders only"
    );
    assert_eq!(input["usageLimit"], 50);
}

#[tokio::test]
async fn a_missing_admin_token_is_retried_visibly_and_support_is_told() {
    let secrets = NamedSecrets(Default::default());
    let h = advocate_via_admin_api(secrets, None, "SHOPIFY_ADMIN_TOKEN", ("8601", "92")).await;
    let share = h.message(Flow::Referral, "share").await;
    assert_eq!(share.status, Planned);
    assert!(
        share
            .reason
            .to_string()
            .contains("SHOPIFY_ADMIN_TOKEN is not set"),
        "{}",
        share.reason
    );
    assert!(
        !share.reason.to_string().contains("shpat"),
        "no secret in the reason"
    );
    assert_eq!(h.alerts.sent().len(), 1);
    assert!(
        h.mailer.sent().is_empty(),
        "a code that does not work is never shared"
    );

    // A friend's order with the (unshared, but stored) code still earns the advocate a reward,
    // and a reward that cannot be created is retried for as long as it takes, never dropped.
    let code = share.details()["code"].clone();
    h.set_clock(day(1));
    h.pay(&Order {
        codes: vec![code],
        address: "95 Friend Street",
        ..order("8602", "95", day(1), &[("950", 1, "40.00")])
    })
    .await;
    h.ship("8602", day(2)).await;
    for days in [17, 30, 45, 60] {
        h.tick(day(days)).await;
    }
    // The share message gave up after 14 days; the owed reward did not.
    let share = h.one(Flow::Referral, "share", "92").await;
    assert_eq!(share.status, MessageStatus::Failed, "{}", share.reason);
    let reward = h.one(Flow::Referral, "reward", "92").await;
    assert_eq!(reward.status, Planned, "{}", reward.reason);
    assert!(
        reward.reason.to_string().starts_with("retrying: discount code"),
        "{}",
        reward.reason
    );
    assert_eq!(reward.details()["discount_attempts"], "4");
}

#[tokio::test]
async fn lifecycle_messages_obey_the_marketing_cap_and_quiet_hours() {
    let h = Harness::lifecycle(&[Flow::Replenishment]);
    let config = format!(
        "time_zone = \"Europe/Rome\"\n[caps]\nmarketing_per_window = 1\nwindow_days = 30\n[quiet_hours]\napply_to_email = true\n{REPLENISH}"
    );
    h.save_config(&shop(), &config).await;
    // Placed at 21:30 in Rome: the reminder falls due in quiet hours, 55 days later.
    let placed = at_rome("2026-03-02T21:30:00");
    h.set_clock(placed);
    h.pay(&order("9001", "93", placed, &[("501", 2, "12.00")])).await;
    h.tick(placed + Duration::days(55)).await;
    let reminder = h.message(Flow::Replenishment, "reminder").await;
    assert_eq!(
        (
            reminder.status,
            reminder.reason.to_string().as_str(),
            reminder.due_at
        ),
        (Planned, "deferred: quiet hours", at_rome("2026-04-27T08:00:00"))
    );
    h.tick(at_rome("2026-04-27T08:00:00")).await;
    assert_eq!(h.message(Flow::Replenishment, "reminder").await.status, Sent);
    // The follow-up would be a second marketing message within 30 days: the cap holds it, and
    // past 14 days of waiting it is dropped rather than sent late.
    h.tick(at_rome("2026-05-01T09:00:00")).await;
    let follow_up = h.message(Flow::Replenishment, "follow-up").await;
    assert_eq!(
        (follow_up.status, follow_up.reason.to_string().as_str()),
        (Skipped, "skipped: over frequency cap")
    );
}

/// A shared secret store narrowed per shop, as SSM is on AWS.
struct PerShopSecrets(NamedSecrets);

#[async_trait::async_trait]
impl aftersale_platform_api::SecretSource for PerShopSecrets {
    async fn secret(&self, name: &str) -> Result<String, String> {
        self.0.secret(name).await
    }

    fn may_read(&self, shop: &aftersale_domain::ShopId, name: &str) -> bool {
        name.starts_with(&format!("/aftersale/{shop}/"))
    }
}

#[tokio::test]
async fn a_shop_config_cannot_name_a_secret_outside_its_own_prefix() {
    let (base, seen) = shopify_admin().await;
    let key = "/aftersale/feedback/link-signing-key";
    let secrets = PerShopSecrets(NamedSecrets([(key.to_string(), "k".to_string())].into()));
    let h = advocate_via_admin_api(secrets, Some(&base), key, ("8701", "94")).await;
    let share = h.message(Flow::Referral, "share").await;
    assert!(
        share
            .reason
            .to_string()
            .contains("is not one of this shop's secrets"),
        "{}",
        share.reason
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing was sent to the Admin API URL"
    );
}

#[tokio::test]
async fn a_refund_of_the_last_order_moves_the_lapse_but_never_sooner_than_a_window_after_it() {
    let h = Harness::lifecycle(&[Flow::WinBack]);
    h.save_config(&shop(), WINBACK).await;
    h.set_clock(t0());
    h.pay(&order("9101", "96", t0(), &[("700", 1, "30.00")])).await;
    h.set_clock(day(10));
    h.pay(&order("9102", "96", day(10), &[("700", 1, "30.00")])).await;
    let first = h.about(Flow::WinBack, "value", "9101").await;
    assert_eq!(
        (first.status, first.reason.to_string().as_str()),
        (Skipped, "skipped: ordered again")
    );

    // The second order is refunded in full: the lapse named for the first order is real again,
    // but it starts a full window after the refunded order (day 70), not at day 60.
    h.set_clock(day(12));
    h.refund("9102", "30.00", day(12)).await;
    let second = h.about(Flow::WinBack, "value", "9102").await;
    assert_eq!(
        (second.status, second.reason.to_string().as_str()),
        (
            Skipped,
            "skipped: its last order no longer counts (refunded or cancelled)"
        )
    );
    let revived = h.about(Flow::WinBack, "value", "9101").await;
    assert_eq!((revived.status, revived.due_at), (Planned, day(70)));
    h.tick(day(70) + Duration::minutes(1)).await;
    assert_eq!(h.about(Flow::WinBack, "value", "9101").await.status, Sent);
}

#[tokio::test]
async fn a_reminder_long_past_its_run_out_is_skipped_not_sent() {
    let h = Harness::lifecycle(&[Flow::Replenishment]);
    h.save_config(&shop(), REPLENISH).await;
    h.set_clock(t0());
    h.pay(&order("9201", "97", t0(), &[("501", 1, "12.00")])).await;
    // Run-out at day 30; the sender was down until day 50.
    h.tick(day(50)).await;
    let reminder = h.message(Flow::Replenishment, "reminder").await;
    assert_eq!(
        (reminder.status, reminder.reason.to_string().as_str()),
        (Skipped, "skipped: too late: it ran out weeks ago")
    );
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_lapse_a_month_overdue_is_skipped_rather_than_sent_late() {
    let h = Harness::lifecycle(&[Flow::WinBack]);
    h.save_config(&shop(), WINBACK).await;
    h.set_clock(t0());
    h.pay(&order("9301", "98", t0(), &[("700", 1, "30.00")])).await;
    // Lapsed at day 60; nothing ran until day 95.
    h.tick(day(95)).await;
    let value = h.one(Flow::WinBack, "value", "98").await;
    assert_eq!(
        (value.status, value.reason.to_string().as_str()),
        (Skipped, "skipped: too late")
    );
    assert!(
        h.of(Flow::WinBack, "offer").await.is_empty(),
        "no sequence follows"
    );
}

/// A sent marketing message of `customer`'s, `at`: what fills their cap.
async fn sent_marketing(h: &Harness, customer: &str, subject: &str, at: DateTime<Utc>) {
    let planned = Message {
        shop: shop(),
        customer_id: customer_id(customer),
        subject: subject.into(),
        step: aftersale_domain::flows::replenishment::Step::Reminder.into(),
        order_id: None,
        class: MessageClass::Marketing,
        channel: aftersale_domain::Channel::Email,
        due_at: at,
        due_basis: aftersale_domain::DueBasis::Known,
        status: Planned,
        reason: "planned".into(),
        planned_at: at,
        lease_until: None,
        attempts: 0,
        products: vec![],
        payload: Default::default(),
        processing_errors: 0,
        to: None,
        rendered_subject: None,
        sent_at: None,
        provider_id: None,
        version: 0,
    };
    assert!(h.store.plan_message(&planned).await.unwrap());
    let stored = h
        .store
        .load_message(&shop(), &planned.customer_id, &planned.id())
        .await
        .unwrap()
        .unwrap();
    h.store
        .update_message(&Message {
            status: Sent,
            reason: "sent".into(),
            sent_at: Some(at),
            ..stored
        })
        .await
        .unwrap();
}

fn customer_id(id: &str) -> aftersale_domain::CustomerId {
    aftersale_domain::CustomerId::new(id).unwrap()
}

#[tokio::test]
async fn an_invitation_keeps_its_moment_under_the_cap_and_the_campaign_says_who_it_cannot_reach() {
    let h = Harness::lifecycle(&[Flow::Vip, Flow::EarlyAccess]);
    h.save_config(&shop(), &format!("{VIP}[caps]\nmarketing_per_window = 2\n"))
        .await;
    h.set_clock(t0());
    h.pay(&order("7101", "71", t0(), &[("900", 1, "600.00")])).await;
    h.pay(&Order {
        subscribed: false,
        ..order("7201", "72", t0(), &[("900", 1, "600.00")])
    })
    .await;
    h.pay(&order("7301", "73", t0(), &[("900", 1, "600.00")])).await;
    h.tick(t0() + Duration::minutes(1)).await; // "welcome to Gold", one of two
    sent_marketing(&h, "73", "extra", t0() + Duration::days(1)).await;

    let launch = at("2026-03-20T08:00:00Z");
    let report = h
        .engine
        .create_campaign(
            &shop(),
            "Spring drop",
            launch,
            3,
            vec![TierName("Gold".into())],
            "New roasts.",
        )
        .await
        .unwrap();
    assert_eq!(report.invited, 3);
    assert_eq!(report.reachable, 1, "{report:?}");
    assert_eq!(
        report.unreachable,
        [
            ("no consent".to_string(), 1),
            ("over frequency cap".to_string(), 1)
        ]
        .into_iter()
        .collect()
    );

    // At its moment the invitation goes or is dropped at once: never deferred past the launch.
    h.tick(at("2026-03-17T09:01:00Z")).await;
    let outcome = |customer: &str| {
        let h = &h;
        let customer = customer.to_string();
        async move {
            let m = h.one(Flow::EarlyAccess, "you-first", &customer).await;
            (m.status, m.reason)
        }
    };
    assert_eq!(outcome("71").await, (Sent, "sent".into()));
    assert_eq!(outcome("72").await, (Skipped, "skipped: no consent".into()));
    assert_eq!(
        outcome("73").await,
        (Skipped, "skipped: over frequency cap".into())
    );
    let invitations = h.emails(Flow::EarlyAccess, "you-first");
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0].to.address, "c71@example.com");
    assert!(
        invitations[0].text.contains("New roasts."),
        "{}",
        invitations[0].text
    );
}

#[tokio::test]
async fn an_open_ended_message_waits_for_the_invitation_ahead_of_it() {
    let h = Harness::lifecycle(&[Flow::Vip, Flow::EarlyAccess]);
    h.save_config(&shop(), &format!("{VIP}[caps]\nmarketing_per_window = 2\n"))
        .await;
    h.set_clock(t0());
    h.pay(&order("7401", "74", t0(), &[("900", 1, "600.00")])).await;
    h.tick(t0() + Duration::minutes(1)).await; // "welcome to Gold", one of two
    h.engine
        .create_campaign(
            &shop(),
            "Spring drop",
            at("2026-03-20T08:00:00Z"),
            3,
            vec![TierName("Gold".into())],
            "New roasts.",
        )
        .await
        .unwrap();
    // The welcome (03-02) and a nudge on 03-10 would leave the launch (03-17) no room: the
    // nudge gives way. Room opens only when the welcome leaves the window (04-01), 22 days
    // on, longer than a capped message waits, so it is dropped.
    let nudge = Message {
        due_at: day(8),
        ..lifecycle_nudge("74")
    };
    assert!(h.store.plan_message(&nudge).await.unwrap());
    h.tick(day(8)).await;
    let nudge = h.about(Flow::Vip, "anniversary", "nudge").await;
    assert_eq!(
        (nudge.status, nudge.reason.to_string().as_str()),
        (Skipped, "skipped: over frequency cap")
    );
    h.tick(at("2026-03-17T09:01:00Z")).await;
    assert_eq!(h.one(Flow::EarlyAccess, "you-first", "74").await.status, Sent);
    assert!(h.emails(Flow::Vip, "anniversary").is_empty());
}

/// An open-ended marketing message planned for `customer` (a VIP anniversary "nudge").
fn lifecycle_nudge(customer: &str) -> Message {
    Message {
        shop: shop(),
        customer_id: customer_id(customer),
        subject: "nudge".into(),
        step: aftersale_domain::flows::vip::Step::Anniversary.into(),
        order_id: None,
        class: MessageClass::Marketing,
        channel: aftersale_domain::Channel::Email,
        due_at: t0(),
        due_basis: aftersale_domain::DueBasis::Known,
        status: Planned,
        reason: "planned".into(),
        planned_at: t0(),
        lease_until: None,
        attempts: 0,
        products: vec![],
        payload: Default::default(),
        processing_errors: 0,
        to: None,
        rendered_subject: None,
        sent_at: None,
        provider_id: None,
        version: 0,
    }
}

#[tokio::test]
async fn a_last_call_never_outlives_its_offer_nor_recalls_one_never_made() {
    // One marketing message a month: the value step fills it, so the offer cannot go.
    let h = Harness::lifecycle(&[Flow::WinBack]);
    h.save_config(&shop(), &format!("{WINBACK}[caps]\nmarketing_per_window = 1\n"))
        .await;
    h.set_clock(t0());
    h.pay(&order("5101", "51", t0(), &[("700", 1, "30.00")])).await;
    h.tick(day(60) + Duration::minutes(5)).await;
    h.tick(day(64) + Duration::minutes(5)).await;
    let offer = h.one(Flow::WinBack, "offer", "51").await;
    assert_eq!(
        (offer.status, offer.reason.to_string().as_str()),
        (Skipped, "skipped: over frequency cap"),
        "an offer is never deferred past its end"
    );
    h.tick(day(77) + Duration::minutes(5)).await;
    let last_call = h.one(Flow::WinBack, "last-call", "51").await;
    assert_eq!(
        (last_call.status, last_call.reason.to_string().as_str()),
        (Skipped, "skipped: offer not sent")
    );
    assert!(
        h.discounts.created().is_empty(),
        "no code for an offer nobody heard of"
    );
    assert!(h.emails(Flow::WinBack, "offer").is_empty() && h.emails(Flow::WinBack, "last-call").is_empty());
}

#[tokio::test]
async fn an_offer_and_its_last_call_due_after_the_offer_ended_are_skipped_not_sent() {
    let h = Harness::lifecycle(&[Flow::WinBack]);
    h.save_config(&shop(), WINBACK).await;
    h.set_clock(t0());
    h.pay(&order("5201", "52", t0(), &[("700", 1, "30.00")])).await;
    h.tick(day(60) + Duration::minutes(5)).await;
    let offer = h.one(Flow::WinBack, "offer", "52").await;
    let ends = offer.details()["offer_expires_at"].clone();
    assert_eq!(
        ends, "2026-05-21T23:59:59Z",
        "day 80, end of the day in the shop's zone (UTC)"
    );
    // The sender was down from the offer's day until after the offer ended.
    h.tick(at("2026-05-22T08:00:00Z")).await;
    for step in ["offer", "last-call"] {
        let m = h.one(Flow::WinBack, step, "52").await;
        assert_eq!(
            (m.status, m.reason.to_string().as_str()),
            (Skipped, "skipped: offer expired"),
            "{step}"
        );
    }
    assert!(h.emails(Flow::WinBack, "last-call").is_empty());
    assert!(h.discounts.created().is_empty());
}

#[tokio::test]
async fn a_win_back_promising_early_access_invites_its_customer_to_the_launches() {
    let h = Harness::lifecycle(&[Flow::WinBack, Flow::Vip, Flow::EarlyAccess]);
    let config = format!(
        "{VIP}[caps]\nmarketing_per_window = 4\n[admin_api]\naccess_token_secret = \"SHOPIFY_ADMIN_TOKEN\"\n[flows.win_back]\nwindow_days = 60\nhigh_value_min_orders = 2\n"
    );
    h.save_config(&shop(), &config).await;
    h.set_clock(t0() - Duration::days(10));
    h.pay(&order(
        "5301",
        "53",
        t0() - Duration::days(10),
        &[("700", 1, "30.00")],
    ))
    .await;
    h.set_clock(t0());
    h.pay(&order("5302", "53", t0(), &[("700", 1, "30.00")])).await;
    let summer = h
        .engine
        .create_campaign(
            &shop(),
            "Summer",
            day(90),
            3,
            vec![TierName("Gold".into())],
            "Cold brew.",
        )
        .await
        .unwrap();
    assert_eq!(summer.invited, 0, "customer 53 is not Gold");

    h.tick(day(60) + Duration::minutes(5)).await;
    h.tick(day(64) + Duration::minutes(5)).await;
    let offer = h.email(Flow::WinBack, "offer");
    assert!(offer.text.contains("early access"), "{}", offer.text);
    // The promise is kept: the launch already announced now has them on its list...
    let you_first = h.one(Flow::EarlyAccess, "you-first", "53").await;
    assert_eq!(you_first.subject, "summer");
    h.tick(you_first.due_at + Duration::minutes(1)).await;
    let invitation = h.email(Flow::EarlyAccess, "you-first");
    assert_eq!(invitation.to.address, "c53@example.com");
    assert!(invitation.text.contains("Cold brew."), "{}", invitation.text);
    // ...and so do the launches announced later.
    h.set_clock(day(91));
    let autumn = h
        .engine
        .create_campaign(
            &shop(),
            "Autumn",
            day(150),
            3,
            vec![TierName("Gold".into())],
            "New roasts.",
        )
        .await
        .unwrap();
    assert_eq!((autumn.invited, autumn.reachable), (1, 1), "{autumn:?}");
}

#[tokio::test]
async fn a_mixed_cart_is_asked_about_at_each_products_cycle_and_reminded_only_of_what_is_unrated() {
    let h = Harness::lifecycle(&[Flow::ReviewRequest]);
    h.save_config(
        &shop(),
        "[flows.review_request]\ndelay_days = 14\n[[flows.review_request.cycles]]\nname = \"coffee\"\nproduct_ids = [\"801\"]\ndelay_days = 5\n",
    )
    .await;
    h.set_clock(t0());
    h.pay(&order(
        "8101",
        "88",
        t0(),
        &[("801", 1, "12.00"), ("802", 1, "40.00"), ("803", 1, "60.00")],
    ))
    .await;
    h.ship("8101", t0()).await; // arrives (estimated) 4 days later

    // The coffee, five days after it arrived, alone.
    h.tick(day(9) + Duration::minutes(1)).await;
    let coffee = h.email(Flow::ReviewRequest, "request");
    assert!(coffee.text.contains("Product 801"), "{}", coffee.text);
    assert!(!coffee.text.contains("Product 802") && !coffee.text.contains("Product 803"));

    // The moka pot and the grinder together, fourteen days after.
    h.tick(day(18) + Duration::minutes(1)).await;
    let requests = h.emails(Flow::ReviewRequest, "request");
    assert_eq!(requests.len(), 2);
    let durable = &requests[1].text;
    assert!(
        durable.contains("Product 802") && durable.contains("Product 803"),
        "{durable}"
    );
    assert!(!durable.contains("Product 801"), "{durable}");

    // One star for the grinder: the reminder asks only about the moka pot.
    let request = h.about(Flow::ReviewRequest, "request", "8101").await;
    h.store
        .record_answer(&aftersale_domain::Answer {
            shop: shop(),
            customer_id: customer_id("88"),
            message_id: request.id(),
            order_id: request.order_id.clone(),
            answer: aftersale_domain::AnswerKind::Rating {
                product_id: "803".into(),
                stars: 1,
            },
            answered_at: day(19),
        })
        .await
        .unwrap();
    h.tick(day(23) + Duration::minutes(1)).await;
    let reminders = h.emails(Flow::ReviewRequest, "reminder");
    assert_eq!(reminders.len(), 2, "the coffee's reminder and the durable goods'");
    let last = &reminders[1].text;
    assert!(last.contains("Product 802"), "{last}");
    assert!(
        !last.contains("Product 803"),
        "never asked again after rating it: {last}"
    );
    let reminder = h.about(Flow::ReviewRequest, "reminder", "8101").await;
    let asked: Vec<&str> = reminder.products.iter().map(|p| p.product_id.as_str()).collect();
    assert_eq!(asked, ["802"]);
}

/// Secrets someone can fix while the engine runs, as an operator sets a missing variable.
#[derive(Clone, Default)]
struct FixableSecrets(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>);

#[async_trait::async_trait]
impl aftersale_platform_api::SecretSource for FixableSecrets {
    async fn secret(&self, name: &str) -> Result<String, String> {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name} is not set"))
    }
}

#[tokio::test]
async fn an_owed_reward_waiting_on_a_missing_token_goes_out_right_after_the_configuration_is_fixed() {
    let (base, seen) = shopify_admin().await;
    let secrets = FixableSecrets::default();
    let h = advocate_via_admin_api(
        secrets.clone(),
        Some(&base),
        "SHOPIFY_ADMIN_TOKEN",
        ("8701", "96"),
    )
    .await;
    let code = h.message(Flow::Referral, "share").await.details()["code"].clone();
    h.set_clock(day(1));
    h.pay(&Order {
        codes: vec![code],
        address: "97 Friend Street",
        ..order("8702", "97", day(1), &[("950", 1, "40.00")])
    })
    .await;
    h.ship("8702", day(2)).await;
    for days in [16, 20, 30] {
        h.tick(day(days)).await;
    }
    let reward = h.one(Flow::Referral, "reward", "96").await;
    assert!(
        reward.reason.to_string().starts_with("retrying: discount code"),
        "{}",
        reward.reason
    );
    assert!(
        reward.due_at > day(30) + Duration::hours(4),
        "backed off: {}",
        reward.due_at
    );
    let alerts_before = h.alerts.sent().len();

    // The operator sets the token and reloads the configuration.
    secrets
        .0
        .lock()
        .unwrap()
        .insert("SHOPIFY_ADMIN_TOKEN".into(), "shpat_fixed".into());
    assert_eq!(
        h.engine.retry_after_config_change(&shop()).await.unwrap(),
        2,
        "the reward, and the share code still being retried"
    );
    let reward = h.one(Flow::Referral, "reward", "96").await;
    assert_eq!(
        (reward.reason.to_string().as_str(), reward.due_at),
        ("planned again: configuration changed", day(30))
    );
    h.tick(day(30) + Duration::minutes(1)).await;
    let reward = h.one(Flow::Referral, "reward", "96").await;
    assert_eq!(reward.status, Sent, "{}", reward.reason);
    let email = h.email(Flow::Referral, "reward");
    assert!(
        email.text.contains(&reward.details()["reward_code"]),
        "{}",
        email.text
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|(token, _)| token.as_deref() == Some("shpat_fixed"))
    );
    assert_eq!(h.alerts.sent().len(), alerts_before, "no alert once it works");
}

#[tokio::test]
async fn a_held_out_customer_is_recorded_at_the_instant_it_was_due_and_never_written_to() {
    let h = Harness::lifecycle(&[Flow::Replenishment]);
    // The default holdout (5%): customer 11 of this shop is in the replenishment control group.
    h.save_config(&shop(), &REPLENISH.replace("holdout_percent = 0\n", ""))
        .await;
    h.set_clock(t0());
    h.pay(&order("1001", "11", t0(), &[("501", 2, "12.00")])).await;
    let due = h.message(Flow::Replenishment, "reminder").await.due_at;
    let report = h.tick(day(55) + Duration::minutes(1)).await;
    assert_eq!((report.sent, report.held_out), (0, 1));
    let held = h.message(Flow::Replenishment, "reminder").await;
    assert_eq!(held.status, MessageStatus::HeldOut);
    assert_eq!(held.reason.to_string(), "held out", "as the outbox shows it");
    assert_eq!(held.due_at, due, "the instant it would have gone");
    assert_eq!(held.sent_at, None);
    assert!(h.emails(Flow::Replenishment, "reminder").is_empty(), "never sent");
    // A later tick does not pick it up again.
    assert_eq!(h.tick(day(70)).await.held_out, 0);
}
