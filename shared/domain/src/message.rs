//! A message to one customer, from plan to outcome, and the states it goes through.
//!
//! A message is planned by a flow, claimed by a sender when due, sent (or skipped, deferred,
//! retried, failed, held out) and recorded. The moves between states are the methods in
//! [`state`]; each refuses a move that makes no sense (sending a message twice, reviving a
//! failed one). Why a message stands where it does is a typed [`Reason`], shown as text only
//! at the edge.

mod reason;
mod state;
mod wire;

pub use reason::{DeferReason, FailReason, Reason, ReplanReason, SkipReason};
pub use state::{Transition, TransitionError};

use crate::flows::Payload;
use crate::{CustomerId, Flow, FlowStep, MessageId, OrderId, ShopId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why we may write at all. Consent, caps and quiet hours depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageClass {
    /// About the order itself (thank-you, delivery check-in): no marketing consent needed.
    Transactional,
    /// Asks for the customer's opinion (survey, review): carries an unsubscribe.
    Service,
    /// Sells (replenishment, win-back, VIP, referral, early access): needs consent, capped.
    Marketing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for its due time (possibly deferred; the reason says why).
    Planned,
    /// Taken by a sender under a lease; it has not called the provider yet.
    Claimed,
    /// The sender is calling the provider now. If the lease runs out in this state the
    /// outcome is unknown, and the message is failed loudly rather than sent twice.
    Sending,
    Sent,
    Skipped,
    Failed,
    /// Not sent on purpose: the customer is in the flow's holdout group, the customers a
    /// flow's lift is measured against. Its `due_at` stays the instant it would have been
    /// sent. Final.
    HeldOut,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Planned,
        MessageStatus::Claimed,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Skipped,
        MessageStatus::Failed,
        MessageStatus::HeldOut,
    ];

    pub fn is_final(self) -> bool {
        matches!(
            self,
            MessageStatus::Sent | MessageStatus::Skipped | MessageStatus::Failed | MessageStatus::HeldOut
        )
    }

    /// As stored and shown: `planned`, `held_out`...
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Planned => "planned",
            MessageStatus::Claimed => "claimed",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Skipped => "skipped",
            MessageStatus::Failed => "failed",
            MessageStatus::HeldOut => "held_out",
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A product a message is about (review request), with what its links need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRef {
    pub product_id: String,
    pub variant_id: Option<String>,
    pub sku: Option<String>,
    pub title: String,
}

/// Whether a due time rests on a known event or an estimate that better news may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueBasis {
    Known,
    /// Delivery estimated from fulfilment + transit time; a real delivery event reschedules.
    Estimated,
}

/// One message to one customer, from plan to outcome. Its id is unique per customer:
/// `{flow}#{subject}#{step}`, so planning it twice stores it once. Stored as JSON in the
/// shape of [`wire::StoredMessage`], which reads the payload by the message's flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "wire::StoredMessage", into = "wire::StoredMessage")]
pub struct Message {
    pub shop: ShopId,
    pub customer_id: CustomerId,
    /// What the message is about: an order id for the flows here.
    pub subject: String,
    /// Which message of which flow it is; the flow is the step's ([`Message::flow`]).
    pub step: FlowStep,
    pub order_id: Option<OrderId>,
    pub class: MessageClass,
    pub channel: Channel,
    pub due_at: DateTime<Utc>,
    pub due_basis: DueBasis,
    pub status: MessageStatus,
    /// The last decision: `sent`, `skipped: refunded`, `deferred: quiet hours`... Stored
    /// and shown as that text.
    pub reason: Reason,
    pub planned_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub products: Vec<ProductRef>,
    /// What the plan decided that the message must say or re-check: a run-out date, an
    /// offer and its expiry, a tier, a referral code. Typed by flow; stored, shown in the
    /// outbox and given to templates as `details` (see [`Payload::details`]).
    pub payload: Payload,
    /// How often processing this message failed unexpectedly (a template that does not
    /// render, a store error); the backoff grows with it. Stored among the `details`.
    pub processing_errors: u32,
    /// Filled when sent: where it went, what it said, the provider's id.
    pub to: Option<String>,
    pub rendered_subject: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub provider_id: Option<String>,
    /// Optimistic-concurrency version, bumped by every store write.
    pub version: u64,
}

impl Message {
    pub fn id(&self) -> MessageId {
        MessageId::of(self.step, &self.subject)
    }

    /// The flow that sends it.
    pub fn flow(&self) -> Flow {
        self.step.flow()
    }

    /// The payload as text, key by key: what templates and the outbox show as `details`.
    pub fn details(&self) -> crate::flows::Details {
        let mut details = self.payload.details();
        if self.processing_errors > 0 {
            details.insert(PROCESSING_ERRORS.into(), self.processing_errors.to_string());
        }
        details
    }
}

/// The `details` key that counts a message's processing errors, beside its flow's payload.
const PROCESSING_ERRORS: &str = "processing_errors";

/// What a customer said through a 1-tap link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnswerKind {
    Csat { score: u8 },
    Nps { score: u8 },
    Delivery { ok: bool },
    Rating { product_id: String, stars: u8 },
}

impl AnswerKind {
    /// Answers to the same question replace each other (a customer may change their mind).
    pub fn question(&self) -> String {
        match self {
            AnswerKind::Csat { .. } => "csat".into(),
            AnswerKind::Nps { .. } => "nps".into(),
            AnswerKind::Delivery { .. } => "delivery".into(),
            AnswerKind::Rating { product_id, .. } => format!("rating#{product_id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub shop: ShopId,
    pub customer_id: CustomerId,
    /// The message whose link was used.
    pub message_id: MessageId,
    pub order_id: Option<OrderId>,
    pub answer: AnswerKind,
    pub answered_at: DateTime<Utc>,
}
