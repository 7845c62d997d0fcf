//! Review request: plans a request (and its reminder) per review cycle of the order's
//! products, from the order's arrival (the rules are in
//! `aftersale_domain::flows::review_request`).

use super::{FlowJob, OrderEvent, Prepared};
use crate::Engine;
use aftersale_domain::flows::{delivery_check_in, order_message, review_request};
use aftersale_domain::{DeferReason, Flow, Message, ShopConfig};
use aftersale_ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// While the order's make-it-right case is open, the request asks again this often.
const CASE_RECHECK: Duration = Duration::hours(24);

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

    /// Nobody is asked to review an order while the problem they reported is still open.
    async fn recheck(
        &self,
        engine: &Engine,
        message: Message,
        _config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        if let Some(order) = &message.order_id
            && let Some(case) = crate::cases::for_order(engine.store.as_ref(), &message.shop, order).await?
            && !case.is_resolved()
        {
            return Ok(Prepared::defer(
                message,
                now + CASE_RECHECK,
                DeferReason::CaseOpen,
            ));
        }
        Ok(Prepared::Proceed(Box::new(message)))
    }
}
