//! The catalogue (products' types, for care guides by product type) against local servers
//! speaking Shopify's GraphQL Admin and WooCommerce's REST formats.

#[allow(dead_code)] // the discount helpers are for the other files
mod common;

use aftersale_domain::{AdminApiConfig, Platform, ShopId};
use aftersale_platform_api::{AdminApiDiscounts, SecretSource};
use aftersale_ports::{Catalogue, CatalogueError};
use async_trait::async_trait;
use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::routing::get;
use common::serve;
use serde_json::json;
use std::sync::Arc;

const GRAPHQL: &str = "/admin/api/2025-10/graphql.json";

struct Secrets;

#[async_trait]
impl SecretSource for Secrets {
    async fn secret(&self, name: &str) -> Result<String, String> {
        match name {
            "TOKEN" => Ok("shpat_catalogue".into()),
            "CK" => Ok("ck_catalogue".into()),
            "CS" => Ok("cs_catalogue".into()),
            _ => Err(format!("{name} is not set")),
        }
    }
}

fn catalogue() -> AdminApiDiscounts {
    AdminApiDiscounts::new(Arc::new(Secrets))
}

fn shop() -> ShopId {
    ShopId::new("demo.myshopify.com").unwrap()
}

fn shopify_api(base: &str) -> AdminApiConfig {
    AdminApiConfig {
        base_url: Some(base.into()),
        access_token_secret: Some("TOKEN".into()),
        consumer_key_secret: None,
        consumer_secret_secret: None,
        api_version: None,
    }
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn shopify_gives_every_products_type_in_one_nodes_query() {
    let answer = json!({"data": {"nodes": [
        {"id": "gid://shopify/Product/632910392", "productType": "Moka pot"},
        {"id": "gid://shopify/Product/808950810", "productType": ""},
        null
    ]}, "extensions": {"cost": {"requestedQueryCost": 4, "actualQueryCost": 4,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1996, "restoreRate": 100.0}}}});
    let server = serve(GRAPHQL, StatusCode::OK, &answer.to_string()).await;
    let types = catalogue()
        .product_types(
            &shop(),
            Platform::Shopify,
            Some(&shopify_api(&server.base_url)),
            &ids(&["632910392", "808950810", "1"]),
        )
        .await
        .expect("types");
    assert_eq!(
        types,
        [
            ("632910392".to_string(), vec!["Moka pot".to_string()]),
            ("808950810".to_string(), vec![]),
        ]
        .into_iter()
        .collect()
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "one call for the whole order");
    let sent = &requests[0];
    assert!(sent.body["query"].as_str().unwrap().contains("nodes(ids: $ids)"));
    assert!(sent.body["query"].as_str().unwrap().contains("productType"));
    assert_eq!(
        sent.body["variables"]["ids"],
        json!([
            "gid://shopify/Product/632910392",
            "gid://shopify/Product/808950810",
            "gid://shopify/Product/1"
        ])
    );
    assert_eq!(sent.headers["x-shopify-access-token"], "shpat_catalogue");
}

#[tokio::test]
async fn a_failing_api_is_a_failure_to_retry_and_no_access_says_why() {
    let server = serve(GRAPHQL, StatusCode::SERVICE_UNAVAILABLE, "{}").await;
    let result = catalogue()
        .product_types(
            &shop(),
            Platform::Shopify,
            Some(&shopify_api(&server.base_url)),
            &ids(&["1"]),
        )
        .await;
    assert!(matches!(result, Err(CatalogueError::Failed(_))), "{result:?}");

    let none = catalogue()
        .product_types(&shop(), Platform::Shopify, None, &ids(&["1"]))
        .await;
    assert_eq!(
        none,
        Err(CatalogueError::NoAccess(
            "demo.myshopify.com has no Admin API access: install the Aftersale app on it, or configure [admin_api]"
                .into()
        ))
    );
    let missing_secret = AdminApiConfig {
        access_token_secret: Some("NOT_SET".into()),
        ..shopify_api(&server.base_url)
    };
    let result = catalogue()
        .product_types(&shop(), Platform::Shopify, Some(&missing_secret), &ids(&["1"]))
        .await;
    assert!(
        matches!(&result, Err(CatalogueError::NoAccess(why)) if why.contains("NOT_SET is not set")),
        "{result:?}"
    );
}

/// A WooCommerce site's `GET /wp-json/wc/v3/products/{id}`: product 1203 is in the
/// `moka-pots` and `gifts` categories, 1204 in none; any other id does not exist; 500 is down.
async fn woo_site(down: bool) -> String {
    let app = Router::new().route(
        "/wp-json/wc/v3/products/{id}",
        get(move |Path(id): Path<u64>| async move {
            let (status, body) = match id {
                _ if down => (StatusCode::INTERNAL_SERVER_ERROR, json!({"code": "internal_server_error", "message": "down", "data": {"status": 500}})),
                1203 => (StatusCode::OK, json!({"id": 1203, "type": "simple", "categories": [
                    {"id": 9, "name": "Moka pots", "slug": "moka-pots"},
                    {"id": 12, "name": "Gifts", "slug": "gifts"}]})),
                1204 => (StatusCode::OK, json!({"id": 1204, "type": "simple", "categories": []})),
                _ => (StatusCode::NOT_FOUND, json!({"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 404}})),
            };
            (status, [(header::CONTENT_TYPE, "application/json")], body.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn woo_api(site: &str) -> AdminApiConfig {
    AdminApiConfig {
        base_url: Some(site.into()),
        consumer_key_secret: Some("CK".into()),
        consumer_secret_secret: Some("CS".into()),
        access_token_secret: None,
        api_version: None,
    }
}

#[tokio::test]
async fn woocommerce_gives_a_products_category_slugs_as_its_types() {
    let site = woo_site(false).await;
    let types = catalogue()
        .product_types(
            &ShopId::new("shop.example").unwrap(),
            Platform::Woocommerce,
            Some(&woo_api(&site)),
            &ids(&["1203", "1204", "999"]),
        )
        .await
        .expect("types");
    assert_eq!(
        types,
        [
            (
                "1203".to_string(),
                vec!["moka-pots".to_string(), "gifts".to_string()]
            ),
            ("1204".to_string(), vec![]),
        ]
        .into_iter()
        .collect(),
        "a product the site no longer has is left out"
    );
    let down = woo_site(true).await;
    let result = catalogue()
        .product_types(
            &ShopId::new("shop.example").unwrap(),
            Platform::Woocommerce,
            Some(&woo_api(&down)),
            &ids(&["1203"]),
        )
        .await;
    assert!(matches!(result, Err(CatalogueError::Failed(_))), "{result:?}");
}
