//! Lambda: the win-back flow (lapsed customers, with an optional discount offer). Plans on domain events (SNS), sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flow(aftersale_domain::Flow::WinBack).await
}
