//! What one customer adds to the rollups, computed from their whole history every time it
//! changes: their orders (ingest), their messages, message events and answers (engine), and
//! their points ledger (engine).
//! Pure functions, so the live path and `aftersale metrics rebuild` cannot disagree.

use crate::names;
use crate::tally::{Contribution, Tally};
use aftersale_domain::points::{Bucket, EntryKind, Ledger};
use aftersale_domain::{
    Answer, AnswerKind, Flow, Message, MessageStatus, Money, OrderRecord, OrderStatus, Reason,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The LTV horizons, in days.
pub const LTV_DAYS: [i64; 3] = [30, 90, 365];

/// An order as the metrics count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidOrder {
    pub placed_at: DateTime<Utc>,
    /// Total minus every refund, never below zero.
    pub net: Money,
    pub any_refund: bool,
    /// Paid, not cancelled, not deleted and not refunded in full: a purchase.
    pub counts: bool,
}

/// The customer's paid orders, oldest first. An order was paid when the platform says it is
/// paid, or it was refunded (nothing unpaid is refunded); a cancelled, deleted or fully
/// refunded one is paid but not a purchase.
pub fn paid_orders(records: &[OrderRecord]) -> Vec<PaidOrder> {
    let mut paid: Vec<PaidOrder> = records
        .iter()
        .filter(|r| !r.deleted)
        .filter_map(|r| {
            let order = r.snapshot.as_ref()?;
            let refunded = r.refunded().map(|m| m.amount).unwrap_or_default();
            let any_refund = refunded > Decimal::ZERO;
            let was_paid = order.status.is_paid() || order.status == OrderStatus::Refunded || any_refund;
            if !was_paid || order.status == OrderStatus::Failed {
                return None;
            }
            let net = (order.total.amount - refunded).max(Decimal::ZERO);
            Some(PaidOrder {
                placed_at: order.created_at,
                net: Money::new(net, order.total.currency),
                any_refund,
                counts: !r.is_void(),
            })
        })
        .collect();
    paid.sort_by_key(|o| o.placed_at);
    paid
}

/// The customer's order facts: paid and refunded orders and revenue on the day of each order;
/// on the day of their first counted order, the customer, their first-order value, LTV
/// within each horizon, and (once there is one) the gap to their second order.
pub fn order_contribution(records: &[OrderRecord]) -> Contribution {
    let paid = paid_orders(records);
    let mut out = Contribution::new();
    for order in &paid {
        let day = out.entry(order.placed_at.date_naive()).or_default();
        day.count(names::PAID_ORDERS);
        if order.any_refund {
            day.count(names::REFUNDED_ORDERS);
        }
        if order.counts {
            day.count(names::ORDERS);
            day.add(names::revenue(order.net.currency), order.net.amount);
        }
    }
    let counted: Vec<&PaidOrder> = paid.iter().filter(|o| o.counts).collect();
    let Some(first) = counted.first() else {
        return out;
    };
    let currency = first.net.currency;
    let cohort = out.entry(first.placed_at.date_naive()).or_default();
    cohort.count(names::CUSTOMERS);
    cohort.count(names::first_orders(currency));
    cohort.add(names::first_net(currency), first.net.amount);
    cohort.count(names::ltv_customers(currency));
    for days in LTV_DAYS {
        let within: Decimal = counted
            .iter()
            .filter(|o| o.net.currency == currency && o.placed_at - first.placed_at <= Duration::days(days))
            .map(|o| o.net.amount)
            .sum();
        cohort.add(names::ltv(days, currency), within);
    }
    if let Some(second) = counted.get(1) {
        cohort.count(names::REPEAT_CUSTOMERS);
        cohort.count(names::gap((second.placed_at - first.placed_at).num_seconds()));
        cohort.count(names::reorder_month(months_between(
            first.placed_at.date_naive(),
            second.placed_at.date_naive(),
        )));
    }
    for later in counted.iter().skip(1) {
        let day = out.entry(later.placed_at.date_naive()).or_default();
        day.count(names::repeat_orders(later.net.currency));
        day.add(names::repeat_net(later.net.currency), later.net.amount);
    }
    out
}

/// Calendar months from `from`'s month to `to`'s (0 = the same month).
pub fn months_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (i64::from(to.year()) * 12 + i64::from(to.month0()))
        - (i64::from(from.year()) * 12 + i64::from(from.month0()))
}

