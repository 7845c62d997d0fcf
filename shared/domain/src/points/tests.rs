//! The ledger's rules on whole order histories: earning, refunds in any order, cancellation
//! before and after availability, spent points, replays, and the buy-earn-refund loop.

use super::*;
use crate::{
    Currency, Customer, CustomerId, FulfillmentStatus, Money, Order, OrderId, OrderRecord, OrderStatus,
    Refund,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::new("EUR").unwrap()).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()
}

fn order(id: &str, subtotal: &str, total: &str, status: OrderStatus) -> Order {
    Order {
        id: OrderId::new(id).unwrap(),
        name: Some(format!("#{id}")),
        customer: Customer::bare(CustomerId::new("c1").unwrap()),
        created_at: t0(),
        updated_at: t0(),
        status,
        fulfillment: FulfillmentStatus::Unfulfilled,
        line_items: vec![],
        subtotal: eur(subtotal),
        total: eur(total),
        total_discounts: eur("0"),
        discount_codes: vec![],
        refunds: vec![],
        shipping_country: None,
        shipping_address: None,
        client_ip: None,
        checkout_token: None,
        cart_token: None,
    }
}

fn record(order: Order) -> OrderRecord {
    OrderRecord {
        order_id: order.id.clone(),
        snapshot: Some(order),
        ..OrderRecord::new(OrderId::new("x").unwrap())
    }
}

fn refund(id: &str, amount: &str, days: i64) -> Refund {
    Refund {
        id: id.into(),
        created_at: t0() + Duration::days(days),
        amount: eur(amount),
        reason: None,
    }
}

fn enabled() -> PointsConfig {
    PointsConfig {
        enabled: true,
        ..PointsConfig::default()
    }
}

fn sync(ledger: &mut Ledger, record: &OrderRecord, config: &PointsConfig, now: DateTime<Utc>) -> usize {
    let earning = Earning {
        config,
        campaigns: &[],
        tier: None,
    };
    ledger.extend(order_entries(ledger, record, earning, now))
}

fn kinds(ledger: &Ledger) -> Vec<(String, i64)> {
    ledger
        .entries()
        .iter()
        .map(|e| (e.id.clone(), e.points))
        .collect()
}

#[test]
fn a_paid_order_earns_on_its_subtotal_pending_until_delivery_plus_the_pending_days() {
    let config = enabled();
    let mut paid = record(order("1001", "42.90", "51.80", OrderStatus::Processing));
    let mut ledger = Ledger::default();
    sync(&mut ledger, &paid, &config, t0());
    assert_eq!(
        kinds(&ledger),
        [("earn#1001".to_string(), 42)],
        "shipping and tax earn nothing"
    );
    assert_eq!(
        ledger.balance(),
        Balance {
            available: 0,
            pending: 42,
            balance: 42
        }
    );

    let delivered = t0() + Duration::days(3);
    paid.delivered_at = Some(delivered);
    sync(
        &mut ledger,
        &paid,
        &config,
        delivered + Duration::days(14) - Duration::seconds(1),
    );
    assert_eq!(ledger.balance().pending, 42, "still inside the return window");
    sync(&mut ledger, &paid, &config, delivered + Duration::days(14));
    assert_eq!(
        ledger.balance(),
        Balance {
            available: 42,
            pending: 0,
            balance: 42
        }
    );
    assert_eq!(
        ledger.entry("available#1001").unwrap().at,
        delivered + Duration::days(14)
    );
}

#[test]
fn an_unpaid_failed_or_free_order_earns_nothing() {
    let config = enabled();
    for status in [OrderStatus::Pending, OrderStatus::Failed, OrderStatus::Cancelled] {
        let mut ledger = Ledger::default();
        sync(
            &mut ledger,
            &record(order("1", "40", "40", status)),
            &config,
            t0(),
        );
        assert!(ledger.entries().is_empty(), "{status:?}");
    }
    let mut ledger = Ledger::default();
    sync(
        &mut ledger,
        &record(order("2", "0.99", "0.99", OrderStatus::Processing)),
        &config,
        t0(),
    );
    assert!(ledger.entries().is_empty(), "under one point rounds down to none");
}

