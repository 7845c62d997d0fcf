//! Lambda: the VIP tier and early-access flows. Plans on domain events (SNS), sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flows(&[aftersale_domain::Flow::Vip, aftersale_domain::Flow::EarlyAccess]).await
}
