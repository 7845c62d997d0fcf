//! The HTTP face of ingest, as axum routers. `aftersale serve` mounts [`router`]; each Lambda
//! runs its platform's router through `lambda_http`, so both take the same path.

use crate::Ingest;
use crate::ingest::{MAX_BODY_BYTES, Reply};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::Arc;

/// Both webhook endpoints, as served locally (`aftersale serve` adds `/healthz`, which reports
/// on its sending loop).
pub fn router(ingest: Arc<Ingest>) -> Router {
    let routes = Router::new()
        .route("/webhooks/shopify", post(shopify))
        .route("/webhooks/woocommerce", post(woocommerce));
    body_limit(routes).with_state(ingest)
}

/// The Shopify function: its Function URL posts to `/`; the local path works too.
pub fn shopify_router(ingest: Arc<Ingest>) -> Router {
    let routes = Router::new()
        .route("/", post(shopify))
        .route("/webhooks/shopify", post(shopify));
    body_limit(routes).with_state(ingest)
}

pub fn woocommerce_router(ingest: Arc<Ingest>) -> Router {
    let routes = Router::new()
        .route("/", post(woocommerce))
        .route("/webhooks/woocommerce", post(woocommerce));
    body_limit(routes).with_state(ingest)
}

/// Refuses oversized bodies: a `Content-Length` over the limit before a byte of the body is
/// read, and a body without one while it streams in (413 either way).
fn body_limit<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_declared_oversize))
}

async fn refuse_declared_oversize(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => respond(Reply::too_large()),
        _ => next.run(request).await,
    }
}

async fn shopify(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(ingest.shopify(&headers, &body).await)
}

async fn woocommerce(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(ingest.woocommerce(&headers, &body).await)
}

fn respond(reply: Reply) -> Response {
    (
        reply.status,
        [(header::CONTENT_TYPE, "application/json")],
        reply.json(),
    )
        .into_response()
}
