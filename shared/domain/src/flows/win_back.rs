//! Win-back: a customer who has gone quiet for longer than the shop's usual gap between orders
//! is invited back in a short sequence that ends the moment they order.
//!
//! A lapse is identified by the last order before it, so the sequence runs once per lapse:
//! planning it twice stores it once, and only a new order (hence a new last order) can start
//! another one.

use super::history::PurchaseHistory;
use super::payload::{DiscountProgress, instant, text};
use super::schedule::at_local;
use super::stats::nearest_rank;
use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{ConfigError, Currency, Message, Money, OrderId, ShopConfig, SkipReason};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a lapsed customer is offered, by how much they are worth to the shop: those who
/// already love the shop get recognition rather than a discount that only costs margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Incentive {
    None,
    EarlyAccess,
    Points(u32),
    /// Percent off, e.g. `10` for 10%.
    Discount(Decimal),
}

/// A customer's value to the shop, which decides their incentive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    HighValue,
    RecentFirstTimer,
    Regular,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Incentives {
    pub high_value: Incentive,
    pub recent_first_timer: Incentive,
    pub regular: Incentive,
}

/// Days after the lapse each step goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepDays {
    pub value: u32,
    pub offer: u32,
    pub social_proof: u32,
    pub last_call: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WinbackConfig {
    pub enabled: bool,
    /// Days without an order after which a customer has lapsed; unset, it is learned from
    /// the shop's gaps between orders.
    pub window_days: Option<u32>,
    /// The percentile of the shop's gaps a learned window sits at: most repeat customers come
    /// back sooner, so one who has not is unusual.
    pub window_percentile: u8,
    /// Gaps needed before a learned window is trusted.
    pub min_samples: usize,
    /// The window while too few gaps are known.
    pub fallback_window_days: u32,
    pub steps: StepDays,
    /// The offer ends at the end of the day (shop time) this many days after the last call.
    pub offer_valid_days: u32,
    /// High value: in the top this-percent of customers by net spend...
    pub high_value_top_percent: u8,
    /// ...or at least this many paid orders (0 = spend only).
    pub high_value_min_orders: u32,
    /// Recent first-timer: a single order placed at most this many days before the lapse.
    pub recent_first_timer_days: u32,
    pub incentives: Incentives,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5 on replenishment and win-back, else 0).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default.
    pub attribution_days: Option<u32>,
}

/// No discount by default: a discount is a real code created through the shop's
/// `[admin_api]`, which an empty config does not have (`config check` refuses a discount
/// without it).
impl Default for Incentives {
    fn default() -> Self {
        Self {
            high_value: Incentive::EarlyAccess,
            recent_first_timer: Incentive::None,
            regular: Incentive::None,
        }
    }
}

impl Incentives {
    /// The config fields of the incentives that are discount codes.
    pub fn discount_fields(&self) -> impl Iterator<Item = &'static str> {
        [
            ("flows.win_back.incentives.high_value", self.high_value),
            (
                "flows.win_back.incentives.recent_first_timer",
                self.recent_first_timer,
            ),
            ("flows.win_back.incentives.regular", self.regular),
        ]
        .into_iter()
        .filter(|(_, incentive)| matches!(incentive, Incentive::Discount(_)))
        .map(|(field, _)| field)
    }
}

impl Default for StepDays {
    fn default() -> Self {
        Self {
            value: 0,
            offer: 4,
            social_proof: 10,
            last_call: 17,
        }
    }
}

impl Default for WinbackConfig {
    fn default() -> Self {
        Self {
            holdout_percent: None,
            attribution_days: None,
            enabled: true,
            window_days: None,
            window_percentile: 80,
            min_samples: 30,
            fallback_window_days: 90,
            steps: StepDays::default(),
            offer_valid_days: 3,
            high_value_top_percent: 10,
            high_value_min_orders: 5,
            recent_first_timer_days: 120,
            incentives: Incentives::default(),
        }
    }
}

/// The whole sequence fits in three weeks, offer included: longer and it stops being a
/// nudge and starts being noise.
const SEQUENCE_DAYS: u32 = 21;

