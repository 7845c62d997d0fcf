//! Shopify's authorization code grant, for a non-embedded app:
//! <https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant>.
//!
//! 1. The merchant is sent to `https://{shop}/admin/oauth/authorize?client_id&scope&redirect_uri&state`
//!    ([`authorize_url`]).
//! 2. Shopify redirects back with `code`, `hmac`, `host`, `shop`, `state` and `timestamp`. The
//!    `hmac` is HMAC-SHA256, in hex, of every other parameter (minus `signature`), sorted by
//!    name and form-encoded, keyed with the client secret ([`verify_query_hmac`]).
//! 3. The code is exchanged at `POST https://{shop}/admin/oauth/access_token` with JSON
//!    `{client_id, client_secret, code}`, plus `expiring: 1` for an expiring offline token
//!    (one hour, with a refresh token that rotates on every use; Shopify requires these of new
//!    public apps). A refresh is the same endpoint with `grant_type=refresh_token`.

use super::{Endpoint, http_client, unreachable};
use aftersale_domain::{Secret, ShopId};
use aftersale_ports::{PlatformError, ShopToken, TokenGrants};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The app's client id and secret (`SHOPIFY_API_KEY`, `SHOPIFY_API_SECRET`). The secret is a
/// [`Secret`], so `Debug` prints `Secret(***)`.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub api_key: String,
    api_secret: Secret,
}

impl AppCredentials {
    /// `None` if either is blank: an empty secret would verify forgeries.
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> Option<Self> {
        let api_key = api_key.into();
        let api_secret = Secret::new(api_secret)?;
        (!api_key.trim().is_empty()).then_some(Self { api_key, api_secret })
    }

    /// The HMAC key of Shopify's signatures.
    pub fn secret(&self) -> &[u8] {
        self.api_secret.expose_bytes()
    }
}

/// Where the merchant approves the scopes: always the shop's own admin, in their browser.
pub fn authorize_url(
    shop: &ShopId,
    api_key: &str,
    scopes: &[String],
    redirect_uri: &str,
    state: &str,
) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", api_key)
        .append_pair("scope", &scopes.join(","))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    format!("https://{shop}/admin/oauth/authorize?{query}")
}

/// The message Shopify signs: every pair but `hmac` and `signature`, sorted, form-encoded.
pub fn signed_message(pairs: &[(String, String)]) -> String {
    let mut kept: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(name, _)| name != "hmac" && name != "signature")
        .collect();
    kept.sort();
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in kept {
        out.append_pair(name, value);
    }
    out.finish()
}

