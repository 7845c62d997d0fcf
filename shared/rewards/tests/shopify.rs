//! `ShopifyDiscounts` against a local server speaking the GraphQL Admin API's formats.

mod common;

use aftersale_rewards::{
    DEFAULT_SHOPIFY_API_VERSION, DiscountApi, DiscountError, DiscountRequest, DiscountValue, Secret,
    ShopifyDiscounts,
};
use axum::http::StatusCode;
use common::{Server, eur, reward_request, serve};
use serde_json::json;

const PATH: &str = "/admin/api/2025-01/graphql.json";
const TOKEN: &str = "shpat_local_test_token";

async fn shopify(status: StatusCode, response: &str) -> (ShopifyDiscounts, Server) {
    let server = serve(PATH, status, response).await;
    let token = Secret::new(TOKEN).expect("token");
    let client = ShopifyDiscounts::with_base_url(&server.base_url, DEFAULT_SHOPIFY_API_VERSION, &token)
        .expect("client");
    (client, server)
}

const CREATED: &str = r#"{"data":{"discountCodeBasicCreate":{
    "codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/1057371297"},"userErrors":[]}},
    "extensions":{"cost":{"requestedQueryCost":10,"actualQueryCost":10}}}"#;

#[tokio::test]
async fn creates_a_discount_with_the_documented_mutation_and_token() {
    let (client, server) = shopify(StatusCode::OK, CREATED).await;
    let created = client.create_discount(&reward_request()).await.expect("created");
    assert_eq!(created.platform_id, "gid://shopify/DiscountCodeNode/1057371297");
    assert_eq!(created.code.as_str(), "THANKS-K7M2P9QX4R");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        sent.headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok()),
        Some(TOKEN)
    );
    assert!(
        sent.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
    );
    let query = sent.body["query"].as_str().expect("query");
    assert!(query.contains("mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!)"));
    assert!(query.contains("discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount)"));
    assert!(query.contains("userErrors"));
    assert_eq!(
        sent.body["variables"],
        json!({ "basicCodeDiscount": {
            "title": "Aftersale referral reward: order 5001",
            "code": "THANKS-K7M2P9QX4R",
            "startsAt": "2025-03-15T09:00:00Z",
            "endsAt": "2025-06-13T09:00:00Z",
            "customerSelection": { "all": true },
            "customerGets": { "value": { "percentage": 0.1 }, "items": { "all": true } },
            "appliesOncePerCustomer": true,
            "usageLimit": 1,
            "minimumRequirement": { "subtotal": { "greaterThanOrEqualToSubtotal": "50.00" } }
        }})
    );
}

#[tokio::test]
async fn a_fixed_amount_is_sent_as_a_decimal_string() {
    let (client, server) = shopify(StatusCode::OK, CREATED).await;
    let request = DiscountRequest {
        value: DiscountValue::FixedAmount(eur(1000)),
        ..reward_request()
    };
    client.create_discount(&request).await.expect("created");
    let value = &server.requests()[0].body["variables"]["basicCodeDiscount"]["customerGets"]["value"];
    assert_eq!(
        value,
        &json!({ "discountAmount": { "amount": "10.00", "appliesOnEachItem": false } })
    );
}

#[tokio::test]
async fn a_taken_code_is_already_exists() {
    let taken = r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[
        {"field":["basicCodeDiscount","code"],"code":"TAKEN",
         "message":"Code must be unique. Please try a different code."}]}}}"#;
    let (client, _server) = shopify(StatusCode::OK, taken).await;
    assert_eq!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::AlreadyExists)
    );
}

#[tokio::test]
async fn throttling_is_transient() {
    let throttled = r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED",
        "documentation":"https://shopify.dev/api/usage/rate-limits"}}]}"#;
    let (client, _server) = shopify(StatusCode::OK, throttled).await;
    assert_eq!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::Transient(
            "Shopify GraphQL error: Throttled".to_string()
        ))
    );
}

#[tokio::test]
async fn http_429_is_transient() {
    let (client, _server) = shopify(
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"errors":"Exceeded 2 calls per second"}"#,
    )
    .await;
    assert!(matches!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::Transient(_))
    ));
}

#[tokio::test]
async fn http_500_is_transient() {
    let (client, _server) = shopify(
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"errors":"Internal error"}"#,
    )
    .await;
    assert!(matches!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::Transient(_))
    ));
}

#[tokio::test]
async fn a_revoked_token_is_permanent_and_not_echoed() {
    let (client, _server) = shopify(
        StatusCode::UNAUTHORIZED,
        r#"{"errors":"[API] Invalid API key or access token"}"#,
    )
    .await;
    match client.create_discount(&reward_request()).await {
        Err(DiscountError::Permanent(message)) => assert!(!message.contains(TOKEN), "{message}"),
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_request_never_reaches_shopify() {
    let (client, server) = shopify(StatusCode::OK, CREATED).await;
    let mut request = reward_request();
    request.value = DiscountValue::Percentage(rust_decimal::Decimal::from(150));
    assert!(matches!(
        client.create_discount(&request).await,
        Err(DiscountError::Permanent(_))
    ));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_unreachable_shop_is_transient() {
    let token = Secret::new(TOKEN).expect("token");
    let client =
        ShopifyDiscounts::with_base_url(&common::closed_port_url().await, "2025-01", &token).expect("client");
    assert!(matches!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::Transient(_))
    ));
}