impl WinbackConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: &str| ConfigError::Invalid {
            field,
            problem: problem.into(),
        };
        if self.window_days.is_some_and(|d| !(7..=730).contains(&d)) {
            return Err(invalid("flows.win_back.window_days", "must be between 7 and 730"));
        }
        if !(50..=99).contains(&self.window_percentile) {
            return Err(invalid(
                "flows.win_back.window_percentile",
                "must be between 50 and 99",
            ));
        }
        if self.min_samples == 0 {
            return Err(invalid("flows.win_back.min_samples", "must be at least 1"));
        }
        if !(7..=730).contains(&self.fallback_window_days) {
            return Err(invalid(
                "flows.win_back.fallback_window_days",
                "must be between 7 and 730",
            ));
        }
        let s = &self.steps;
        if !(s.value < s.offer && s.offer < s.social_proof && s.social_proof < s.last_call) {
            return Err(invalid(
                "flows.win_back.steps",
                "value, offer, social_proof and last_call must come in that order, on different days",
            ));
        }
        if s.last_call + self.offer_valid_days > SEQUENCE_DAYS {
            return Err(invalid(
                "flows.win_back.steps.last_call",
                "the last call and its offer must end within 21 days of the lapse",
            ));
        }
        if self.high_value_top_percent > 50 {
            return Err(invalid(
                "flows.win_back.high_value_top_percent",
                "must be at most 50",
            ));
        }
        let i = &self.incentives;
        for incentive in [i.high_value, i.recent_first_timer, i.regular] {
            match incentive {
                Incentive::Discount(p) if p <= Decimal::ZERO || p > Decimal::from(50) => {
                    return Err(invalid(
                        "flows.win_back.incentives",
                        "a discount must be more than 0 and at most 50 percent",
                    ));
                }
                Incentive::Points(0) => {
                    return Err(invalid("flows.win_back.incentives", "points must be more than 0"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The lapse window: the configured one, else learned from the shop's gaps.
    pub fn window(&self, shop_intervals: &[Duration]) -> Duration {
        match self.window_days {
            Some(days) => Duration::days(days.into()),
            None => lapse_window(
                shop_intervals,
                self.window_percentile,
                self.min_samples,
                Duration::days(self.fallback_window_days.into()),
            ),
        }
    }

    pub fn incentive(&self, segment: Segment) -> Incentive {
        match segment {
            Segment::HighValue => self.incentives.high_value,
            Segment::RecentFirstTimer => self.incentives.recent_first_timer,
            Segment::Regular => self.incentives.regular,
        }
    }
}

/// The nearest-rank `percentile` of the shop's gaps between consecutive orders of the same
/// customer ([`PurchaseHistory::intervals`]), or `fallback` with fewer than `min_samples`.
pub fn lapse_window(
    shop_intervals: &[Duration],
    percentile: u8,
    min_samples: usize,
    fallback: Duration,
) -> Duration {
    if shop_intervals.len() < min_samples.max(1) {
        return fallback;
    }
    let mut sorted = shop_intervals.to_vec();
    sorted.sort_unstable();
    nearest_rank(&sorted, percentile).unwrap_or(fallback)
}

/// One lapse of one customer, identified by the order before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lapse {
    pub last_order_id: OrderId,
    pub last_order_at: DateTime<Utc>,
    /// When the customer counts as lapsed: the last order plus the window.
    pub at: DateTime<Utc>,
}

impl Lapse {
    /// The lapse the customer is heading for (or in) now; `None` without a paid order.
    pub fn of(history: &PurchaseHistory, window: Duration) -> Option<Lapse> {
        let last = history.last_order()?;
        Some(Lapse {
            last_order_id: last.id.clone(),
            last_order_at: last.placed_at,
            at: last.placed_at.checked_add_signed(window)?,
        })
    }
}

/// The net spend that puts a customer in the shop's top `top_percent`, or `None` when no one
/// can be told apart as such. The top group is ⌊n × top_percent / 100⌋ customers with a paid
/// order, rounded down: in a shop of five, "the top 10%" is nobody, not the one who happened
/// to spend a cent more. Ties never straddle its edge: when the spend at the edge is shared
/// with customers outside the group, none of them is in it (ten customers who all spent €24
/// are ten equals, not ten high-value customers).
pub fn top_spend_threshold<'a>(
    histories: impl IntoIterator<Item = &'a PurchaseHistory>,
    top_percent: u8,
) -> Option<Money> {
    let mut currency = None;
    let mut spends: Vec<Decimal> = Vec::new();
    for history in histories.into_iter().filter(|h| h.order_count() > 0) {
        let shop_currency = *currency.get_or_insert(history.currency());
        if history.currency() == shop_currency {
            spends.push(history.net_spend().amount);
        }
    }
    top_spend_threshold_of(spends, currency?, top_percent)
}

/// [`top_spend_threshold`] over customers' net spends already added up (one per customer
/// with a paid order), as a shop's running statistics keep them.
pub fn top_spend_threshold_of(
    mut spends: Vec<Decimal>,
    currency: Currency,
    top_percent: u8,
) -> Option<Money> {
    spends.sort_unstable_by(|a, b| b.cmp(a));
    let top = spends.len() * usize::from(top_percent.min(100)) / 100;
    if top == 0 {
        return None;
    }
    // The first spend outside the group: the group is everyone strictly above it.
    let edge = spends.get(top).copied();
    spends
        .iter()
        .take(top)
        .rev()
        .copied()
        .find(|spend| edge.is_none_or(|edge| *spend > edge))
        .map(|spend| Money::new(spend, currency))
}

/// Which incentive tier a lapsed customer is in. High value wins over first-timer: a first
/// order big enough to be in the top spenders deserves the better treatment.
pub fn segment(
    history: &PurchaseHistory,
    lapse: &Lapse,
    config: &WinbackConfig,
    top_spend: Option<Money>,
) -> Segment {
    let spend = history.net_spend();
    let top_spender = top_spend.is_some_and(|t| {
        t.currency == spend.currency && spend.amount > Decimal::ZERO && spend.amount >= t.amount
    });
    let many_orders =
        config.high_value_min_orders > 0 && history.order_count() >= config.high_value_min_orders as usize;
    if top_spender || many_orders {
        return Segment::HighValue;
    }
    let recent = history
        .first_order_at()
        .is_some_and(|first| lapse.at - first <= Duration::days(config.recent_first_timer_days.into()));
    if history.order_count() == 1 && recent {
        Segment::RecentFirstTimer
    } else {
        Segment::Regular
    }
}

steps! {
    /// What is new and good at the shop, nothing to buy.
    Value => "value",
    Offer => "offer",
    /// What other customers are loving.
    SocialProof => "social-proof",
    /// The offer ends soon.
    LastCall => "last-call",
}

/// One message of a win-back sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinbackStep {
    pub kind: Step,
    pub lapse: Lapse,
    pub due_at: DateTime<Utc>,
    /// What the step offers; `None` for the steps that sell nothing.
    pub incentive: Incentive,
    /// When the offer ends, stated in the offer and the last call alike.
    pub offer_expires_at: Option<DateTime<Utc>>,
}

/// The last second of a local day, when an offer "valid until Sunday" ends.
const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_opt(23, 59, 59) {
    Some(time) => time,
    None => NaiveTime::MIN,
};

/// The sequence for one lapse. Without an incentive there is nothing to offer or to end, so
/// only the value and social-proof messages go. `tz` is the shop's: an offer ends at one
/// instant for everyone.
pub fn plan_winback(segment: Segment, lapse: &Lapse, config: &WinbackConfig, tz: Tz) -> Vec<WinbackStep> {
    if !config.enabled {
        return Vec::new();
    }
    let incentive = config.incentive(segment);
    let after = |days: u32| lapse.at + Duration::days(days.into());
    let steps = &config.steps;
    let step = |kind, days, incentive, offer_expires_at| WinbackStep {
        kind,
        lapse: lapse.clone(),
        due_at: after(days),
        incentive,
        offer_expires_at,
    };
    if incentive == Incentive::None {
        return vec![
            step(Step::Value, steps.value, Incentive::None, None),
            step(Step::SocialProof, steps.social_proof, Incentive::None, None),
        ];
    }
    let last_day = after(steps.last_call + config.offer_valid_days)
        .with_timezone(&tz)
        .date_naive();
    let expires = Some(at_local(last_day, END_OF_DAY, tz));
    vec![
        step(Step::Value, steps.value, Incentive::None, None),
        step(Step::Offer, steps.offer, incentive, expires),
        step(Step::SocialProof, steps.social_proof, Incentive::None, None),
        step(Step::LastCall, steps.last_call, incentive, expires),
    ]
}

/// The send-time re-check: `None` while the customer is still away, `ordered again` once a
/// paid order came after the one the lapse is named for.
pub fn still_due(step: &WinbackStep, history_now: &PurchaseHistory) -> Option<SkipReason> {
    let lapse = &step.lapse;
    history_now
        .orders()
        .iter()
        .any(|o| o.placed_at > lapse.last_order_at && o.id != lapse.last_order_id)
        .then_some(SkipReason::OrderedAgain)
}

pub(super) struct Rules;

/// What a win-back step says and re-checks: the lapse it is about, the customer's segment and
/// the step's incentive (an offer code and its expiry), social proof, and how creating the
/// offer's code is going.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    #[serde(with = "instant::option")]
    pub last_order_at: Option<DateTime<Utc>>,
    #[serde(with = "instant::option")]
    pub lapse_at: Option<DateTime<Utc>>,
    #[serde(with = "text::option")]
    pub window_days: Option<i64>,
    pub segment: Option<Segment>,
    pub incentive: Option<IncentiveKind>,
    #[serde(with = "text::option")]
    pub points: Option<u32>,
    #[serde(with = "text::option")]
    pub discount_percent: Option<Decimal>,
    pub offer_code: Option<String>,
    #[serde(with = "instant::option")]
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// How many other customers came back for what this one bought (social proof), if any.
    #[serde(with = "text::option")]
    pub repeat_buyers: Option<usize>,
    #[serde(flatten)]
    pub discount: DiscountProgress,
}