#[test]
fn shipping_and_tax_count_when_the_shop_says_so_and_the_rate_scales() {
    let config = PointsConfig {
        include_shipping_and_tax: true,
        per_currency_unit: Decimal::TEN,
        ..enabled()
    };
    let mut ledger = Ledger::default();
    sync(
        &mut ledger,
        &record(order("1", "40", "51.85", OrderStatus::Processing)),
        &config,
        t0(),
    );
    assert_eq!(ledger.balance().pending, 518);
}

#[test]
fn a_partial_refund_takes_back_in_proportion_rounded_against_the_customer() {
    let config = enabled();
    let mut paid = record(order("1", "100", "100", OrderStatus::Processing));
    let mut ledger = Ledger::default();
    sync(&mut ledger, &paid, &config, t0());
    paid.refunds.push(refund("r1", "33.50", 1));
    sync(&mut ledger, &paid, &config, t0() + Duration::days(1));
    assert_eq!(ledger.entry("clawback#1#r1").unwrap().points, -34);
    assert_eq!(ledger.balance().pending, 66);
    // The rest refunded: everything is gone, and nothing becomes available later.
    paid.refunds.push(refund("r2", "66.50", 2));
    sync(&mut ledger, &paid, &config, t0() + Duration::days(60));
    assert_eq!(ledger.balance(), Balance::default());
    assert!(!ledger.contains("available#1"));
}

#[test]
fn refunds_arriving_in_any_order_take_the_same_points() {
    let config = enabled();
    let base = order("1", "90", "90", OrderStatus::Processing);
    let refunds = [refund("a", "10", 1), refund("b", "20", 2), refund("c", "15", 3)];
    let mut totals = Vec::new();
    for permutation in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let mut paid = record(base.clone());
        let mut ledger = Ledger::default();
        sync(&mut ledger, &paid, &config, t0());
        for i in permutation {
            paid.refunds.push(refunds[i].clone());
            sync(&mut ledger, &paid, &config, t0() + Duration::days(1));
        }
        totals.push(ledger.balance());
    }
    assert!(totals.iter().all(|b| *b == totals[0]), "{totals:?}");
    assert_eq!(totals[0].pending, 45, "90 × (1 − 45/90)");
}

#[test]
fn cancellation_before_availability_means_the_points_never_become_available() {
    let config = enabled();
    let mut paid = record(order("1", "40", "40", OrderStatus::Processing));
    let mut ledger = Ledger::default();
    sync(&mut ledger, &paid, &config, t0());
    paid.snapshot.as_mut().unwrap().status = OrderStatus::Cancelled;
    sync(&mut ledger, &paid, &config, t0() + Duration::days(1));
    sync(&mut ledger, &paid, &config, t0() + Duration::days(90));
    assert_eq!(kinds(&ledger), [("earn#1".into(), 40), ("cancel#1".into(), -40)]);
    assert_eq!(ledger.entry("cancel#1").unwrap().bucket, Bucket::Pending);
    assert_eq!(ledger.balance(), Balance::default());
}

