//! Thank-you: a thank-you note the moment an order is placed, and a 1-tap satisfaction survey
//! a few days later. Both are about the order itself, so they need no marketing consent; the
//! survey asks for an opinion, so it carries an unsubscribe.

use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{Answer, Channel, ConfigError, Message, MessageClass, Order, ShopConfig};
use chrono::Duration;
use serde::{Deserialize, Serialize};

steps! {
    /// "Thank you for your order", at once.
    ThankYou => "thank-you",
    /// The 1-tap satisfaction survey.
    Feedback => "feedback",
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThankYouConfig {
    pub enabled: bool,
    pub channel: Channel,
    /// The 1-tap satisfaction survey, this many days after the order.
    pub survey: bool,
    pub survey_delay_days: u32,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5 on replenishment and win-back, else 0).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default.
    pub attribution_days: Option<u32>,
}

impl Default for ThankYouConfig {
    fn default() -> Self {
        Self {
            holdout_percent: None,
            attribution_days: None,
            enabled: true,
            channel: Channel::Email,
            survey: true,
            survey_delay_days: 3,
        }
    }
}

impl ThankYouConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.survey_delay_days > 60 {
            return Err(ConfigError::Invalid {
                field: "flows.thank_you.survey_delay_days",
                problem: "must be at most 60".into(),
            });
        }
        Ok(())
    }
}

/// The thank-you and, when the shop asks for it, the survey. `base` is the order's message
/// with everything but the flow's own fields filled.
pub fn plan(base: &Message, order: &Order, config: &ThankYouConfig) -> Vec<Message> {
    if !config.enabled {
        return Vec::new();
    }
    let thank_you = Message {
        step: Step::ThankYou.into(),
        channel: config.channel,
        due_at: order.created_at,
        ..base.clone()
    };
    let survey = config.survey.then(|| Message {
        step: Step::Feedback.into(),
        class: MessageClass::Service,
        due_at: order.created_at + Duration::days(config.survey_delay_days.into()),
        ..thank_you.clone()
    });
    std::iter::once(thank_you).chain(survey).collect()
}

pub(super) struct Rules;

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, thank_you)
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.thank_you.enabled
    }

    /// A thank-you two days late thanks no one; a late survey still asks a fair question.
    fn stale_after(&self, step: FlowStep) -> Option<Duration> {
        (step == Step::ThankYou).then(|| Duration::hours(48))
    }

    /// The survey is answered once any of its links was used.
    fn answered(&self, message: Message, answers: &[Answer]) -> (Message, bool) {
        let answered = message.step == Step::Feedback && answers.iter().any(|a| a.message_id == message.id());
        (message, answered)
    }
}
