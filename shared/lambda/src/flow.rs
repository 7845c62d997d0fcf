//! A flow function's two kinds of invocation: domain events from SNS (plan) and the
//! EventBridge schedule's tick (send what is due). One function may run several flows (the
//! VIP function also sends early-access messages): each event is planned and each tick sent
//! for all of them, by one engine.

use crate::engine;
use aftersale_domain::{Flow, StoreEvent};
use aftersale_engine::{Engine, TickBudget};
use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use tracing::{Instrument, info, info_span};

/// SNS deliveries, or EventBridge Scheduler's `{"tick": {...}}` (`template.yaml` sets this
/// input; its contents are informational: a tick runs as of the clock).
#[derive(Deserialize)]
#[serde(untagged)]
enum Invocation {
    Events(SnsEvent),
    Tick {
        #[serde(rename = "tick")]
        _tick: serde::de::IgnoredAny,
    },
}

/// Runs one flow's function until the runtime stops it.
pub async fn run_flow(flow: Flow) -> Result<(), Error> {
    run_flows(&[flow]).await
}

/// Runs a function that serves several flows (e.g. `[Flow::Vip, Flow::EarlyAccess]`) until
/// the runtime stops it. Its SNS filter policy must let through the events of every flow.
pub async fn run_flows(flows: &[Flow]) -> Result<(), Error> {
    if flows.is_empty() {
        return Err(Error::from("a flow function needs at least one flow"));
    }
    let engine = engine(flows.to_vec()).await?;
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = budget(event.context.deadline(), engine.settings().tick_margin);
        handle(engine, event.payload, budget).await
    }))
    .await
}

/// What is left of this invocation until the context's deadline: a tick claims nothing new
/// once less than `margin` is left, so it is never killed mid-batch.
fn budget(deadline: SystemTime, margin: Duration) -> TickBudget {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    TickBudget::of(left, margin)
}

/// Errors go back to Lambda, which retries and then parks the invocation in the DLQ: an
/// event is never dropped silently.
async fn handle(engine: &Engine, payload: Value, budget: TickBudget) -> Result<Value, Error> {
    let invocation: Invocation = serde_json::from_value(payload).map_err(|e| {
        Error::from(format!(
            "unrecognised invocation (not SNS records nor a tick): {e}"
        ))
    })?;
    match invocation {
        Invocation::Events(sns) => {
            let mut planned = 0;
            for record in sns.records {
                let event: StoreEvent = serde_json::from_str(&record.sns.message)
                    .map_err(|e| Error::from(format!("SNS message is not a StoreEvent: {e}")))?;
                let span = info_span!("event", shop = %event.shop, event_id = %event.event_id, kind = event.kind_name());
                planned += engine.on_event(&event).instrument(span).await?;
            }
            info!(planned, "events planned");
            Ok(serde_json::json!({ "planned": planned }))
        }
        Invocation::Tick { .. } => {
            let report = engine.tick_within(engine.clock().now(), budget).await?;
            if report.budget_exhausted {
                info!(
                    ?report,
                    "tick stopped at its time budget; the next tick sends the rest"
                );
            } else {
                info!(?report, "tick");
            }
            Ok(serde_json::to_value(report)?)
        }
    }
}
