//! Replenishment: remind a customer a few days before what they bought runs out.
//!
//! Run-out is quantity × days of supply per unit, configured per product or variant, or learned
//! from the shop's own repeat purchases when the merchant has not said. A configured rule always
//! wins: the merchant knows a 250 g bag from a 1 kg one, the history only approximates it.

use super::history::{PaidOrder, PurchaseHistory, PurchasedItem};
use super::payload::{instant, text};
use super::stats::median;
use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{ConfigError, LocalisedText, OrderId, ShopConfig, SkipReason};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

steps! {
    /// "Running low?", a few days before the predicted run-out.
    Reminder => "reminder",
    /// The second nudge, when the first went unanswered.
    FollowUp => "follow-up",
}

/// Days one unit of a product (or of one of its variants) lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplyRule {
    pub product_id: String,
    /// When set, the rule is for this variant only and beats the product's own rule.
    #[serde(default)]
    pub variant_id: Option<String>,
    pub days_per_unit: u32,
}

/// "Complete the set": when `product_id` is replenished, suggest `suggest` as well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Complement {
    pub product_id: String,
    pub suggest: String,
    /// What the message calls the suggestion, in one language or per locale, and where it
    /// links; without a title the reminder does not mention it (a bare product id means
    /// nothing to a customer).
    #[serde(default)]
    pub title: Option<LocalisedText>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplenishmentConfig {
    pub enabled: bool,
    /// Days before run-out the reminder goes: time to order and for the parcel to arrive.
    pub lead_days: u32,
    /// One follow-up this many days after an unanswered reminder (0 = none).
    pub follow_up_after_days: u32,
    /// Repeat purchases needed before a learned supply is trusted.
    pub min_samples: usize,
    pub supply: Vec<SupplyRule>,
    pub complements: Vec<Complement>,
    /// The one-tap reorder link. Placeholders: `{shop}`, `{product_id}`, `{variant_id}`,
    /// `{quantity}`. The default is Shopify's cart permalink; WooCommerce shops use
    /// `https://example.com/?add-to-cart={product_id}&quantity={quantity}`.
    pub reorder_url: String,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5 on replenishment and win-back, else 0).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default.
    pub attribution_days: Option<u32>,
}

impl Default for ReplenishmentConfig {
    fn default() -> Self {
        Self {
            holdout_percent: None,
            attribution_days: None,
            enabled: true,
            lead_days: 5,
            follow_up_after_days: 7,
            min_samples: 5,
            supply: Vec::new(),
            complements: Vec::new(),
            reorder_url: "https://{shop}/cart/{variant_id}:{quantity}".into(),
        }
    }
}

impl ReplenishmentConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid { field, problem };
        if self.lead_days > 60 {
            return Err(invalid(
                "flows.replenishment.lead_days",
                "must be at most 60".into(),
            ));
        }
        if self.follow_up_after_days > 30 {
            return Err(invalid(
                "flows.replenishment.follow_up_after_days",
                "must be at most 30".into(),
            ));
        }
        if self.min_samples == 0 {
            return Err(invalid(
                "flows.replenishment.min_samples",
                "must be at least 1".into(),
            ));
        }
        for (i, rule) in self.supply.iter().enumerate() {
            if rule.product_id.is_empty() {
                return Err(invalid(
                    "flows.replenishment.supply.product_id",
                    "must not be empty".into(),
                ));
            }
            if !(1..=730).contains(&rule.days_per_unit) {
                return Err(invalid(
                    "flows.replenishment.supply.days_per_unit",
                    format!("product '{}': must be between 1 and 730", rule.product_id),
                ));
            }
            let duplicate = self.supply[..i]
                .iter()
                .any(|r| r.product_id == rule.product_id && r.variant_id == rule.variant_id);
            if duplicate {
                return Err(invalid(
                    "flows.replenishment.supply",
                    format!("product '{}' has two rules for the same variant", rule.product_id),
                ));
            }
        }
        if !(self.reorder_url.starts_with("https://") || self.reorder_url.starts_with("http://")) {
            return Err(invalid(
                "flows.replenishment.reorder_url",
                "must start with https:// or http://".into(),
            ));
        }
        for complement in &self.complements {
            if complement.product_id == complement.suggest {
                return Err(invalid(
                    "flows.replenishment.complements",
                    format!("product '{}' cannot complement itself", complement.product_id),
                ));
            }
            if let Some(title) = &complement.title {
                title.validate("flows.replenishment.complements.title")?;
            }
        }
        Ok(())
    }

    /// The reorder link for a product, placeholders filled.
    pub fn reorder_url_for(
        &self,
        shop: &str,
        product_id: &str,
        variant_id: Option<&str>,
        quantity: u32,
    ) -> String {
        self.reorder_url
            .replace("{shop}", shop)
            .replace("{product_id}", product_id)
            .replace("{variant_id}", variant_id.unwrap_or(product_id))
            .replace("{quantity}", &quantity.to_string())
    }

    /// The variant's own rule, else the product's.
    fn rule_for(&self, item: &PurchasedItem) -> Option<&SupplyRule> {
        let for_product = || self.supply.iter().filter(|r| r.product_id == item.product_id);
        for_product()
            .find(|r| r.variant_id.is_some() && r.variant_id == item.variant_id)
            .or_else(|| for_product().find(|r| r.variant_id.is_none()))
    }
}

