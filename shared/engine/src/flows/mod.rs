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

mod care_guide;
mod checkout_recovery;
mod cross_sell;
mod delivery_check_in;
mod discount_codes;
mod early_access;
mod make_it_right;
mod planning;
mod points;
mod referral;
mod replenishment;
mod review_request;
mod thank_you;
mod vip;
mod win_back;

pub use cross_sell::{LearnRun, RELEARN_AFTER, Recommendations};
pub use early_access::{CampaignError, CampaignReport};
pub use points::PointsError;
pub(crate) use points::on_sign_up as points_on_sign_up;
pub(crate) use points::{Redemption, points_currency, reward_label};
pub use referral::Referral;
pub use vip::{Birthday, BirthdayError, TierMember};

pub(crate) use planning::{id_safe, instant, marketing_message};

use crate::Engine;
use aftersale_domain::flows::Payload;
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::policy::{self, Decision};
use aftersale_domain::{Checkout, Flow, Message, OrderRecord, ShopConfig, ShopId, StoreEvent};
use aftersale_domain::{DeferReason, FailReason, SkipReason};
use aftersale_ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Every flow the engine runs, one line each, in planning order.
pub(crate) const FLOWS: [&dyn FlowJob; 13] = [
    &thank_you::Job,
    &delivery_check_in::Job,
    &review_request::Job,
    &replenishment::Job,
    &win_back::Job,
    &vip::Job,
    &early_access::Job,
    &referral::Job,
    &points::Job,
    &checkout_recovery::Job,
    &make_it_right::Job,
    &care_guide::Job,
    &cross_sell::Job,
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

    /// Plan on a checkout the customer started or changed (no order yet); returns how many
    /// messages were stored or moved.
    async fn on_checkout(
        &self,
        _engine: &Engine,
        _shop: &ShopId,
        _checkout: &Checkout,
        _config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// Before a tick works on a batch of this flow's due messages, with the shops they belong
    /// to: the flow's own schedule-bound work (the cross-sell learns its pairs again once a
    /// day). It never fails the tick.
    async fn before_batch(&self, _engine: &Engine, _shops: &[ShopId], _now: DateTime<Utc>) {}

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
    /// Go on, with the message as it now is (its payload may have been filled in).
    Proceed(Box<Message>),
    Held(Held),
}

/// Why a message does not go now.
pub(crate) enum Held {
    Skip(SkipReason),
    /// Wait until `until`, remembering `payload` (what the re-check learned) if given.
    Defer {
        until: DateTime<Utc>,
        reason: DeferReason,
        payload: Option<Box<Payload>>,
    },
    /// Try again at `until` after `problem` (a discount code the shop's API did not create),
    /// remembering what the attempt learned in `payload`.
    Retry {
        until: DateTime<Utc>,
        problem: String,
        payload: Box<Payload>,
    },
    Fail(FailReason),
}

impl Prepared {
    pub(crate) fn skip(reason: SkipReason) -> Self {
        Prepared::Held(Held::Skip(reason))
    }

    pub(crate) fn defer(message: Message, until: DateTime<Utc>, reason: DeferReason) -> Self {
        Prepared::Held(Held::Defer {
            until,
            reason,
            payload: Some(Box::new(message.payload)),
        })
    }

    pub(crate) fn retry(message: Message, until: DateTime<Utc>, problem: String) -> Self {
        Prepared::Held(Held::Retry {
            until,
            problem,
            payload: Box::new(message.payload),
        })
    }

    pub(crate) fn fail(reason: FailReason) -> Self {
        Prepared::Held(Held::Fail(reason))
    }
}

impl Engine {
    /// The flow's own checks, before the sending policy: is the message still true?
    pub(crate) async fn recheck(
        &self,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        // A switched-off flow does nothing on its own (no discount is created): the sending
        // policy skips the message and says why.
        if !policy::flow_enabled(config, message.flow()) {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        job(message.flow()).recheck(self, message, config, now).await
    }

    /// The flow's preparation once the policy said "send".
    pub(crate) async fn before_send(
        &self,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        job(message.flow()).prepare(self, message, config, now).await
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
        job(message.flow())
            .after_decision(self, message, decision, config, now)
            .await
    }
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
