//! Lambda: the Shopify app's install routes, `GET /shopify/install` and `GET /shopify/callback`
//! (HTTP API). Verify the callback, exchange the code, keep the token in SSM, register webhooks.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersale_lambda::init_tracing();
    let app = Arc::new(aftersale_lambda::shopify_app().await?);
    lambda_http::run(aftersale_shopify_app::router(app)).await
}
