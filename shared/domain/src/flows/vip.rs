//! VIP tiers: customers are recognised when their net spend or order count reaches a tier,
//! and quietly lowered, after a grace period, when refunds take them back below it.
//!
//! Also the dates a loyalty programme writes on: the anniversary of the first order and the
//! customer's birthday, sent in the morning of the day in the customer's own zone.

use super::FlowRules;
use super::history::PurchaseHistory;
use super::payload::{instant, text};
use super::schedule::{SEND_TIME, at_local, date_in_year};
use super::step::steps;
use crate::{ConfigError, Money, ShopConfig};
use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

steps! {
    /// "Welcome to Gold".
    TierEntered => "tier-entered",
    Birthday => "birthday",
    /// A year since the first order.
    Anniversary => "anniversary",
}

/// A tier's name as the merchant wrote it ("Gold"); it is what customers see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TierName(pub String);

impl TierName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TierName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a tier's thresholds are counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TierPeriod {
    #[default]
    Lifetime,
    /// The current calendar year in the shop's zone: status must be re-earned every year.
    CalendarYear,
}

/// One tier. When both thresholds are set both must be met ("€500 and 5 orders").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub name: TierName,
    #[serde(default)]
    pub min_net_spend: Option<Money>,
    #[serde(default)]
    pub min_orders: Option<u32>,
    #[serde(default)]
    pub period: TierPeriod,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VipConfig {
    pub enabled: bool,
    /// Lowest first: a customer is in the last tier whose thresholds they meet.
    pub tiers: Vec<TierRule>,
    /// Days a customer keeps a tier after a refund takes them below it.
    pub grace_days: u32,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5 on replenishment and win-back, else 0).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default.
    pub attribution_days: Option<u32>,
}

impl Default for VipConfig {
    fn default() -> Self {
        Self {
            holdout_percent: None,
            attribution_days: None,
            enabled: true,
            tiers: Vec::new(),
            grace_days: 30,
        }
    }
}

