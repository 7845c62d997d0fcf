//! `ShopifyDiscounts` against a local server speaking the GraphQL Admin API's formats.

mod common;

use aftersale_domain::Secret;
use aftersale_platform_api::shopify::{FIRST_ORDER_SEGMENT_NAME, ShopifyDiscounts};
use aftersale_rewards::{
    CustomerEligibility, DiscountApi, DiscountError, DiscountRequest, DiscountValue, OneCustomer,
};
use axum::http::StatusCode;
use common::{Server, eur, friend_code_request, reward_request, serve, serve_with};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The one pinned version's endpoint: the stand-in answers nothing else.
const PATH: &str = "/admin/api/2025-10/graphql.json";
const TOKEN: &str = "shpat_local_test_token";

async fn shopify(status: StatusCode, response: &str) -> (ShopifyDiscounts, Server) {
    let server = serve(PATH, status, response).await;
    let token = Secret::new(TOKEN).expect("token");
    let client = ShopifyDiscounts::with_base_url(&server.base_url, &token).expect("client");
    (client, server)
}

const CREATED: &str = r#"{"data":{"discountCodeBasicCreate":{
    "codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/1057371297"},"userErrors":[]}},
    "extensions":{"cost":{"requestedQueryCost":10,"actualQueryCost":10}}}"#;

fn client_for(server: &Server) -> ShopifyDiscounts {
    let token = Secret::new(TOKEN).expect("token");
    ShopifyDiscounts::with_base_url(&server.base_url, &token).expect("client")
}

/// A shop's segments as the stand-in keeps them: `(id, name, query)`.
type Segments = Arc<Mutex<Vec<(String, String, String)>>>;

/// A stand-in for a shop's GraphQL Admin API that keeps its customer segments: `segments`
/// answers a fuzzy search (every segment whose name shares a word with the query, as
/// Shopify's search does), `segmentCreate` adds one unless the name is taken, and
/// `discountCodeBasicCreate` answers `discount`.
async fn shop_with_segments(segments: Segments, discount: &'static str) -> Server {
    serve_with(PATH, move |body| {
        let query = body["query"].as_str().unwrap_or_default();
        let vars = &body["variables"];
        let mut segments = segments.lock().expect("lock");
        let answer = if query.starts_with("query segments") {
            let words: Vec<String> = vars["query"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_lowercase)
                .collect();
            let nodes: Vec<Value> = segments
                .iter()
                .filter(|(_, name, _)| name.split_whitespace().any(|w| words.contains(&w.to_lowercase())))
                .map(|(id, name, query)| json!({ "id": id, "name": name, "query": query }))
                .collect();
            json!({ "data": { "segments": { "nodes": nodes } } }).to_string()
        } else if query.contains("segmentCreate(") {
            let name = vars["name"].as_str().unwrap_or_default().to_string();
            if segments.iter().any(|(_, n, _)| *n == name) {
                json!({ "data": { "segmentCreate": { "segment": null, "userErrors": [
                    { "field": ["name"], "message": "Name has already been taken" }] } } })
                .to_string()
            } else {
                let id = format!("gid://shopify/Segment/{}", 500 + segments.len());
                let query = vars["query"].as_str().unwrap_or_default().to_string();
                segments.push((id.clone(), name.clone(), query.clone()));
                json!({ "data": { "segmentCreate": {
                    "segment": { "id": id, "name": name, "query": query }, "userErrors": [] } } })
                .to_string()
            }
        } else {
            discount.to_string()
        };
        (StatusCode::OK, answer)
    })
    .await
}

