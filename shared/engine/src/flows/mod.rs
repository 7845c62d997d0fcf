//! The flows at work, one module per flow, each implementing [`FlowJob`]: what the flow
//! plans when an order event arrives, what it re-checks when a message falls due, what it
//! prepares once the sending policy said "send" (a discount code to create), and what a
//! decision sets in motion (the rest of a sequence, next year's greeting). [`FLOWS`] lists
//! them; the planner and the sender go through it and never name a flow.
//!
//! The rules themselves are pure and live in the domain (`aftersale_domain::flows::<flow>`);
//! the modules here load what those rules need from the store and save what they decide.
//! Discount codes are created in the shop only when a message that carries one is about to be
//! sent (or, for a referral reward, once it is earned), through the shop's Admin API
//! ([`discount_codes`]).

mod delivery_check_in;
mod discount_codes;
mod early_access;
mod referral;
mod replenishment;
mod review_request;
mod thank_you;
mod vip;
mod win_back;

pub use early_access::{CampaignError, CampaignReport};
pub use referral::Referral;
pub use vip::{Birthday, BirthdayError, TierMember};

use crate::Engine;
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::reschedule;
use aftersale_domain::policy::{self, Decision};
use aftersale_domain::{
    Channel, CustomerId, DueBasis, Flow, Message, MessageClass, MessageStatus, OrderRecord, ShopConfig,
    ShopId, StoreEvent,
};
use aftersale_ports::{StoreError, lifecycle};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;
use tracing::{debug, info};

/// Every flow the engine runs, one line each, in planning order.
pub(crate) const FLOWS: [&dyn FlowJob; 8] = [
    &thank_you::Job,
    &delivery_check_in::Job,
    &review_request::Job,
    &replenishment::Job,
    &win_back::Job,
    &vip::Job,
    &early_access::Job,
    &referral::Job,
];

/// The job of `flow`. Every [`Flow`] has one (a test checks it); a flow missing from
/// [`FLOWS`] would only lose its own checks, never the sending policy's.
pub(crate) fn job(flow: Flow) -> &'static dyn FlowJob {
    FLOWS
        .iter()
        .copied()
        .find(|job| job.flow() == flow)
        .unwrap_or(&NoJob)
}

/// What a flow does in the engine. Each method has a default that does nothing, so a flow
/// implements only what it needs.
#[async_trait]
pub(crate) trait FlowJob: Send + Sync {
    fn flow(&self) -> Flow;

    /// Whether [`FlowJob::plan`] needs the customer's purchase history (loaded once per event
    /// for all the flows that do).
    fn plans_from_history(&self) -> bool {
        false
    }