#[test]
fn a_refund_after_the_points_were_spent_goes_negative_and_the_next_earning_pays_it_off() {
    let config = enabled();
    let mut first = record(order("1", "50", "50", OrderStatus::Processing));
    let mut ledger = Ledger::default();
    sync(&mut ledger, &first, &config, t0() + Duration::days(30));
    assert_eq!(ledger.balance().available, 50);
    let reward = RewardOption {
        points: 50,
        amount_off: Some(Decimal::from(5)),
        percent_off: None,
        minimum_order: None,
    };
    ledger.append(redeem(&ledger, &reward, "link-1", None, t0() + Duration::days(31)).unwrap());
    first.snapshot.as_mut().unwrap().status = OrderStatus::Refunded;
    sync(&mut ledger, &first, &config, t0() + Duration::days(32));
    assert_eq!(
        ledger.balance().available,
        -50,
        "the shop allows a negative balance by default"
    );

    let second = record(order("2", "80", "80", OrderStatus::Processing));
    sync(&mut ledger, &second, &config, t0() + Duration::days(60));
    assert_eq!(
        ledger.balance().available,
        30,
        "80 earned, 50 of it paid off the debt"
    );

    let write_off = PointsConfig {
        negative_balance: NegativeBalance::WriteOff,
        ..enabled()
    };
    let mut ledger = Ledger::default();
    let mut first = record(order("1", "50", "50", OrderStatus::Processing));
    sync(&mut ledger, &first, &write_off, t0() + Duration::days(30));
    ledger.append(redeem(&ledger, &reward, "link-1", None, t0() + Duration::days(31)).unwrap());
    first.snapshot.as_mut().unwrap().status = OrderStatus::Refunded;
    sync(&mut ledger, &first, &write_off, t0() + Duration::days(32));
    assert_eq!(ledger.balance().available, 0, "written off, never below zero");
}

#[test]
fn a_reward_code_used_on_an_order_refunded_in_full_gives_its_points_back() {
    let config = enabled();
    let mut ledger = Ledger::default();
    sync(
        &mut ledger,
        &record(order("1", "60", "60", OrderStatus::Processing)),
        &config,
        t0() + Duration::days(30),
    );
    let reward = RewardOption {
        points: 50,
        amount_off: Some(Decimal::from(5)),
        percent_off: None,
        minimum_order: None,
    };
    ledger.append(
        redeem(
            &ledger,
            &reward,
            "link-1",
            Some("PTS-ABC123"),
            t0() + Duration::days(31),
        )
        .unwrap(),
    );
    assert_eq!(ledger.balance().available, 10);

    let mut used = order("2", "30", "30", OrderStatus::Processing);
    used.discount_codes = vec!["pts-abc123".into()];
    let mut used = record(used);
    sync(&mut ledger, &used, &config, t0() + Duration::days(32));
    used.snapshot.as_mut().unwrap().status = OrderStatus::Refunded;
    sync(&mut ledger, &used, &config, t0() + Duration::days(33));
    sync(&mut ledger, &used, &config, t0() + Duration::days(34));
    assert_eq!(ledger.entry("returned#link-1").unwrap().points, 50);
    assert_eq!(
        ledger.balance(),
        Balance {
            available: 60,
            pending: 0,
            balance: 60
        }
    );
}

#[test]
fn campaigns_and_tiers_multiply_and_the_entry_says_by_how_much() {
    let config = PointsConfig {
        tier_multipliers: [("Gold".to_string(), Decimal::new(15, 1))].into(),
        ..enabled()
    };
    let weekend = Campaign::parse("2", "2026-11-01", "2026-11-02", chrono_tz::Europe::Rome).unwrap();
    let earning = Earning {
        config: &config,
        campaigns: std::slice::from_ref(&weekend),
        tier: Some("Gold"),
    };
    let entries = order_entries(
        &Ledger::default(),
        &record(order("1", "40", "40", OrderStatus::Processing)),
        earning,
        t0(),
    );
    assert_eq!(entries[0].points, 120);
    assert_eq!(
        entries[0].source,
        Source::Order {
            order: OrderId::new("1").unwrap(),
            multiplier: "3".into()
        }
    );
}

