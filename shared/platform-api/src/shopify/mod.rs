//! Shopify: OAuth ([`oauth`]), the GraphQL Admin API ([`graphql`]), webhook registration
//! ([`webhooks`]) and discount codes ([`discounts`]).
//!
//! Every call goes to `https://{shop}` unless `AFTERSALE_SHOPIFY_BASE_URL` is set
//! ([`Endpoint::from_env`]): then `{base}/admin/oauth/access_token` and
//! `{base}/admin/api/{API_VERSION}/graphql.json` are called instead, for tests against a local
//! server. The browser redirect to the shop's admin (the authorize URL) is never rewritten: a
//! test reads the `Location` header instead of following it.

pub mod bulk;
pub mod discounts;
pub mod graphql;
pub mod oauth;
pub mod products;
pub mod throttle;
pub mod webhooks;

pub use discounts::{FIRST_ORDER_SEGMENT_NAME, FIRST_ORDER_SEGMENT_QUERY, ShopifyDiscounts};
pub use graphql::AdminClient;
pub use oauth::{AppCredentials, ShopifyOAuth, authorize_url, verify_query_hmac};
pub use webhooks::{ShopifyWebhooks, required_topics};

use aftersale_domain::ShopId;
use aftersale_ports::PlatformError;
use std::time::Duration;

/// The Admin API version every call uses: OAuth's webhook registration, bulk imports and
/// discount codes alike (a test sends each through a server that answers only this version).
/// Shopify supports a stable version for at least twelve months; move this one constant (and
/// `api_version` in `shopify.app.toml`, which a test compares) and run the tests to upgrade.
pub const API_VERSION: &str = "2025-10";

/// The test seam: replaces `https://{shop}` for every OAuth and Admin API call.
pub const BASE_URL_VAR: &str = "AFTERSALE_SHOPIFY_BASE_URL";

/// Admin API calls give up after this; a webhook or page must not hang on Shopify.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `shop`, as given, is a shop's permanent domain: the domain's one rule,
/// [`aftersale_domain::is_myshopify_domain`].
pub fn is_shop_domain(shop: &str) -> bool {
    aftersale_domain::is_myshopify_domain(shop)
}

/// A shop domain that passed [`is_shop_domain`], as the shop id (lower case).
pub fn parse_shop(shop: &str) -> Option<ShopId> {
    is_shop_domain(shop)
        .then(|| ShopId::new(shop.to_ascii_lowercase()).ok())
        .flatten()
}

/// Where a shop's OAuth and Admin API live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://{shop}`: production.
    Shop,
    /// Every shop at this base (no trailing slash): the test seam.
    Base(String),
}

impl Endpoint {
    /// [`BASE_URL_VAR`] if set, else production.
    pub fn from_env() -> Self {
        match std::env::var(BASE_URL_VAR) {
            Ok(base) if !base.trim().is_empty() => {
                Endpoint::Base(base.trim().trim_end_matches('/').to_string())
            }
            _ => Endpoint::Shop,
        }
    }

    pub fn base(&self, shop: &ShopId) -> String {
        match self {
            Endpoint::Shop => format!("https://{shop}"),
            Endpoint::Base(base) => base.clone(),
        }
    }

    pub fn access_token_url(&self, shop: &ShopId) -> String {
        format!("{}/admin/oauth/access_token", self.base(shop))
    }

    pub fn graphql_url(&self, shop: &ShopId) -> String {
        format!("{}/admin/api/{API_VERSION}/graphql.json", self.base(shop))
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent("Aftersale")
        .build()
        .expect("a TLS client builds")
}

/// A transport failure, without the URL's query (none of ours carry secrets, but say less).
pub(crate) fn unreachable(err: reqwest::Error) -> PlatformError {
    PlatformError::Unavailable(format!(
        "Shopify could not be reached ({})",
        if err.is_timeout() {
            "timed out"
        } else {
            "connection failed"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_permanent_myshopify_domain_is_a_shop() {
        for good in [
            "demo.myshopify.com",
            "Demo-1.myshopify.com",
            "9lives.myshopify.com",
        ] {
            assert!(is_shop_domain(good), "{good}");
        }
        for bad in [
            "",
            ".myshopify.com",
            "-demo.myshopify.com",
            "demo.myshopify.com.evil.example",
            "evil.example/demo.myshopify.com",
            "demo.evil.myshopify.com",
            "demo_1.myshopify.com",
            "demo.myshopify.com\n",
            "https://demo.myshopify.com",
            "demo.MYSHOPIFY.com",
            "démo.myshopify.com",
        ] {
            assert!(!is_shop_domain(bad), "{bad:?}");
        }
        assert_eq!(
            parse_shop("Demo.myshopify.com").unwrap().as_str(),
            "demo.myshopify.com"
        );
    }

    #[test]
    fn the_base_url_replaces_the_shop_for_every_call() {
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        assert_eq!(
            Endpoint::Shop.graphql_url(&shop),
            "https://demo.myshopify.com/admin/api/2025-10/graphql.json"
        );
        let local = Endpoint::Base("http://127.0.0.1:9".into());
        assert_eq!(
            local.access_token_url(&shop),
            "http://127.0.0.1:9/admin/oauth/access_token"
        );
        assert_eq!(
            local.graphql_url(&shop),
            "http://127.0.0.1:9/admin/api/2025-10/graphql.json"
        );
    }
}
