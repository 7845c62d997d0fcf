//! The figures an owner reads, from the rollups' day tallies: one pass over the days in the
//! range, never over customers or orders. Every definition here is the README's, word for word
//! ("Metrics: definitions").

use crate::facts::LTV_DAYS;
use crate::lift::{self, MIN_SAMPLE};
use crate::names;
use crate::tally::Tally;
use aftersale_domain::{Currency, Flow, Money};
use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The days the figures cover, inclusive, in UTC; `None` is open-ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Range {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|t| day <= t)
    }
}

/// A flow's per-shop measurement settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowSettings {
    pub holdout_percent: u8,
    pub attribution_days: i64,
}

/// One month of first orders: its customers and the share who ordered again by month k.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cohort {
    /// `2026-03`.
    pub month: String,
    pub customers: u64,
    /// `m1`..`m12`: the share who ordered again within k calendar months of their first
    /// order's month; `null` until month k has ended.
    #[serde(flatten)]
    pub reordered: BTreeMap<String, Option<f64>>,
}

/// The months the cohort table reports.
pub const COHORT_MONTHS: [i64; 5] = [1, 2, 3, 6, 12];

/// Every figure of `aftersale metrics`, the dashboard and the metrics JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub customers: u64,
    pub orders: u64,
    pub revenue: Vec<Money>,
    pub repeat_purchase_rate: Option<f64>,
    pub median_days_to_second_order: Option<f64>,
    pub aov_first_order: Vec<Money>,
    pub aov_repeat_orders: Vec<Money>,
    /// `d30`, `d90`, `d365`.
    pub ltv: BTreeMap<String, Vec<Money>>,
    pub refund_rate: Option<f64>,
    pub review_rate: Option<f64>,
    pub nps: Option<f64>,
    pub csat: Option<f64>,
    pub cohorts: Vec<Cohort>,
    /// Every flow, in [`Flow::ALL`] order.
    pub flows: Vec<(Flow, FlowFunnel)>,
    /// Monthly trends for the dashboard: (month, counted orders, revenue).
    pub months: Vec<MonthTrend>,
    /// Loyalty points over the range, and outstanding at its end.
    pub points: PointsFigures,
}

/// Loyalty points: what the range issued, redeemed, expired, took back and adjusted, and what
/// is outstanding at its end (the liability: every point earned and not yet spent, lapsed or
/// taken back, whenever it was earned). All zero for a shop without points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PointsFigures {
    /// Earned on orders (pending included) and given as bonuses.
    pub issued: i64,
    /// Turned into reward codes, net of redemptions given back.
    pub redeemed: i64,
    pub expired: i64,
    /// Taken back by refunds and cancellations.
    pub clawed_back: i64,
    /// Manual adjustments, signed.
    pub adjusted: i64,
    /// Available plus pending at the end of the range.
    pub outstanding: i64,
    /// Of which spendable now.
    pub outstanding_available: i64,
    /// Of which still in orders' return windows.
    pub outstanding_pending: i64,
}

fn points_figures(days: &BTreeMap<NaiveDate, Tally>, range: Range, in_range: &Tally) -> PointsFigures {
    let mut until_end = Tally::default();
    for (_, tally) in days.iter().filter(|(d, _)| range.to.is_none_or(|to| **d <= to)) {
        until_end.merge(tally);
    }
    let n = |t: &Tally, name: &str| t.get(name).to_i64().unwrap_or(0);
    let available = n(&until_end, names::POINTS_AVAILABLE);
    let pending = n(&until_end, names::POINTS_PENDING);
    PointsFigures {
        issued: n(in_range, names::POINTS_ISSUED),
        redeemed: n(in_range, names::POINTS_REDEEMED),
        expired: n(in_range, names::POINTS_EXPIRED),
        clawed_back: n(in_range, names::POINTS_CLAWED_BACK),
        adjusted: n(in_range, names::POINTS_ADJUSTED),
        outstanding: available + pending,
        outstanding_available: available,
        outstanding_pending: pending,
    }
}

/// One month's orders and revenue, for the trend charts.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthTrend {
    pub month: String,
    pub orders: u64,
    pub customers: u64,
    pub revenue: Vec<Money>,
}