    /// Plan on an event: stores the messages the order event calls for; returns how many were
    /// stored or moved. Called only when this process runs the flow and the shop has it on.
    async fn plan(&self, _engine: &Engine, _event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Re-check at send time, before the sending policy: is the claimed message still true?
    async fn recheck(
        &self,
        _engine: &Engine,
        message: Message,
        _config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        Ok(Prepared::Proceed(Box::new(message)))
    }

    /// Prepare before sending, once the policy said "send": work that only makes sense then,
    /// such as creating the discount code the message hands out.
    async fn prepare(
        &self,
        _engine: &Engine,
        message: Message,
        _config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        Ok(Prepared::Proceed(Box::new(message)))
    }

    /// React after a decision to send or to defer the message.
    async fn after_decision(
        &self,
        _engine: &Engine,
        _message: &Message,
        _decision: &Decision,
        _config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The job of a flow missing from [`FLOWS`]: nothing of its own.
struct NoJob;

#[async_trait]
impl FlowJob for NoJob {
    fn flow(&self) -> Flow {
        Flow::ThankYou
    }
}

/// What a flow plans from: the event, the order's folded state, the shop's config, the
/// clock, and the customer's purchase history when a flow asked for it.
pub(crate) struct OrderEvent<'a> {
    pub event: &'a StoreEvent,
    pub record: &'a OrderRecord,
    pub config: &'a ShopConfig,
    pub now: DateTime<Utc>,
    /// `None` when no running flow plans from it, or the order has no customer.
    pub history: Option<&'a PurchaseHistory>,
}

/// What a flow's own re-check says about a claimed message.
pub(crate) enum Prepared {
    /// Go on, with the message as it now is (details may have been added).
    Proceed(Box<Message>),
    Held(Held),
}

/// Why a message does not go now.
pub(crate) enum Held {
    Skip(String),
    /// Try again later, remembering `details` (what a failed attempt learned) if given.
    Defer {
        until: DateTime<Utc>,
        reason: String,
        details: Option<BTreeMap<String, String>>,
    },
    Fail(String),
}

impl Prepared {
    pub(crate) fn skip(reason: impl Into<String>) -> Self {
        Prepared::Held(Held::Skip(reason.into()))
    }

    pub(crate) fn defer(message: Message, until: DateTime<Utc>, reason: impl Into<String>) -> Self {
        Prepared::Held(Held::Defer {
            until,
            reason: reason.into(),
            details: Some(message.details),
        })
    }

    pub(crate) fn fail(reason: impl Into<String>) -> Self {
        Prepared::Held(Held::Fail(reason.into()))
    }
}

impl Engine {
    /// Stores plans made from an order's state: a new one once, and a known delivery time in
    /// place of an estimated one. Returns how many were stored or moved.
    pub(crate) async fn plan_or_reschedule(&self, plans: Vec<Message>) -> Result<usize, StoreError> {
        let mut changed = 0;
        for plan in plans {
            if self.store.plan_message(&plan).await? {
                debug!(flow = plan.flow.as_str(), step = %plan.step, due_at = %plan.due_at, "planned");
                changed += 1;
                continue;
            }
            let Some(existing) = self
                .store
                .load_message(&plan.shop, &plan.customer_id, &plan.id())
                .await?
            else {
                continue;
            };
            if let Some(moved) = reschedule(&existing, &plan) {
                match self.store.update_message(&moved).await {
                    Ok(_) => {
                        info!(flow = plan.flow.as_str(), step = %plan.step, due_at = %moved.due_at, "rescheduled on known delivery");
                        changed += 1;
                    }
                    // A sender took it meanwhile; its own re-check decides.
                    Err(StoreError::Conflict { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(changed)
    }

    /// The flow's own checks, before the sending policy: is the message still true?
    pub(crate) async fn recheck(
        &self,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        // A switched-off flow does nothing on its own (no discount is created): the sending
        // policy skips the message and says why.
        if !policy::flow_enabled(config, message.flow) {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        job(message.flow).recheck(self, message, config, now).await
    }

    /// The flow's preparation once the policy said "send".
    pub(crate) async fn before_send(
        &self,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        job(message.flow).prepare(self, message, config, now).await
    }

    /// What a decision to send or defer sets in motion in the message's flow.
    pub(crate) async fn after_decision(
        &self,
        message: &Message,
        decision: &Decision,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if !matches!(decision, Decision::Send { .. } | Decision::Defer { .. }) {
            return Ok(());
        }
        job(message.flow)
            .after_decision(self, message, decision, config, now)
            .await
    }

    /// The customer's purchase history now, in the shop's zone.
    pub(crate) async fn history(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        config: &ShopConfig,
    ) -> Result<PurchaseHistory, StoreError> {
        let currency = lifecycle::spend_table(self.store.as_ref(), shop).await?.currency;
        lifecycle::purchase_history(self.store.as_ref(), shop, customer, currency, config.time_zone).await
    }

    /// Stores a planned message once; returns 1 if it was new.
    pub(crate) async fn plan_once(&self, message: Message) -> Result<usize, StoreError> {
        let stored = self.store.plan_message(&message).await?;
        if stored {
            debug!(message = %message.id(), due_at = %message.due_at, "planned");
        }
        Ok(usize::from(stored))
    }

    /// Skips a customer's still-planned messages that `stale` picks, saying why. A sender that
    /// holds one meanwhile keeps it: its own re-check reaches the same conclusion.
    pub(crate) async fn cancel_planned(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        stale: impl Fn(&Message) -> bool,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let mut cancelled = 0;
        for message in self.store.customer_messages(shop, customer).await? {
            if message.status != MessageStatus::Planned || !stale(&message) {
                continue;
            }
            let skipped = Message {
                status: MessageStatus::Skipped,
                reason: format!("skipped: {reason}"),
                ..message
            };
            match self.store.update_message(&skipped).await {
                Ok(_) => cancelled += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(cancelled)
    }
}

/// A marketing email planned from a customer's history (not from one order's state).
pub(crate) fn marketing_message(
    shop: &ShopId,
    customer: &CustomerId,
    flow: Flow,
    subject: String,
    step: &str,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Message {
    Message {
        shop: shop.clone(),
        customer_id: customer.clone(),
        flow,
        subject,
        step: step.into(),
        order_id: None,
        class: MessageClass::Marketing,
        channel: Channel::Email,
        due_at,
        due_basis: DueBasis::Known,
        status: MessageStatus::Planned,
        reason: "planned".into(),
        planned_at: now,
        lease_until: None,
        attempts: 0,
        products: Vec::new(),
        details: BTreeMap::new(),
        to: None,
        rendered_subject: None,
        sent_at: None,
        provider_id: None,
        version: 0,
    }
}

/// Message ids are `flow#subject#step`: names that go into a subject lose their `#`.
pub(crate) fn id_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c == '#' || c.is_whitespace() { '-' } else { c })
        .collect()
}

pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn parse_instant(text: Option<&String>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flow_has_exactly_one_job() {
        for flow in Flow::ALL {
            let jobs = FLOWS.iter().filter(|job| job.flow() == flow).count();
            assert_eq!(jobs, 1, "{flow} has {jobs} jobs in FLOWS");
        }
        assert_eq!(FLOWS.len(), Flow::ALL.len());
    }
}