/// Whether the query's `hmac` is Shopify's signature of the rest, compared in constant time.
/// `pairs` are the decoded query pairs; a query with no `hmac`, or two, fails.
pub fn verify_query_hmac(pairs: &[(String, String)], secret: &[u8]) -> bool {
    let mut given = pairs.iter().filter(|(name, _)| name == "hmac");
    let (Some((_, given)), None) = (given.next(), given.next()) else {
        return false;
    };
    let Ok(given) = hex::decode(given.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signed_message(pairs).as_bytes());
    let expected = mac.finalize().into_bytes();
    expected.as_slice().ct_eq(&given).into()
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct Grant {
    access_token: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_token_expires_in: Option<i64>,
}

impl Grant {
    /// `None` when the answer has no access token (a blank one is none).
    fn into_token(self, now: DateTime<Utc>) -> Option<ShopToken> {
        Some(ShopToken {
            access_token: Secret::new(self.access_token)?,
            scopes: self
                .scope
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            expires_at: self.expires_in.map(|secs| now + Duration::seconds(secs)),
            refresh_token: self.refresh_token.and_then(Secret::new),
            refresh_token_expires_at: self
                .refresh_token_expires_in
                .map(|secs| now + Duration::seconds(secs)),
        })
    }
}

#[derive(Deserialize)]
struct GrantError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The token endpoint, for every shop.
#[derive(Debug, Clone)]
pub struct ShopifyOAuth {
    client: reqwest::Client,
    endpoint: Endpoint,
    credentials: AppCredentials,
    /// Ask for expiring offline tokens (`expiring: 1`).
    expiring: bool,
}

impl ShopifyOAuth {
    pub fn new(endpoint: Endpoint, credentials: AppCredentials, expiring: bool) -> Self {
        Self {
            client: http_client(),
            endpoint,
            credentials,
            expiring,
        }
    }

    async fn grant(
        &self,
        shop: &ShopId,
        body: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<ShopToken, PlatformError> {
        let response = self
            .client
            .post(self.endpoint.access_token_url(shop))
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            let grant: Grant = serde_json::from_str(&text).map_err(|_| {
                PlatformError::Unavailable("Shopify's token answer was not the JSON expected".into())
            })?;
            return grant.into_token(now).ok_or_else(|| {
                PlatformError::Unavailable("Shopify answered without an access token".into())
            });
        }
        let reason = serde_json::from_str::<GrantError>(&text)
            .ok()
            .and_then(|e| e.error_description.or(e.error))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        if status.is_server_error() || status.as_u16() == 429 {
            Err(PlatformError::Unavailable(format!(
                "Shopify is not answering right now ({reason})"
            )))
        } else {
            Err(PlatformError::Rejected(format!(
                "Shopify refused the token request: {reason}"
            )))
        }
    }
}

#[async_trait]
impl TokenGrants for ShopifyOAuth {
    async fn exchange_code(
        &self,
        shop: &ShopId,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<ShopToken, PlatformError> {
        let mut body = json!({
            "client_id": self.credentials.api_key,
            "client_secret": self.credentials.api_secret.expose(),
            "code": code,
        });
        if self.expiring {
            body["expiring"] = json!(1);
        }
        self.grant(shop, body, now).await
    }

    async fn refresh(
        &self,
        shop: &ShopId,
        refresh_token: &Secret,
        now: DateTime<Utc>,
    ) -> Result<ShopToken, PlatformError> {
        let body = json!({
            "client_id": self.credentials.api_key,
            "client_secret": self.credentials.api_secret.expose(),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.expose(),
        });
        self.grant(shop, body, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// A grant whose access token is blank is no token (the callback says Shopify answered
    /// without one); a blank refresh token is none; `{:?}` of the token shows neither.
    #[test]
    fn a_grant_becomes_a_token_only_with_a_usable_access_token() {
        let now = Utc::now();
        let grant = |json: &str| serde_json::from_str::<Grant>(json).unwrap().into_token(now);
        assert!(grant(r#"{"access_token": "  ", "scope": "read_orders"}"#).is_none());
        let token = grant(
            r#"{"access_token": "shpat_1", "scope": "read_orders, write_discounts", "refresh_token": "", "expires_in": 60}"#,
        )
        .unwrap();
        assert_eq!(token.access_token.expose(), "shpat_1");
        assert_eq!(token.scopes, ["read_orders", "write_discounts"]);
        assert_eq!(token.expires_at, Some(now + Duration::seconds(60)));
        assert!(token.refresh_token.is_none(), "a blank refresh token is none");
        let shown = format!("{token:?}");
        assert!(
            !shown.contains("shpat_1") && shown.contains("Secret(***)"),
            "{shown}"
        );
    }

    /// The example from Shopify's OAuth documentation, secret `hush`.
    #[test]
    fn shopifys_documented_example_verifies() {
        let query = "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173";
        assert!(verify_query_hmac(&pairs(query), b"hush"));
        assert!(!verify_query_hmac(&pairs(query), b"other secret"));
        let tampered = query.replace("some-shop", "evil-shop");
        assert!(!verify_query_hmac(&pairs(&tampered), b"hush"));
    }

    #[test]
    fn a_query_without_one_hex_hmac_fails() {
        let base = "shop=a.myshopify.com&timestamp=1";
        assert!(!verify_query_hmac(&pairs(base), b"k"));
        assert!(!verify_query_hmac(&pairs(&format!("{base}&hmac=zz")), b"k"));
        let mut signed = pairs(base);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(signed_message(&signed).as_bytes());
        let hmac = hex::encode(mac.finalize().into_bytes());
        signed.push(("hmac".into(), hmac.clone()));
        assert!(verify_query_hmac(&signed, b"k"));
        signed.push(("hmac".into(), hmac));
        assert!(!verify_query_hmac(&signed, b"k"), "two hmacs are refused");
    }

    #[test]
    fn the_signed_message_is_sorted_and_form_encoded_without_hmac_or_signature() {
        let message = signed_message(&pairs(
            "timestamp=2&shop=a.myshopify.com&hmac=x&signature=y&host=YS5teXNob3BpZnkuY29tL2FkbWlu&state=a%26b%3Dc",
        ));
        assert_eq!(
            message,
            "host=YS5teXNob3BpZnkuY29tL2FkbWlu&shop=a.myshopify.com&state=a%26b%3Dc&timestamp=2"
        );
    }

    #[test]
    fn the_authorize_url_is_the_shops_admin_with_every_parameter() {
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let url = authorize_url(
            &shop,
            "key123",
            &["read_orders".into(), "write_discounts".into()],
            "https://app.example/shopify/callback",
            "n0nce",
        );
        assert_eq!(
            url,
            "https://demo.myshopify.com/admin/oauth/authorize?client_id=key123&scope=read_orders%2Cwrite_discounts&redirect_uri=https%3A%2F%2Fapp.example%2Fshopify%2Fcallback&state=n0nce"
        );
    }

    #[test]
    fn credentials_never_print_the_secret() {
        let creds = AppCredentials::new("key", "shpss_secret").unwrap();
        assert!(!format!("{creds:?}").contains("shpss_secret"));
        assert!(AppCredentials::new("key", "").is_none());
        assert!(AppCredentials::new(" ", "s").is_none());
    }
}