/// A flow's funnel over the range.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowFunnel {
    pub settings: FlowSettings,
    pub planned: u64,
    pub sent: u64,
    pub held_out: u64,
    pub skipped: BTreeMap<String, u64>,
    pub deferred: u64,
    pub failed: u64,
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub bounced: u64,
    pub unsubscribed: u64,
    pub complained: u64,
    pub converted: u64,
    pub attributed_revenue: Vec<Money>,
    pub held_out_converted: u64,
    pub held_out_revenue: Vec<Money>,
    pub lift: LiftFigure,
}

/// Lift against the holdout, or why there is none yet.
#[derive(Debug, Clone, PartialEq)]
pub enum LiftFigure {
    /// Below [`MIN_SAMPLE`] in a group: the counts so far.
    NotEnoughData { sent: u64, held_out: u64 },
    Measured {
        lift: lift::Lift,
        /// (attributed revenue per sent message − per held-out message) × sent, per currency.
        incremental_revenue: Vec<Money>,
    },
}

fn count(d: Decimal) -> u64 {
    d.to_u64().unwrap_or(0)
}

fn ratio(num: Decimal, den: Decimal) -> Option<f64> {
    (!den.is_zero()).then(|| round4(num / den))
}

fn round4(d: Decimal) -> f64 {
    d.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .to_f64()
        .unwrap_or(0.0)
}

fn money(amount: Decimal, currency: Currency) -> Money {
    Money::new(
        amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero),
        currency,
    )
}

/// Sums of `prefix#{currency}` names, one per currency.
fn by_currency(t: &Tally, prefix: &str) -> BTreeMap<String, (Currency, Decimal)> {
    t.under(prefix)
        .filter_map(|(rest, v)| Currency::new(rest).ok().map(|c| (c.to_string(), (c, v))))
        .collect()
}

/// Mean per currency: `sum_prefix#C / count_prefix#C`.
fn means(t: &Tally, sum_prefix: &str, count_prefix: &str) -> Vec<Money> {
    let counts = by_currency(t, count_prefix);
    by_currency(t, sum_prefix)
        .into_values()
        .filter_map(|(c, sum)| {
            let (_, n) = counts.get(c.as_str())?;
            (!n.is_zero()).then(|| money(sum / n, c))
        })
        .collect()
}

fn sums(t: &Tally, prefix: &str) -> Vec<Money> {
    by_currency(t, prefix)
        .into_values()
        .map(|(c, v)| money(v, c))
        .collect()
}

