//! The HTTP face of ingest, as axum routers. `aftersale serve` mounts [`router`]; each Lambda
//! runs its platform's router through `lambda_http`, so both take the same path.

use crate::Ingest;
use crate::ingest::{MAX_BODY_BYTES, Reply};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// Both webhook endpoints and `/healthz`, as served locally.
pub fn router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route("/webhooks/shopify", post(shopify))
        .route("/webhooks/woocommerce", post(woocommerce))
        .route("/healthz", get(|| async { "ok" }))
        .layer(body_limit())
        .with_state(ingest)
}

/// The Shopify function: its Function URL posts to `/`; the local path works too.
pub fn shopify_router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route("/", post(shopify))
        .route("/webhooks/shopify", post(shopify))
        .layer(body_limit())
        .with_state(ingest)
}

pub fn woocommerce_router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route("/", post(woocommerce))
        .route("/webhooks/woocommerce", post(woocommerce))
        .layer(body_limit())
        .with_state(ingest)
}

/// Refuses oversized bodies while they stream in, before they are buffered (413).
fn body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_BODY_BYTES)
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
