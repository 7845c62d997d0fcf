//! Lambda: WooCommerce webhooks (Function URL). Verify, normalise, dedupe, store, publish;
//! and the WordPress approval flow that connects a site (`/woocommerce/connect`).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersale_lambda::init_tracing();
    let ingest = Arc::new(aftersale_lambda::ingest().await?);
    let mut app = aftersale_ingest::woocommerce_router(ingest);
    if let Some(connect) = aftersale_lambda::woocommerce_connect().await? {
        app = app.merge(aftersale_platform_api::woocommerce::authorize::router(connect));
    }
    lambda_http::run(app).await
}
