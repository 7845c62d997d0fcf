use crate::Engine;
use crate::flows::{FLOWS, OrderEvent};
use aftersale_domain::policy::flow_enabled;
use aftersale_domain::{Checkout, EventKind, StoreEvent};
use aftersale_ports::StoreError;

impl Engine {
    /// Plans this process's flows for the event's order, from the order's folded state and
    /// (for the flows that use it) the customer's purchase history. Idempotent: planning the
    /// same order again stores nothing new, except that a known delivery replaces an
    /// estimated one. Returns how many messages were stored or moved.
    pub async fn on_event(&self, event: &StoreEvent) -> Result<usize, StoreError> {
        if let EventKind::CheckoutUpdated(checkout) = &event.kind {
            return self.on_checkout(event, checkout).await;
        }
        let Some(order_id) = event.order_id() else {
            // A sign-up plans nothing but the points' welcome bonus.
            if let EventKind::CustomerCreated(customer) = &event.kind {
                return crate::flows::points_on_sign_up(self, event, &customer.id).await;
            }
            return Ok(0);
        };
        let Some(record) = self.store.load_order(&event.shop, order_id).await? else {
            return Ok(0);
        };
        let record = &record.value;
        let config = self.config(&event.shop).await?;
        let now = self.clock.now();
        let runs: Vec<_> = FLOWS
            .into_iter()
            .filter(|job| self.settings.flows.contains(&job.flow()) && flow_enabled(&config, job.flow()))
            .collect();
        let history = match record.customer_id() {
            Some(customer) if runs.iter().any(|job| job.plans_from_history()) => {
                Some(self.history(&event.shop, customer, &config).await?)
            }
            _ => None,
        };
        let planning = OrderEvent {
            event,
            record,
            config: &config,
            now,
            history: history.as_ref(),
        };
        // The flows' plans and withdrawals refresh the figures once, at the end (`refreshes.rs`).
        self.batched(async {
            let mut changed = 0;
            for job in runs {
                changed += job.plan(self, &planning).await?;
            }
            // Conversions follow orders, so the customer's funnel figures change with any
            // order event, planned or not.
            if let Some(customer) = record.customer_id() {
                self.refresh_metrics(&event.shop, customer).await;
            }
            Ok(changed)
        })
        .await
    }

    /// A checkout started or changed: the flows that follow checkouts plan from it.
    async fn on_checkout(&self, event: &StoreEvent, checkout: &Checkout) -> Result<usize, StoreError> {
        let config = self.config(&event.shop).await?;
        let now = self.clock.now();
        self.batched(async {
            let mut changed = 0;
            for job in FLOWS
                .into_iter()
                .filter(|job| self.settings.flows.contains(&job.flow()) && flow_enabled(&config, job.flow()))
            {
                changed += job.on_checkout(self, &event.shop, checkout, &config, now).await?;
            }
            Ok(changed)
        })
        .await
    }
}
