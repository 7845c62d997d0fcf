//! A local stand-in for a platform's admin API: answers one path with a canned response and
//! records every request it receives, so tests can check exactly what the client sent.

use aftersale_domain::{Currency, Money};
use aftersale_rewards::{CustomerEligibility, DiscountCode, DiscountRequest, DiscountValue, UsageLimit};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::routing::post;
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub headers: HeaderMap,
    /// The query string, where OAuth 1.0a puts its signature (read by the coupon tests only).
    #[allow(dead_code)]
    pub query: Option<String>,
    pub body: serde_json::Value,
}

pub struct Server {
    pub base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Serves `POST {path}` on 127.0.0.1 with an OS-chosen port.
pub async fn serve(path: &str, status: StatusCode, response: &str) -> Server {
    let response = response.to_string();
    serve_with(path, move |_| (status, response.clone())).await
}

/// Like [`serve`], with the answer chosen per request body, for a stateful stand-in.
pub async fn serve_with<F>(path: &str, answer: F) -> Server
where
    F: Fn(&serde_json::Value) -> (StatusCode, String) + Send + Sync + 'static,
{
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&requests);
    let answer = Arc::new(answer);
    let app = Router::new().route(
        path,
        post(move |headers: HeaderMap, uri: Uri, body: String| async move {
            let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
            let (status, response) = answer(&body);
            let query = uri.query().map(str::to_owned);
            recorder
                .lock()
                .expect("lock")
                .push(Recorded { headers, query, body });
            (status, [(header::CONTENT_TYPE, "application/json")], response)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Server {
        base_url: format!("http://{addr}"),
        requests,
    }
}

/// An address nothing listens on, for connection failures.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

pub fn eur(cents: i64) -> Money {
    Money::new(Decimal::new(cents, 2), Currency::new("EUR").expect("currency"))
}

/// An advocate's reward: 10 % off, single use, over €50, for 90 days.
pub fn reward_request() -> DiscountRequest {
    let starts_at = Utc.with_ymd_and_hms(2025, 3, 15, 9, 0, 0).single().expect("date");
    DiscountRequest {
        code: DiscountCode::parse("THANKS-K7M2P9QX4R").expect("code"),
        title: "Aftersale referral reward: order 5001".to_string(),
        value: DiscountValue::Percentage(Decimal::from(10)),
        usage: UsageLimit::SingleUse,
        customers: CustomerEligibility::Anyone,
        products: Vec::new(),
        minimum_subtotal: Some(eur(5000)),
        starts_at,
        ends_at: Some(starts_at + chrono::TimeDelta::days(90)),
    }
}

/// An advocate's friend code as referrals create it by default: 10 % off, once per customer,
/// first orders only, at most 50 orders in all.
pub fn friend_code_request() -> DiscountRequest {
    DiscountRequest {
        code: DiscountCode::parse("FRIEND-K7M2P9QX4R").expect("code"),
        title: "Aftersale referral code of customer 81".to_string(),
        value: DiscountValue::Percentage(Decimal::from(10)),
        usage: UsageLimit::OncePerCustomer {
            max_total: std::num::NonZeroU32::new(50),
        },
        customers: CustomerEligibility::FirstOrderOnly,
        products: Vec::new(),
        minimum_subtotal: None,
        starts_at: Utc.with_ymd_and_hms(2025, 3, 15, 9, 0, 0).single().expect("date"),
        ends_at: None,
    }
}
