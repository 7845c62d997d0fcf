//! Lambda: the checkout recovery flow. Plans on checkout and order events (SNS), sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flow(aftersale_domain::Flow::CheckoutRecovery).await
}