/// Days of supply per unit learned from repeat purchases, with how many intervals back it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnedSupply {
    pub per_unit: Duration,
    pub samples: usize,
}

/// Where a run-out prediction came from, so the outbox can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupplySource {
    Configured,
    Learned { samples: usize },
}

/// How long one unit lasts, and on what authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supply {
    pub per_unit: Duration,
    pub source: SupplySource,
}

/// The median time one unit of `product_id` lasted, over every pair of consecutive purchases
/// of it by the same customer: the gap divided by the units bought at the earlier one, so
/// customers who buy two at a time teach the same per-unit supply as those who buy one.
/// Orders placed at the same instant are one purchase split in two and teach nothing. `None`
/// until there are `min_samples` intervals.
pub fn learn_supply_days<'a>(
    histories: impl IntoIterator<Item = &'a PurchaseHistory>,
    product_id: &str,
    min_samples: usize,
) -> Option<LearnedSupply> {
    let per_unit = histories
        .into_iter()
        .flat_map(|history| supply_samples(history, product_id))
        .map(|sample| sample.per_unit)
        .collect();
    LearnedSupply::from_samples(per_unit, min_samples)
}

/// One interval of one customer's repeat purchases of a product, named by the later order so
/// that recording it again (a redelivered webhook) replaces rather than adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplySample {
    pub later_order: OrderId,
    pub at: DateTime<Utc>,
    pub per_unit: Duration,
}

/// The per-unit intervals of `product_id` in one customer's history (see
/// [`learn_supply_days`]), what a shop's running statistics are made of.
pub fn supply_samples(history: &PurchaseHistory, product_id: &str) -> Vec<SupplySample> {
    let purchases: Vec<(&PaidOrder, u32)> = history.purchases_of(product_id).collect();
    purchases
        .windows(2)
        .filter_map(|pair| {
            let [(earlier, units), (later, _)] = pair else {
                return None;
            };
            let gap = later.placed_at - earlier.placed_at;
            (gap > Duration::zero()).then(|| SupplySample {
                later_order: later.id.clone(),
                at: later.placed_at,
                per_unit: gap / i32::try_from(*units).unwrap_or(i32::MAX),
            })
        })
        .collect()
}

impl LearnedSupply {
    /// The median of `per_unit` samples, once there are `min_samples` of them.
    pub fn from_samples(mut per_unit: Vec<Duration>, min_samples: usize) -> Option<LearnedSupply> {
        if per_unit.len() < min_samples.max(1) {
            return None;
        }
        let samples = per_unit.len();
        median(&mut per_unit).map(|per_unit| LearnedSupply { per_unit, samples })
    }
}

