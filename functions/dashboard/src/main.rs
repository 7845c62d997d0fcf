//! Lambda: the owner's dashboard (`/dashboard`) and its figures (`/dashboard/metrics.json`),
//! opened through a signed link or the Shopify admin's app launch.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersale_lambda::init_tracing();
    let dashboard = Arc::new(aftersale_lambda::dashboard().await?);
    lambda_http::run(aftersale_dashboard::router(dashboard)).await
}
