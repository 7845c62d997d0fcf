//! Lambda: the 1-tap links in messages (ratings, surveys, delivery answers, unsubscribe).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersale_lambda::init_tracing();
    let engine = Arc::new(aftersale_lambda::engine(Vec::new()).await?);
    lambda_http::run(aftersale_engine::feedback::router(engine)).await
}
