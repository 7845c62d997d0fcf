//! The app's configuration: credentials (`SHOPIFY_API_KEY`, `SHOPIFY_API_SECRET`), scopes
//! (`SHOPIFY_SCOPES`), and `AFTERSALE_PUBLIC_URL`, the base of every URL given to Shopify
//! (`{public}/shopify/callback`, `{public}/webhooks/shopify`).

use aftersale_platform_api::shopify::AppCredentials;
use chrono::Duration;

/// What the flows need: orders (all of them, for history), customers, fulfillments (delivery
/// check-ins and review timing), products (care guides by product type) and discounts
/// (referral rewards and win-back offers).
/// `read_all_orders` needs Shopify's approval for a public app; drop it with `SHOPIFY_SCOPES`
/// until then (only the last 60 days of orders are then readable).
pub const DEFAULT_SCOPES: &[&str] = &[
    "read_orders",
    "read_all_orders",
    "read_customers",
    "read_fulfillments",
    "read_products",
    "read_discounts",
    "write_discounts",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error(
        "AFTERSALE_PUBLIC_URL must be an absolute http(s) URL without query or fragment, such as https://aftersale.example (got {0:?})"
    )]
    BadPublicUrl(String),
    #[error("SHOPIFY_SCOPES: {0:?} is not a scope name (letters and underscores, comma separated)")]
    BadScope(String),
}

#[derive(Debug, Clone)]
pub struct AppSettings {
    pub credentials: AppCredentials,
    pub scopes: Vec<String>,
    /// No trailing slash.
    pub public_url: String,
    /// Ask Shopify for expiring offline tokens (with refresh tokens). On by default, as
    /// Shopify requires of public apps; `SHOPIFY_EXPIRING_TOKENS=false` turns it off.
    pub expiring_tokens: bool,
    /// How long an install's `state` nonce lives.
    pub nonce_ttl: Duration,
    /// How old a callback's `timestamp` may be.
    pub max_callback_age: Duration,
}

impl AppSettings {
    pub fn new(credentials: AppCredentials, public_url: &str) -> Result<Self, SettingsError> {
        Ok(Self {
            credentials,
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            public_url: check_public_url(public_url)?,
            expiring_tokens: true,
            nonce_ttl: Duration::minutes(10),
            max_callback_age: Duration::minutes(10),
        })
    }

    /// Replaces the scopes with a comma-separated list.
    pub fn with_scopes(mut self, list: &str) -> Result<Self, SettingsError> {
        let scopes: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if let Some(bad) = scopes
            .iter()
            .find(|s| !s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        {
            return Err(SettingsError::BadScope(bad.clone()));
        }
        if scopes.is_empty() {
            return Err(SettingsError::BadScope(list.to_string()));
        }
        self.scopes = scopes;
        Ok(self)
    }

    /// Everything from the environment: `SHOPIFY_API_KEY`, `SHOPIFY_API_SECRET`,
    /// `AFTERSALE_PUBLIC_URL` (or `default_public_url`), and optionally `SHOPIFY_SCOPES` and
    /// `SHOPIFY_EXPIRING_TOKENS`. `secret` overrides `SHOPIFY_API_SECRET` (read from SSM on AWS).
    pub fn from_env(default_public_url: Option<&str>, secret: Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let key = var("SHOPIFY_API_KEY").ok_or(SettingsError::Missing("SHOPIFY_API_KEY"))?;
        let secret = secret
            .or_else(|| var("SHOPIFY_API_SECRET"))
            .ok_or(SettingsError::Missing("SHOPIFY_API_SECRET"))?;
        let credentials =
            AppCredentials::new(key, secret).ok_or(SettingsError::Missing("SHOPIFY_API_SECRET"))?;
        let public_url = var("AFTERSALE_PUBLIC_URL")
            .or_else(|| default_public_url.map(String::from))
            .ok_or(SettingsError::Missing("AFTERSALE_PUBLIC_URL"))?;
        let mut settings = Self::new(credentials, &public_url)?;
        if let Some(scopes) = var("SHOPIFY_SCOPES") {
            settings = settings.with_scopes(&scopes)?;
        }
        if var("SHOPIFY_EXPIRING_TOKENS").is_some_and(|v| v.trim() == "false") {
            settings.expiring_tokens = false;
        }
        Ok(settings)
    }

    /// Where Shopify sends the merchant back: `{public}/shopify/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/shopify/callback", self.public_url)
    }

    /// Where every webhook topic is delivered: `{public}/webhooks/shopify`.
    pub fn webhook_uri(&self) -> String {
        format!("{}/webhooks/shopify", self.public_url)
    }
}

fn check_public_url(raw: &str) -> Result<String, SettingsError> {
    let bad = || SettingsError::BadPublicUrl(raw.to_string());
    let trimmed = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad());
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> AppCredentials {
        AppCredentials::new("key", "secret").unwrap()
    }

    #[test]
    fn urls_given_to_shopify_hang_off_the_public_url() {
        let settings = AppSettings::new(creds(), "https://aftersale.example/").unwrap();
        assert_eq!(
            settings.redirect_uri(),
            "https://aftersale.example/shopify/callback"
        );
        assert_eq!(
            settings.webhook_uri(),
            "https://aftersale.example/webhooks/shopify"
        );
        let prefixed = AppSettings::new(creds(), "https://edge.example/prod").unwrap();
        assert_eq!(
            prefixed.webhook_uri(),
            "https://edge.example/prod/webhooks/shopify"
        );
    }

    #[test]
    fn bad_public_urls_and_scopes_are_named() {
        for bad in [
            "aftersale.example",
            "ftp://a.example",
            "https://a.example/?x=1",
            "",
        ] {
            let err = AppSettings::new(creds(), bad).unwrap_err();
            assert!(err.to_string().contains("AFTERSALE_PUBLIC_URL"), "{err}");
        }
        let settings = AppSettings::new(creds(), "http://127.0.0.1:8787").unwrap();
        assert_eq!(
            settings
                .clone()
                .with_scopes("read_orders, write_discounts")
                .unwrap()
                .scopes,
            ["read_orders", "write_discounts"]
        );
        let err = settings.with_scopes("read_orders,read orders").unwrap_err();
        assert_eq!(
            err.to_string(),
            "SHOPIFY_SCOPES: \"read orders\" is not a scope name (letters and underscores, comma separated)"
        );
    }
}