#[test]
fn bonuses_are_credited_once() {
    let config = PointsConfig {
        welcome_bonus: 100,
        birthday_bonus: 50,
        ..enabled()
    };
    let mut ledger = Ledger::default();
    let welcome = welcome_bonus(&ledger, &config, t0()).unwrap();
    assert_eq!((welcome.points, welcome.bucket), (100, Bucket::Available));
    ledger.append(welcome);
    assert_eq!(welcome_bonus(&ledger, &config, t0()), None);

    let tz = chrono_tz::Europe::Rome;
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    // 23:30 UTC on 2 November is already 3 November in Rome.
    let birthday = Utc.with_ymd_and_hms(2026, 11, 2, 23, 30, 0).unwrap();
    assert_eq!(
        birthday_bonus(&ledger, &config, (11, 2), day(2026, 11, 3), tz, birthday),
        None,
        "the customer's birthday is another day"
    );
    assert_eq!(
        birthday_bonus(
            &ledger,
            &config,
            (11, 3),
            day(2026, 11, 3),
            tz,
            birthday - Duration::hours(1)
        ),
        None,
        "22:30 UTC is still 2 November in Rome"
    );
    let credited = birthday_bonus(&ledger, &config, (11, 3), day(2026, 11, 3), tz, birthday).unwrap();
    assert_eq!(credited.id, "birthday#2026");
    ledger.append(credited);
    assert_eq!(
        birthday_bonus(
            &ledger,
            &config,
            (11, 3),
            day(2026, 11, 3),
            tz,
            birthday + Duration::hours(5)
        ),
        None,
        "a tick delivered twice credits once"
    );
    assert_eq!(
        birthday_bonus(
            &ledger,
            &config,
            (12, 24),
            day(2026, 12, 24),
            tz,
            birthday + Duration::days(51)
        ),
        None,
        "a birthday changed to a later day of the same year earns nothing more"
    );
    assert_eq!(ledger.balance().available, 150);
    // 29 February: on 28 February in a common year, on the 29th in a leap year.
    let common = Utc.with_ymd_and_hms(2027, 2, 28, 12, 0, 0).unwrap();
    assert_eq!(birthday_in(2027, (2, 29)), Some(day(2027, 2, 28)));
    assert_eq!(birthday_in(2028, (2, 29)), Some(day(2028, 2, 29)));
    assert_eq!(birthday_in(2028, (4, 31)), None);
    assert!(birthday_bonus(&ledger, &config, (2, 29), day(2027, 2, 28), tz, common).is_some());
    assert!(
        birthday_bonus(
            &ledger,
            &config,
            (2, 29),
            day(2028, 2, 28),
            tz,
            common + Duration::days(365)
        )
        .is_none(),
        "in a leap year it is the 29th"
    );
    let off = PointsConfig {
        birthday_bonus: 0,
        ..config.clone()
    };
    assert_eq!(
        birthday_bonus(&Ledger::default(), &off, (11, 3), day(2026, 11, 3), tz, birthday),
        None
    );
}

#[test]
fn a_review_bonus_is_credited_once_per_product_of_an_order_and_never_by_default() {
    let order = OrderId::new("1001").unwrap();
    assert_eq!(
        review_bonus(&Ledger::default(), &enabled(), &order, "p1", t0()),
        None,
        "off by default"
    );
    let config = PointsConfig {
        review_bonus: 20,
        ..enabled()
    };
    let mut ledger = Ledger::default();
    let first = review_bonus(&ledger, &config, &order, "p1", t0()).unwrap();
    assert_eq!((first.id.as_str(), first.points), ("review#1001#p1", 20));
    assert_eq!(
        first.source,
        Source::Review {
            order: order.clone(),
            product: "p1".into()
        }
    );
    ledger.append(first);
    assert_eq!(
        review_bonus(&ledger, &config, &order, "p1", t0()),
        None,
        "rated again"
    );
    ledger.append(review_bonus(&ledger, &config, &order, "p2", t0()).unwrap());
    assert_eq!(ledger.balance().available, 40);
}

#[test]
fn idle_points_expire_after_the_period_with_a_warning_before() {
    let config = PointsConfig {
        expire_after_days: Some(365),
        expiry_warning_days: 14,
        ..enabled()
    };
    let mut ledger = Ledger::default();
    sync(
        &mut ledger,
        &record(order("1", "70", "70", OrderStatus::Processing)),
        &config,
        t0() + Duration::days(20),
    );
    assert_eq!(
        expiry_warning_at(&ledger, &config),
        Some(t0() + Duration::days(351))
    );
    assert_eq!(expiry(&ledger, &config, t0() + Duration::days(364)), None);
    let lapse = expiry(&ledger, &config, t0() + Duration::days(365)).unwrap();
    assert_eq!((lapse.kind, lapse.points), (EntryKind::Expiry, -70));
    ledger.append(lapse);
    assert_eq!(ledger.balance(), Balance::default());
    assert_eq!(
        expiry(&ledger, &config, t0() + Duration::days(400)),
        None,
        "nothing left to expire"
    );
    assert_eq!(
        expires_at(&ledger, &PointsConfig::default()),
        None,
        "no expiry by default"
    );
}

