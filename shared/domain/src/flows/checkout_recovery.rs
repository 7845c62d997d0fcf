//! Checkout recovery: the customer got as far as the checkout and stopped. A reminder with the
//! checkout's recovery link goes `delay_minutes` after their last change (an hour by default),
//! and an optional second one `second_reminder_hours` after it (a day by default). Both are
//! marketing: they need the customer's marketing consent. An order with the checkout's token
//! (or its cart's) ends it at once, and the sender checks again when a reminder falls due.
//!
//! Only Shopify tells us about checkouts (`checkouts/create`, `checkouts/update`). WooCommerce
//! core has no checkout webhook; a plugin that reports checkouts would normalise them into
//! the same [`crate::Checkout`] event, and everything here works unchanged.

use super::payload::{DiscountProgress, instant, text};
use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{
    Channel, Checkout, ConfigError, DueBasis, Flow, Message, MessageClass, MessageStatus, ProductRef, Reason,
    ShopConfig, ShopId, SkipReason,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

steps! {
    /// "You left something behind", with the recovery link.
    Reminder => "reminder",
    /// The last nudge, with the incentive when the shop offers one.
    SecondReminder => "second-reminder",
}

/// A recovery link past this age has lost its point: the customer has moved on (and the
/// cart's prices and stock may have changed).
const GIVE_UP_AFTER_DAYS: i64 = 3;

/// What a reminder carries (templates read it as `details.*`): the checkout it is about, and
/// the incentive of the last reminder when the shop offers one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub recovery_url: Option<String>,
    pub checkout_token: Option<String>,
    pub cart_token: Option<String>,
    #[serde(with = "instant::option")]
    pub checkout_updated_at: Option<DateTime<Utc>>,
    pub checkout_total: Option<String>,
    pub incentive: Option<Incentive>,
    #[serde(with = "text::option")]
    pub discount_percent: Option<u8>,
    pub offer_code: Option<String>,
    #[serde(with = "instant::option")]
    pub offer_expires_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub discount: DiscountProgress,
}

/// What a reminder offers, as templates test it (`details.incentive == "discount"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Incentive {
    None,
    Discount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutRecoveryConfig {
    pub enabled: bool,
    /// Minutes after the customer's last change to the checkout (15 to 1440).
    pub delay_minutes: u32,
    /// Hours after the last change for the second reminder (0 = none; else after the first,
    /// up to 72).
    pub second_reminder_hours: u32,
    /// A single-use percentage code in the last reminder (1 to 50); none by default, so a
    /// customer never learns to wait for a discount.
    pub discount_percent: Option<u8>,
    /// How long that code stays valid, in days (1 to 30).
    pub discount_valid_days: u32,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default (7).
    pub attribution_days: Option<u32>,
}

impl Default for CheckoutRecoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            delay_minutes: 60,
            second_reminder_hours: 24,
            discount_percent: None,
            discount_valid_days: 7,
            holdout_percent: None,
            attribution_days: None,
        }
    }
}

impl CheckoutRecoveryConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: &str| ConfigError::Invalid {
            field,
            problem: problem.into(),
        };
        if !(15..=1440).contains(&self.delay_minutes) {
            return Err(invalid(
                "flows.checkout_recovery.delay_minutes",
                "must be between 15 and 1440 (a day)",
            ));
        }
        let second = i64::from(self.second_reminder_hours) * 60;
        if self.second_reminder_hours != 0 && (second <= i64::from(self.delay_minutes) || second > 72 * 60) {
            return Err(invalid(
                "flows.checkout_recovery.second_reminder_hours",
                "must be 0 (none) or after the first reminder, at most 72",
            ));
        }
        if self.discount_percent.is_some_and(|p| !(1..=50).contains(&p)) {
            return Err(invalid(
                "flows.checkout_recovery.discount_percent",
                "must be between 1 and 50",
            ));
        }
        if !(1..=30).contains(&self.discount_valid_days) {
            return Err(invalid(
                "flows.checkout_recovery.discount_valid_days",
                "must be between 1 and 30",
            ));
        }
        Ok(())
    }

    /// The steps this shop sends, each with its delay after the checkout's last change.
    fn steps(&self) -> Vec<(Step, Duration)> {
        let first = (Step::Reminder, Duration::minutes(self.delay_minutes.into()));
        let second = (self.second_reminder_hours > 0).then(|| {
            (
                Step::SecondReminder,
                Duration::hours(self.second_reminder_hours.into()),
            )
        });
        std::iter::once(first).chain(second).collect()
    }

    /// The step that carries the incentive: the last one the shop sends.
    pub fn incentive_step(&self) -> Option<Step> {
        self.discount_percent?;
        self.steps().last().map(|(step, _)| *step)
    }
}

/// The subject of a checkout's reminders: its token, made safe for a message id.
pub fn subject(checkout_token: &str) -> String {
    checkout_token
        .chars()
        .map(|c| if c == '#' || c.is_whitespace() { '-' } else { c })
        .collect()
}

