//! Lambda: Shopify webhooks (Function URL). Verify, normalise, dedupe, store, publish.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersale_lambda::init_tracing();
    let ingest = Arc::new(aftersale_lambda::ingest().await?);
    lambda_http::run(aftersale_ingest::shopify_router(ingest)).await
}