fn month_of(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// The median of a multiset of seconds (the midpoint of the middle two for an even count),
/// in fractional days.
fn median_days(gaps: &BTreeMap<i64, u64>) -> Option<f64> {
    let n: u64 = gaps.values().sum();
    if n == 0 {
        return None;
    }
    let nth = |k: u64| -> i64 {
        let mut seen = 0;
        for (secs, c) in gaps {
            seen += c;
            if seen > k {
                return *secs;
            }
        }
        unreachable!("k < n")
    };
    let (lo, hi) = (nth((n - 1) / 2), nth(n / 2));
    let secs = (Decimal::from(lo) + Decimal::from(hi)) / Decimal::TWO;
    Some(round4(secs / Decimal::from(86_400)))
}

/// Computes the report over the days in `range`, as of `today` (which decides which LTV
/// horizons and cohort months are complete).
pub fn report(
    days: &BTreeMap<NaiveDate, Tally>,
    range: Range,
    today: NaiveDate,
    settings: &dyn Fn(Flow) -> FlowSettings,
) -> Report {
    let mut total = Tally::default();
    let mut by_month: BTreeMap<String, Tally> = BTreeMap::new();
    let mut ltv_eligible: BTreeMap<i64, Tally> = BTreeMap::new();
    for (day, tally) in days.iter().filter(|(d, _)| range.contains(**d)) {
        total.merge(tally);
        by_month.entry(month_of(*day)).or_default().merge(tally);
        for horizon in LTV_DAYS {
            if (today - *day).num_days() >= horizon {
                ltv_eligible.entry(horizon).or_default().merge(tally);
            }
        }
    }
    let gaps: BTreeMap<i64, u64> = total
        .under(names::GAP_PREFIX)
        .filter_map(|(secs, n)| Some((secs.parse().ok()?, count(n))))
        .collect();
    let ltv = LTV_DAYS
        .iter()
        .map(|h| {
            let eligible = ltv_eligible.remove(h).unwrap_or_default();
            (
                format!("d{h}"),
                means(&eligible, &format!("ltv{h}#"), "ltv_customers#"),
            )
        })
        .collect();
    let today_month = i64::from(today.year()) * 12 + i64::from(today.month0());
    let cohorts = by_month
        .iter()
        .filter(|(_, t)| !t.get(names::CUSTOMERS).is_zero())
        .map(|(month, t)| {
            let customers = t.get(names::CUSTOMERS);
            let (y, m) = month.split_once('-').unwrap_or(("0", "0"));
            let start = y.parse::<i64>().unwrap_or(0) * 12 + m.parse::<i64>().unwrap_or(1) - 1;
            let reordered = COHORT_MONTHS
                .iter()
                .map(|k| {
                    let again: Decimal = t
                        .under(names::REORDER_PREFIX)
                        .filter(|(j, _)| j.parse::<i64>().is_ok_and(|j| j <= *k))
                        .map(|(_, n)| n)
                        .sum();
                    let complete = start + k < today_month;
                    (format!("m{k}"), complete.then(|| round4(again / customers)))
                })
                .collect();
            Cohort {
                month: month.clone(),
                customers: count(customers),
                reordered,
            }
        })
        .collect();
    let months = by_month
        .iter()
        .map(|(month, t)| MonthTrend {
            month: month.clone(),
            orders: count(t.get(names::ORDERS)),
            customers: count(t.get(names::CUSTOMERS)),
            revenue: sums(t, "revenue#"),
        })
        .collect();
    let flows = Flow::ALL
        .into_iter()
        .map(|f| (f, funnel(&total, f, settings(f))))
        .collect();
    let nps_answers = total.get(names::NPS_ANSWERS);
    let points = points_figures(days, range, &total);
    Report {
        customers: count(total.get(names::CUSTOMERS)),
        orders: count(total.get(names::ORDERS)),
        revenue: sums(&total, "revenue#"),
        repeat_purchase_rate: ratio(total.get(names::REPEAT_CUSTOMERS), total.get(names::CUSTOMERS)),
        median_days_to_second_order: median_days(&gaps),
        aov_first_order: means(&total, "first_net#", "first_orders#"),
        aov_repeat_orders: means(&total, "repeat_net#", "repeat_orders#"),
        ltv,
        refund_rate: ratio(total.get(names::REFUNDED_ORDERS), total.get(names::PAID_ORDERS)),
        review_rate: ratio(
            total.get(names::RATINGS),
            total.get(&names::flow(Flow::ReviewRequest, "sent")),
        ),
        nps: (!nps_answers.is_zero()).then(|| {
            let score = Decimal::ONE_HUNDRED
                * (total.get(names::NPS_PROMOTERS) - total.get(names::NPS_DETRACTORS))
                / nps_answers;
            score
                .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
                .to_f64()
                .unwrap_or(0.0)
        }),
        csat: ratio(total.get(names::CSAT_SATISFIED), total.get(names::CSAT_ANSWERS)),
        cohorts,
        flows,
        months,
        points,
    }
}

fn funnel(t: &Tally, f: Flow, settings: FlowSettings) -> FlowFunnel {
    let n = |what: &str| count(t.get(&names::flow(f, what)));
    let sent = n("sent");
    let held_out = n("held_out");
    let converted = n("converted");
    let held_out_converted = n("held_out_converted");
    let attributed_revenue = sums(t, &names::flow(f, "attributed#"));
    let held_out_revenue = sums(t, &names::flow(f, "held_out_revenue#"));
    let lift = match lift::lift(converted, sent, held_out_converted, held_out) {
        None => LiftFigure::NotEnoughData { sent, held_out },
        Some(lift) => {
            let mut currencies: Vec<Currency> = attributed_revenue.iter().map(|m| m.currency).collect();
            currencies.extend(held_out_revenue.iter().map(|m| m.currency));
            currencies.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            currencies.dedup();
            // From the unrounded sums: the rounded totals above are for display.
            let incremental_revenue = currencies
                .into_iter()
                .map(|c| {
                    let treated = t.get(&names::flow_money(f, "attributed", c));
                    let control_sum = t.get(&names::flow_money(f, "held_out_revenue", c));
                    let per_sent = treated / Decimal::from(sent);
                    let per_held = control_sum / Decimal::from(held_out);
                    money((per_sent - per_held) * Decimal::from(sent), c)
                })
                .collect();
            LiftFigure::Measured {
                lift,
                incremental_revenue,
            }
        }
    };
    FlowFunnel {
        settings,
        planned: n("planned"),
        sent,
        held_out,
        skipped: t
            .under(&names::flow_skipped_prefix(f))
            .map(|(reason, v)| (reason.to_string(), count(v)))
            .collect(),
        deferred: n("deferred"),
        failed: n("failed"),
        delivered: n("delivered"),
        opened: n("opened"),
        clicked: n("clicked"),
        bounced: n("bounced"),
        unsubscribed: n("unsubscribed"),
        complained: n("complained"),
        converted,
        attributed_revenue,
        held_out_converted,
        held_out_revenue,
        lift,
    }
}

fn money_json(list: &[Money]) -> Value {
    Value::Array(
        list.iter()
            .map(|m| json!({"amount": m.amount.to_string(), "currency": m.currency.as_str()}))
            .collect(),
    )
}

impl Report {
    /// One flow's funnel.
    pub fn flow(&self, flow: Flow) -> Option<&FlowFunnel> {
        self.flows
            .iter()
            .find(|(f, _)| *f == flow)
            .map(|(_, funnel)| funnel)
    }

    /// The `--json` object: exactly the issue's keys plus `customers`, `orders`, `revenue` and
    /// `flows`, and `points` when there are points to show (a shop without points keeps the
    /// exact documented key set). Money is always a list with one `{amount, currency}` per
    /// currency.
    pub fn to_json(&self) -> Value {
        let flows: serde_json::Map<String, Value> = self
            .flows
            .iter()
            .map(|(f, funnel)| (f.to_string(), funnel.to_json()))
            .collect();
        let mut figures = json!({
            "customers": self.customers,
            "orders": self.orders,
            "revenue": money_json(&self.revenue),
            "repeat_purchase_rate": self.repeat_purchase_rate,
            "median_days_to_second_order": self.median_days_to_second_order,
            "aov_first_order": money_json(&self.aov_first_order),
            "aov_repeat_orders": money_json(&self.aov_repeat_orders),
            "ltv": self.ltv.iter().map(|(k, v)| (k.clone(), money_json(v))).collect::<serde_json::Map<_, _>>(),
            "refund_rate": self.refund_rate,
            "review_rate": self.review_rate,
            "nps": self.nps,
            "csat": self.csat,
            "cohorts": self.cohorts,
            "flows": flows,
        });
        if self.points != PointsFigures::default() {
            figures["points"] = json!(self.points);
        }
        figures
    }
}

impl FlowFunnel {
    fn to_json(&self) -> Value {
        let lift = match &self.lift {
            LiftFigure::NotEnoughData { sent, held_out } => json!({
                "status": "not enough data yet",
                "sent": sent,
                "held_out": held_out,
                "min_sample": MIN_SAMPLE,
            }),
            LiftFigure::Measured {
                lift,
                incremental_revenue,
            } => json!({
                "status": "measured",
                "sent_conversion": round_f(lift.treated_rate),
                "held_out_conversion": round_f(lift.control_rate),
                "lift": round_f(lift.difference),
                "interval_95": [round_f(lift.interval.0), round_f(lift.interval.1)],
                "relative_lift": lift.relative.map(round_f),
                "incremental_revenue": money_json(incremental_revenue),
            }),
        };
        json!({
            "holdout_percent": self.settings.holdout_percent,
            "attribution_days": self.settings.attribution_days,
            "planned": self.planned,
            "sent": self.sent,
            "held_out": self.held_out,
            "skipped": self.skipped,
            "deferred": self.deferred,
            "failed": self.failed,
            "delivered": self.delivered,
            "opened": self.opened,
            "clicked": self.clicked,
            "bounced": self.bounced,
            "unsubscribed": self.unsubscribed,
            "complained": self.complained,
            "converted": self.converted,
            "attributed_revenue": money_json(&self.attributed_revenue),
            "lift": lift,
        })
    }
}

fn round_f(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
