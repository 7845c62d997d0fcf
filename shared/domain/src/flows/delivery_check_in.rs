//! Delivery check-in: "did it arrive OK?" a day after delivery, with 1-tap answers. Carriers
//! do not always report delivery (WooCommerce never does), so arrival may be estimated from
//! fulfilment plus transit time and replaced when the real delivery event comes
//! ([`super::reschedule`]). The review request waits for the same arrival.

use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{Channel, ConfigError, DueBasis, Message, OrderRecord, ShopConfig};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

steps! {
    /// "Did your order arrive OK?"
    CheckIn => "check-in",
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryCheckInConfig {
    pub enabled: bool,
    pub channel: Channel,
    /// Hours after delivery before asking (let them open the parcel).
    pub delay_hours: u32,
    /// When the carrier never reports delivery (all WooCommerce shops): days from fulfilment.
    pub transit_days: u32,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5 on replenishment and win-back, else 0).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default.
    pub attribution_days: Option<u32>,
}

impl Default for DeliveryCheckInConfig {
    fn default() -> Self {
        Self {
            holdout_percent: None,
            attribution_days: None,
            enabled: true,
            channel: Channel::Email,
            delay_hours: 24,
            transit_days: 4,
        }
    }
}

impl DeliveryCheckInConfig {
    /// The checks TOML types cannot express, naming the field at fault. `has_support_email`:
    /// an SMS has no buttons, so an SMS check-in needs an address the customer can write to.
    pub fn validate(&self, has_support_email: bool) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: &str| ConfigError::Invalid {
            field,
            problem: problem.into(),
        };
        if self.delay_hours > 24 * 14 {
            return Err(invalid(
                "flows.delivery_check_in.delay_hours",
                "must be at most 336 (14 days)",
            ));
        }
        if self.transit_days == 0 || self.transit_days > 60 {
            return Err(invalid(
                "flows.delivery_check_in.transit_days",
                "must be between 1 and 60",
            ));
        }
        if self.enabled && self.channel == Channel::Sms && !has_support_email {
            return Err(invalid(
                "flows.delivery_check_in.channel",
                "an SMS check-in asks a question the customer answers by email: set support_email",
            ));
        }
        Ok(())
    }

    /// When an order shipped but not yet reported delivered should arrive.
    pub fn estimated_arrival(&self, fulfilled_at: DateTime<Utc>) -> DateTime<Utc> {
        fulfilled_at + Duration::days(self.transit_days.into())
    }
}

/// When an order arrived (or should have), and whether that is known or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub at: DateTime<Utc>,
    pub basis: DueBasis,
}

/// The order's arrival: its delivery, else its fulfilment plus transit time, else none yet.
pub fn arrival(record: &OrderRecord, config: &DeliveryCheckInConfig) -> Option<Arrival> {
    match (record.delivered_at, record.fulfilled_at) {
        (Some(delivered), _) => Some(Arrival {
            at: delivered,
            basis: DueBasis::Known,
        }),
        (None, Some(fulfilled)) => Some(Arrival {
            at: config.estimated_arrival(fulfilled),
            basis: DueBasis::Estimated,
        }),
        (None, None) => None,
    }
}

/// The check-in, `delay_hours` after arrival.
pub fn plan(base: &Message, arrival: Arrival, config: &DeliveryCheckInConfig) -> Option<Message> {
    config.enabled.then(|| Message {
        step: Step::CheckIn.into(),
        channel: config.channel,
        due_at: arrival.at + Duration::hours(config.delay_hours.into()),
        due_basis: arrival.basis,
        ..base.clone()
    })
}

pub(super) struct Rules;

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, delivery_check_in)
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.delivery_check_in.enabled
    }

    /// A week after arrival the parcel's fate is known to everyone; asking is noise.
    fn stale_after(&self, _step: FlowStep) -> Option<Duration> {
        Some(Duration::days(7))
    }
}
