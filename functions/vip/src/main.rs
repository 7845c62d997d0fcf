//! Lambda: the VIP tier, early-access and loyalty points flows (points run here: tiers
//! multiply them, and both follow the same order events and the same daily schedule). Plans on domain events (SNS), sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flows(&[
        aftersale_domain::Flow::Vip,
        aftersale_domain::Flow::EarlyAccess,
        aftersale_domain::Flow::Points,
    ])
    .await
}
