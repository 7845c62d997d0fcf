//! Connecting a site through WordPress's own app-authorization screen, as WooCommerce
//! documents it ("Authentication endpoint", `/wc-auth/v1/authorize`):
//!
//! 1. `GET /woocommerce/connect?site=…` stores a single-use nonce for the site (15 minutes) and
//!    redirects the shop owner to `{site}/wc-auth/v1/authorize?app_name=Aftersale&scope=read_write
//!    &user_id={nonce}&return_url=…&callback_url=…`.
//! 2. When they approve, WooCommerce POSTs the new REST API keys to `callback_url` with our
//!    nonce as `user_id`. The POST is unsigned, so the nonce is the only proof: keys are
//!    accepted only for a live nonce, which is consumed, and the answer is exactly 200 (any
//!    other status makes WooCommerce show an error).
//! 3. WooCommerce then sends the owner's browser to `return_url`: the webhooks are created
//!    there ([`connect`](super::connect)) and the page says what was done, or what went wrong
//!    in the owner's words.

use crate::sealed::SealingKey;
use crate::woocommerce::client::WooClient;
use crate::woocommerce::connect::{WebhookChange, connect};
use crate::woocommerce::connection::{self, Connection, Credentials, new_webhook_secret, site_id};
use aftersale_domain::{Platform, Secret};
use aftersale_ports::{Documents, ShopRegistry, ShopState, StoreError, documents};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::warn;

/// How long a shop owner has to approve on WordPress's screen.
const NONCE_LIFETIME_MINUTES: i64 = 15;

/// What the routes need: the store (its documents, and its shop records, where a connected
/// site is listed), the key credentials are sealed under, and the public base URL WooCommerce
/// reaches Aftersale at.
#[derive(Clone)]
pub struct AuthorizeApp {
    pub store: Arc<dyn Documents>,
    pub shops: Arc<dyn ShopRegistry>,
    pub key: Arc<SealingKey>,
    pub public_url: String,
}

/// `GET /woocommerce/connect`, `POST /woocommerce/callback`, `GET /woocommerce/return`.
pub fn router(app: AuthorizeApp) -> Router {
    Router::new()
        .route("/woocommerce/connect", get(start))
        .route("/woocommerce/callback", post(callback))
        .route("/woocommerce/return", get(finish))
        .with_state(app)
}

#[derive(Serialize, Deserialize)]
struct Pending {
    site: String,
    expires_at: DateTime<Utc>,
}

fn nonce_key(nonce: &str) -> String {
    format!("woocommerce#nonce#{nonce}")
}

fn returning_key(nonce: &str) -> String {
    format!("woocommerce#return#{nonce}")
}

#[derive(Deserialize)]
struct SiteQuery {
    site: Option<String>,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unavailable(err: StoreError) -> Response {
    warn!(error = %err, "woocommerce connect: storage failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>Aftersale could not save this step. Try again in a minute.</p>",
    )
}

async fn start(State(app): State<AuthorizeApp>, Query(query): Query<SiteQuery>) -> Response {
    let raw = query.site.unwrap_or_default();
    // The client's own checks: a full http(s) address without credentials.
    let site = match WooClient::new(&raw, "ck_check", "cs_check") {
        Ok(client) => client.site(),
        Err(err) => {
            let why = escape(&err.to_string());
            return page(
                StatusCode::BAD_REQUEST,
                "That is not a shop address",
                &format!("<p>{why}</p>"),
            );
        }
    };
    let Ok(shop) = site_id(&site) else {
        return page(
            StatusCode::BAD_REQUEST,
            "That is not a shop address",
            "<p>Give the full URL, e.g. https://shop.example</p>",
        );
    };
    let nonce = hex::encode(rand::random::<[u8; 24]>());
    let pending = Pending {
        site: site.clone(),
        expires_at: Utc::now() + Duration::minutes(NONCE_LIFETIME_MINUTES),
    };
    if let Err(err) = documents::insert(app.store.as_ref(), &shop, &nonce_key(&nonce), &pending).await {
        return unavailable(err);
    }
    let public = app.public_url.trim_end_matches('/');
    let site_param = crate::woocommerce::auth::encode(&site);
    let return_url = format!("{public}/woocommerce/return?site={site_param}");
    let callback_url = format!("{public}/woocommerce/callback?site={site_param}");
    let location = format!(
        "{site}/wc-auth/v1/authorize?app_name=Aftersale&scope=read_write&user_id={nonce}&return_url={}&callback_url={}",
        crate::woocommerce::auth::encode(&return_url),
        crate::woocommerce::auth::encode(&callback_url),
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// What WooCommerce POSTs to the callback.
#[derive(Deserialize)]
struct Keys {
    user_id: serde_json::Value,
    consumer_key: String,
    consumer_secret: String,
}

async fn callback(State(app): State<AuthorizeApp>, Query(query): Query<SiteQuery>, body: String) -> Response {
    let refused = |why: &str| (StatusCode::FORBIDDEN, why.to_string()).into_response();
    let Some(shop) = query.site.as_deref().and_then(|s| site_id(s).ok()) else {
        return refused("unknown site");
    };
    let Ok(keys) = serde_json::from_str::<Keys>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected WooCommerce's JSON keys").into_response();
    };
    let (Some(consumer_key), Some(consumer_secret)) =
        (Secret::new(keys.consumer_key), Secret::new(keys.consumer_secret))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "WooCommerce sent a blank consumer key or secret",
        )
            .into_response();
    };
    let nonce = match &keys.user_id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return refused("unknown or expired authorization");
    }
    let pending = match documents::load::<Pending, _>(app.store.as_ref(), &shop, &nonce_key(&nonce)).await {
        Ok(Some(found)) => found.value,
        Ok(None) => return refused("unknown or expired authorization"),
        Err(err) => return unavailable(err),
    };
    // Consumed by whoever deletes it first: a replayed POST finds nothing.
    match app.store.delete_document(&shop, &nonce_key(&nonce)).await {
        Ok(true) => {}
        Ok(false) => return refused("unknown or expired authorization"),
        Err(err) => return unavailable(err),
    }
    if pending.expires_at < Utc::now() {
        return refused("unknown or expired authorization");
    }
    let before = match connection::load(app.store.as_ref(), &app.key, &shop).await {
        Ok(found) => found,
        Err(err) => return unavailable(err),
    };
    let delivery_url = format!("{}/webhooks/woocommerce", app.public_url.trim_end_matches('/'));
    let connection = Connection {
        site: pending.site,
        webhook_ids: before
            .as_ref()
            .filter(|b| b.delivery_url == delivery_url)
            .map(|b| b.webhook_ids.clone())
            .unwrap_or_default(),
        delivery_url,
        // A reconnect (new keys, say) is the same connection: it counts from the first.
        connected_at: before.as_ref().map_or_else(Utc::now, |b| b.connected_at),
        credentials: Credentials {
            consumer_key,
            consumer_secret,
            webhook_secret: before.map_or_else(new_webhook_secret, |b| b.credentials.webhook_secret),
        },
    };
    if let Err(err) = connection::save(app.store.as_ref(), &app.key, &connection).await {
        return unavailable(err);
    }
    // Listed from now on (`aftersale shops`, the reconcile schedule), not only once its first
    // order has arrived.
    match app.shops.load_shop(&shop).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let state = ShopState::installed(Platform::Woocommerce, connection.connected_at);
            if let Err(err) = app.shops.save_shop(&shop, &state).await {
                return unavailable(err);
            }
        }
        Err(err) => return unavailable(err),
    }
    let returning = Pending {
        site: connection.site.clone(),
        expires_at: Utc::now() + Duration::minutes(NONCE_LIFETIME_MINUTES),
    };
    if let Err(err) = documents::insert(app.store.as_ref(), &shop, &returning_key(&nonce), &returning).await {
        return unavailable(err);
    }
    StatusCode::OK.into_response()
}