/// The reminders a checkout calls for, timed from its last change; none once it is
/// completed or the flow is off. Planning the same checkout again gives the same messages;
/// a later change gives the same ids with later due times ([`moved`]).
pub fn plan(
    shop: &ShopId,
    checkout: &Checkout,
    config: &CheckoutRecoveryConfig,
    now: DateTime<Utc>,
) -> Vec<Message> {
    if !config.enabled || checkout.completed_at.is_some() {
        return Vec::new();
    }
    let payload = Payload {
        recovery_url: Some(checkout.recovery_url.clone()),
        checkout_token: Some(checkout.token.clone()),
        cart_token: checkout.cart_token.clone(),
        checkout_updated_at: Some(checkout.updated_at),
        checkout_total: Some(checkout.total.to_string()),
        // No discount unless the shop offers one (the engine then adds the code).
        incentive: Some(Incentive::None),
        ..Payload::default()
    };
    let mut products: Vec<ProductRef> = Vec::new();
    for item in &checkout.line_items {
        let Some(product_id) = &item.product_id else {
            continue;
        };
        if products.iter().any(|p| &p.product_id == product_id) {
            continue;
        }
        products.push(ProductRef {
            product_id: product_id.clone(),
            variant_id: item.variant_id.clone(),
            sku: item.sku.clone(),
            title: item.title.clone(),
        });
    }
    config
        .steps()
        .into_iter()
        .map(|(step, delay)| Message {
            shop: shop.clone(),
            customer_id: checkout.customer.id.clone(),
            subject: subject(&checkout.token),
            step: step.into(),
            order_id: None,
            class: MessageClass::Marketing,
            channel: Channel::Email,
            due_at: checkout.updated_at + delay,
            due_basis: DueBasis::Known,
            status: MessageStatus::Planned,
            reason: Reason::Planned,
            planned_at: now,
            lease_until: None,
            attempts: 0,
            products: products.clone(),
            payload: payload.clone().into(),
            processing_errors: 0,
            to: None,
            rendered_subject: None,
            sent_at: None,
            provider_id: None,
            version: 0,
        })
        .collect()
}

/// A still-planned reminder after the customer changed the checkout again: it waits from
/// the new change and carries the new link and cart. `None` when nothing should change (it
/// was decided already, or `planned` is not newer).
pub fn moved(existing: &Message, planned: &Message) -> Option<Message> {
    let changed = |m: &Message| m.payload.checkout_recovery()?.checkout_updated_at;
    let is_newer = matches!((changed(existing), changed(planned)), (Some(old), Some(new)) if new > old);
    let newer = planned.payload.checkout_recovery()?;
    (existing.status == MessageStatus::Planned && is_newer).then(|| {
        // The checkout's own fields come from the newer sighting; anything else (a code
        // already chosen for this checkout) stays.
        let mut message = Message {
            due_at: planned.due_at,
            products: planned.products.clone(),
            ..existing.clone()
        };
        let payload = message.payload.checkout_recovery_mut();
        payload.recovery_url.clone_from(&newer.recovery_url);
        payload.checkout_token.clone_from(&newer.checkout_token);
        payload.cart_token.clone_from(&newer.cart_token);
        payload.checkout_updated_at = newer.checkout_updated_at;
        payload.checkout_total.clone_from(&newer.checkout_total);
        message
    })
}

/// Whether a reminder is about the checkout an order completed: the same checkout token, or
/// the same cart (a customer who restarts checkout from the cart gets a new token).
pub fn completed_by(message: &Message, checkout_token: Option<&str>, cart_token: Option<&str>) -> bool {
    let Some(payload) = message.payload.checkout_recovery() else {
        return false;
    };
    let same = |ours: &Option<String>, token: Option<&str>| {
        token.is_some_and(|t| !t.is_empty() && ours.as_deref() == Some(t))
    };
    message.flow() == Flow::CheckoutRecovery
        && (same(&payload.checkout_token, checkout_token) || same(&payload.cart_token, cart_token))
}

