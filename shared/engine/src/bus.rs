use crate::Engine;
use aftersale_domain::StoreEvent;
use aftersale_ports::{EventBus, StoreError};
use async_trait::async_trait;
use std::sync::Arc;

/// Local mode's event bus: ingest's published events go straight to the planner, in process.
/// In AWS the same role is played by SNS delivering to each flow's function.
pub struct InProcessBus {
    engine: Arc<Engine>,
}

impl InProcessBus {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &StoreEvent) -> Result<(), StoreError> {
        self.engine.on_event(event).await.map(|_| ())
    }
}
