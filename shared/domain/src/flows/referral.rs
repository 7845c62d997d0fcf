//! Referral settings: who gets a personal code, what the friend and the advocate get, and how
//! cautious the shop is before paying a reward. The fraud checks and the discount clients
//! live in `aftersale-rewards`; this is what a merchant configures.

use super::FlowRules;
use super::payload::{DiscountProgress, instant, text};
use super::step::steps;
use crate::{ConfigError, OrderId, ShopConfig};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

steps! {
    /// The advocate's personal code to share with friends.
    Share => "share",
    /// The advocate's reward, once a friend's order has held.
    Reward => "reward",
}

/// Orders one friend code serves in total when it is first-order only and the merchant set
/// no cap: plenty for an advocate's real friends, a stop for a code posted on a coupon site.
pub const DEFAULT_FRIEND_CODE_MAX_USES: u32 = 50;
/// Largest cap accepted; above it a cap no longer limits a leak.
const MAX_FRIEND_CODE_MAX_USES: u32 = 10_000;

/// When a customer is invited to refer friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralEligibility {
    /// After their first order is delivered (or fulfilled plus transit time): they have
    /// something to recommend.
    Delivered,
    /// As soon as their first order is paid.
    Paid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralConfig {
    /// Off until the merchant turns it on: it gives discounts away and needs `[admin_api]`.
    pub enabled: bool,
    pub eligible_after: ReferralEligibility,
    /// Codes look like `FRIEND-K7M2P9QX4R`; 1-8 letters or digits.
    pub code_prefix: String,
    /// Percent off the friend's first order with the advocate's code.
    pub friend_percent: Decimal,
    /// Smallest subtotal the friend's code applies to, in the shop's currency.
    pub friend_minimum_subtotal: Option<Decimal>,
    /// The friend's code serves only customers with no previous order, so a leaked code is
    /// no standing discount for everyone. Shopify enforces it at checkout (a customer
    /// segment); WooCommerce core cannot, and gets one use per customer plus the cap below.
    /// Off: anyone may use the code once.
    pub friend_code_first_order_only: bool,
    /// Orders one advocate's code may serve in total, across all friends. Unset: 50 while
    /// `friend_code_first_order_only` is on, no cap when it is off.
    pub friend_code_max_uses: Option<u32>,
    /// Percent off the advocate's next order, per friend whose order stuck.
    pub reward_percent: Decimal,
    /// How long a reward code works.
    pub reward_valid_days: u32,
    /// Days after the friend's order is fulfilled without a refund before the reward.
    pub holding_days: u32,
    /// Referred orders one network may place in `ip_window_hours` before more are refused.
    pub max_orders_per_ip: usize,
    pub ip_window_hours: u32,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5 on replenishment and win-back, else 0).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default.
    pub attribution_days: Option<u32>,
}

impl Default for ReferralConfig {
    fn default() -> Self {
        Self {
            holdout_percent: None,
            attribution_days: None,
            enabled: false,
            eligible_after: ReferralEligibility::Delivered,
            code_prefix: "FRIEND".into(),
            friend_percent: Decimal::TEN,
            friend_minimum_subtotal: None,
            friend_code_first_order_only: true,
            friend_code_max_uses: None,
            reward_percent: Decimal::new(15, 0),
            reward_valid_days: 90,
            holding_days: 14,
            max_orders_per_ip: 3,
            ip_window_hours: 24,
        }
    }
}

impl ReferralConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: &str| ConfigError::Invalid {
            field,
            problem: problem.into(),
        };
        let prefix_ok = (1..=8).contains(&self.code_prefix.len())
            && self.code_prefix.chars().all(|c| c.is_ascii_alphanumeric());
        if !prefix_ok {
            return Err(invalid(
                "flows.referral.code_prefix",
                "must be 1-8 letters or digits",
            ));
        }
        let percent_ok = |p: Decimal| p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED;
        if !percent_ok(self.friend_percent) {
            return Err(invalid(
                "flows.referral.friend_percent",
                "must be above 0 and at most 100",
            ));
        }
        if !percent_ok(self.reward_percent) {
            return Err(invalid(
                "flows.referral.reward_percent",
                "must be above 0 and at most 100",
            ));
        }
        if self.friend_minimum_subtotal.is_some_and(|m| m < Decimal::ZERO) {
            return Err(invalid(
                "flows.referral.friend_minimum_subtotal",
                "must not be negative",
            ));
        }
        if self
            .friend_code_max_uses
            .is_some_and(|n| n == 0 || n > MAX_FRIEND_CODE_MAX_USES)
        {
            return Err(invalid(
                "flows.referral.friend_code_max_uses",
                "must be between 1 and 10000 (leave it out for the default)",
            ));
        }
        if self.reward_valid_days == 0 || self.reward_valid_days > 730 {
            return Err(invalid(
                "flows.referral.reward_valid_days",
                "must be between 1 and 730",
            ));
        }
        if self.holding_days > 120 {
            return Err(invalid("flows.referral.holding_days", "must be at most 120"));
        }
        if self.max_orders_per_ip == 0 {
            return Err(invalid("flows.referral.max_orders_per_ip", "must be at least 1"));
        }
        if self.ip_window_hours == 0 || self.ip_window_hours > 24 * 30 {
            return Err(invalid(
                "flows.referral.ip_window_hours",
                "must be between 1 and 720",
            ));
        }
        Ok(())
    }

    /// The total number of orders one friend code may serve, if capped.
    pub fn friend_code_usage_cap(&self) -> Option<NonZeroU32> {
        let cap = match self.friend_code_max_uses {
            Some(n) => n,
            None if self.friend_code_first_order_only => DEFAULT_FRIEND_CODE_MAX_USES,
            None => return None,
        };
        NonZeroU32::new(cap)
    }
}

pub(super) struct Rules;

/// What a referral message says and re-checks. A share carries the advocate's code and the
/// friend's offer; a reward carries the reward code, the friend's order it is for, and how
/// creating the code is going.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub code: Option<String>,
    #[serde(with = "text::option")]
    pub friend_percent: Option<Decimal>,
    #[serde(with = "text::option")]
    pub friend_minimum: Option<Decimal>,
    pub reward_code: Option<String>,
    #[serde(with = "text::option")]
    pub reward_percent: Option<Decimal>,
    pub friend_order: Option<OrderId>,
    pub friend_first_name: Option<String>,
    #[serde(with = "instant::option")]
    pub reward_expires_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub discount: DiscountProgress,
}

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, referral)
    }

    fn default_attribution_days(&self) -> i64 {
        14
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.referral.enabled
    }
}
