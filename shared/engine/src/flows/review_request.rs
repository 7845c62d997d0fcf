//! Review request: plans a request (and its reminder) per review cycle of the order's
//! products, from the order's arrival (the rules are in
//! `aftersale_domain::flows::review_request`).

use super::{FlowJob, OrderEvent};
use crate::Engine;
use aftersale_domain::Flow;
use aftersale_domain::flows::{delivery_check_in, order_message, review_request};
use aftersale_ports::StoreError;
use async_trait::async_trait;

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::ReviewRequest
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let flows = &event.config.flows;
        let Some((base, _)) = order_message(&event.event.shop, event.record, event.now) else {
            return Ok(0);
        };
        // The request waits for the same arrival the check-in does.
        let Some(arrival) = delivery_check_in::arrival(event.record, &flows.delivery_check_in) else {
            return Ok(0);
        };
        let plans = review_request::plan(&base, event.record, arrival, &flows.review_request);
        engine.plan_or_reschedule(plans, event.event.origin).await
    }
}