impl VipConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid { field, problem };
        if self.grace_days > 365 {
            return Err(invalid("flows.vip.grace_days", "must be at most 365".into()));
        }
        let currency = self
            .tiers
            .iter()
            .find_map(|t| t.min_net_spend.map(|m| m.currency));
        for (i, tier) in self.tiers.iter().enumerate() {
            let name = tier.name.as_str();
            if name.trim().is_empty() || name.contains('#') || name.chars().count() > 40 {
                return Err(invalid(
                    "flows.vip.tiers.name",
                    format!("'{name}' must be 1 to 40 characters without '#'"),
                ));
            }
            if self.tiers[..i]
                .iter()
                .any(|t| t.name.as_str().eq_ignore_ascii_case(name))
            {
                return Err(invalid("flows.vip.tiers.name", format!("'{name}' is used twice")));
            }
            match (tier.min_net_spend, tier.min_orders) {
                (None, None) => {
                    return Err(invalid(
                        "flows.vip.tiers",
                        format!("tier '{name}' needs min_net_spend, min_orders or both"),
                    ));
                }
                (Some(spend), _) if spend.amount.is_sign_negative() || Some(spend.currency) != currency => {
                    return Err(invalid(
                        "flows.vip.tiers.min_net_spend",
                        format!(
                            "tier '{name}': must be positive and in the same currency as the other tiers"
                        ),
                    ));
                }
                (_, Some(0)) => {
                    return Err(invalid(
                        "flows.vip.tiers.min_orders",
                        format!("tier '{name}': must be at least 1"),
                    ));
                }
                _ => {}
            }
        }
        // The last tier a customer meets wins, so a tier that some later tier always covers
        // can never be held: listed Gold (4 orders) then Silver (2), a 5-order customer is
        // Silver for good.
        for (i, earlier) in self.tiers.iter().enumerate() {
            if let Some(later) = self.tiers[i + 1..].iter().find(|later| covers(later, earlier)) {
                return Err(invalid(
                    "flows.vip.tiers",
                    format!(
                        "tier '{}' can never be reached: every customer who meets it also meets '{}', \
                         listed after it. List tiers lowest first",
                        earlier.name, later.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether every customer who meets `tier` also meets `cover`: each of `cover`'s thresholds
/// is asked by `tier` too, at least as high, over a period no longer (a calendar year's
/// spend and orders never exceed a lifetime's).
fn covers(cover: &TierRule, tier: &TierRule) -> bool {
    let period_ok = cover.period == tier.period || cover.period == TierPeriod::Lifetime;
    let spend_ok = match (cover.min_net_spend, tier.min_net_spend) {
        (None, _) => true,
        (Some(c), Some(t)) => c.currency == t.currency && c.amount <= t.amount,
        (Some(_), None) => false,
    };
    let orders_ok = match (cover.min_orders, tier.min_orders) {
        (None, _) => true,
        (Some(c), Some(t)) => c <= t,
        (Some(_), None) => false,
    };
    period_ok && spend_ok && orders_ok
}

/// The highest tier (last in `rules`) whose thresholds the history meets at `now`.
pub fn evaluate_tier<'a>(
    history: &PurchaseHistory,
    rules: &'a [TierRule],
    now: DateTime<Utc>,
) -> Option<&'a TierName> {
    rules
        .iter()
        .rev()
        .find(|rule| qualifies(history, rule, now))
        .map(|rule| &rule.name)
}

fn qualifies(history: &PurchaseHistory, rule: &TierRule, now: DateTime<Utc>) -> bool {
    if rule.min_net_spend.is_none() && rule.min_orders.is_none() {
        return false;
    }
    let (spend, orders) = match rule.period {
        TierPeriod::Lifetime => (history.net_spend(), history.order_count()),
        TierPeriod::CalendarYear => {
            let year = history.year_of(now);
            (history.spend_in_year(year), history.orders_in_year(year))
        }
    };
    let spend_met = rule
        .min_net_spend
        .is_none_or(|min| min.currency == spend.currency && spend.amount >= min.amount);
    let orders_met = rule.min_orders.is_none_or(|min| orders >= min as usize);
    spend_met && orders_met
}

/// A customer's tier as stored on their profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TierStatus {
    pub tier: Option<TierName>,
    /// Set while a refund has taken the customer below `tier`: they keep it until then.
    pub grace_until: Option<DateTime<Utc>>,
}

/// What re-evaluated the tier, which decides how a drop is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierCause {
    Order,
    Refund,
    /// A scheduled re-evaluation: a calendar year ending, a grace period running out.
    Schedule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierChange {
    /// A higher tier than before: send the recognition message.
    Entered(TierName),
    Kept,
    /// Down a tier (or out of all). `quietly` after a refund's grace: nobody is told they
    /// were demoted for returning something. A calendar year ending is not quiet: the
    /// customer should hear how to earn the tier back.
    Lowered {
        to: Option<TierName>,
        quietly: bool,
    },
    /// Below the tier because of a refund, but kept until then.
    GraceUntil(DateTime<Utc>),
}

impl TierChange {
    /// The status to store after this change.
    pub fn status(&self, previous: &TierStatus) -> TierStatus {
        match self {
            TierChange::Entered(tier) => TierStatus {
                tier: Some(tier.clone()),
                grace_until: None,
            },
            TierChange::Kept => TierStatus {
                tier: previous.tier.clone(),
                grace_until: None,
            },
            TierChange::Lowered { to, .. } => TierStatus {
                tier: to.clone(),
                grace_until: None,
            },
            TierChange::GraceUntil(until) => TierStatus {
                tier: previous.tier.clone(),
                grace_until: Some(*until),
            },
        }
    }
}

/// How the stored tier moves to the `evaluated` one. Tiers rank by their place in `rules`; a
/// stored tier no longer configured ranks as none.
pub fn tier_change(
    previous: &TierStatus,
    evaluated: Option<&TierName>,
    rules: &[TierRule],
    cause: TierCause,
    now: DateTime<Utc>,
    grace: Duration,
) -> TierChange {
    let rank = |name: Option<&TierName>| name.and_then(|n| rules.iter().position(|r| &r.name == n));
    let (before, after) = (rank(previous.tier.as_ref()), rank(evaluated));
    match (after.cmp(&before), evaluated) {
        (std::cmp::Ordering::Greater, Some(tier)) => return TierChange::Entered(tier.clone()),
        (std::cmp::Ordering::Less, _) => {}
        _ => return TierChange::Kept,
    }
    let lowered = |quietly| TierChange::Lowered {
        to: evaluated.cloned(),
        quietly,
    };
    match (previous.grace_until, cause) {
        (Some(until), _) if now < until => TierChange::GraceUntil(until),
        (Some(_), _) => lowered(true),
        (None, TierCause::Refund) if grace > Duration::zero() => TierChange::GraceUntil(now + grace),
        (None, TierCause::Refund) => lowered(true),
        (None, TierCause::Order | TierCause::Schedule) => lowered(false),
    }
}

/// The next anniversary of the first order (its first is a year after it), on today's date
/// if that is the day, at [`SEND_TIME`] in `tz`. An order on Feb 29 is celebrated on Feb 28
/// in common years.
pub fn next_anniversary(first_order_at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let first = first_order_at.with_timezone(&tz).date_naive();
    let today = now.with_timezone(&tz).date_naive();
    let from = today.year().max(first.year() + 1);
    (from..=from + 1)
        .filter_map(|year| date_in_year(year, first.month(), first.day()))
        .find(|date| *date >= today)
        .map(|date| at_local(date, SEND_TIME, tz))
}

/// The next birthday on or after today, at [`SEND_TIME`] in `tz`; Feb 29 birthdays fall on
/// Feb 28 in common years. `None` for a day no year has (Apr 31, month 13).
pub fn next_birthday(month: u32, day: u32, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&tz).date_naive();
    (today.year()..=today.year() + 1)
        .filter_map(|year| date_in_year(year, month, day))
        .find(|date| *date >= today)
        .map(|date| at_local(date, SEND_TIME, tz))
}

pub(super) struct Rules;

/// What a VIP message says: the tier (re-read at send time), and for an anniversary how many
/// years and since when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub tier: Option<TierName>,
    #[serde(with = "text::option")]
    pub years: Option<i32>,
    #[serde(with = "instant::option")]
    pub first_order_at: Option<DateTime<Utc>>,
}

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, vip)
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.vip.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testkit::{Rng, customer, day, eur, money, paid, refund};
    use crate::{Currency, OrderRecord};
    use chrono::TimeZone;
    use chrono_tz::Europe::Rome;

    fn history(records: &[OrderRecord]) -> PurchaseHistory {
        PurchaseHistory::from_orders(&customer("7"), records, eur(), Rome)
    }

    fn tier(name: &str, spend: Option<&str>, orders: Option<u32>, period: TierPeriod) -> TierRule {
        TierRule {
            name: TierName(name.into()),
            min_net_spend: spend.map(money),
            min_orders: orders,
            period,
        }
    }

    fn ladder() -> Vec<TierRule> {
        vec![
            tier("Silver", Some("200"), None, TierPeriod::Lifetime),
            tier("Gold", Some("500"), Some(5), TierPeriod::Lifetime),
            tier("Insider", None, Some(10), TierPeriod::CalendarYear),
        ]
    }

    fn name(tier: Option<&TierName>) -> Option<&str> {
        tier.map(TierName::as_str)
    }

    #[test]
    fn the_highest_tier_met_wins_and_both_thresholds_must_hold() {
        let rules = ladder();
        let big = [paid("1", "7", day(0), "600", &[])];
        assert_eq!(
            name(evaluate_tier(&history(&big), &rules, day(10))),
            Some("Silver"),
            "Gold needs 5 orders"
        );
        let five: Vec<OrderRecord> = (0..5)
            .map(|i| paid(&format!("o{i}"), "7", day(i), "100", &[]))
            .collect();
        assert_eq!(
            name(evaluate_tier(&history(&five), &rules, day(10))),
            Some("Gold")
        );
        let refunded: Vec<OrderRecord> = five
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, r)| if i == 0 { refund(r, "r", "1") } else { r })
            .collect();
        assert_eq!(
            name(evaluate_tier(&history(&refunded), &rules, day(10))),
            Some("Silver"),
            "€499 after a refund is not Gold"
        );
        assert_eq!(evaluate_tier(&history(&[]), &rules, day(10)), None);
        assert_eq!(evaluate_tier(&history(&five), &[], day(10)), None);
    }

    #[test]
    fn calendar_year_tiers_count_only_this_year_in_the_shops_zone() {
        let rules = ladder();
        // Ten small orders in 2026, the last at 23:30 UTC on Dec 31 (already 2027 in Rome).
        let mut records: Vec<OrderRecord> = (0..9)
            .map(|i| paid(&format!("o{i}"), "7", day(i * 30), "1", &[]))
            .collect();
        let new_year = Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap();
        records.push(paid("late", "7", new_year, "1", &[]));
        let h = history(&records);
        assert_eq!(
            evaluate_tier(&h, &rules, day(300)),
            None,
            "nine orders in 2026 in Rome"
        );
        records.push(paid("extra", "7", day(301), "1", &[]));
        let h = history(&records);
        assert_eq!(name(evaluate_tier(&h, &rules, day(302))), Some("Insider"));
        assert_eq!(
            evaluate_tier(&h, &rules, day(400)),
            None,
            "a new year starts from zero (one order so far in 2027)"
        );
    }

    #[test]
    fn generated_customers_land_in_the_tier_their_numbers_say() {
        let rules = ladder();
        let mut rng = Rng::new(3);
        for c in 0..200 {
            let orders = rng.between(0, 12);
            let mut cents = 0i64;
            let records: Vec<OrderRecord> = (0..orders)
                .map(|i| {
                    let amount = rng.between(100, 20_000);
                    cents += amount;
                    let total = rust_decimal::Decimal::new(amount, 2).to_string();
                    paid(&format!("c{c}-{i}"), "7", day(-500 + i * 40), &total, &[])
                })
                .collect();
            let now = day(-500 + orders * 40);
            let in_year = records
                .iter()
                .filter(|r| {
                    r.snapshot
                        .as_ref()
                        .is_some_and(|o| o.created_at.with_timezone(&Rome).year() == 2026)
                })
                .count() as i64;
            let expected = if in_year >= 10 && now.with_timezone(&Rome).year() == 2026 {
                Some("Insider")
            } else if cents >= 50_000 && orders >= 5 {
                Some("Gold")
            } else if cents >= 20_000 {
                Some("Silver")
            } else {
                None
            };
            assert_eq!(
                name(evaluate_tier(&history(&records), &rules, now)),
                expected,
                "customer {c}"
            );
        }
    }

    fn status(tier: Option<&str>, grace_until: Option<DateTime<Utc>>) -> TierStatus {
        TierStatus {
            tier: tier.map(|t| TierName(t.into())),
            grace_until,
        }
    }

    fn gold() -> TierName {
        TierName("Gold".into())
    }

    fn silver() -> TierName {
        TierName("Silver".into())
    }

    #[test]
    fn moving_up_is_recognised_and_staying_is_kept() {
        let rules = ladder();
        let grace = Duration::days(30);
        let change = tier_change(
            &status(None, None),
            Some(&silver()),
            &rules,
            TierCause::Order,
            day(0),
            grace,
        );
        assert_eq!(change, TierChange::Entered(silver()));
        let change = tier_change(
            &status(Some("Silver"), None),
            Some(&gold()),
            &rules,
            TierCause::Order,
            day(0),
            grace,
        );
        assert_eq!(change, TierChange::Entered(gold()));
        assert_eq!(
            change.status(&status(Some("Silver"), None)),
            status(Some("Gold"), None)
        );
        let change = tier_change(
            &status(Some("Gold"), None),
            Some(&gold()),
            &rules,
            TierCause::Order,
            day(0),
            grace,
        );
        assert_eq!(change, TierChange::Kept);
        let none = tier_change(&status(None, None), None, &rules, TierCause::Order, day(0), grace);
        assert_eq!(none, TierChange::Kept);
        let renamed = tier_change(
            &status(Some("Platinum"), None),
            Some(&gold()),
            &rules,
            TierCause::Order,
            day(0),
            grace,
        );
        assert_eq!(
            renamed,
            TierChange::Entered(gold()),
            "a tier no longer configured ranks as none"
        );
    }

    #[test]
    fn a_refund_keeps_the_tier_through_the_grace_then_lowers_it_quietly() {
        let rules = ladder();
        let grace = Duration::days(30);
        let gold_status = status(Some("Gold"), None);
        let change = tier_change(
            &gold_status,
            Some(&silver()),
            &rules,
            TierCause::Refund,
            day(10),
            grace,
        );
        assert_eq!(change, TierChange::GraceUntil(day(40)));
        let in_grace = change.status(&gold_status);
        assert_eq!(in_grace, status(Some("Gold"), Some(day(40))));

        let later = tier_change(
            &in_grace,
            Some(&silver()),
            &rules,
            TierCause::Refund,
            day(20),
            grace,
        );
        assert_eq!(
            later,
            TierChange::GraceUntil(day(40)),
            "a second refund does not extend the grace"
        );
        let back = tier_change(&in_grace, Some(&gold()), &rules, TierCause::Order, day(30), grace);
        assert_eq!(
            back,
            TierChange::Kept,
            "reordering inside the grace keeps the tier"
        );
        assert_eq!(back.status(&in_grace), gold_status, "and ends the grace");

        let expired = tier_change(
            &in_grace,
            Some(&silver()),
            &rules,
            TierCause::Schedule,
            day(40),
            grace,
        );
        assert_eq!(
            expired,
            TierChange::Lowered {
                to: Some(silver()),
                quietly: true
            }
        );
        assert_eq!(expired.status(&in_grace), status(Some("Silver"), None));

        let no_grace = tier_change(
            &gold_status,
            None,
            &rules,
            TierCause::Refund,
            day(10),
            Duration::zero(),
        );
        assert_eq!(
            no_grace,
            TierChange::Lowered {
                to: None,
                quietly: true
            }
        );
    }

    #[test]
    fn a_year_ending_lowers_out_loud() {
        let rules = ladder();
        let insider = status(Some("Insider"), None);
        let change = tier_change(
            &insider,
            Some(&gold()),
            &rules,
            TierCause::Schedule,
            day(365),
            Duration::days(30),
        );
        assert_eq!(
            change,
            TierChange::Lowered {
                to: Some(gold()),
                quietly: false
            }
        );
    }

    #[test]
    fn anniversaries_start_a_year_after_the_first_order() {
        let first = Utc.with_ymd_and_hms(2025, 3, 10, 15, 0, 0).unwrap();
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(
            next_anniversary(first, at(2025, 3, 11, 0), Rome),
            Some(at(2026, 3, 10, 9))
        );
        assert_eq!(
            next_anniversary(first, at(2026, 3, 10, 20), Rome),
            Some(at(2026, 3, 10, 9)),
            "on the day itself, it is today"
        );
        assert_eq!(
            next_anniversary(first, at(2026, 3, 11, 0), Rome),
            Some(at(2027, 3, 10, 9))
        );
        assert_eq!(next_anniversary(first, first, Rome), Some(at(2026, 3, 10, 9)));
        // 23:30 UTC on Feb 28, 2024 is already Feb 29 in Rome.
        let leap = at(2024, 2, 28, 23) + Duration::minutes(30);
        assert_eq!(
            next_anniversary(leap, at(2024, 6, 1, 0), Rome),
            Some(at(2025, 2, 28, 9))
        );
        assert_eq!(
            next_anniversary(leap, at(2027, 6, 1, 0), Rome),
            Some(at(2028, 2, 29, 9))
        );
        assert_eq!(
            next_anniversary(leap, at(2024, 6, 1, 0), Tz::UTC),
            Some(at(2025, 2, 28, 10)),
            "in UTC it was Feb 28 to begin with"
        );
    }

    #[test]
    fn birthdays_come_every_year_in_the_customers_morning() {
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(
            next_birthday(7, 14, at(2026, 7, 1, 0), Rome),
            Some(at(2026, 7, 14, 8))
        );
        assert_eq!(
            next_birthday(7, 14, at(2026, 7, 15, 0), Rome),
            Some(at(2027, 7, 14, 8))
        );
        assert_eq!(
            next_birthday(2, 29, at(2026, 3, 1, 0), Rome),
            Some(at(2027, 2, 28, 9))
        );
        assert_eq!(
            next_birthday(2, 29, at(2027, 3, 1, 0), Rome),
            Some(at(2028, 2, 29, 9))
        );
        let tokyo = chrono_tz::Asia::Tokyo;
        assert_eq!(
            next_birthday(1, 1, at(2026, 12, 31, 16), tokyo),
            Some(at(2027, 1, 1, 1)),
            "already Jan 1 in Tokyo: 10:00 there"
        );
        assert_eq!(next_birthday(4, 31, at(2026, 1, 1, 0), Rome), None);
        assert_eq!(next_birthday(0, 1, at(2026, 1, 1, 0), Rome), None);
    }

    #[test]
    fn config_parses_from_toml_and_names_bad_fields() {
        let cfg: VipConfig = toml::from_str(
            r#"
            grace_days = 14
            [[tiers]]
            name = "Silver"
            min_net_spend = { amount = "200", currency = "EUR" }
            [[tiers]]
            name = "Insider"
            min_orders = 10
            period = "calendar_year"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.tiers[1].period, TierPeriod::CalendarYear);
        assert_eq!(cfg.validate(), Ok(()));
        let with = |tiers: Vec<TierRule>| VipConfig {
            tiers,
            ..VipConfig::default()
        };
        let usd = TierRule {
            min_net_spend: Some(Money::parse("900", Currency::new("USD").unwrap()).unwrap()),
            ..tier("Gold", None, None, TierPeriod::Lifetime)
        };
        let bad = [
            (
                with(vec![tier("Gold", None, None, TierPeriod::Lifetime)]),
                "needs min_net_spend",
            ),
            (
                with(vec![tier("", Some("1"), None, TierPeriod::Lifetime)]),
                "1 to 40 characters",
            ),
            (
                with(vec![tier("A#B", Some("1"), None, TierPeriod::Lifetime)]),
                "without '#'",
            ),
            (
                with(vec![
                    tier("Gold", Some("1"), None, TierPeriod::Lifetime),
                    tier("gold", Some("2"), None, TierPeriod::Lifetime),
                ]),
                "used twice",
            ),
            (
                with(vec![tier("Gold", Some("-1"), None, TierPeriod::Lifetime)]),
                "positive",
            ),
            (
                with(vec![tier("Silver", Some("1"), None, TierPeriod::Lifetime), usd]),
                "same currency",
            ),
            (
                with(vec![tier("Gold", None, Some(0), TierPeriod::Lifetime)]),
                "at least 1",
            ),
            (
                VipConfig {
                    grace_days: 400,
                    ..VipConfig::default()
                },
                "grace_days",
            ),
        ];
        for (config, expected) in bad {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_tier_listed_before_an_easier_one_is_refused_because_nobody_could_hold_it() {
        let with = |tiers: Vec<TierRule>| VipConfig {
            tiers,
            ..VipConfig::default()
        };
        let refused = [
            // The issue's case: Gold at 4 orders, then Silver at 2.
            vec![
                tier("Gold", None, Some(4), TierPeriod::Lifetime),
                tier("Silver", None, Some(2), TierPeriod::Lifetime),
            ],
            vec![
                tier("Gold", Some("500"), Some(5), TierPeriod::Lifetime),
                tier("Silver", Some("200"), None, TierPeriod::Lifetime),
            ],
            // Ten orders this year are at least ten in a lifetime.
            vec![
                tier("Insider", None, Some(10), TierPeriod::CalendarYear),
                tier("Regular", None, Some(10), TierPeriod::Lifetime),
            ],
            vec![
                tier("Same", Some("100"), None, TierPeriod::Lifetime),
                tier("Twin", Some("100"), None, TierPeriod::Lifetime),
            ],
        ];
        for tiers in refused {
            let (first, second) = (tiers[0].name.to_string(), tiers[1].name.to_string());
            let err = with(tiers).validate().unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "flows.vip.tiers: tier '{first}' can never be reached: every customer who meets it \
                     also meets '{second}', listed after it. List tiers lowest first"
                )
            );
        }
        // Tiers on different measures do not cover each other; the README's ladder is fine.
        let fine = [
            ladder(),
            vec![
                tier("Silver", None, Some(3), TierPeriod::Lifetime),
                tier("Gold", Some("500"), None, TierPeriod::CalendarYear),
            ],
            vec![
                tier("Silver", None, Some(2), TierPeriod::Lifetime),
                tier("Gold", None, Some(4), TierPeriod::Lifetime),
            ],
            // A lifetime threshold does not cover the same one counted over a year.
            vec![
                tier("Regular", None, Some(10), TierPeriod::Lifetime),
                tier("Insider", None, Some(10), TierPeriod::CalendarYear),
            ],
        ];
        for tiers in fine {
            assert_eq!(with(tiers.clone()).validate(), Ok(()), "{tiers:?}");
        }
    }
}
