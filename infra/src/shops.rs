//! `aftersale shops` (every shop's install state at a glance) and
//! `aftersale shopify sync-webhooks --shop S`, plus the Shopify app `serve` mounts.

use crate::StoreArgs;
use crate::backend::Backend;
use aftersale_domain::{Platform, ShopId};
use aftersale_ports::{Clock, ShopState, Store, SystemClock, WebhookSync};
use aftersale_shopify_app::{AppSettings, ShopifyApp};
use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use tracing::warn;

/// The Shopify app on this backend, or why it cannot run (missing credentials or URL).
pub fn shopify_app(
    backend_store: Arc<dyn Store>,
    tokens: Arc<dyn aftersale_ports::ShopTokens>,
    clock: Arc<dyn Clock>,
    public_url: Option<&str>,
) -> Result<ShopifyApp, aftersale_shopify_app::SettingsError> {
    let settings = AppSettings::from_env(public_url, None)?;
    Ok(ShopifyApp::with_shopify(backend_store, tokens, clock, settings))
}

/// `serve`'s Shopify routes: the app, or a page saying what to set.
pub fn routes(app: Result<ShopifyApp, aftersale_shopify_app::SettingsError>) -> Router {
    match app {
        Ok(app) => aftersale_shopify_app::router(Arc::new(app)),
        Err(err) => {
            warn!(error = %err, "the Shopify app is off: /shopify/install and /shopify/callback answer 503");
            let reason = format!(
                "<!doctype html>\n<title>Not configured</title>\n<p>The Shopify app is not configured on this server: {err}.</p>\n"
            );
            let page = move || {
                let reason = reason.clone();
                async move {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("content-type", "text/html; charset=utf-8")],
                        reason,
                    )
                        .into_response()
                }
            };
            Router::new()
                .route("/shopify/install", axum::routing::get(page.clone()))
                .route("/shopify/callback", axum::routing::get(page))
        }
    }
}

pub async fn sync_webhooks(
    store_args: &StoreArgs,
    shop: &str,
    public_url: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let shop = ShopId::from_domain(shop).context("--shop")?;
    let backend = Backend::open(store_args).await?;
    let app = shopify_app(
        Arc::clone(&backend.store) as Arc<dyn Store>,
        Arc::clone(&backend.tokens),
        Arc::new(SystemClock),
        public_url,
    )?;
    let sync = app.sync_webhooks(&shop).await?;
    if as_json {
        println!("{}", serde_json::to_string(&sync)?);
    } else {
        for topic in &sync.topics {
            let outcome = serde_json::to_value(topic.outcome)?;
            println!(
                "{:<28} {:<8} {}",
                topic.topic,
                outcome.as_str().unwrap_or_default(),
                topic.detail.as_deref().unwrap_or("")
            );
        }
    }
    let failing = sync.failing().count();
    eprintln!(
        "{shop}: {} of {} webhooks registered at {}",
        sync.topics.len() - failing,
        sync.topics.len(),
        sync.uri
    );
    anyhow::ensure!(
        failing == 0,
        "{failing} webhook(s) could not be registered (see above)"
    );
    Ok(())
}

/// What `shops` says about a shop's webhooks.
fn webhook_health(state: &ShopState, expected_uri: Option<&str>) -> Value {
    let Some(sync) = &state.webhooks else {
        return json!({ "registered": 0, "required": null, "health": "not registered" });
    };
    let failing: Vec<Value> = sync
        .failing()
        .map(|t| json!({ "topic": t.topic, "detail": t.detail }))
        .collect();
    let health = if !failing.is_empty() {
        "failing"
    } else if expected_uri.is_some_and(|uri| uri != sync.uri) {
        "stale"
    } else {
        "healthy"
    };
    json!({
        "registered": sync.topics.len() - failing.len(),
        "required": sync.topics.len(),
        "uri": sync.uri,
        "checked_at": instant(sync.checked_at),
        "health": health,
        "failing": failing,
    })
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn expected_uri(platform: Platform, public_url: Option<&str>) -> Option<String> {
    let base = public_url?.trim_end_matches('/');
    Some(match platform {
        Platform::Shopify => format!("{base}/webhooks/shopify"),
        Platform::Woocommerce => format!("{base}/webhooks/woocommerce"),
    })
}

pub async fn shops(store_args: &StoreArgs, public_url: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let backend = Backend::open(store_args).await?;
    let shops = backend.store.list_shops().await?;
    for (shop, state) in &shops {
        let expected = expected_uri(state.platform, public_url);
        let webhooks = webhook_health(state, expected.as_deref());
        let token = match state.platform {
            Platform::Shopify => backend.tokens.load_token(shop).await?,
            Platform::Woocommerce => None,
        };
        let last = backend
            .store
            .list_events(Some(shop))
            .await?
            .into_iter()
            .max_by_key(|e| e.received_at);
        let line = json!({
            "shop": shop,
            "platform": state.platform,
            "status": state.status,
            "changed_at": instant(state.changed_at),
            "scopes": state.scopes,
            "webhooks": webhooks,
            "token": {
                "stored": token.is_some(),
                "expires_at": token.as_ref().and_then(|t| t.expires_at).map(instant),
            },
            "last_event_at": last.as_ref().map(|e| instant(e.received_at)),
            "last_event": last.as_ref().map(|e| e.event.kind_name()),
        });
        if as_json {
            println!("{line}");
        } else {
            print_shop(&line, state.webhooks.as_ref());
        }
    }
    if !as_json {
        eprintln!("{} shop(s)", shops.len());
    }
    Ok(())
}

fn print_shop(line: &Value, sync: Option<&WebhookSync>) {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    println!(
        "{} ({}): {} since {}",
        text(&line["shop"]),
        text(&line["platform"]),
        text(&line["status"]),
        text(&line["changed_at"])
    );
    let scopes: Vec<String> = line["scopes"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    println!(
        "  scopes:     {}",
        if scopes.is_empty() {
            "-".into()
        } else {
            scopes.join(", ")
        }
    );
    let w = &line["webhooks"];
    match sync {
        None => println!("  webhooks:   not registered"),
        Some(sync) => {
            println!(
                "  webhooks:   {} of {} registered at {}: {} (checked {})",
                w["registered"],
                w["required"],
                sync.uri,
                text(&w["health"]),
                text(&w["checked_at"])
            );
            for failing in sync.failing() {
                println!(
                    "              {} failed: {}",
                    failing.topic,
                    failing.detail.as_deref().unwrap_or("refused")
                );
            }
            if w["health"] == "stale" {
                println!(
                    "              registered at an old address: run `aftersale shopify sync-webhooks --shop {}`",
                    text(&line["shop"])
                );
            }
        }
    }
    let token = &line["token"];
    let token_text = match (token["stored"].as_bool(), token["expires_at"].as_str()) {
        (Some(true), Some(at)) => format!("expires {at} (refreshed before use)"),
        (Some(true), None) => "does not expire".into(),
        _ => "none stored".into(),
    };
    println!("  token:      {token_text}");
    match line["last_event_at"].as_str() {
        Some(at) => println!("  last event: {at} ({})", text(&line["last_event"])),
        None => println!("  last event: none yet"),
    }
}