pub(super) struct Rules;

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, checkout_recovery)
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.checkout_recovery.enabled
    }

    /// The second reminder waits for the first to go, and keeps the gap after it.
    fn follows(&self, step: FlowStep, config: &ShopConfig) -> Option<(FlowStep, Duration)> {
        let config = &config.flows.checkout_recovery;
        (step == Step::SecondReminder).then(|| {
            let gap = Duration::hours(config.second_reminder_hours.into())
                - Duration::minutes(config.delay_minutes.into());
            (Step::Reminder.into(), gap.max(Duration::zero()))
        })
    }

    /// A reminder keeps its moment: it goes within a few days of the customer's last change
    /// or not at all (waiting for room under the frequency cap would make it pointless).
    fn deadline(&self, message: &Message) -> Option<(DateTime<Utc>, SkipReason)> {
        let changed = message.payload.checkout_recovery()?.checkout_updated_at?;
        Some((
            changed + Duration::days(GIVE_UP_AFTER_DAYS),
            SkipReason::CheckoutExpired,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Currency, Customer, CustomerId, LineItem, Money};
    use chrono::TimeZone;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, minute, 0).unwrap()
    }

    fn checkout(updated_at: DateTime<Utc>) -> Checkout {
        let usd = Currency::new("USD").unwrap();
        Checkout {
            token: "123123123".into(),
            cart_token: Some("eeafa272".into()),
            customer: Customer::bare(CustomerId::new("603851970716743426").unwrap()),
            recovery_url: "https://checkout.local/548380009/checkouts/123123123/recover?key=k".into(),
            line_items: vec![LineItem {
                id: "k1".into(),
                product_id: Some("632910392".into()),
                variant_id: Some("808950810".into()),
                sku: Some("IPOD2008PINK".into()),
                title: "IPod Nano - 8GB".into(),
                quantity: 1,
                price: Money::parse("199.00", usd).unwrap(),
            }],
            total: Money::parse("210.94", usd).unwrap(),
            created_at: at(10, 0),
            updated_at,
            completed_at: None,
        }
    }

    fn shop() -> ShopId {
        ShopId::new("demo.myshopify.com").unwrap()
    }

    #[test]
    fn a_checkout_gets_a_reminder_an_hour_after_its_last_change_and_another_a_day_after() {
        let config = CheckoutRecoveryConfig::default();
        let plans = plan(&shop(), &checkout(at(10, 20)), &config, at(10, 20));
        let steps: Vec<_> = plans.iter().map(|m| (m.step.as_str(), m.due_at)).collect();
        assert_eq!(
            steps,
            [
                ("reminder", at(11, 20)),
                ("second-reminder", at(10, 20) + Duration::hours(24))
            ]
        );
        assert!(plans.iter().all(|m| m.class == MessageClass::Marketing));
        assert_eq!(
            plans[0].details()["recovery_url"],
            "https://checkout.local/548380009/checkouts/123123123/recover?key=k"
        );
        assert_eq!(plans[0].id().to_string(), "checkout-recovery#123123123#reminder");
        assert_eq!(plans[0].products[0].title, "IPod Nano - 8GB");
        assert_eq!(config.incentive_step(), None, "no discount unless the shop asks");
    }

    #[test]
    fn a_later_change_moves_the_reminder_and_an_older_one_does_not() {
        let config = CheckoutRecoveryConfig::default();
        let first = plan(&shop(), &checkout(at(10, 0)), &config, at(10, 0)).remove(0);
        let later = plan(&shop(), &checkout(at(10, 40)), &config, at(10, 40)).remove(0);
        let moved_to = moved(&first, &later).expect("moved");
        assert_eq!(moved_to.due_at, at(11, 40));
        assert_eq!(moved_to.id(), first.id());
        assert!(
            moved(&moved_to, &first).is_none(),
            "an older change moves nothing back"
        );
        let mut sent = moved_to.clone();
        sent.status = MessageStatus::Sent;
        assert!(moved(&sent, &later).is_none());
    }

    #[test]
    fn a_completed_checkout_plans_nothing_and_an_order_with_its_token_or_cart_ends_it() {
        let config = CheckoutRecoveryConfig::default();
        let mut done = checkout(at(10, 0));
        done.completed_at = Some(at(10, 5));
        assert!(plan(&shop(), &done, &config, at(10, 5)).is_empty());
        let reminder = plan(&shop(), &checkout(at(10, 0)), &config, at(10, 0)).remove(0);
        assert!(completed_by(&reminder, Some("123123123"), None));
        assert!(completed_by(&reminder, Some("other"), Some("eeafa272")));
        assert!(!completed_by(&reminder, Some("other"), Some("")));
        assert!(!completed_by(&reminder, None, None));
    }

    #[test]
    fn the_incentive_goes_in_the_last_reminder_and_the_reminders_expire_after_three_days() {
        let mut config = CheckoutRecoveryConfig {
            discount_percent: Some(10),
            ..Default::default()
        };
        assert_eq!(config.incentive_step(), Some(Step::SecondReminder));
        config.second_reminder_hours = 0;
        assert_eq!(config.incentive_step(), Some(Step::Reminder));
        let reminder = plan(&shop(), &checkout(at(10, 0)), &config, at(10, 0)).remove(0);
        let (end, why) = Rules.deadline(&reminder).unwrap();
        assert_eq!(
            (end, why),
            (at(10, 0) + Duration::days(3), SkipReason::CheckoutExpired)
        );
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |config: CheckoutRecoveryConfig| match config.validate() {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let base = CheckoutRecoveryConfig::default;
        assert!(base().validate().is_ok());
        assert_eq!(
            field(CheckoutRecoveryConfig {
                delay_minutes: 5,
                ..base()
            }),
            "flows.checkout_recovery.delay_minutes"
        );
        assert_eq!(
            field(CheckoutRecoveryConfig {
                second_reminder_hours: 1,
                delay_minutes: 90,
                ..base()
            }),
            "flows.checkout_recovery.second_reminder_hours"
        );
        assert_eq!(
            field(CheckoutRecoveryConfig {
                discount_percent: Some(80),
                ..base()
            }),
            "flows.checkout_recovery.discount_percent"
        );
        assert_eq!(
            field(CheckoutRecoveryConfig {
                discount_valid_days: 0,
                ..base()
            }),
            "flows.checkout_recovery.discount_valid_days"
        );
    }
}
