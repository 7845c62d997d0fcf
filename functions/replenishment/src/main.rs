//! Lambda: the replenishment flow (reorder reminders when a product should be running out). Plans on domain events (SNS), sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flow(aftersale_domain::Flow::Replenishment).await
}
