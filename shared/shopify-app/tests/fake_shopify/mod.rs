//! A local stand-in for Shopify that speaks its documented formats: the OAuth token endpoint
//! (`POST /admin/oauth/access_token`: code grant and refresh-token grant, JSON in and out,
//! single-use codes, rotating refresh tokens) and the GraphQL Admin API
//! (`POST /admin/api/2025-10/graphql.json` behind `X-Shopify-Access-Token`:
//! `webhookSubscriptions`, `webhookSubscriptionCreate`, `…Update`, `…Delete`, with
//! `userErrors`; and for discount codes `segments`, `segmentCreate` and
//! `discountCodeBasicCreate`, a taken code answering `TAKEN`). It records every call so tests
//! can assert what was (not) asked.
//!
//! Shared by the shopify-app crate's tests and the end-to-end tests (`#[path]`).

#![allow(dead_code)]

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub const API_KEY: &str = "test-api-key";
pub const API_SECRET: &str = "shpss_test_app_secret";
pub const GRANTED_SCOPES: &str =
    "read_orders,read_all_orders,read_customers,read_fulfillments,read_products,write_discounts";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub topic: String,
    pub uri: String,
}

/// A discount code created through `discountCodeBasicCreate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedCode {
    pub code: String,
    /// The `X-Shopify-Access-Token` it was created with.
    pub access_token: String,
    pub title: String,
}

#[derive(Default)]
pub struct FakeState {
    /// The app credentials the token endpoint accepts.
    pub api_key: String,
    pub api_secret: String,
    /// Codes Shopify would hand out on approval; each works once.
    pub codes: HashSet<String>,
    /// Every JSON body the token endpoint received.
    pub token_requests: Vec<Value>,
    pub refreshes: usize,
    pub access_token: String,
    pub refresh_token: String,
    /// Tokens issued so far (their number makes the next one).
    pub issued: usize,
    /// Seconds an issued access token lives; `None` issues non-expiring tokens.
    pub expires_in: Option<i64>,
    pub subscriptions: Vec<Subscription>,
    next_id: usize,
    /// Every GraphQL operation name, in order (`list`, `create`, `update`, `delete`).
    pub graphql_calls: Vec<String>,
    /// Topics whose creation Shopify refuses with a user error.
    pub refuse_topics: HashSet<String>,
    /// Milliseconds the refresh grant takes, to widen any race.
    pub refresh_delay_ms: u64,
    /// Discount codes created, in order.
    pub discounts: Vec<CreatedCode>,
    /// Customer segments (id, query) the shop has.
    pub segments: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct FakeShopify {
    pub base_url: String,
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeShopify {
    pub async fn start() -> Self {
        Self::start_with(API_KEY, API_SECRET).await
    }

    /// A Shopify that knows the app by these credentials.
    pub async fn start_with(api_key: &str, api_secret: &str) -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            expires_in: Some(3600),
            refresh_delay_ms: 150,
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/admin/oauth/access_token", post(token))
            .route("/admin/api/2025-10/graphql.json", post(graphql))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base_url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// A code the merchant's approval would produce.
    pub fn approve(&self, code: &str) {
        self.lock().codes.insert(code.to_string());
    }

    /// Installs a subscription as if made earlier.
    pub fn subscribe(&self, topic: &str, uri: &str) {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("gid://shopify/WebhookSubscription/{}", s.next_id);
        s.subscriptions.push(Subscription {
            id,
            topic: topic.into(),
            uri: uri.into(),
        });
    }
}

fn issue(s: &mut FakeState) -> Value {
    s.issued += 1;
    s.access_token = format!("shpat_issued_{}", s.issued);
    let mut grant = json!({ "access_token": s.access_token, "scope": GRANTED_SCOPES });
    if let Some(secs) = s.expires_in {
        s.refresh_token = format!("shprt_issued_{}", s.issued);
        grant["expires_in"] = json!(secs);
        grant["refresh_token"] = json!(s.refresh_token);
        grant["refresh_token_expires_in"] = json!(7_776_000);
    }
    grant
}

fn oauth_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": description })),
    )
        .into_response()
}

async fn token(State(state): State<Arc<Mutex<FakeState>>>, Json(body): Json<Value>) -> Response {
    let (delay, known) = {
        let mut s = state.lock().unwrap();
        s.token_requests.push(body.clone());
        let known = body["client_id"] == s.api_key.as_str() && body["client_secret"] == s.api_secret.as_str();
        (s.refresh_delay_ms, known)
    };
    if !known {
        return oauth_error("Invalid client credentials");
    }
    if body["grant_type"] == "refresh_token" {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let mut s = state.lock().unwrap();
        if body["refresh_token"] != s.refresh_token.as_str() {
            return oauth_error("The refresh token is invalid or was already used");
        }
        s.refreshes += 1;
        return Json(issue(&mut s)).into_response();
    }
    let mut s = state.lock().unwrap();
    let code = body["code"].as_str().unwrap_or_default().to_string();
    if !s.codes.remove(&code) {
        return oauth_error("The authorization code was not found or was already used");
    }
    Json(issue(&mut s)).into_response()
}