/// Which incentive a step offers, as templates test it (`details.incentive == "discount"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncentiveKind {
    None,
    EarlyAccess,
    Points,
    Discount,
}

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, win_back)
    }

    fn default_attribution_days(&self) -> i64 {
        14
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.win_back.enabled
    }

    /// A win-back that should have started a month ago (an outage, or old orders imported at
    /// install) is not sent: a backlog of "we miss you" to long-gone customers is no win-back.
    fn stale_after(&self, step: FlowStep) -> Option<Duration> {
        (step == Step::Value).then(|| Duration::days(30))
    }

    /// A last call recalls the offer, a day after it at the earliest.
    fn follows(&self, step: FlowStep, _config: &ShopConfig) -> Option<(FlowStep, Duration)> {
        (step == Step::LastCall).then(|| (Step::Offer.into(), Duration::days(1)))
    }

    /// An offer (and its last call) ends when the offer does.
    fn deadline(&self, message: &Message) -> Option<(DateTime<Utc>, SkipReason)> {
        message
            .payload
            .win_back()
            .and_then(|p| p.offer_expires_at)
            .map(|at| (at, SkipReason::OfferExpired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrderRecord;
    use crate::flows::testkit::{Rng, customer, day, eur, money, paid, refund};
    use chrono::TimeZone;
    use chrono_tz::Europe::Rome;

    fn history_of(id: &str, records: &[OrderRecord]) -> PurchaseHistory {
        PurchaseHistory::from_orders(&customer(id), records, eur(), Rome)
    }

    fn days(n: i64) -> Duration {
        Duration::days(n)
    }

    #[test]
    fn the_window_is_the_nearest_rank_percentile_or_the_fallback() {
        let gaps: Vec<Duration> = (1..=10).rev().map(|d| days(d * 10)).collect();
        assert_eq!(lapse_window(&gaps, 80, 5, days(90)), days(80));
        assert_eq!(lapse_window(&gaps, 95, 5, days(90)), days(100));
        assert_eq!(lapse_window(&gaps, 80, 11, days(90)), days(90), "too few samples");
        assert_eq!(lapse_window(&[], 80, 0, days(90)), days(90));
        let cfg = WinbackConfig {
            min_samples: 5,
            ..WinbackConfig::default()
        };
        assert_eq!(cfg.window(&gaps), days(80));
        let cfg = WinbackConfig {
            window_days: Some(45),
            ..cfg
        };
        assert_eq!(cfg.window(&gaps), days(45), "a configured window wins");
    }

    #[test]
    fn the_learned_window_is_found_in_a_generated_shop() {
        // Every gap from 1 to 200 days appears once, spread over customers in random order:
        // the 80th percentile is exactly 160 days.
        let mut rng = Rng::new(42);
        let mut gaps: Vec<i64> = (1..=200).collect();
        for i in (1..gaps.len()).rev() {
            let j = rng.between(0, i as i64) as usize;
            gaps.swap(i, j);
        }
        let mut histories = Vec::new();
        let mut remaining = gaps.as_slice();
        let mut c = 0;
        while !remaining.is_empty() {
            let take = (rng.between(1, 6) as usize).min(remaining.len());
            let (mine, rest) = remaining.split_at(take);
            remaining = rest;
            let id = format!("c{c}");
            c += 1;
            let mut at = day(rng.between(-2000, -1500));
            let mut records = vec![paid(&format!("{id}-0"), &id, at, "10", &[])];
            for (k, gap) in mine.iter().enumerate() {
                at += days(*gap);
                records.push(paid(&format!("{id}-{}", k + 1), &id, at, "10", &[]));
            }
            records.push(refund(
                paid(&format!("{id}-void"), &id, at + days(3), "10", &[]),
                "r",
                "10",
            ));
            histories.push(history_of(&id, &records));
        }
        let intervals: Vec<Duration> = histories.iter().flat_map(|h| h.intervals()).collect();
        assert_eq!(intervals.len(), 200, "refunded orders make no gap");
        assert_eq!(lapse_window(&intervals, 80, 30, days(90)), days(160));
        assert_eq!(lapse_window(&intervals, 50, 30, days(90)), days(100));
    }

    #[test]
    fn a_customer_lapses_a_window_after_their_last_paid_order() {
        let h = history_of(
            "7",
            &[
                paid("1", "7", day(0), "10", &[]),
                paid("2", "7", day(30), "10", &[]),
                refund(paid("3", "7", day(50), "10", &[]), "r", "10"),
            ],
        );
        let lapse = Lapse::of(&h, days(60)).unwrap();
        assert_eq!(lapse.at, day(90), "the refunded order does not count");
        assert_eq!(lapse.last_order_id.as_str(), "2");
        assert_eq!(Lapse::of(&history_of("7", &[]), days(60)), None);
    }

    fn lapse_on(n: i64) -> Lapse {
        Lapse {
            last_order_id: OrderId::new("2").unwrap(),
            last_order_at: day(n - 60),
            at: day(n),
        }
    }

    #[test]
    fn four_steps_within_three_weeks_with_an_offer_ending_at_a_set_time() {
        let lapse = lapse_on(100);
        let config = WinbackConfig {
            incentives: Incentives {
                recent_first_timer: Incentive::Discount(Decimal::TEN),
                ..Incentives::default()
            },
            ..WinbackConfig::default()
        };
        let steps = plan_winback(Segment::RecentFirstTimer, &lapse, &config, Rome);
        let got: Vec<(&str, DateTime<Utc>, Incentive)> = steps
            .iter()
            .map(|s| (s.kind.as_str(), s.due_at, s.incentive))
            .collect();
        let ten = Incentive::Discount(Decimal::TEN);
        assert_eq!(
            got,
            [
                ("value", day(100), Incentive::None),
                ("offer", day(104), ten),
                ("social-proof", day(110), Incentive::None),
                ("last-call", day(117), ten),
            ]
        );
        // day(120) is 2026-05-01; the offer ends 23:59:59 that day in Rome (21:59:59 UTC).
        let ends = Utc.with_ymd_and_hms(2026, 5, 1, 21, 59, 59).unwrap();
        assert_eq!(steps[1].offer_expires_at, Some(ends));
        assert_eq!(steps[3].offer_expires_at, Some(ends));
        assert!(ends - lapse.at <= days(21));
        assert!(
            steps.iter().all(|s| s.lapse == lapse),
            "every step names its lapse"
        );
    }

    #[test]
    fn no_incentive_means_no_offer_and_disabled_means_nothing() {
        let steps = plan_winback(Segment::Regular, &lapse_on(100), &WinbackConfig::default(), Rome);
        let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["value", "social-proof"]);
        assert!(steps.iter().all(|s| s.offer_expires_at.is_none()));
        let off = WinbackConfig {
            enabled: false,
            ..WinbackConfig::default()
        };
        assert!(plan_winback(Segment::HighValue, &lapse_on(100), &off, Rome).is_empty());
        let high = plan_winback(
            Segment::HighValue,
            &lapse_on(100),
            &WinbackConfig::default(),
            Rome,
        );
        assert_eq!(high[1].incentive, Incentive::EarlyAccess);
    }

    #[test]
    fn a_new_order_ends_the_sequence_and_starts_a_new_lapse() {
        let first = [paid("1", "7", day(0), "10", &[])];
        let h = history_of("7", &first);
        let lapse = Lapse::of(&h, days(60)).unwrap();
        let steps = plan_winback(Segment::RecentFirstTimer, &lapse, &WinbackConfig::default(), Rome);
        assert!(steps.iter().all(|s| still_due(s, &h).is_none()));
        let now = history_of("7", &[first[0].clone(), paid("2", "7", day(65), "10", &[])]);
        assert!(
            steps
                .iter()
                .all(|s| still_due(s, &now) == Some(SkipReason::OrderedAgain))
        );
        let next = Lapse::of(&now, days(60)).unwrap();
        assert_ne!(
            next.last_order_id, lapse.last_order_id,
            "a new lapse is a new sequence"
        );
        assert_eq!(next.at, day(125));
    }

    #[test]
    fn segments_follow_value_then_recency() {
        let cfg = WinbackConfig::default();
        let window = days(60);
        let one = history_of("7", &[paid("1", "7", day(0), "40", &[])]);
        let lapse = Lapse::of(&one, window).unwrap();
        assert_eq!(segment(&one, &lapse, &cfg, None), Segment::RecentFirstTimer);
        assert_eq!(segment(&one, &lapse, &cfg, Some(money("40"))), Segment::HighValue);
        assert_eq!(
            segment(&one, &lapse, &cfg, Some(money("40.01"))),
            Segment::RecentFirstTimer
        );
        let long = Lapse::of(&one, days(200)).unwrap();
        assert_eq!(
            segment(&one, &long, &cfg, None),
            Segment::Regular,
            "not recent any more"
        );
        let five: Vec<OrderRecord> = (0..5)
            .map(|i| paid(&format!("o{i}"), "7", day(i * 20), "1", &[]))
            .collect();
        let loyal = history_of("7", &five);
        let lapse = Lapse::of(&loyal, window).unwrap();
        assert_eq!(
            segment(&loyal, &lapse, &cfg, Some(money("1000"))),
            Segment::HighValue
        );
        let two = history_of("7", &five[..2]);
        let lapse = Lapse::of(&two, window).unwrap();
        assert_eq!(segment(&two, &lapse, &cfg, None), Segment::Regular);
        let spend_only = WinbackConfig {
            high_value_min_orders: 0,
            ..cfg
        };
        assert_eq!(segment(&two, &lapse, &spend_only, None), Segment::Regular);
    }

    #[test]
    fn the_top_spend_threshold_is_the_lowest_spend_in_the_top_group() {
        let histories: Vec<PurchaseHistory> = (1..=20)
            .map(|i| {
                let id = format!("c{i}");
                history_of(&id, &[paid(&format!("o{i}"), &id, day(0), &format!("{i}0"), &[])])
            })
            .chain([history_of("nobody", &[])])
            .collect();
        assert_eq!(top_spend_threshold(&histories, 10), Some(money("190")));
        assert_eq!(
            top_spend_threshold(&histories, 11),
            Some(money("190")),
            "⌊2.2⌋ = 2 customers"
        );
        assert_eq!(top_spend_threshold(&histories, 15), Some(money("180")));
        assert_eq!(top_spend_threshold(&histories, 100), Some(money("10")));
        assert_eq!(top_spend_threshold(&histories, 0), None);
        assert_eq!(
            top_spend_threshold(&histories[20..], 10),
            None,
            "no paying customers"
        );
    }

    #[test]
    fn ties_and_small_shops_make_no_one_high_value_by_spend() {
        let shop = |spends: &[&str]| -> Vec<PurchaseHistory> {
            spends
                .iter()
                .enumerate()
                .map(|(i, spend)| {
                    let id = format!("c{i}");
                    history_of(&id, &[paid(&format!("o{i}"), &id, day(0), spend, &[])])
                })
                .collect()
        };
        // Twelve one-time buyers who each spent €24: nobody stands out.
        let equals = shop(&["24"; 12]);
        assert_eq!(top_spend_threshold(&equals, 10), None);
        let lapse = Lapse::of(&equals[0], days(60)).unwrap();
        assert_eq!(
            segment(
                &equals[0],
                &lapse,
                &WinbackConfig::default(),
                top_spend_threshold(&equals, 10)
            ),
            Segment::RecentFirstTimer,
            "a €24 one-timer gets the first-timer offer"
        );
        // A tie at the edge keeps the tied customers out; the one above them is in.
        let mut edge = vec!["90"];
        edge.extend(["50"; 9]);
        edge.extend(["10"; 10]);
        assert_eq!(
            top_spend_threshold(&shop(&edge), 10),
            Some(money("90")),
            "2 seats, 1 clear winner"
        );
        // Fewer customers than one top group's worth: "the top 10%" of five is nobody.
        assert_eq!(
            top_spend_threshold(&shop(&["5", "10", "20", "40", "80"]), 10),
            None
        );
        assert_eq!(
            top_spend_threshold(&shop(&["5", "10", "20", "40", "80"]), 20),
            Some(money("80"))
        );
    }

    #[test]
    fn config_parses_from_toml_and_names_bad_fields() {
        let cfg: WinbackConfig = toml::from_str(
            r#"
            window_days = 60
            [incentives]
            high_value = { points = 500 }
            recent_first_timer = { discount = "15" }
            regular = "none"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.incentives.high_value, Incentive::Points(500));
        assert_eq!(
            cfg.incentives.recent_first_timer,
            Incentive::Discount(Decimal::from(15))
        );
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(WinbackConfig::default().validate(), Ok(()));
        let base = WinbackConfig::default();
        let bad = [
            (
                WinbackConfig {
                    window_days: Some(3),
                    ..base.clone()
                },
                "window_days",
            ),
            (
                WinbackConfig {
                    window_percentile: 100,
                    ..base.clone()
                },
                "window_percentile",
            ),
            (
                WinbackConfig {
                    min_samples: 0,
                    ..base.clone()
                },
                "min_samples",
            ),
            (
                WinbackConfig {
                    fallback_window_days: 0,
                    ..base.clone()
                },
                "fallback_window_days",
            ),
            (
                WinbackConfig {
                    steps: StepDays {
                        offer: 10,
                        social_proof: 10,
                        ..StepDays::default()
                    },
                    ..base.clone()
                },
                "in that order",
            ),
            (
                WinbackConfig {
                    offer_valid_days: 5,
                    ..base.clone()
                },
                "within 21 days",
            ),
            (
                WinbackConfig {
                    high_value_top_percent: 60,
                    ..base.clone()
                },
                "top_percent",
            ),
            (
                WinbackConfig {
                    incentives: Incentives {
                        regular: Incentive::Discount(Decimal::from(80)),
                        ..Incentives::default()
                    },
                    ..base.clone()
                },
                "at most 50 percent",
            ),
            (
                WinbackConfig {
                    incentives: Incentives {
                        regular: Incentive::Points(0),
                        ..Incentives::default()
                    },
                    ..base
                },
                "points",
            ),
        ];
        for (config, expected) in bad {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
