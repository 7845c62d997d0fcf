//! Points messages: the welcome with its bonus, "your points are now available", the reward
//! code, and the expiry warning. The ledger's own rules are in [`crate::points`]; this is
//! what the customer hears of them and when.
//!
//! The ledger moves on the clock (pending → available, expiry), and the due index that finds
//! due messages is what makes the clock tick without scanning customers: the `available`
//! and `expiry` messages are due when the ledger has to move, and their re-check moves it.
//! `expiry` never reaches the customer (its warning did); it exists to be due on time.

use super::FlowRules;
use super::payload::{DiscountProgress, instant, text};
use super::step::steps;
use crate::{
    Channel, Currency, CustomerId, DueBasis, Message, MessageClass, MessageStatus, OrderId, Reason,
    ShopConfig, ShopId,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

steps! {
    /// "You are in automatically, with 100 bonus points".
    Welcome => "welcome",
    /// An order's points are now available to spend.
    Available => "available",
    /// The code a customer turned points into.
    RewardCode => "reward-code",
    /// Points will expire soon.
    ExpiryWarning => "expiry-warning",
    /// The moment points expire: moves the ledger, sends nothing.
    Expiry => "expiry",
    /// The birthday bonus, credited when this falls due on the customer's birthday.
    Birthday => "birthday",
}

pub struct Rules;

/// What a points message says: the points it is about and the balance when it goes; for a
/// reward code, the code, what it is worth, and how creating it in the shop is going.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    #[serde(with = "text::option")]
    pub points: Option<i64>,
    #[serde(with = "text::option")]
    pub available: Option<i64>,
    #[serde(with = "text::option")]
    pub pending: Option<i64>,
    #[serde(with = "instant::option")]
    pub expires_at: Option<DateTime<Utc>>,
    pub code: Option<String>,
    /// What the code is worth, in the customer's language ("5.00 EUR off").
    pub reward: Option<String>,
    #[serde(with = "text::option")]
    pub amount_off: Option<Decimal>,
    #[serde(with = "text::option")]
    pub percent_off: Option<Decimal>,
    #[serde(with = "text::option")]
    pub minimum_order: Option<Decimal>,
    pub currency: Option<Currency>,
    #[serde(flatten)]
    pub discount: DiscountProgress,
}

impl FlowRules for Rules {
    // Points messages report what happened to the ledger: nobody is held out of them, and
    // their orders are counted over the selling flows' two weeks.
    fn default_attribution_days(&self) -> i64 {
        14
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.points.enabled
    }
}

/// The subject of the expiry messages: the last activity they count from, so activity since
/// makes them moot.
pub fn activity_subject(since: DateTime<Utc>) -> String {
    since.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The subject of a birthday message: the local day it falls on (`2027-03-20`), so a
/// birthday changed to another day is another message.
pub fn birthday_subject(on: chrono::NaiveDate) -> String {
    on.format("%Y-%m-%d").to_string()
}

/// A points message, planned `now` for `due_at`.
pub fn message(
    shop: &ShopId,
    customer: &CustomerId,
    step: Step,
    subject: String,
    order: Option<&OrderId>,
    due: (DateTime<Utc>, DueBasis),
    now: DateTime<Utc>,
) -> Message {
    let class = match step {
        // The code is what the customer asked for: it goes whatever their marketing consent.
        Step::RewardCode => MessageClass::Transactional,
        // About an order they placed, like a review request.
        Step::Available => MessageClass::Service,
        Step::Welcome | Step::ExpiryWarning | Step::Expiry | Step::Birthday => MessageClass::Marketing,
    };
    Message {
        shop: shop.clone(),
        customer_id: customer.clone(),
        subject,
        step: step.into(),
        order_id: order.cloned(),
        class,
        channel: Channel::Email,
        due_at: due.0,
        due_basis: due.1,
        status: MessageStatus::Planned,
        reason: Reason::Planned,
        planned_at: now,
        lease_until: None,
        attempts: 0,
        products: Vec::new(),
        payload: Default::default(),
        processing_errors: 0,
        to: None,
        rendered_subject: None,
        sent_at: None,
        provider_id: None,
        version: 0,
    }
}