#[test]
fn manual_adjustments_need_a_reason_and_points() {
    let entry = adjustment(-25, "owner", "goodwill reversal", t0(), "n1").unwrap();
    assert_eq!(
        entry.source,
        Source::Manual {
            by: "owner".into(),
            reason: "goodwill reversal".into()
        }
    );
    assert_eq!(
        adjustment(0, "owner", "x", t0(), "n").unwrap_err().to_string(),
        "--points: must not be 0"
    );
    assert!(
        adjustment(5, "owner", "  ", t0(), "n")
            .unwrap_err()
            .to_string()
            .starts_with("--reason")
    );
    assert!(adjustment(2_000_000, "owner", "x", t0(), "n").is_err());
}

#[test]
fn a_redemption_needs_enough_available_points_and_happens_once_per_link() {
    let mut ledger = Ledger::default();
    ledger.append(adjustment(40, "owner", "launch", t0(), "n").unwrap());
    let reward = RewardOption {
        points: 50,
        amount_off: Some(Decimal::from(5)),
        percent_off: None,
        minimum_order: None,
    };
    assert_eq!(
        redeem(&ledger, &reward, "l1", None, t0())
            .unwrap_err()
            .to_string(),
        "this reward costs 50 points and 40 are available"
    );
    ledger.append(adjustment(10, "owner", "top up", t0(), "m").unwrap());
    ledger.append(redeem(&ledger, &reward, "l1", None, t0()).unwrap());
    assert_eq!(
        redeem(&ledger, &reward, "l1", None, t0()),
        Err(RedeemError::AlreadyRedeemed)
    );
    let back = return_redeemed(&ledger, "l1", t0()).unwrap();
    ledger.append(back);
    assert_eq!(ledger.balance().available, 50);
    assert_eq!(return_redeemed(&ledger, "l1", t0()), None, "returned once");
}

/// One thing that can happen to an order after it is paid, for the property tests.
#[derive(Debug, Clone)]
enum Step {
    /// Refund this many cents.
    Refund(u32),
    Deliver,
    Cancel,
    /// Spend what is available on a reward.
    Spend,
    /// Replay everything as it is now, later.
    Replay,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u32..20_000).prop_map(Step::Refund),
        Just(Step::Deliver),
        Just(Step::Cancel),
        Just(Step::Spend),
        Just(Step::Replay),
    ]
}

