//! Lambda: the referral flow (share codes and rewards). Plans on domain events (SNS), sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flow(aftersale_domain::Flow::Referral).await
}