/// The supply to plan an item with: its configured rule, else what was learned, else none.
pub fn supply_for(
    config: &ReplenishmentConfig,
    item: &PurchasedItem,
    learned: Option<LearnedSupply>,
) -> Option<Supply> {
    if let Some(rule) = config.rule_for(item) {
        return Some(Supply {
            per_unit: Duration::days(rule.days_per_unit.into()),
            source: SupplySource::Configured,
        });
    }
    learned.map(|l| Supply {
        per_unit: l.per_unit,
        source: SupplySource::Learned { samples: l.samples },
    })
}

/// When `quantity` units bought at `purchased_at` run out. An absurd quantity saturates to
/// the end of time rather than overflowing: such a reminder never falls due.
pub fn predict_run_out(purchased_at: DateTime<Utc>, quantity: u32, supply: &Supply) -> DateTime<Utc> {
    i32::try_from(quantity)
        .ok()
        .and_then(|q| supply.per_unit.checked_mul(q))
        .and_then(|lasts| purchased_at.checked_add_signed(lasts))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A reminder for one product of one order, with its optional follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplenishmentPlan {
    pub order_id: OrderId,
    pub product_id: String,
    pub variant_id: Option<String>,
    pub quantity: u32,
    pub purchased_at: DateTime<Utc>,
    pub run_out_at: DateTime<Utc>,
    pub source: SupplySource,
    pub remind_at: DateTime<Utc>,
    pub follow_up_at: Option<DateTime<Utc>>,
    /// The product to suggest alongside ("complete the set"), if configured and not owned.
    pub complement: Option<String>,
}

/// The reminders an order calls for: one per product (and variant) with a known supply that
/// the customer has not already reordered. `learned` maps product ids to what
/// [`learn_supply_days`] found for the shop. A supply shorter than the lead time gets no
/// reminder: it would land before the parcel.
pub fn plan_replenishment(
    history: &PurchaseHistory,
    order_id: &OrderId,
    config: &ReplenishmentConfig,
    learned: &BTreeMap<String, LearnedSupply>,
) -> Vec<ReplenishmentPlan> {
    if !config.enabled {
        return Vec::new();
    }
    let Some(order) = history.order(order_id) else {
        return Vec::new();
    };
    let mut lines: BTreeMap<(&str, Option<&str>), u32> = BTreeMap::new();
    for item in &order.items {
        *lines
            .entry((item.product_id.as_str(), item.variant_id.as_deref()))
            .or_default() += item.quantity;
    }
    let lead = Duration::days(config.lead_days.into());
    let mut plans = Vec::new();
    for ((product_id, variant_id), quantity) in lines {
        if quantity == 0 || reordered_since(history, order, product_id) {
            continue;
        }
        let item = PurchasedItem {
            product_id: product_id.into(),
            variant_id: variant_id.map(String::from),
            quantity,
        };
        let Some(supply) = supply_for(config, &item, learned.get(product_id).copied()) else {
            continue;
        };
        let run_out_at = predict_run_out(order.placed_at, quantity, &supply);
        let remind_at = run_out_at - lead;
        if remind_at <= order.placed_at {
            continue;
        }
        let follow_up_at = (config.follow_up_after_days > 0)
            .then(|| remind_at.checked_add_signed(Duration::days(config.follow_up_after_days.into())))
            .flatten();
        let complement = config
            .complements
            .iter()
            .find(|c| c.product_id == product_id && history.purchases_of(&c.suggest).next().is_none())
            .map(|c| c.suggest.clone());
        plans.push(ReplenishmentPlan {
            order_id: order.id.clone(),
            product_id: item.product_id,
            variant_id: item.variant_id,
            quantity,
            purchased_at: order.placed_at,
            run_out_at,
            source: supply.source,
            remind_at,
            follow_up_at,
            complement,
        });
    }
    plans
}

/// The send-time re-check against the customer's history now: `None` while the reminder is
/// still wanted, otherwise why not (`reordered`, `refunded`, `cancelled`...).
pub fn still_due(plan: &ReplenishmentPlan, history_now: &PurchaseHistory) -> Option<SkipReason> {
    if let Some(reason) = history_now.void_reason(&plan.order_id) {
        return Some(SkipReason::OrderVoid(reason));
    }
    let Some(order) = history_now.order(&plan.order_id) else {
        return Some(SkipReason::OrderNotFound);
    };
    reordered_since(history_now, order, &plan.product_id).then_some(SkipReason::Reordered)
}

/// Whether a later paid order contains the product again, in any variant.
fn reordered_since(history: &PurchaseHistory, order: &PaidOrder, product_id: &str) -> bool {
    history
        .purchases_of(product_id)
        .any(|(later, _)| later.placed_at > order.placed_at && later.id != order.id)
}

pub(super) struct Rules;

/// What a reminder says and re-checks, as planned: the order and product it is about, when
/// the supply runs out, where that estimate came from, the reorder link and an optional
/// "complete the set" suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub order_id: Option<OrderId>,
    pub product_id: Option<String>,
    pub variant_id: Option<String>,
    #[serde(with = "text::option")]
    pub quantity: Option<u32>,
    #[serde(with = "instant::option")]
    pub run_out_at: Option<DateTime<Utc>>,
    /// Where the run-out estimate came from, as the reminder words it ("configured",
    /// "learned from 8 repeat purchases").
    pub supply: Option<String>,
    pub reorder_url: Option<String>,
    /// The suggested product; its title is the shop's language at planning time (the sender
    /// swaps in the reader's).
    pub complement_id: Option<String>,
    pub complement_title: Option<String>,
    pub complement_url: Option<String>,
}

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, replenishment)
    }

    fn default_attribution_days(&self) -> i64 {
        14
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.replenishment.enabled
    }

    /// The second nudge waits `follow_up_after_days` after the first was sent.
    fn follows(&self, step: FlowStep, config: &ShopConfig) -> Option<(FlowStep, Duration)> {
        (step == Step::FollowUp).then(|| {
            (
                Step::Reminder.into(),
                Duration::days(config.flows.replenishment.follow_up_after_days.into()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testkit::{Rng, customer, day, eur, paid, refund, with_status};
    use crate::{OrderRecord, OrderStatus};

    fn history_of(id: &str, records: &[OrderRecord]) -> PurchaseHistory {
        PurchaseHistory::from_orders(&customer(id), records, eur(), chrono_tz::Europe::Rome)
    }

    fn oid(id: &str) -> OrderId {
        OrderId::new(id).unwrap()
    }

    fn rule(product: &str, variant: Option<&str>, days: u32) -> SupplyRule {
        SupplyRule {
            product_id: product.into(),
            variant_id: variant.map(String::from),
            days_per_unit: days,
        }
    }

    fn config(rules: Vec<SupplyRule>) -> ReplenishmentConfig {
        ReplenishmentConfig {
            supply: rules,
            ..ReplenishmentConfig::default()
        }
    }

    fn none_learned() -> BTreeMap<String, LearnedSupply> {
        BTreeMap::new()
    }

    #[test]
    fn two_units_of_thirty_days_are_reminded_five_days_before_day_sixty() {
        let h = history_of("7", &[paid("1", "7", day(0), "20", &[("beans", 2)])]);
        let plans = plan_replenishment(
            &h,
            &oid("1"),
            &config(vec![rule("beans", None, 30)]),
            &none_learned(),
        );
        assert_eq!(plans.len(), 1);
        let plan = &plans[0];
        assert_eq!(plan.run_out_at, day(60));
        assert_eq!(plan.remind_at, day(55));
        assert_eq!(plan.follow_up_at, Some(day(62)));
        assert_eq!(plan.source, SupplySource::Configured);
        assert_eq!(plan.complement, None);
        assert_eq!(still_due(plan, &h), None);
    }

    #[test]
    fn lines_of_the_same_product_add_up_and_unknown_products_are_skipped() {
        let h = history_of(
            "7",
            &[paid(
                "1",
                "7",
                day(0),
                "20",
                &[("beans", 1), ("mug", 1), ("beans", 2)],
            )],
        );
        let plans = plan_replenishment(
            &h,
            &oid("1"),
            &config(vec![rule("beans", None, 10)]),
            &none_learned(),
        );
        let got: Vec<(&str, u32, DateTime<Utc>)> = plans
            .iter()
            .map(|p| (p.product_id.as_str(), p.quantity, p.run_out_at))
            .collect();
        assert_eq!(got, [("beans", 3, day(30))]);
    }

    #[test]
    fn a_variants_rule_beats_its_products_rule() {
        let mut record = paid("1", "7", day(0), "20", &[("beans", 1), ("beans", 1)]);
        if let Some(order) = record.snapshot.as_mut() {
            order.line_items[0].variant_id = Some("1kg".into());
            order.line_items[1].variant_id = Some("250g".into());
        }
        let h = history_of("7", &[record]);
        let cfg = config(vec![rule("beans", None, 10), rule("beans", Some("1kg"), 40)]);
        let plans = plan_replenishment(&h, &oid("1"), &cfg, &none_learned());
        let got: Vec<(Option<&str>, DateTime<Utc>)> = plans
            .iter()
            .map(|p| (p.variant_id.as_deref(), p.run_out_at))
            .collect();
        assert_eq!(got, [(Some("1kg"), day(40)), (Some("250g"), day(10))]);
    }

    #[test]
    fn configured_wins_over_learned_which_beats_nothing() {
        let h = history_of("7", &[paid("1", "7", day(0), "20", &[("beans", 1), ("tea", 2)])]);
        let learned = BTreeMap::from([
            (
                "beans".to_string(),
                LearnedSupply {
                    per_unit: Duration::days(99),
                    samples: 8,
                },
            ),
            (
                "tea".to_string(),
                LearnedSupply {
                    per_unit: Duration::days(20),
                    samples: 6,
                },
            ),
        ]);
        let plans = plan_replenishment(&h, &oid("1"), &config(vec![rule("beans", None, 30)]), &learned);
        let got: Vec<(&str, SupplySource, DateTime<Utc>)> = plans
            .iter()
            .map(|p| (p.product_id.as_str(), p.source, p.run_out_at))
            .collect();
        assert_eq!(
            got,
            [
                ("beans", SupplySource::Configured, day(30)),
                ("tea", SupplySource::Learned { samples: 6 }, day(40)),
            ]
        );
    }

    #[test]
    fn nothing_is_planned_when_disabled_too_short_or_not_a_paid_order() {
        let h = history_of("7", &[paid("1", "7", day(0), "20", &[("beans", 1)])]);
        let mut cfg = config(vec![rule("beans", None, 5)]);
        assert!(
            plan_replenishment(&h, &oid("1"), &cfg, &none_learned()).is_empty(),
            "a 5-day supply with a 5-day lead would remind at purchase"
        );
        cfg.supply = vec![rule("beans", None, 30)];
        cfg.enabled = false;
        assert!(plan_replenishment(&h, &oid("1"), &cfg, &none_learned()).is_empty());
        cfg.enabled = true;
        assert!(plan_replenishment(&h, &oid("404"), &cfg, &none_learned()).is_empty());
        cfg.follow_up_after_days = 0;
        let plans = plan_replenishment(&h, &oid("1"), &cfg, &none_learned());
        assert_eq!(plans[0].follow_up_at, None, "no follow-up when set to 0");
    }

    #[test]
    fn a_reorder_cancels_the_pending_reminder_and_stops_new_ones() {
        let cfg = config(vec![rule("beans", None, 30), rule("mug", None, 300)]);
        let first = paid("1", "7", day(0), "20", &[("beans", 1), ("mug", 1)]);
        let before = history_of("7", std::slice::from_ref(&first));
        let plans = plan_replenishment(&before, &oid("1"), &cfg, &none_learned());
        assert_eq!(plans.len(), 2);

        let reorder = paid("2", "7", day(20), "20", &[("beans", 1)]);
        let now = history_of("7", &[first.clone(), reorder]);
        let beans = plans.iter().find(|p| p.product_id == "beans").unwrap();
        let mug = plans.iter().find(|p| p.product_id == "mug").unwrap();
        assert_eq!(
            still_due(beans, &now).map(|r| r.to_string()).as_deref(),
            Some("reordered")
        );
        assert_eq!(
            still_due(mug, &now),
            None,
            "another product's reorder is no reason"
        );
        let replanned = plan_replenishment(&now, &oid("1"), &cfg, &none_learned());
        assert_eq!(replanned.len(), 1, "planning again after the reorder skips beans");

        let earlier = paid("0", "7", day(-30), "20", &[("beans", 1)]);
        let with_earlier = history_of("7", &[earlier, first]);
        assert_eq!(
            still_due(beans, &with_earlier),
            None,
            "an older order is not a reorder"
        );
    }

    #[test]
    fn a_refunded_or_cancelled_order_is_no_longer_due() {
        let cfg = config(vec![rule("beans", None, 30)]);
        let first = paid("1", "7", day(0), "20", &[("beans", 1)]);
        let plans = plan_replenishment(
            &history_of("7", std::slice::from_ref(&first)),
            &oid("1"),
            &cfg,
            &none_learned(),
        );
        let plan = &plans[0];
        let refunded = history_of("7", &[refund(first.clone(), "r1", "20")]);
        assert_eq!(
            still_due(plan, &refunded).map(|r| r.to_string()).as_deref(),
            Some("refunded")
        );
        let partly = history_of("7", &[refund(first.clone(), "r1", "5")]);
        assert_eq!(
            still_due(plan, &partly),
            None,
            "a partial refund keeps the reminder"
        );
        let cancelled = history_of("7", &[with_status(first, OrderStatus::Cancelled)]);
        assert_eq!(
            still_due(plan, &cancelled).map(|r| r.to_string()).as_deref(),
            Some("cancelled")
        );
        assert_eq!(
            still_due(plan, &history_of("7", &[])),
            Some(SkipReason::OrderNotFound)
        );
    }

    #[test]
    fn complete_the_set_suggests_only_what_the_customer_lacks() {
        let mut cfg = config(vec![rule("beans", None, 30)]);
        cfg.complements = vec![Complement {
            product_id: "beans".into(),
            suggest: "grinder".into(),
            title: Some(LocalisedText::Same("Burr grinder".into())),
            url: None,
        }];
        let h = history_of("7", &[paid("1", "7", day(0), "20", &[("beans", 1)])]);
        let plans = plan_replenishment(&h, &oid("1"), &cfg, &none_learned());
        assert_eq!(plans[0].complement.as_deref(), Some("grinder"));
        let owns = history_of(
            "7",
            &[
                paid("0", "7", day(-90), "90", &[("grinder", 1)]),
                paid("1", "7", day(0), "20", &[("beans", 1)]),
            ],
        );
        let plans = plan_replenishment(&owns, &oid("1"), &cfg, &none_learned());
        assert_eq!(plans[0].complement, None);
    }

    #[test]
    fn absurd_quantities_saturate_instead_of_overflowing() {
        let supply = Supply {
            per_unit: Duration::days(730),
            source: SupplySource::Configured,
        };
        assert_eq!(
            predict_run_out(day(0), u32::MAX, &supply),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(predict_run_out(day(0), 0, &supply), day(0));
    }

    /// Customers each reorder exactly when their units run out, `days` per unit, with a
    /// minority of erratic gaps the median must ignore.
    fn generated_shop(rng: &mut Rng, customers: usize, days: i64) -> (Vec<PurchaseHistory>, usize) {
        let mut histories = Vec::new();
        let mut regular = 0;
        let mut erratic = 0;
        for c in 0..customers {
            let id = format!("c{c}");
            let mut at = day(rng.between(-700, -400));
            let mut records = Vec::new();
            let purchases = rng.between(1, 5);
            for p in 0..purchases {
                let units = rng.between(1, 3);
                records.push(paid(
                    &format!("{id}-{p}"),
                    &id,
                    at,
                    "10",
                    &[("beans", units as u32), ("mug", 1)],
                ));
                if p + 1 == purchases {
                    break;
                }
                // Keep erratic gaps under a third so the median stays the regular value.
                let gap = if erratic * 2 < regular && rng.between(0, 3) == 0 {
                    erratic += 1;
                    Duration::days(rng.between(1, 400))
                } else {
                    regular += 1;
                    Duration::days(days * units)
                };
                at += gap;
            }
            histories.push(history_of(&id, &records));
        }
        (histories, regular + erratic)
    }

    #[test]
    fn learning_finds_the_known_supply_in_generated_histories() {
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let days = rng.between(7, 90);
            let (histories, intervals) = generated_shop(&mut rng, 40, days);
            let learned = learn_supply_days(&histories, "beans", 5).expect("enough repeat purchases");
            assert_eq!(learned.samples, intervals, "seed {seed}");
            assert_eq!(learned.per_unit, Duration::days(days), "seed {seed}");
        }
    }

    #[test]
    fn learning_needs_the_minimum_sample_of_same_customer_repeats() {
        let repeats = |n: i64| -> PurchaseHistory {
            let records: Vec<OrderRecord> = (0..=n)
                .map(|i| paid(&format!("o{i}"), "7", day(i * 30), "10", &[("beans", 1)]))
                .collect();
            history_of("7", &records)
        };
        assert_eq!(learn_supply_days([&repeats(4)], "beans", 5), None);
        assert_eq!(
            learn_supply_days([&repeats(5)], "beans", 5),
            Some(LearnedSupply {
                per_unit: Duration::days(30),
                samples: 5
            })
        );
        assert_eq!(learn_supply_days([&repeats(5)], "tea", 1), None);
        // Ten one-time buyers, one a day: purchases of different customers are no interval.
        let strangers: Vec<PurchaseHistory> = (0..10)
            .map(|i| {
                let id = format!("c{i}");
                history_of(&id, &[paid(&format!("o{i}"), &id, day(i), "10", &[("beans", 1)])])
            })
            .collect();
        assert_eq!(learn_supply_days(&strangers, "beans", 1), None);
    }

    #[test]
    fn learned_supply_is_per_unit_and_ignores_split_orders() {
        let h = history_of(
            "7",
            &[
                paid("1", "7", day(0), "10", &[("beans", 2)]),
                paid("2", "7", day(0), "10", &[("beans", 1)]),
                paid("3", "7", day(21), "10", &[("beans", 1)]),
            ],
        );
        // day 0 (2 units) → day 0: split order, skipped; day 0 (1 unit) → day 21: 21 days.
        let learned = learn_supply_days([&h], "beans", 1).unwrap();
        assert_eq!(
            learned,
            LearnedSupply {
                per_unit: Duration::days(21),
                samples: 1
            }
        );
        let h = history_of(
            "7",
            &[
                paid("1", "7", day(0), "10", &[("beans", 3)]),
                paid("2", "7", day(45), "10", &[("beans", 1)]),
            ],
        );
        let learned = learn_supply_days([&h], "beans", 1).unwrap();
        assert_eq!(learned.per_unit, Duration::days(15), "45 days for 3 units");
    }

    #[test]
    fn config_parses_from_toml_and_names_bad_fields() {
        let cfg: ReplenishmentConfig = toml::from_str(
            r#"
            lead_days = 3
            [[supply]]
            product_id = "beans"
            variant_id = "1kg"
            days_per_unit = 40
            [[complements]]
            product_id = "beans"
            suggest = "grinder"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.lead_days, 3);
        assert_eq!(cfg.min_samples, 5, "unset fields keep their defaults");
        assert_eq!(cfg.validate(), Ok(()));
        let bad = [
            (
                ReplenishmentConfig {
                    lead_days: 61,
                    ..cfg.clone()
                },
                "lead_days",
            ),
            (
                ReplenishmentConfig {
                    follow_up_after_days: 31,
                    ..cfg.clone()
                },
                "follow_up_after_days",
            ),
            (
                ReplenishmentConfig {
                    min_samples: 0,
                    ..cfg.clone()
                },
                "min_samples",
            ),
            (config(vec![rule("beans", None, 0)]), "days_per_unit"),
            (config(vec![rule("", None, 3)]), "product_id"),
            (
                config(vec![rule("beans", None, 3), rule("beans", None, 4)]),
                "two rules",
            ),
            (
                ReplenishmentConfig {
                    complements: vec![Complement {
                        product_id: "a".into(),
                        suggest: "a".into(),
                        title: None,
                        url: None,
                    }],
                    ..cfg.clone()
                },
                "itself",
            ),
        ];
        for (config, expected) in bad {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        assert!(toml::from_str::<ReplenishmentConfig>("lead_dayz = 3").is_err());
    }
}
