//! `WooCommerceCoupons` against a local server speaking the WooCommerce REST API's formats.

mod common;

use aftersale_domain::Secret;
use aftersale_platform_api::woocommerce::WooCommerceCoupons;
use aftersale_rewards::{
    CustomerEligibility, DiscountApi, DiscountError, DiscountRequest, DiscountValue, OneCustomer, UsageLimit,
};
use axum::http::StatusCode;
use common::{Server, eur, friend_code_request, reward_request, serve};
use serde_json::json;

const PATH: &str = "/wp-json/wc/v3/coupons";
const KEY: &str = "ck_test_key";
const SECRET: &str = "cs_test_secret";

fn credentials() -> (Secret, Secret) {
    (
        Secret::new(KEY).expect("key"),
        Secret::new(SECRET).expect("secret"),
    )
}

async fn woocommerce(status: StatusCode, response: &str) -> (WooCommerceCoupons, Server) {
    let server = serve(PATH, status, response).await;
    let (key, secret) = credentials();
    let client = WooCommerceCoupons::new(&server.base_url, key, secret).expect("client");
    (client, server)
}

/// Trimmed from the "Create a coupon" response example in the WooCommerce REST API docs.
const CREATED: &str = r#"{"id":719,"code":"thanks-k7m2p9qx4r","amount":"10.00",
    "date_created":"2025-03-15T09:00:00","date_created_gmt":"2025-03-15T09:00:00",
    "discount_type":"percent","description":"Aftersale referral reward: order 5001",
    "date_expires":"2025-06-13T09:00:00","date_expires_gmt":"2025-06-13T09:00:00","usage_count":0,
    "individual_use":true,"usage_limit":1,"usage_limit_per_user":1,"minimum_amount":"50.00",
    "_links":{"self":[{"href":"https://example.com/wp-json/wc/v3/coupons/719"}]}}"#;

#[tokio::test]
async fn over_plain_http_a_coupon_is_signed_with_oauth1_and_carries_the_documented_body() {
    let (client, server) = woocommerce(StatusCode::CREATED, CREATED).await;
    let created = client.create_discount(&reward_request()).await.expect("created");
    assert_eq!(created.platform_id, "719");
    assert_eq!(created.code.as_str(), "THANKS-K7M2P9QX4R");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    // No Basic auth over plain HTTP (it would send the secret in clear): OAuth 1.0a one-legged
    // in the query, signed with HMAC-SHA256 under `consumer_secret&`, the secret never sent.
    assert!(sent.headers.get("authorization").is_none(), "{:?}", sent.headers);
    let query = sent.query.clone().expect("OAuth parameters in the query");
    assert!(!query.contains(SECRET), "{query}");
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {query}"))
    };
    assert_eq!(get("oauth_consumer_key"), KEY);
    assert_eq!(get("oauth_signature_method"), "HMAC-SHA256");
    let unsigned: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .cloned()
        .collect();
    let url = url::Url::parse(&format!("{}{PATH}", server.base_url)).unwrap();
    assert_eq!(
        get("oauth_signature"),
        aftersale_platform_api::woocommerce::auth::signature("POST", &url, &unsigned, SECRET)
    );
    assert_eq!(
        sent.body,
        json!({
            "code": "THANKS-K7M2P9QX4R",
            "description": "Aftersale referral reward: order 5001",
            "discount_type": "percent",
            "amount": "10",
            "individual_use": true,
            "usage_limit": 1,
            "usage_limit_per_user": 1,
            "date_expires": "2025-06-13T09:00:00Z",
            "minimum_amount": "50.00"
        })
    );
}

