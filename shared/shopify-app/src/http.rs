//! The app's routes as an axum router: `GET /shopify/install` and `GET /shopify/callback`.
//! `functions/shopify-app` runs it through `lambda_http`; `aftersale serve` merges it with the
//! webhook and link routes, so both take the same path.

use crate::{ShopifyApp, pages};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub fn router(app: Arc<ShopifyApp>) -> Router {
    Router::new()
        .route("/shopify/install", get(install))
        .route("/shopify/callback", get(callback))
        .with_state(app)
}

fn decode(query: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn html(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn install(State(app): State<Arc<ShopifyApp>>, RawQuery(query): RawQuery) -> Response {
    match app.begin_install(&decode(query)).await {
        Ok(location) => match HeaderValue::try_from(location) {
            Ok(location) => (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response(),
            Err(_) => html(500, pages::refused(&crate::Refusal::Storage)),
        },
        Err(refusal) => html(refusal.status(), pages::refused(&refusal)),
    }
}

async fn callback(State(app): State<Arc<ShopifyApp>>, RawQuery(query): RawQuery) -> Response {
    match app.finish_install(&decode(query)).await {
        Ok(done) => html(200, pages::connected(&done)),
        Err(refusal) => html(refusal.status(), pages::refused(&refusal)),
    }
}