async fn graphql(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().unwrap();
    let given = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given.is_empty() || given != s.access_token {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)" })),
        )
            .into_response();
    }
    let query = body["query"].as_str().unwrap_or_default();
    let vars = &body["variables"];
    let data = if query.contains("discountCodeBasicCreate(") {
        s.graphql_calls.push("discount".into());
        let input = &vars["basicCodeDiscount"];
        let code = input["code"].as_str().unwrap_or_default().to_string();
        if s.discounts.iter().any(|d| d.code == code) {
            json!({ "discountCodeBasicCreate": { "codeDiscountNode": null, "userErrors": [
                { "field": ["basicCodeDiscount", "code"], "code": "TAKEN", "message": "Code must be unique." }] } })
        } else {
            let created = CreatedCode {
                code,
                access_token: given.to_string(),
                title: input["title"].as_str().unwrap_or_default().into(),
            };
            s.discounts.push(created);
            let id = format!("gid://shopify/DiscountCodeNode/{}", s.discounts.len());
            json!({ "discountCodeBasicCreate": { "codeDiscountNode": { "id": id }, "userErrors": [] } })
        }
    } else if query.contains("segmentCreate(") {
        s.graphql_calls.push("segment_create".into());
        let id = format!("gid://shopify/Segment/{}", s.segments.len() + 1);
        let segment_query = vars["query"].as_str().unwrap_or_default().to_string();
        s.segments.push((id.clone(), segment_query.clone()));
        json!({ "segmentCreate": { "segment": { "id": id, "name": vars["name"], "query": segment_query }, "userErrors": [] } })
    } else if query.contains("segments(") {
        s.graphql_calls.push("segments".into());
        let nodes: Vec<Value> = s
            .segments
            .iter()
            .map(|(id, q)| json!({ "id": id, "name": "Aftersale new customers", "query": q }))
            .collect();
        json!({ "segments": { "nodes": nodes } })
    } else if query.contains("webhookSubscriptionCreate(") {
        s.graphql_calls.push("create".into());
        let topic = vars["topic"].as_str().unwrap_or_default().to_string();
        if s.refuse_topics.contains(&topic) {
            json!({ "webhookSubscriptionCreate": { "webhookSubscription": null,
                "userErrors": [{ "field": ["webhookSubscription"], "message": "Topic requires the read_fulfillments access scope" }] } })
        } else {
            s.next_id += 1;
            let sub = Subscription {
                id: format!("gid://shopify/WebhookSubscription/{}", s.next_id),
                topic,
                uri: vars["webhookSubscription"]["uri"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            };
            s.subscriptions.push(sub.clone());
            json!({ "webhookSubscriptionCreate": {
                "webhookSubscription": { "id": sub.id, "topic": sub.topic, "uri": sub.uri }, "userErrors": [] } })
        }
    } else if query.contains("webhookSubscriptionUpdate(") {
        s.graphql_calls.push("update".into());
        let id = vars["id"].as_str().unwrap_or_default();
        let uri = vars["webhookSubscription"]["uri"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match s.subscriptions.iter_mut().find(|x| x.id == id) {
            Some(sub) => {
                sub.uri = uri;
                json!({ "webhookSubscriptionUpdate": { "webhookSubscription": { "id": sub.id, "topic": sub.topic, "uri": sub.uri }, "userErrors": [] } })
            }
            None => {
                json!({ "webhookSubscriptionUpdate": { "webhookSubscription": null, "userErrors": [{ "field": ["id"], "message": "Webhook subscription does not exist" }] } })
            }
        }
    } else if query.contains("webhookSubscriptionDelete(") {
        s.graphql_calls.push("delete".into());
        let id = vars["id"].as_str().unwrap_or_default().to_string();
        s.subscriptions.retain(|x| x.id != id);
        json!({ "webhookSubscriptionDelete": { "deletedWebhookSubscriptionId": id, "userErrors": [] } })
    } else if query.contains("webhookSubscriptions(") {
        s.graphql_calls.push("list".into());
        // Two per page, so pagination is exercised.
        let start: usize = vars["after"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0);
        let page: Vec<Value> = s
            .subscriptions
            .iter()
            .skip(start)
            .take(2)
            .map(|x| json!({ "id": x.id, "topic": x.topic, "uri": x.uri }))
            .collect();
        let next = start + page.len();
        json!({ "webhookSubscriptions": { "nodes": page,
            "pageInfo": { "hasNextPage": next < s.subscriptions.len(), "endCursor": next.to_string() } } })
    } else {
        return Json(json!({ "errors": [{ "message": "unknown query" }] })).into_response();
    };
    Json(json!({ "data": data, "extensions": { "cost": { "requestedQueryCost": 1 } } })).into_response()
}
