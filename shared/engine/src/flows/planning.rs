//! What the flows share when they plan: storing a plan once (or moving it to a known time),
//! withdrawing plans that no longer hold, the customer's purchase history, and the message a
//! history-based flow starts from.

use crate::Engine;
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::reschedule;
use aftersale_domain::{
    Channel, CustomerId, DueBasis, FlowStep, Message, MessageClass, MessageStatus, Origin, ShopConfig, ShopId,
};
use aftersale_domain::{Reason, SkipReason};
use aftersale_ports::{StoreError, lifecycle};
use chrono::{DateTime, SecondsFormat, Utc};
use tracing::{debug, info};

impl Engine {
    /// Stores plans made from an order's state: a new one once, and a known delivery time in
    /// place of an estimated one. Returns how many were stored or moved. A plan of an
    /// imported event whose moment is not ahead is dropped ([`Origin::may_plan`]).
    pub(crate) async fn plan_or_reschedule(
        &self,
        plans: Vec<Message>,
        origin: Origin,
    ) -> Result<usize, StoreError> {
        let mut changed = 0;
        for plan in plans {
            if !origin.may_plan(plan.due_at, plan.planned_at) {
                debug!(flow = plan.flow().as_str(), step = %plan.step, "imported history: its moment has passed");
                continue;
            }
            if self.store.plan_message(&plan).await? {
                debug!(flow = plan.flow().as_str(), step = %plan.step, due_at = %plan.due_at, "planned");
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
            if let Some(moved) =
                reschedule(&existing, &plan).filter(|m| origin.may_plan(m.due_at, plan.planned_at))
            {
                match self.store.update_message(&moved).await {
                    Ok(_) => {
                        info!(flow = plan.flow().as_str(), step = %plan.step, due_at = %moved.due_at, "rescheduled on known delivery");
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

    /// The customer's purchase history now, in the shop's zone.
    pub(crate) async fn history(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        config: &ShopConfig,
    ) -> Result<PurchaseHistory, StoreError> {
        let currency = lifecycle::shop_currency(self.store.as_ref(), shop).await?;
        lifecycle::purchase_history(self.store.as_ref(), shop, customer, currency, config.time_zone).await
    }

    /// Stores a planned message once; returns 1 if it was new. For an imported event
    /// (`origin`), a message whose moment is not ahead of `planned_at` is dropped instead
    /// ([`Origin::may_plan`]); what a sent message sets in motion is always [`Origin::Live`].
    pub(crate) async fn plan_once(&self, message: Message, origin: Origin) -> Result<usize, StoreError> {
        if !origin.may_plan(message.due_at, message.planned_at) {
            debug!(message = %message.id(), due_at = %message.due_at, "imported history: its moment has passed");
            return Ok(0);
        }
        let stored = self.store.plan_message(&message).await?;
        if stored {
            debug!(message = %message.id(), due_at = %message.due_at, "planned");
            self.refresh_metrics(&message.shop, &message.customer_id).await;
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
        reason: SkipReason,
    ) -> Result<usize, StoreError> {
        let mut cancelled = 0;
        for mut skipped in self.store.customer_messages(shop, customer).await? {
            if skipped.status != MessageStatus::Planned
                || !stale(&skipped)
                || skipped.skip(reason.clone()).is_err()
            {
                continue;
            }
            match self.store.update_message(&skipped).await {
                Ok(_) => cancelled += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        if cancelled > 0 {
            self.refresh_metrics(shop, customer).await;
        }
        Ok(cancelled)
    }
}

/// A marketing email planned from a customer's history (not from one order's state).
pub(crate) fn marketing_message(
    shop: &ShopId,
    customer: &CustomerId,
    subject: String,
    step: FlowStep,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Message {
    Message {
        shop: shop.clone(),
        customer_id: customer.clone(),
        subject,
        step,
        order_id: None,
        class: MessageClass::Marketing,
        channel: Channel::Email,
        due_at,
        due_basis: DueBasis::Known,
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

/// Message ids are `flow#subject#step`: names that go into a subject lose their `#`.
pub(crate) fn id_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c == '#' || c.is_whitespace() { '-' } else { c })
        .collect()
}

pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