#[derive(Deserialize)]
struct ReturnQuery {
    site: Option<String>,
    success: Option<String>,
    user_id: Option<String>,
}

async fn finish(State(app): State<AuthorizeApp>, Query(query): Query<ReturnQuery>) -> Response {
    if query.success.as_deref() != Some("1") {
        return page(
            StatusCode::OK,
            "Not connected",
            "<p>You did not approve Aftersale on your site, so nothing was changed. You can start again at any time.</p>",
        );
    }
    let (Some(shop), Some(nonce)) = (query.site.as_deref().and_then(|s| site_id(s).ok()), query.user_id)
    else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "<p>This link is incomplete. Start again from the connect link.</p>",
        );
    };
    let expired = "<p>This approval has expired or was already used. Start again from the connect link.</p>";
    match app.store.delete_document(&shop, &returning_key(&nonce)).await {
        Ok(true) => {}
        Ok(false) => return page(StatusCode::BAD_REQUEST, "Not connected", expired),
        Err(err) => return unavailable(err),
    }
    let connection = match connection::load(app.store.as_ref(), &app.key, &shop).await {
        Ok(Some(found)) => found,
        Ok(None) => return page(StatusCode::BAD_REQUEST, "Not connected", expired),
        Err(err) => return unavailable(err),
    };
    let client = match WooClient::new(
        &connection.site,
        connection.credentials.consumer_key.expose(),
        connection.credentials.consumer_secret.expose(),
    ) {
        Ok(client) => client,
        Err(err) => {
            return page(
                StatusCode::BAD_GATEWAY,
                "Not connected",
                &format!("<p>{}</p>", escape(&err.to_string())),
            );
        }
    };
    let report = match connect(
        &client,
        &connection.delivery_url,
        connection.credentials.webhook_secret.expose(),
        &connection.webhook_ids,
    )
    .await
    {
        Ok(report) => report,
        Err(err) => {
            return page(
                StatusCode::BAD_GATEWAY,
                "Not connected yet",
                &format!("<p>{}</p>", escape(&err.to_string())),
            );
        }
    };
    let saved = Connection {
        webhook_ids: report.ids(),
        ..connection.clone()
    };
    if let Err(err) = connection::save(app.store.as_ref(), &app.key, &saved).await {
        return unavailable(err);
    }
    let rows: String = report
        .webhooks
        .iter()
        .map(|(w, change)| {
            let done = match change {
                WebhookChange::Created => "created".to_string(),
                WebhookChange::Reactivated { was } => format!("reactivated (was {was})"),
                WebhookChange::Adopted => "now signed by Aftersale".to_string(),
                WebhookChange::Unchanged => "already there".to_string(),
            };
            format!("<li>{}: {}</li>", escape(&w.topic), escape(&done))
        })
        .collect();
    page(
        StatusCode::OK,
        "Your shop is connected",
        &format!(
            "<p>{} now tells Aftersale about every order and customer.</p><ul>{rows}</ul>",
            escape(&connection.site)
        ),
    )
}