/// What the mail provider told us about one message (SES events; locally, the outbox marks
/// delivery). The first sighting of each kind is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    pub delivered_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
    pub bounced_at: Option<DateTime<Utc>>,
    pub complained_at: Option<DateTime<Utc>>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
}

/// One kind of provider event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngagementKind {
    Delivered,
    Opened,
    Clicked,
    Bounced,
    Complained,
    Unsubscribed,
}

impl Engagement {
    /// Records `kind` at `at`; returns whether anything changed (redeliveries change nothing,
    /// an earlier sighting replaces a later one).
    pub fn record(&mut self, kind: EngagementKind, at: DateTime<Utc>) -> bool {
        let slot = match kind {
            EngagementKind::Delivered => &mut self.delivered_at,
            EngagementKind::Opened => &mut self.opened_at,
            EngagementKind::Clicked => &mut self.clicked_at,
            EngagementKind::Bounced => &mut self.bounced_at,
            EngagementKind::Complained => &mut self.complained_at,
            EngagementKind::Unsubscribed => &mut self.unsubscribed_at,
        };
        if slot.is_some_and(|known| known <= at) {
            return false;
        }
        *slot = Some(at);
        true
    }
}

/// The attribution window of each flow: a counted order this long after a send (or the
/// instant a held-out message would have gone) is that message's conversion.
pub trait Windows {
    fn attribution(&self, flow: Flow) -> Duration;
}

/// The flow's default window (each flow's rules say; a week for the messages about an order,
/// two for those that sell).
pub fn default_attribution_days(flow: Flow) -> i64 {
    aftersale_domain::flows::rules(flow).default_attribution_days()
}

/// The default windows for every flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultWindows;

impl Windows for DefaultWindows {
    fn attribution(&self, flow: Flow) -> Duration {
        Duration::days(default_attribution_days(flow))
    }
}

/// The label a skip is counted under: why it was skipped, as the outbox words it after
/// `skipped: `. A reason this version cannot read is counted under its stored text.
pub fn skip_label(message: &Message) -> String {
    match &message.reason {
        Reason::Skipped(why) => why.to_string(),
        Reason::Unrecognised(text) if !text.trim().is_empty() => text.trim().to_string(),
        _ => "unknown".into(),
    }
}

/// The customer's message facts: each message's funnel (planned on the day it was planned;
/// its outcome, engagement and conversion on the day it went, or would have gone), and their
/// answers on the day they answered.
pub fn message_contribution(
    records: &[OrderRecord],
    messages: &[Message],
    engagement: &BTreeMap<String, Engagement>,
    answers: &[Answer],
    windows: &dyn Windows,
) -> Contribution {
    let purchases: Vec<PaidOrder> = paid_orders(records).into_iter().filter(|o| o.counts).collect();
    let mut out = Contribution::new();
    for m in messages {
        out.entry(m.planned_at.date_naive())
            .or_default()
            .count(names::flow(m.flow(), "planned"));
        let outcome_at = match m.status {
            MessageStatus::Sent => m.sent_at.unwrap_or(m.due_at),
            _ => m.due_at,
        };
        let day = out.entry(outcome_at.date_naive()).or_default();
        match m.status {
            MessageStatus::Sent => {
                day.count(names::flow(m.flow(), "sent"));
                if let Some(e) = engagement.get(m.id().as_str()) {
                    count_engagement(day, m.flow(), e);
                }
            }
            MessageStatus::HeldOut => day.count(names::flow(m.flow(), "held_out")),
            MessageStatus::Skipped => day.count(format!(
                "{}{}",
                names::flow_skipped_prefix(m.flow()),
                skip_label(m)
            )),
            MessageStatus::Failed => day.count(names::flow(m.flow(), "failed")),
            MessageStatus::Planned if matches!(m.reason, Reason::Deferred(_)) => {
                day.count(names::flow(m.flow(), "deferred"))
            }
            MessageStatus::Planned | MessageStatus::Claimed | MessageStatus::Sending => {}
        }
    }
    for flow in Flow::ALL {
        let window = windows.attribution(flow);
        for (status, converted, revenue) in [
            (MessageStatus::Sent, "converted", "attributed"),
            (MessageStatus::HeldOut, "held_out_converted", "held_out_revenue"),
        ] {
            let touches: Vec<DateTime<Utc>> = messages
                .iter()
                .filter(|m| m.flow() == flow && m.status == status)
                .map(|m| {
                    if status == MessageStatus::Sent {
                        m.sent_at.unwrap_or(m.due_at)
                    } else {
                        m.due_at
                    }
                })
                .collect();
            for (touch, orders) in attribute(&touches, &purchases, window) {
                let day = out.entry(touch.date_naive()).or_default();
                day.count(names::flow(flow, converted));
                for order in orders {
                    day.add(
                        names::flow_money(flow, revenue, order.net.currency),
                        order.net.amount,
                    );
                }
            }
        }
    }
    for a in answers {
        let day = out.entry(a.answered_at.date_naive()).or_default();
        match &a.answer {
            AnswerKind::Rating { .. } => day.count(names::RATINGS),
            AnswerKind::Nps { score } => {
                day.count(names::NPS_ANSWERS);
                if *score >= 9 {
                    day.count(names::NPS_PROMOTERS);
                } else if *score <= 6 {
                    day.count(names::NPS_DETRACTORS);
                }
            }
            AnswerKind::Csat { score } => {
                day.count(names::CSAT_ANSWERS);
                if *score >= 4 {
                    day.count(names::CSAT_SATISFIED);
                }
            }
            AnswerKind::Delivery { .. } => {}
        }
    }
    out.retain(|_, t| !t.is_empty());
    out
}

