//! Reading a site's history: `GET /wp-json/wc/v3/orders` and `/customers`, a page of 100 at
//! a time (WooCommerce's largest), oldest id first so pages stay stable while new orders
//! arrive, with the page count from `X-WP-TotalPages`. A busy or failing site (429, 5xx) is
//! waited for (its `Retry-After`, else 1, 2, 4 … seconds) a few times before it is an error.

use crate::woocommerce::client::{WooClient, WooError};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

/// WooCommerce's largest page.
pub const PAGE_SIZE: u32 = 100;
/// Attempts of one page before a busy site is an error.
const ATTEMPTS: u32 = 6;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What is paged through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Orders,
    Customers,
}

impl Resource {
    pub fn path(self) -> &'static str {
        match self {
            Resource::Orders => "orders",
            Resource::Customers => "customers",
        }
    }
}

/// One page as the site gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The objects, exactly as the site sent them (the webhook normaliser reads them).
    pub items: Vec<Value>,
    /// `X-WP-TotalPages`, when the site sent it.
    pub total_pages: Option<u32>,
    /// `X-WP-Total`.
    pub total: Option<u64>,
}

/// Which part of the history to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only what changed after this instant (`modified_after`, WooCommerce 5.8+): a reconcile.
    pub modified_after: Option<DateTime<Utc>>,
}

impl WooClient {
    /// Page `page` (1-based) of `resource`.
    pub async fn page(&self, resource: Resource, page: u32, filter: Filter) -> Result<Page, WooError> {
        let mut url = self.endpoint(resource.path());
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("per_page", &PAGE_SIZE.to_string())
                .append_pair("page", &page.to_string())
                .append_pair("orderby", "id")
                .append_pair("order", "asc");
            if resource == Resource::Customers {
                // Customers of every role, not only the `customer` one (subscribers buy too).
                query.append_pair("role", "all");
            }
            if let Some(after) = filter.modified_after {
                query.append_pair(
                    "modified_after",
                    &after.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.signed(Method::GET, url.clone()).send().await;
            let response = match response {
                Ok(response) => response,
                Err(err) if attempt < ATTEMPTS && (err.is_timeout() || err.is_connect()) => {
                    tokio::time::sleep(backoff(attempt, None)).await;
                    continue;
                }
                Err(err) => return Err(self.unreachable(&err)),
            };
            let status = response.status();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            let total_pages = header("x-wp-totalpages").and_then(|n| u32::try_from(n).ok());
            let total = header("x-wp-total");
            let retry_after = header("retry-after").map(Duration::from_secs);
            let text = response.text().await.map_err(|e| self.unreachable(&e))?;
            if status.is_success() {
                let items: Vec<Value> = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Array(items)) => items,
                    Ok(_) | Err(_) => return Err(WooError::NotWordPress { site: self.site() }),
                };
                return Ok(Page {
                    items,
                    total_pages,
                    total,
                });
            }
            let busy = status.as_u16() == 429 || status.is_server_error();
            if busy && attempt < ATTEMPTS {
                let wait = backoff(attempt, retry_after);
                tracing::info!(
                    status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64,
                    "the site is busy; waiting before asking again"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(self.refusal(status, &text).await);
        }
    }
}

/// The wait before attempt `attempt + 1`: the site's `Retry-After`, else 1, 2, 4 … seconds.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    retry_after
        .unwrap_or_else(|| Duration::from_secs(1 << (attempt - 1).min(5)))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_site_is_asked_again_later_and_later() {
        assert_eq!(backoff(1, None), Duration::from_secs(1));
        assert_eq!(backoff(3, None), Duration::from_secs(4));
        assert_eq!(backoff(9, None), Duration::from_secs(30));
        assert_eq!(backoff(2, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(backoff(2, Some(Duration::from_secs(900))), MAX_BACKOFF);
    }
}
