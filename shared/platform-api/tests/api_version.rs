//! One pinned Admin API version for every Shopify GraphQL call: discount codes, webhook
//! registration and bulk imports all go to `/admin/api/{API_VERSION}/graphql.json`, and
//! `shopify.app.toml` names the same version.

#[allow(dead_code)] // the stand-ins other tests use
mod common;

use aftersale_domain::{Secret, ShopId};
use aftersale_platform_api::shopify::{
    API_VERSION, AdminClient, Endpoint, ShopifyDiscounts, ShopifyWebhooks, bulk,
};
use aftersale_ports::WebhookRegistrar;
use aftersale_rewards::DiscountApi;
use axum::Router;
use axum::http::Uri;
use chrono::Utc;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Records the path of every request, whatever it is, and answers an empty GraphQL result.
async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&paths);
    let app = Router::new().fallback(move |uri: Uri| {
        let seen = Arc::clone(&seen);
        async move {
            seen.lock().unwrap().push(uri.path().to_string());
            axum::Json(json!({ "data": {} }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), paths)
}

#[tokio::test]
async fn every_graphql_call_goes_to_the_one_pinned_version() {
    let (base, paths) = recording_server().await;
    let shop = ShopId::new("demo.myshopify.com").unwrap();
    let token = Secret::new("shpat_version_test").unwrap();
    let endpoint = Endpoint::Base(base.clone());

    // Discount codes (the answers are empty, so each call fails; only where it went matters).
    let discounts = ShopifyDiscounts::with_base_url(&base, &token).unwrap();
    let _ = discounts.create_discount(&common::reward_request()).await;
    // Webhook registration, as install and `shopify sync-webhooks` run it.
    let _ = ShopifyWebhooks::new(endpoint.clone())
        .sync_webhooks(&shop, &token, "https://hooks.example/shopify", Utc::now())
        .await;
    // A bulk import's start and its status.
    let client = reqwest::Client::new();
    let admin = AdminClient::new(&client, &endpoint, &shop, &token);
    let _ = bulk::start(&admin, "{ orders { edges { node { id } } } }").await;
    let _ = bulk::current(&admin).await;

    let paths = paths.lock().unwrap().clone();
    assert!(paths.len() >= 4, "every client called: {paths:?}");
    let pinned = format!("/admin/api/{API_VERSION}/graphql.json");
    assert!(paths.iter().all(|p| *p == pinned), "{paths:?}");
    assert_eq!(API_VERSION, "2025-10");
}

#[test]
fn the_app_toml_names_the_same_version() {
    let toml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shopify.app.toml")).unwrap();
    let line = format!("api_version = \"{API_VERSION}\"");
    assert!(toml.lines().any(|l| l.trim() == line), "{toml}");
}