#[tokio::test]
async fn a_shared_fixed_amount_code_is_fixed_cart_without_a_total_limit() {
    let (client, server) = woocommerce(StatusCode::CREATED, CREATED).await;
    let request = DiscountRequest {
        value: DiscountValue::FixedAmount(eur(500)),
        usage: UsageLimit::OncePerCustomer { max_total: None },
        minimum_subtotal: None,
        ends_at: None,
        ..reward_request()
    };
    client.create_discount(&request).await.expect("created");
    let body = &server.requests()[0].body;
    assert_eq!(body["discount_type"], json!("fixed_cart"));
    assert_eq!(body["amount"], json!("5.00"));
    assert_eq!(body["usage_limit_per_user"], json!(1));
    for absent in ["usage_limit", "date_expires", "minimum_amount"] {
        assert!(body.get(absent).is_none(), "{absent} was sent");
    }
}

#[tokio::test]
async fn a_coupon_for_one_customer_and_one_product_reaches_woocommerce_with_both_restrictions() {
    let (client, server) = woocommerce(StatusCode::CREATED, CREATED).await;
    let request = DiscountRequest {
        customers: CustomerEligibility::OneCustomer(OneCustomer {
            platform_id: Some("42".into()),
            email: Some("laura@example.com".into()),
        }),
        products: vec!["1203".into()],
        ..reward_request()
    };
    client.create_discount(&request).await.expect("created");
    let body = &server.requests()[0].body;
    assert_eq!(body["email_restrictions"], json!(["laura@example.com"]));
    assert_eq!(body["product_ids"], json!([1203]));
    assert_eq!(body["discount_type"], json!("percent"));

    // A product id WooCommerce cannot have is refused before any call.
    let bad = DiscountRequest {
        products: vec!["sku-1".into()],
        ..reward_request()
    };
    assert!(matches!(
        client.create_discount(&bad).await,
        Err(DiscountError::Permanent(text)) if text.contains("\"sku-1\" is not a WooCommerce product id")
    ));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_existing_code_is_already_exists() {
    let exists = r#"{"code":"woocommerce_rest_coupon_code_already_exists",
        "message":"The coupon code already exists","data":{"status":400}}"#;
    let (client, _server) = woocommerce(StatusCode::BAD_REQUEST, exists).await;
    assert_eq!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::AlreadyExists)
    );
}

#[tokio::test]
async fn bad_credentials_are_permanent_and_not_echoed() {
    let denied = r#"{"code":"woocommerce_rest_cannot_create",
        "message":"Sorry, you are not allowed to create resources.","data":{"status":401}}"#;
    let (client, _server) = woocommerce(StatusCode::UNAUTHORIZED, denied).await;
    match client.create_discount(&reward_request()).await {
        Err(DiscountError::Permanent(message)) => {
            assert_eq!(
                message,
                "WooCommerce answered 401 Unauthorized: woocommerce_rest_cannot_create: \
                 Sorry, you are not allowed to create resources."
            );
            assert!(!message.contains(SECRET));
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn service_unavailable_is_transient() {
    let (client, _server) = woocommerce(StatusCode::SERVICE_UNAVAILABLE, "<html>Maintenance</html>").await;
    assert!(matches!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::Transient(_))
    ));
}

#[tokio::test]
async fn an_unreachable_site_is_transient() {
    let (key, secret) = credentials();
    let client = WooCommerceCoupons::new(&common::closed_port_url().await, key, secret).expect("client");
    assert!(matches!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::Transient(_))
    ));
}

#[tokio::test]
async fn a_first_order_friend_code_gets_one_use_per_customer_and_a_total_cap() {
    let (client, server) = woocommerce(StatusCode::CREATED, CREATED).await;
    client
        .create_discount(&friend_code_request())
        .await
        .expect("created");
    // WooCommerce core has no first-order restriction: what it can enforce is sent, and
    // nothing it would ignore or reject.
    assert_eq!(
        server.requests()[0].body,
        json!({
            "code": "FRIEND-K7M2P9QX4R",
            "description": "Aftersale referral code of customer 81",
            "discount_type": "percent",
            "amount": "10",
            "individual_use": true,
            "usage_limit": 50,
            "usage_limit_per_user": 1
        })
    );
}
