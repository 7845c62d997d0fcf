//! Lambda: the cross-sell flow ("customers who loved X often add Y", a month after a counted order, from the pairs learned from the shop's orders). Plans on domain events (SNS), learns and sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flow(aftersale_domain::Flow::CrossSell).await
}
