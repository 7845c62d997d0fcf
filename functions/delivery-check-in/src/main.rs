//! Lambda: the delivery check-in flow, the care guides that follow the same arrival, and the
//! make-it-right emails its "something went wrong" answers lead to. Plans on domain events
//! (SNS), sends on its schedule's tick.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_flows(&[
        aftersale_domain::Flow::DeliveryCheckIn,
        aftersale_domain::Flow::CareGuide,
        aftersale_domain::Flow::MakeItRight,
    ])
    .await
}
