//! The lifecycle flows at work: replenishment, win-back, VIP tiers and early access, and
//! referrals. Each plans from the customer's purchase history (rebuilt from the stored order
//! records) when an order event arrives, and re-checks against the history at send time,
//! because a reorder, a refund or a new order may have made a planned message wrong.
//!
//! Discount codes are created in the shop only when a message that carries one is about to be
//! sent (or, for a referral reward, once it is earned), through the shop's Admin API.

mod campaigns;
mod discount;
mod referral;
mod replenishment;
mod vip;
mod winback;

pub use campaigns::{CampaignError, CampaignReport};
pub use referral::Referral;
pub use vip::{Birthday, BirthdayError, TierMember};

use crate::Engine;
use aftersale_domain::lifecycle::history::PurchaseHistory;
use aftersale_domain::policy::{self, Decision};
use aftersale_domain::{
    Channel, CustomerId, DueBasis, Flow, Message, MessageClass, MessageStatus, OrderRecord, ShopConfig,
    ShopId, StoreEvent,
};
use aftersale_ports::{StoreError, lifecycle};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;
use tracing::debug;

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
    /// Plans the lifecycle flows this process runs for an order event.
    pub(crate) async fn plan_lifecycle(
        &self,
        event: &StoreEvent,
        record: &OrderRecord,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let Some(customer) = record.customer_id().cloned() else {
            return Ok(0);
        };
        let runs = |flow| self.settings.flows.contains(&flow);
        let lifecycle = [Flow::Replenishment, Flow::WinBack, Flow::Vip, Flow::Referral];
        if !lifecycle.into_iter().any(runs) {
            return Ok(0);
        }
        let shop = &event.shop;
        let history = self.history(shop, &customer, config).await?;
        let mut planned = 0;
        if runs(Flow::Replenishment) && config.flows.replenishment.enabled {
            planned += self
                .plan_replenishment(shop, record, &history, config, now)
                .await?;
        }
        if runs(Flow::WinBack) && config.flows.win_back.enabled {
            planned += self.plan_winback(shop, record, &history, config, now).await?;
        }
        if runs(Flow::Vip) && config.flows.vip.enabled {
            planned += self.evaluate_vip(event, &history, config, now).await?;
        }
        if runs(Flow::Referral) && config.flows.referral.enabled {
            planned += self.plan_referral(event, record, &history, config, now).await?;
        }
        Ok(planned)
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
        match message.flow {
            Flow::Replenishment => self.recheck_replenishment(message, config, now).await,
            Flow::WinBack => self.recheck_winback(message, config).await,
            Flow::Vip => self.recheck_vip(message, config, now).await,
            Flow::EarlyAccess => self.recheck_early_access(message, config, now).await,
            Flow::Referral => self.recheck_referral(message, config, now).await,
            Flow::ThankYou | Flow::DeliveryCheckIn | Flow::ReviewRequest => {
                Ok(Prepared::Proceed(Box::new(message)))
            }
        }
    }

    /// Work that only makes sense once the policy said "send": creating the discount code the
    /// message hands out.
    pub(crate) async fn before_send(
        &self,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        match (message.flow, message.step.as_str()) {
            (Flow::Referral, "share") => self.ensure_share_discount(message, config, now).await,
            (Flow::WinBack, "offer" | "last-call") if message.details.contains_key("offer_code") => {
                self.ensure_offer_discount(message, config, now).await
            }
            _ => Ok(Prepared::Proceed(Box::new(message))),
        }
    }

    /// What a decision sets in motion: the rest of a win-back sequence once its first step
    /// goes, the early access a win-back step promises, next year's greeting once this
    /// year's does.
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
        match (message.flow, message.step.as_str()) {
            (Flow::WinBack, "value") => self.plan_winback_sequence(message, config, now).await,
            (Flow::WinBack, _)
                if matches!(decision, Decision::Send { .. })
                    && message
                        .details
                        .get("incentive")
                        .is_some_and(|i| i == "early_access") =>
            {
                self.grant_early_access(message, config, now).await
            }
            (Flow::Vip, "anniversary") if matches!(decision, Decision::Send { .. }) => {
                self.plan_next_anniversary(message, config).await
            }
            (Flow::Vip, "birthday") if matches!(decision, Decision::Send { .. }) => {
                self.plan_next_birthday(message, config).await
            }
            _ => Ok(()),
        }
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

/// A marketing email planned by a lifecycle flow.
pub(crate) fn lifecycle_message(
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
