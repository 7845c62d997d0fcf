//! Delivery check-in: plans "did it arrive OK?" from the order's known or estimated arrival,
//! and moves it when the real delivery is reported (the rules are in
//! `aftersale_domain::flows::delivery_check_in`).

use super::{FlowJob, OrderEvent};
use crate::Engine;
use aftersale_domain::Flow;
use aftersale_domain::flows::{delivery_check_in, order_message};
use aftersale_ports::StoreError;
use async_trait::async_trait;

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::DeliveryCheckIn
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let config = &event.config.flows.delivery_check_in;
        let Some((base, _)) = order_message(&event.event.shop, event.record, event.now) else {
            return Ok(0);
        };
        let Some(arrival) = delivery_check_in::arrival(event.record, config) else {
            return Ok(0);
        };
        let plans = delivery_check_in::plan(&base, arrival, config);
        engine
            .plan_or_reschedule(plans.into_iter().collect(), event.event.origin)
            .await
    }
}