fn operations(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| {
            let query = r.body["query"].as_str().unwrap_or_default();
            ["query segments", "segmentCreate(", "discountCodeBasicCreate("]
                .into_iter()
                .find(|op| query.contains(op))
                .unwrap_or("other")
                .trim_end_matches('(')
                .to_string()
        })
        .collect()
}

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
async fn a_code_for_one_customer_and_one_product_reaches_shopify_with_their_global_ids() {
    let (client, server) = shopify(StatusCode::OK, CREATED).await;
    let request = DiscountRequest {
        customers: CustomerEligibility::OneCustomer(OneCustomer {
            platform_id: Some("115310627314723954".into()),
            email: Some("john@example.com".into()),
        }),
        products: vec!["632910392".into()],
        ..reward_request()
    };
    client.create_discount(&request).await.expect("created");
    let input = &server.requests()[0].body["variables"]["basicCodeDiscount"];
    assert_eq!(
        input["customerSelection"],
        json!({ "customers": { "add": ["gid://shopify/Customer/115310627314723954"] } })
    );
    assert_eq!(
        input["customerGets"]["items"],
        json!({ "products": { "productsToAdd": ["gid://shopify/Product/632910392"] } })
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
    let client = ShopifyDiscounts::with_base_url(&common::closed_port_url().await, &token).expect("client");
    assert!(matches!(
        client.create_discount(&reward_request()).await,
        Err(DiscountError::Transient(_))
    ));
}

#[tokio::test]
async fn a_first_order_code_is_limited_to_a_segment_created_once_per_shop() {
    let segments = Segments::default();
    let server = shop_with_segments(segments.clone(), CREATED).await;

    // Two clients, as the engine builds one per use: the first creates the segment, the
    // second finds it.
    client_for(&server)
        .create_discount(&friend_code_request())
        .await
        .expect("created");
    let second = client_for(&server);
    second
        .create_discount(&friend_code_request())
        .await
        .expect("created");
    // The same client again asks Shopify nothing but the discount.
    second
        .create_discount(&friend_code_request())
        .await
        .expect("created");

    assert_eq!(
        operations(&server),
        [
            "query segments",
            "segmentCreate",
            "discountCodeBasicCreate",
            "query segments",
            "discountCodeBasicCreate",
            "discountCodeBasicCreate"
        ]
    );
    let requests = server.requests();
    assert_eq!(
        requests[0].body["variables"],
        json!({ "query": FIRST_ORDER_SEGMENT_NAME })
    );
    assert_eq!(
        requests[1].body["variables"],
        json!({ "name": "Aftersale new customers", "query": "number_of_orders = 0" })
    );
    assert_eq!(segments.lock().expect("lock").len(), 1, "one segment per shop");
    for discount in [&requests[2], &requests[4], &requests[5]] {
        assert_eq!(
            discount.body["variables"],
            json!({ "basicCodeDiscount": {
                "title": "Aftersale referral code of customer 81",
                "code": "FRIEND-K7M2P9QX4R",
                "startsAt": "2025-03-15T09:00:00Z",
                "endsAt": null,
                "customerSelection": { "customerSegments": { "add": ["gid://shopify/Segment/500"] } },
                "customerGets": { "value": { "percentage": 0.1 }, "items": { "all": true } },
                "appliesOncePerCustomer": true,
                "usageLimit": 50
            }})
        );
    }
}

#[tokio::test]
async fn an_existing_segment_is_found_by_its_exact_name() {
    let segments: Segments = Arc::new(Mutex::new(vec![
        (
            "gid://shopify/Segment/7".into(),
            "New customers from Italy".into(),
            "number_of_orders = 0 AND customer_countries CONTAINS 'IT'".into(),
        ),
        (
            "gid://shopify/Segment/8".into(),
            FIRST_ORDER_SEGMENT_NAME.into(),
            "number_of_orders  =  0".into(),
        ),
    ]));
    let server = shop_with_segments(segments.clone(), CREATED).await;
    client_for(&server)
        .create_discount(&friend_code_request())
        .await
        .expect("created");
    assert_eq!(operations(&server), ["query segments", "discountCodeBasicCreate"]);
    assert_eq!(
        server.requests()[1].body["variables"]["basicCodeDiscount"]["customerSelection"],
        json!({ "customerSegments": { "add": ["gid://shopify/Segment/8"] } })
    );
    assert_eq!(segments.lock().expect("lock").len(), 2, "nothing created");
}

#[tokio::test]
async fn a_segment_of_that_name_with_another_query_is_refused() {
    let segments: Segments = Arc::new(Mutex::new(vec![(
        "gid://shopify/Segment/8".into(),
        FIRST_ORDER_SEGMENT_NAME.into(),
        "number_of_orders >= 0".into(),
    )]));
    let server = shop_with_segments(segments, CREATED).await;
    assert_eq!(
        client_for(&server).create_discount(&friend_code_request()).await,
        Err(DiscountError::Permanent(
            "Shopify customer segment \"Aftersale new customers\" has the query \
             `number_of_orders >= 0`, not `number_of_orders = 0`: restore that query or delete \
             the segment so first-order-only friend codes stay first-order only"
                .into()
        ))
    );
    assert_eq!(
        operations(&server),
        ["query segments"],
        "no discount for everyone"
    );
}

#[tokio::test]
async fn a_refused_segment_is_a_clear_permanent_error_and_no_discount_is_created() {
    let server = serve_with(PATH, |body| {
        let query = body["query"].as_str().unwrap_or_default();
        let answer = if query.starts_with("query segments") {
            r#"{"data":{"segments":{"nodes":[]}}}"#
        } else if query.contains("segmentCreate(") {
            r#"{"data":{"segmentCreate":{"segment":null,"userErrors":[
                {"field":["query"],"message":"Query is invalid: number_of_orders is not supported"}]}}}"#
        } else {
            CREATED
        };
        (StatusCode::OK, answer.to_string())
    })
    .await;
    assert_eq!(
        client_for(&server).create_discount(&friend_code_request()).await,
        Err(DiscountError::Permanent(
            "Shopify refused the first-order customer segment: query: Query is invalid: \
             number_of_orders is not supported"
                .into()
        ))
    );
    assert_eq!(
        operations(&server),
        ["query segments", "segmentCreate", "query segments"]
    );
}

#[tokio::test]
async fn a_token_without_read_customers_says_which_step_needs_it() {
    let denied = r#"{"errors":[{"message":"Access denied for segments field. Required access: `read_customers` access scope.",
        "extensions":{"code":"ACCESS_DENIED"}}]}"#;
    let (client, server) = shopify(StatusCode::OK, denied).await;
    assert_eq!(
        client.create_discount(&friend_code_request()).await,
        Err(DiscountError::Permanent(
            "while finding the first-order customer segment: Shopify GraphQL error: Access denied \
             for segments field. Required access: `read_customers` access scope."
                .into()
        ))
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn user_errors_on_a_first_order_discount_are_reported_with_their_field() {
    let refused = r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[
        {"field":["basicCodeDiscount","customerSelection","customerSegments","add"],"code":"INVALID",
         "message":"Customer segment does not exist"}]}}}"#;
    let server = shop_with_segments(Segments::default(), refused).await;
    assert_eq!(
        client_for(&server).create_discount(&friend_code_request()).await,
        Err(DiscountError::Permanent(
            "Shopify refused the discount: basicCodeDiscount.customerSelection.customerSegments.add: \
             Customer segment does not exist (INVALID)"
                .into()
        ))
    );
}