proptest! {
    /// Buy, earn, refund everything, in any interleaving with deliveries, spending, replays and
    /// cancellation: the customer ends with no more points than they started with, and the
    /// cached balance always equals the entries.
    #[test]
    fn the_buy_earn_refund_loop_never_gains_a_point(
        cents in 100u32..100_000,
        steps in proptest::collection::vec(step(), 0..12),
    ) {
        let config = enabled();
        let total = Decimal::new(cents.into(), 2);
        let mut paid = record(order("1", &total.to_string(), &total.to_string(), OrderStatus::Processing));
        let mut ledger = Ledger::default();
        let mut now = t0();
        let mut refunded = Decimal::ZERO;
        sync(&mut ledger, &paid, &config, now);
        let mut spends = 0;
        for step in steps {
            now += Duration::days(5);
            match step {
                Step::Refund(c) => {
                    let amount = Decimal::new(c.into(), 2).min(total - refunded);
                    if amount > Decimal::ZERO {
                        refunded += amount;
                        paid.refunds.push(Refund { id: format!("r{}", paid.refunds.len()), created_at: now, amount: Money::new(amount, eur("0").currency), reason: None });
                    }
                }
                Step::Deliver => paid.delivered_at = paid.delivered_at.or(Some(now)),
                Step::Cancel => paid.snapshot.as_mut().unwrap().status = OrderStatus::Cancelled,
                Step::Spend => {
                    let available = ledger.balance().available;
                    if available > 0 {
                        let reward = RewardOption { points: available as u32, amount_off: Some(Decimal::ONE), percent_off: None, minimum_order: None };
                        spends += available;
                        ledger.append(redeem(&ledger, &reward, &format!("s{now}"), None, now).unwrap());
                    }
                }
                Step::Replay => {}
            }
            sync(&mut ledger, &paid, &config, now);
            prop_assert_eq!(ledger.check(), Ok(()));
        }
        // Everything refunded at the end (if it was not already).
        if refunded < total {
            paid.refunds.push(Refund { id: "last".into(), created_at: now, amount: Money::new(total - refunded, eur("0").currency), reason: None });
        }
        for later in [1, 30, 400] {
            sync(&mut ledger, &paid, &config, now + Duration::days(later));
        }
        let balance = ledger.balance();
        prop_assert_eq!(balance.pending, 0);
        // What was spent on rewards is owed back: the balance is minus the spent points.
        prop_assert_eq!(balance.balance, -spends);
        prop_assert_eq!(ledger.check(), Ok(()));
    }

    /// A partial refund leaves at most the unrefunded share of the points, and replaying every
    /// state again changes nothing.
    #[test]
    fn partial_refunds_keep_at_most_the_unrefunded_share_and_replays_add_nothing(
        cents in 100u32..100_000,
        refunds in proptest::collection::vec(1u32..50_000, 1..5),
    ) {
        let config = enabled();
        let total = Decimal::new(cents.into(), 2);
        let mut paid = record(order("1", &total.to_string(), &total.to_string(), OrderStatus::Processing));
        let mut ledger = Ledger::default();
        sync(&mut ledger, &paid, &config, t0());
        let earned = ledger.balance().pending;
        let mut refunded = Decimal::ZERO;
        for (i, c) in refunds.into_iter().enumerate() {
            let amount = Decimal::new(c.into(), 2).min(total - refunded);
            if amount <= Decimal::ZERO { break; }
            refunded += amount;
            paid.refunds.push(Refund { id: format!("r{i}"), created_at: t0(), amount: Money::new(amount, eur("0").currency), reason: None });
            sync(&mut ledger, &paid, &config, t0());
        }
        let kept = ledger.balance().pending;
        let share = Decimal::from(earned) * (total - refunded) / total;
        prop_assert!(Decimal::from(kept) <= share, "kept {} of {} with {} of {} refunded", kept, earned, refunded, total);
        let before = ledger.clone();
        prop_assert_eq!(sync(&mut ledger, &paid, &config, t0()), 0);
        prop_assert_eq!(ledger, before);
    }
}

#[test]
fn the_points_section_of_a_shop_config_is_checked_with_the_shop() {
    let shop = crate::ShopId::from_domain("bottega.myshopify.com").unwrap();
    let config = crate::ShopConfig::from_toml(
        "[points]\nenabled = true\nper_currency_unit = \"1\"\npending_days = 14\n",
        &shop,
    )
    .unwrap();
    assert!(config.points.enabled);
    assert_eq!(config.points.pending_days, 14);
    assert!(
        !crate::ShopConfig::default().points.enabled,
        "off unless switched on"
    );
    let err = crate::ShopConfig::from_toml("[points]\nenabled = true\nper_currency_unit = \"0\"\n", &shop)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("points.per_currency_unit: "), "{err}");
    let err = crate::ShopConfig::from_toml(
        "[points]\ntier_multipliers = { Gold = \"2\" }\n[flows.vip]\ntiers = [{ name = \"Silver\", min_orders = 2 }]\n",
        &shop,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("'Gold' is not a tier of [flows.vip] (its tiers: Silver)"),
        "{err}"
    );
}
