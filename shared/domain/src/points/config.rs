//! `[points]` in a shop's config: how points are earned, when they become spendable, what
//! they buy and when they expire. Validated once on load, each error naming its key.

use crate::ConfigError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::invalid(field, problem)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PointsConfig {
    pub enabled: bool,
    /// Points per unit of the shop's currency ("1": one point per euro), rounded down per order.
    pub per_currency_unit: Decimal,
    /// Days points stay pending after delivery (or after payment with `pending_from = "paid"`).
    pub pending_days: u32,
    pub pending_from: PendingFrom,
    /// Whether shipping and tax earn points too; off by default, so points follow the
    /// subtotal net of discounts.
    pub include_shipping_and_tax: bool,
    /// "You join with 100 points": credited once per customer, at their first order or sign-up
    /// seen after the programme is switched on (so existing customers get it at launch).
    pub welcome_bonus: u32,
    /// Points on the customer's birthday, once a year: the day and month they give on their
    /// points page (or the merchant imports with `aftersale birthdays import`).
    pub birthday_bonus: u32,
    /// Whether the birthday bonus comes with a "happy birthday" message (marketing class,
    /// under the sending policy); without it the points are credited quietly.
    pub birthday_message: bool,
    /// Points for rating a product through the review request's links (a review on the shop's
    /// own site), once per product of an order, whatever the stars. Off (0) by default: Google
    /// and Trustpilot forbid incentivised reviews, so a shop whose review link goes there
    /// cannot switch it on.
    pub review_bonus: u32,
    /// What happens when a refund takes back points already spent.
    pub negative_balance: NegativeBalance,
    /// Extra points per VIP tier (`{ Gold = "1.5" }`), by the tier names of `[flows.vip]`.
    pub tier_multipliers: BTreeMap<String, Decimal>,
    /// Days without earning or spending after which the available points expire; unset, they
    /// never do.
    pub expire_after_days: Option<u32>,
    /// Days before expiry the warning goes out.
    pub expiry_warning_days: u32,
    /// What points can be turned into, cheapest first in the redemption page.
    pub rewards: Vec<RewardOption>,
}

/// When pending points start counting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PendingFrom {
    /// After delivery; when no delivery is reported, after the shipment (or the payment).
    #[default]
    Delivery,
    Paid,
}

/// A refund after the points were spent: let the balance go negative (the next earnings pay
/// it off first), or write the shortfall off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NegativeBalance {
    #[default]
    Allow,
    WriteOff,
}

/// One reward: `points` buys `amount_off` (in the shop's currency) or `percent_off`, on an
/// order of at least `minimum_order` when set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardOption {
    pub points: u32,
    #[serde(default)]
    pub amount_off: Option<Decimal>,
    #[serde(default)]
    pub percent_off: Option<Decimal>,
    #[serde(default)]
    pub minimum_order: Option<Decimal>,
}

impl Default for PointsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            per_currency_unit: Decimal::ONE,
            pending_days: 14,
            pending_from: PendingFrom::Delivery,
            include_shipping_and_tax: false,
            welcome_bonus: 0,
            birthday_bonus: 0,
            birthday_message: true,
            review_bonus: 0,
            negative_balance: NegativeBalance::Allow,
            tier_multipliers: BTreeMap::new(),
            expire_after_days: None,
            expiry_warning_days: 14,
            rewards: Vec::new(),
        }
    }
}

/// Far beyond any real programme, and small enough that no product of these overflows.
const MAX_BONUS: u32 = 1_000_000;
const MAX_RATE: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);
const MAX_MULTIPLIER: Decimal = Decimal::from_parts(10, 0, 0, false, 0);

impl PointsConfig {
    /// The checks TOML types cannot express. `tiers`: the VIP tier names the shop defines.
    pub fn validate<'a>(&self, tiers: impl IntoIterator<Item = &'a str>) -> Result<(), ConfigError> {
        if self.per_currency_unit <= Decimal::ZERO || self.per_currency_unit > MAX_RATE {
            return Err(invalid(
                "points.per_currency_unit",
                format!("must be more than 0 and at most {MAX_RATE} (\"1\" is a point per unit)"),
            ));
        }
        if self.pending_days > 365 {
            return Err(invalid("points.pending_days", "must be at most 365"));
        }
        if self.welcome_bonus > MAX_BONUS {
            return Err(invalid(
                "points.welcome_bonus",
                format!("must be at most {MAX_BONUS}"),
            ));
        }
        if self.birthday_bonus > MAX_BONUS {
            return Err(invalid(
                "points.birthday_bonus",
                format!("must be at most {MAX_BONUS}"),
            ));
        }
        if self.review_bonus > MAX_BONUS {
            return Err(invalid(
                "points.review_bonus",
                format!("must be at most {MAX_BONUS}"),
            ));
        }
        let tiers: Vec<&str> = tiers.into_iter().collect();
        for (tier, multiplier) in &self.tier_multipliers {
            if !tiers.contains(&tier.as_str()) {
                return Err(invalid(
                    "points.tier_multipliers",
                    format!(
                        "'{tier}' is not a tier of [flows.vip] (its tiers: {})",
                        if tiers.is_empty() {
                            "none".to_string()
                        } else {
                            tiers.join(", ")
                        }
                    ),
                ));
            }
            if *multiplier < Decimal::ONE || *multiplier > MAX_MULTIPLIER {
                return Err(invalid(
                    "points.tier_multipliers",
                    format!("'{tier}' = {multiplier}: a multiplier is from 1 to {MAX_MULTIPLIER}"),
                ));
            }
        }
        if let Some(days) = self.expire_after_days {
            if !(30..=3650).contains(&days) {
                return Err(invalid(
                    "points.expire_after_days",
                    "must be from 30 to 3650 days",
                ));
            }
            if self.expiry_warning_days == 0 || self.expiry_warning_days >= days {
                return Err(invalid(
                    "points.expiry_warning_days",
                    format!("must be at least 1 and less than expire_after_days ({days})"),
                ));
            }
        }
        for reward in &self.rewards {
            reward.validate()?;
        }
        Ok(())
    }

    /// The reward options, cheapest first.
    pub fn rewards_by_cost(&self) -> Vec<&RewardOption> {
        let mut options: Vec<&RewardOption> = self.rewards.iter().collect();
        options.sort_by_key(|r| r.points);
        options
    }
}

