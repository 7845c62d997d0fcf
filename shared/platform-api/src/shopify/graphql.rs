//! One shop's GraphQL Admin API: `POST {base}/admin/api/{API_VERSION}/graphql.json` with the
//! `X-Shopify-Access-Token` header. Errors come three ways, all turned into [`PlatformError`]:
//! an HTTP status (401 bad token, 402/403/423 shop frozen or scope missing, 429/5xx busy), a
//! top-level `errors` list (`THROTTLED` and `ACCESS_DENIED` in `extensions.code`), and
//! per-mutation `userErrors` (left to the caller, which knows what it asked).
//!
//! Every call respects the shop's cost budget ([`super::throttle`]): it waits until the bucket
//! holds what the last call cost, and a `THROTTLED` answer is retried once the bucket has
//! refilled, a few times, before it becomes an error.

use super::throttle::{Budget, Cost, wait_for};
use super::{Endpoint, unreachable};
use aftersale_domain::{Secret, ShopId};
use aftersale_ports::PlatformError;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::Duration;

const ACCESS_TOKEN_HEADER: &str = "X-Shopify-Access-Token";
/// `THROTTLED` answers retried (each after the wait the bucket needs) before giving up.
const THROTTLED_RETRIES: usize = 5;

pub struct AdminClient<'a> {
    client: &'a reqwest::Client,
    url: String,
    access_token: &'a Secret,
    budget: Mutex<Budget>,
}

impl<'a> AdminClient<'a> {
    pub fn new(
        client: &'a reqwest::Client,
        endpoint: &Endpoint,
        shop: &ShopId,
        access_token: &'a Secret,
    ) -> Self {
        Self {
            client,
            url: endpoint.graphql_url(shop),
            access_token,
            budget: Mutex::new(Budget::default()),
        }
    }

    /// Runs one query or mutation and returns its `data`, within the shop's cost budget.
    pub async fn run(&self, query: &str, variables: Value) -> Result<Value, PlatformError> {
        let mut throttled = 0;
        loop {
            let wait = self
                .budget
                .lock()
                .map(|b| b.wait_before_call())
                .unwrap_or_default();
            if !wait.is_zero() {
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "waiting for Shopify's query cost budget"
                );
                tokio::time::sleep(wait).await;
            }
            match self.call(query, &variables).await {
                Err(Answer::Throttled(wait)) if throttled < THROTTLED_RETRIES => {
                    throttled += 1;
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        "Shopify throttled the call; retrying once the bucket refills"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(Answer::Throttled(_)) => {
                    return Err(PlatformError::Unavailable(
                        "Shopify is rate limiting this shop; try again in a minute".into(),
                    ));
                }
                Err(Answer::Failed(err)) => return Err(err),
                Ok(data) => return Ok(data),
            }
        }
    }

    async fn call(&self, query: &str, variables: &Value) -> Result<Value, Answer> {
        let response = self
            .client
            .post(&self.url)
            .header(ACCESS_TOKEN_HEADER, self.access_token.expose())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| Answer::Failed(unreachable(e)))?;
        let status = response.status().as_u16();
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(_) if status >= 400 => Value::Null,
            Err(_) => return Err(failed_unavailable("Shopify's answer was not JSON".into())),
        };
        let cost = Cost::of(&body);
        if let (Some(cost), Ok(mut budget)) = (cost, self.budget.lock()) {
            budget.record(cost);
        }
        let rejected = |text: String| Err(Answer::Failed(PlatformError::Rejected(text)));
        match status {
            200..=299 => {}
            401 => {
                return rejected(
                    "Shopify refused the access token (401): the app may have been uninstalled; install it again"
                        .into(),
                );
            }
            402 | 423 => {
                return rejected(format!(
                    "the shop is frozen or locked ({status}); it must settle its Shopify account first"
                ));
            }
            403 => {
                return rejected(
                    "Shopify denied access (403): a scope is missing; install the app again to grant it"
                        .into(),
                );
            }
            429 | 500..=599 => {
                return Err(failed_unavailable(format!(
                    "Shopify is busy (HTTP {status}); try again"
                )));
            }
            other => return rejected(format!("Shopify answered HTTP {other}")),
        }
        if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
            let first = errors.get(0);
            let code = first
                .and_then(|e| e.pointer("/extensions/code"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let message = first
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_string();
            if code == "THROTTLED" {
                // Wait for what the refused query asked, as the bucket it reported refills.
                let wait = cost.map_or(Duration::from_secs(1), |c| {
                    wait_for(c, c.requested, Duration::ZERO)
                });
                return Err(Answer::Throttled(wait.max(Duration::from_millis(50))));
            }
            return rejected(format!("Shopify refused the request: {message}"));
        }
        body.get("data")
            .cloned()
            .filter(|d| !d.is_null())
            .ok_or_else(|| failed_unavailable("Shopify answered without data".into()))
    }
}

/// One call's outcome besides data: refused for cost (retry after the wait), or failed.
enum Answer {
    Throttled(Duration),
    Failed(PlatformError),
}

fn failed_unavailable(text: String) -> Answer {
    Answer::Failed(PlatformError::Unavailable(text))
}