fn count_engagement(day: &mut Tally, flow: Flow, e: &Engagement) {
    for (seen, what) in [
        (e.delivered_at, "delivered"),
        (e.opened_at, "opened"),
        (e.clicked_at, "clicked"),
        (e.bounced_at, "bounced"),
        (e.complained_at, "complained"),
        (e.unsubscribed_at, "unsubscribed"),
    ] {
        if seen.is_some() {
            day.count(names::flow(flow, what));
        }
    }
}

/// Each purchase goes to the latest touch before it whose window it falls in (last touch
/// within a flow, so one order is never counted twice for the same flow). Returns the
/// touches that converted, with their orders.
fn attribute<'a>(
    touches: &[DateTime<Utc>],
    purchases: &'a [PaidOrder],
    window: Duration,
) -> BTreeMap<DateTime<Utc>, Vec<&'a PaidOrder>> {
    let mut converted: BTreeMap<DateTime<Utc>, Vec<&PaidOrder>> = BTreeMap::new();
    for order in purchases {
        let touch = touches
            .iter()
            .filter(|t| **t < order.placed_at && order.placed_at - **t <= window)
            .max();
        if let Some(touch) = touch {
            converted.entry(*touch).or_default().push(order);
        }
    }
    converted
}

/// The customer's points facts: each ledger entry on its UTC day, as what it issued, spent,
/// lapsed, took back or adjusted, and how it moved their available and pending balance. The
/// sums over every day up to one are the points outstanding then (the shop's liability).
pub fn points_contribution(ledger: &Ledger) -> Contribution {
    let mut out = Contribution::new();
    for entry in ledger.entries() {
        let day = out.entry(entry.at.date_naive()).or_default();
        let points = Decimal::from(entry.points);
        match entry.kind {
            EntryKind::Earn | EntryKind::Bonus => day.add(names::POINTS_ISSUED, points),
            EntryKind::Redeem | EntryKind::RedeemReturned => day.add(names::POINTS_REDEEMED, -points),
            EntryKind::Expiry => day.add(names::POINTS_EXPIRED, -points),
            EntryKind::Clawback => day.add(names::POINTS_CLAWED_BACK, -points),
            EntryKind::Adjustment => day.add(names::POINTS_ADJUSTED, points),
            // A move from pending to available: counted below, issued nothing.
            EntryKind::Available => {}
        }
        match entry.bucket {
            Bucket::Pending => day.add(names::POINTS_PENDING, points),
            Bucket::Available => day.add(names::POINTS_AVAILABLE, points),
        }
        if entry.kind == EntryKind::Available {
            day.add(names::POINTS_PENDING, -points);
        }
    }
    out.retain(|_, t| !t.is_empty());
    out
}