impl RewardOption {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.points == 0 || self.points > MAX_BONUS {
            return Err(invalid(
                "points.rewards.points",
                format!("must be from 1 to {MAX_BONUS}"),
            ));
        }
        match (self.amount_off, self.percent_off) {
            (Some(amount), None) if amount > Decimal::ZERO => {}
            (None, Some(percent)) if percent > Decimal::ZERO && percent <= Decimal::ONE_HUNDRED => {}
            _ => {
                return Err(invalid(
                    "points.rewards",
                    "each reward names one of amount_off (more than 0) or percent_off (above 0, at most 100)",
                ));
            }
        }
        if self.minimum_order.is_some_and(|m| m < Decimal::ZERO) {
            return Err(invalid("points.rewards.minimum_order", "must not be negative"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PointsConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_documented_section_parses_with_defaults_for_the_rest() {
        let config = parse("enabled = true\nper_currency_unit = \"1\"\npending_days = 14\n");
        assert!(config.enabled);
        assert_eq!(config.per_currency_unit, Decimal::ONE);
        assert_eq!(config.pending_days, 14);
        assert_eq!(config.pending_from, PendingFrom::Delivery);
        assert!(!config.include_shipping_and_tax);
        assert_eq!(config.expire_after_days, None, "points do not expire by default");
        assert_eq!(config.review_bonus, 0, "no points for reviews by default");
        assert_eq!(config.validate([]), Ok(()));
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let field = |text: &str, tiers: &[&str]| match parse(text).validate(tiers.iter().copied()) {
            Err(ConfigError::Invalid { field, problem }) => format!("{field}: {problem}"),
            other => panic!("{text}: {other:?}"),
        };
        assert!(field("per_currency_unit = \"0\"", &[]).starts_with("points.per_currency_unit"));
        assert!(field("per_currency_unit = \"-1\"", &[]).starts_with("points.per_currency_unit"));
        assert!(field("pending_days = 400", &[]).starts_with("points.pending_days"));
        assert_eq!(
            field("tier_multipliers = { Platinum = \"2\" }", &["Silver", "Gold"]),
            "points.tier_multipliers: 'Platinum' is not a tier of [flows.vip] (its tiers: Silver, Gold)"
        );
        assert!(field("tier_multipliers = { Gold = \"0.5\" }", &["Gold"]).contains("from 1 to 10"));
        assert!(field("expire_after_days = 5", &[]).starts_with("points.expire_after_days"));
        assert!(
            field("expire_after_days = 365\nexpiry_warning_days = 365", &[])
                .starts_with("points.expiry_warning_days")
        );
        assert!(
            field(
                "[[rewards]]\npoints = 500\namount_off = \"5\"\npercent_off = \"10\"",
                &[]
            )
            .starts_with("points.rewards: each reward names one of")
        );
        assert!(
            field("[[rewards]]\npoints = 0\namount_off = \"5\"", &[]).starts_with("points.rewards.points")
        );
        assert!(field("[[rewards]]\npoints = 5\npercent_off = \"150\"", &[]).starts_with("points.rewards"));
    }

    #[test]
    fn an_unknown_key_or_a_number_for_a_decimal_is_a_syntax_error() {
        assert!(toml::from_str::<PointsConfig>("per_currency_units = \"1\"").is_err());
        assert!(toml::from_str::<PointsConfig>("pending_from = \"shipped\"").is_err());
    }

    #[test]
    fn rewards_are_listed_cheapest_first() {
        let config = parse(
            "[[rewards]]\npoints = 1000\namount_off = \"12\"\n[[rewards]]\npoints = 500\namount_off = \"5\"\n",
        );
        assert_eq!(config.validate([]), Ok(()));
        let costs: Vec<u32> = config.rewards_by_cost().iter().map(|r| r.points).collect();
        assert_eq!(costs, [500, 1000]);
    }
}
