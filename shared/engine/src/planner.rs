use crate::Engine;
use aftersale_domain::StoreEvent;
use aftersale_domain::flows::{plan_for_order, reschedule};
use aftersale_ports::StoreError;
use tracing::{debug, info};

impl Engine {
    /// Plans this process's flows for the event's order, from the order's folded state.
    /// Idempotent: planning the same order again stores nothing new, except that a known
    /// delivery replaces an estimated one. Returns how many messages were stored or moved.
    pub async fn on_event(&self, event: &StoreEvent) -> Result<usize, StoreError> {
        let Some(order_id) = event.order_id() else {
            return Ok(0);
        };
        let Some(record) = self.store.load_order(&event.shop, order_id).await? else {
            return Ok(0);
        };
        let config = self.config(&event.shop).await?;
        let now = self.clock.now();
        let mut changed = 0;
        for plan in plan_for_order(&event.shop, &record.value, &config, now) {
            if !self.settings.flows.contains(&plan.flow) {
                continue;
            }
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
        changed += self.plan_lifecycle(event, &record.value, &config, now).await?;
        Ok(changed)
    }
}
