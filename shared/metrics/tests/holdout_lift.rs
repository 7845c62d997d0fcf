//! The holdout on 10 000 customers: a stable ~5% split by the hash, and lift measured on a
//! synthetic effect (held-out customers buy again at 10%, those who got the message at 15%).

use aftersale_domain::ShopId;
use aftersale_domain::{CustomerId, Flow, MessageStatus, OrderRecord, OrderStatus};
use aftersale_metrics::facts::{DefaultWindows, message_contribution};
use aftersale_metrics::history::{RawMessage, RawOrder};
use aftersale_metrics::holdout::is_held_out;
use aftersale_metrics::report::{FlowSettings, LiftFigure, report};
use aftersale_metrics::{Range, tally};
use chrono::{Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

#[test]
fn lift_recovers_a_synthetic_five_point_effect_with_an_interval_around_it() {
    lift_of_a_five_point_effect(Flow::WinBack);
}

/// Checkout recovery is measured the same way: its reminders have a holdout, their orders count.
#[test]
fn checkout_recovery_counts_in_the_funnel_and_its_holdout() {
    lift_of_a_five_point_effect(Flow::CheckoutRecovery);
}

fn lift_of_a_five_point_effect(flow: Flow) {
    let shop = ShopId::new("lift-demo.myshopify.com").unwrap();
    let sent_at = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    let mut days = tally::Contribution::new();
    let (mut held, mut treated, mut held_buyers, mut treated_buyers) = (0u32, 0u32, 0u32, 0u32);
    for i in 0..10_000u64 {
        let customer = format!("c{i}");
        let id = CustomerId::new(customer.clone()).unwrap();
        let out = is_held_out(&shop, flow, &id, 5);
        // A fixed pattern, not chance: exactly 10% (held out) or 15% (sent) buy again.
        let index = if out { held } else { treated };
        if out {
            held += 1
        } else {
            treated += 1
        }
        let buys = if out { index % 10 == 0 } else { index % 20 < 3 };
        match (buys, out) {
            (true, true) => held_buyers += 1,
            (true, false) => treated_buyers += 1,
            _ => {}
        }
        let message = RawMessage {
            customer: customer.clone(),
            flow,
            subject: customer.clone(),
            planned_at: sent_at - Duration::days(1),
            at: sent_at,
            status: if out {
                MessageStatus::HeldOut
            } else {
                MessageStatus::Sent
            },
            reason: String::new(),
            clicked: false,
        };
        let stored = message.settled(message.planned(&shop));
        let mut records = Vec::new();
        if buys {
            let order = RawOrder {
                id: format!("o{i}"),
                customer: customer.clone(),
                placed_at: sent_at + Duration::days(3),
                total: Decimal::new(4000, 2),
                currency: "EUR",
                status: OrderStatus::Completed,
                refunds: vec![],
            };
            let mut record = OrderRecord::new(order.order().id);
            for event in order.events(&shop) {
                record.apply(&event);
            }
            records.push(record);
        }
        let contribution = message_contribution(&records, &[stored], &BTreeMap::new(), &[], &DefaultWindows);
        tally::accumulate(&mut days, &contribution);
    }
    let share = f64::from(held) / 10_000.0;
    assert!((0.04..0.06).contains(&share), "about 5% held out: {share}");

    let settings = |_| FlowSettings {
        holdout_percent: 5,
        attribution_days: 14,
    };
    let r = report(
        &days,
        Range::default(),
        sent_at.date_naive() + Duration::days(30),
        &settings,
    );
    let f = r.flow(flow).unwrap();
    assert_eq!(f.sent, u64::from(treated));
    assert_eq!(f.held_out, u64::from(held));
    let LiftFigure::Measured {
        lift,
        incremental_revenue,
    } = &f.lift
    else {
        panic!("enough data: {:?}", f.lift);
    };
    assert_eq!(f.converted, u64::from(treated_buyers));
    assert_eq!(f.held_out_converted, u64::from(held_buyers));
    assert!((lift.treated_rate - f64::from(treated_buyers) / f64::from(treated)).abs() < 1e-12);
    assert!((lift.control_rate - f64::from(held_buyers) / f64::from(held)).abs() < 1e-12);
    assert!((lift.difference - 0.05).abs() < 0.002, "{lift:?}");
    assert!(lift.interval.0 > 0.0 && lift.interval.1 > 0.05, "{lift:?}");
    assert!(
        lift.interval.1 - lift.interval.0 < 0.1,
        "a 95% interval of a few points: {lift:?}"
    );
    assert!(
        (lift.relative.unwrap() - 0.5).abs() < 0.05,
        "15% against 10% is +50%: {lift:?}"
    );
    // Each buyer spent 40.00: incremental revenue ≈ 0.05 × 40 × sent.
    let expected = 0.05 * 40.0 * f64::from(treated);
    let got: f64 = incremental_revenue[0].amount.to_string().parse().unwrap();
    assert!((got - expected).abs() < expected * 0.05, "{got} vs {expected}");
}
