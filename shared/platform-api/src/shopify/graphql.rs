//! One shop's GraphQL Admin API: `POST {base}/admin/api/{API_VERSION}/graphql.json` with the
//! `X-Shopify-Access-Token` header. Errors come three ways, all turned into [`PlatformError`]:
//! an HTTP status (401 bad token, 402/403/423 shop frozen or scope missing, 429/5xx busy), a
//! top-level `errors` list (`THROTTLED` and `ACCESS_DENIED` in `extensions.code`), and
//! per-mutation `userErrors` (left to the caller, which knows what it asked).

use super::{Endpoint, unreachable};
use aftersale_domain::ShopId;
use aftersale_ports::PlatformError;
use serde_json::{Value, json};

const ACCESS_TOKEN_HEADER: &str = "X-Shopify-Access-Token";

pub struct AdminClient<'a> {
    client: &'a reqwest::Client,
    url: String,
    access_token: &'a str,
}

impl<'a> AdminClient<'a> {
    pub fn new(
        client: &'a reqwest::Client,
        endpoint: &Endpoint,
        shop: &ShopId,
        access_token: &'a str,
    ) -> Self {
        Self {
            client,
            url: endpoint.graphql_url(shop),
            access_token,
        }
    }

    /// Runs one query or mutation and returns its `data`.
    pub async fn run(&self, query: &str, variables: Value) -> Result<Value, PlatformError> {
        let response = self
            .client
            .post(&self.url)
            .header(ACCESS_TOKEN_HEADER, self.access_token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(_) if status >= 400 => Value::Null,
            Err(_) => return Err(PlatformError::Unavailable("Shopify's answer was not JSON".into())),
        };
        match status {
            200..=299 => {}
            401 => {
                return Err(PlatformError::Rejected(
                    "Shopify refused the access token (401): the app may have been uninstalled; install it again"
                        .into(),
                ));
            }
            402 | 423 => {
                return Err(PlatformError::Rejected(format!(
                    "the shop is frozen or locked ({status}); it must settle its Shopify account first"
                )));
            }
            403 => {
                return Err(PlatformError::Rejected(
                    "Shopify denied access (403): a scope is missing; install the app again to grant it"
                        .into(),
                ));
            }
            429 | 500..=599 => {
                return Err(PlatformError::Unavailable(format!(
                    "Shopify is busy (HTTP {status}); try again"
                )));
            }
            other => return Err(PlatformError::Rejected(format!("Shopify answered HTTP {other}"))),
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
            return Err(if code == "THROTTLED" {
                PlatformError::Unavailable("Shopify is rate limiting this shop; try again in a minute".into())
            } else {
                PlatformError::Rejected(format!("Shopify refused the request: {message}"))
            });
        }
        body.get("data")
            .cloned()
            .filter(|d| !d.is_null())
            .ok_or_else(|| PlatformError::Unavailable("Shopify answered without data".into()))
    }
}
