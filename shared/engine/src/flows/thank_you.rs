//! Thank-you: plans the thank-you and the survey from the order's state (the rules are in
//! `aftersale_domain::flows::thank_you`).

use super::{FlowJob, OrderEvent};
use crate::Engine;
use aftersale_domain::Flow;
use aftersale_domain::flows::{order_message, thank_you};
use aftersale_ports::StoreError;
use async_trait::async_trait;

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::ThankYou
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let Some((base, order)) = order_message(&event.event.shop, event.record, event.now) else {
            return Ok(0);
        };
        let plans = thank_you::plan(&base, order, &event.config.flows.thank_you);
        engine.plan_or_reschedule(plans, event.event.origin).await
    }
}
