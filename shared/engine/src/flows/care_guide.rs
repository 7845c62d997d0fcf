//! Care guide: plans the order's one guide from its known or estimated arrival, as the
//! review request does, and re-checks at send time that the shop still has that guide (the
//! rules are in `aftersale_domain::flows::care_guide`). A cancelled or refunded order is
//! skipped by the sending policy itself.

use super::{FlowJob, OrderEvent, Prepared};
use crate::Engine;
use aftersale_domain::flows::{care_guide, delivery_check_in, order_message};
use aftersale_domain::{Flow, Message, ShopConfig, SkipReason};
use aftersale_ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::CareGuide
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let flows = &event.config.flows;
        let Some((base, _)) = order_message(&event.event.shop, event.record, event.now) else {
            return Ok(0);
        };
        let Some(arrival) = delivery_check_in::arrival(event.record, &flows.delivery_check_in) else {
            return Ok(0);
        };
        let plans = care_guide::plan(&base, event.record, arrival, &flows.care_guide);
        engine
            .plan_or_reschedule(plans.into_iter().collect(), event.event.origin)
            .await
    }

    /// The guide is read from the config when it goes: one the shop took out sends nothing.
    async fn recheck(
        &self,
        _engine: &Engine,
        message: Message,
        config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        let named = message.payload.care_guide().and_then(|p| p.guide.as_deref());
        if named
            .and_then(|name| config.flows.care_guide.guide(name))
            .is_none()
        {
            return Ok(Prepared::skip(SkipReason::GuideRemoved));
        }
        Ok(Prepared::Proceed(Box::new(message)))
    }
}
