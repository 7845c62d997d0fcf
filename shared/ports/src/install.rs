//! A shop's install record, and what installing an app needs from the world: single-use OAuth
//! `state` nonces and the shop's Admin API token.
//!
//! The record ([`ShopState`]) is one small item per shop (`SHOP#{shop}` / `META`): written on
//! install, webhook registration, uninstall and redaction, never by ordinary events, so it is
//! no hot item. The token lives elsewhere ([`ShopTokens`]): an SSM SecureString under the
//! shop's prefix on AWS, an encrypted document locally, so the table never holds it in clear.

use crate::StoreError;
use aftersale_domain::{Platform, Secret, ShopId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a shop stands with Aftersale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShopStatus {
    /// Installed (or connected): events are taken in and messages sent.
    Installed,
    /// The app was removed. Nothing is sent; the data is kept until `shop/redact`, so a
    /// reinstall before then picks up where it was.
    Uninstalled,
    /// `shop/redact` erased the shop's data; only this record says it once existed.
    Redacted,
}

impl ShopStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShopStatus::Installed => "installed",
            ShopStatus::Uninstalled => "uninstalled",
            ShopStatus::Redacted => "redacted",
        }
    }
}

impl fmt::Display for ShopStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shop's install record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShopState {
    pub platform: Platform,
    pub status: ShopStatus,
    /// When `status` last changed.
    pub changed_at: DateTime<Utc>,
    /// The access scopes the platform granted at the last install (empty when unknown).
    pub scopes: Vec<String>,
    /// When the stored access token expires; `None` for a non-expiring token or none at all.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// What the last webhook registration found and did; `None` until one ran.
    pub webhooks: Option<WebhookSync>,
    /// When the merchant last installed the app through OAuth (the callback); `None` for a
    /// shop only seen through its webhooks. An `app/uninstalled` triggered before this belongs
    /// to an earlier install ([`ShopState::uninstall_is_stale`]).
    pub installed_at: Option<DateTime<Utc>>,
}

impl ShopState {
    /// A shop seen for the first time, installed as of `at`.
    pub fn installed(platform: Platform, at: DateTime<Utc>) -> Self {
        Self {
            platform,
            status: ShopStatus::Installed,
            changed_at: at,
            scopes: Vec::new(),
            token_expires_at: None,
            webhooks: None,
            installed_at: None,
        }
    }

    /// The merchant (re)installed the app at `at`, through the OAuth callback.
    pub fn reinstalled(&mut self, at: DateTime<Utc>) {
        self.set_status(ShopStatus::Installed, at);
        self.installed_at = Some(at);
    }

    /// Whether an `app/uninstalled` triggered at `triggered_at` (`X-Shopify-Triggered-At`)
    /// is older than the current install. Shopify does not order deliveries: an uninstall
    /// retried for hours can arrive after the merchant installed again, and applying it then
    /// would delete the new install's token and silence a shop that wants its messages.
    pub fn uninstall_is_stale(&self, triggered_at: DateTime<Utc>) -> bool {
        self.is_installed()
            && self
                .installed_at
                .is_some_and(|installed| triggered_at < installed)
    }

    pub fn is_installed(&self) -> bool {
        self.status == ShopStatus::Installed
    }

    /// Whether the shop is installed through the Shopify app (the OAuth callback ran), so its
    /// Admin API token is the one the app holds and a shop config needs no `[admin_api]`.
    pub fn has_app_install(&self) -> bool {
        self.is_installed() && self.platform == Platform::Shopify && self.installed_at.is_some()
    }

    /// Moves to `status` as of `at`; the rest of the record is kept.
    pub fn set_status(&mut self, status: ShopStatus, at: DateTime<Utc>) {
        if self.status != status {
            self.status = status;
            self.changed_at = at;
        }
    }
}

/// Records written before install records had a status said `installed: true|false`; they
/// still read.
#[derive(Deserialize)]
struct StoredShopState {
    platform: Platform,
    #[serde(default)]
    status: Option<ShopStatus>,
    #[serde(default)]
    installed: Option<bool>,
    changed_at: DateTime<Utc>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    token_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    webhooks: Option<WebhookSync>,
    #[serde(default)]
    installed_at: Option<DateTime<Utc>>,
}

impl<'de> Deserialize<'de> for ShopState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredShopState::deserialize(deserializer)?;
        let status = match (stored.status, stored.installed) {
            (Some(status), _) => status,
            (None, Some(false)) => ShopStatus::Uninstalled,
            (None, _) => ShopStatus::Installed,
        };
        Ok(ShopState {
            platform: stored.platform,
            status,
            changed_at: stored.changed_at,
            scopes: stored.scopes,
            token_expires_at: stored.token_expires_at,
            webhooks: stored.webhooks,
            installed_at: stored.installed_at,
        })
    }
}

/// The outcome of one webhook registration run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSync {
    pub checked_at: DateTime<Utc>,
    /// The delivery URL every topic was registered to.
    pub uri: String,
    /// One entry per topic Aftersale needs, in registration order.
    pub topics: Vec<WebhookTopicState>,
}

impl WebhookSync {
    /// Topics not registered at `uri` after the run.
    pub fn failing(&self) -> impl Iterator<Item = &WebhookTopicState> {
        self.topics.iter().filter(|t| t.outcome == WebhookOutcome::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTopicState {
    /// The platform's name of the topic, e.g. `ORDERS_CREATE`.
    pub topic: String,
    pub outcome: WebhookOutcome,
    /// Why it failed, in the platform's words (`None` unless `Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOutcome {
    /// Already registered at the right URL: nothing changed.
    Ok,
    /// Missing, and created.
    Created,
    /// Registered at another URL, and moved to the right one.
    Fixed,
    /// The platform refused; see `detail`.
    Failed,
}

/// Single-use OAuth `state` values, each bound to one shop and expiring in minutes.
#[async_trait]
pub trait InstallNonces: Send + Sync {
    /// Stores a fresh nonce for `shop`, valid until `expires_at` (stores may also let it expire
    /// on their own after that, as DynamoDB's TTL does).
    async fn save_nonce(
        &self,
        shop: &ShopId,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Deletes the nonce if it was stored for this very shop and returns its expiry. One
    /// conditional delete: of two callbacks carrying the same nonce, only one gets `Some`. A
    /// nonce stored for another shop is left alone and answers `None`. The caller checks the
    /// expiry: a store may still hold a nonce for a while after it expired.
    async fn take_nonce(&self, shop: &ShopId, nonce: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// A shop's Admin API credentials, as the platform granted them. Both tokens are
/// [`Secret`]s: `{:?}` hides them, and they are written out in clear only inside the record
/// the token store seals as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopToken {
    #[serde(with = "aftersale_domain::secret::exposed")]
    pub access_token: Secret,
    /// Granted scopes, as the platform lists them.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `None` for a non-expiring token.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Present with expiring tokens; the platform rotates it on every refresh.
    #[serde(default, with = "aftersale_domain::secret::exposed::option")]
    pub refresh_token: Option<Secret>,
    #[serde(default)]
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

impl ShopToken {
    /// Whether the token must be refreshed before use at `now`: it expires within `margin`.
    pub fn expires_within(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|at| at - margin <= now)
    }
}

/// Where shops' tokens are kept, encrypted at rest.
#[async_trait]
pub trait ShopTokens: Send + Sync {
    async fn load_token(&self, shop: &ShopId) -> Result<Option<ShopToken>, StoreError>;
    async fn save_token(&self, shop: &ShopId, token: &ShopToken) -> Result<(), StoreError>;
    /// Deletes the shop's token; deleting a missing one is not an error.
    async fn delete_token(&self, shop: &ShopId) -> Result<(), StoreError>;
}

/// Why a call to the platform failed, in words fit for a merchant's page or an operator's
/// terminal. Never carries a token or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The platform refused the request (bad code, revoked token, missing scope): retrying
    /// the same request will not help.
    #[error("{0}")]
    Rejected(String),
    /// The platform could not be reached or answered 5xx/429: try again later.
    #[error("{0}")]
    Unavailable(String),
}

/// The OAuth token endpoint of a platform (Shopify: `/admin/oauth/access_token`).
#[async_trait]
pub trait TokenGrants: Send + Sync {
    /// Exchanges an authorization code (used once, right after the callback is verified).
    async fn exchange_code(
        &self,
        shop: &ShopId,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<ShopToken, PlatformError>;
    /// Trades a refresh token for a new access token and a new refresh token.
    async fn refresh(
        &self,
        shop: &ShopId,
        refresh_token: &Secret,
        now: DateTime<Utc>,
    ) -> Result<ShopToken, PlatformError>;
}

/// Makes a shop's webhook subscriptions match what Aftersale needs, all delivered to `uri`.
#[async_trait]
pub trait WebhookRegistrar: Send + Sync {
    async fn sync_webhooks(
        &self,
        shop: &ShopId,
        access_token: &Secret,
        uri: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookSync, PlatformError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_from_before_the_status_field_still_read() {
        let old: ShopState = serde_json::from_value(json!({
            "platform": "shopify", "installed": false, "changed_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(old.status, ShopStatus::Uninstalled);
        assert!(old.scopes.is_empty() && old.webhooks.is_none());
        let installed: ShopState = serde_json::from_value(json!({
            "platform": "woocommerce", "installed": true, "changed_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert!(installed.is_installed());
    }

    #[test]
    fn only_an_uninstall_older_than_the_current_install_is_stale() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let mut state = ShopState::installed(Platform::Shopify, at("2026-12-01T09:00:00Z"));
        assert!(!state.has_app_install(), "only seen through webhooks");
        // A shop only seen through webhooks has no install to protect.
        assert!(!state.uninstall_is_stale(at("2026-12-01T08:00:00Z")));
        state.set_status(ShopStatus::Uninstalled, at("2026-12-01T10:00:00Z"));
        assert!(!state.has_app_install(), "uninstalled");
        state.reinstalled(at("2026-12-01T11:00:00Z"));
        assert!(state.is_installed() && state.has_app_install());
        assert!(state.uninstall_is_stale(at("2026-12-01T10:59:59Z")));
        assert!(!state.uninstall_is_stale(at("2026-12-01T11:00:01Z")));
        state.set_status(ShopStatus::Uninstalled, at("2026-12-01T12:00:00Z"));
        assert!(
            !state.uninstall_is_stale(at("2026-12-01T10:00:00Z")),
            "an uninstalled shop has nothing to protect"
        );
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let mut state = ShopState::installed(Platform::Shopify, "2026-01-01T00:00:00Z".parse().unwrap());
        state.scopes = vec!["read_orders".into()];
        state.set_status(ShopStatus::Redacted, "2026-02-01T00:00:00Z".parse().unwrap());
        let text = serde_json::to_string(&state).unwrap();
        assert!(text.contains(r#""status":"redacted""#), "{text}");
        assert_eq!(serde_json::from_str::<ShopState>(&text).unwrap(), state);
    }

    #[test]
    fn tokens_never_print() {
        let token = ShopToken {
            access_token: Secret::new("shpat_secret").unwrap(),
            scopes: vec![],
            expires_at: None,
            refresh_token: Secret::new("shprt_secret"),
            refresh_token_expires_at: None,
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn a_token_needs_refreshing_inside_the_margin() {
        let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        let mut token = ShopToken {
            access_token: Secret::new("a").unwrap(),
            scopes: vec![],
            expires_at: Some(now + chrono::Duration::minutes(10)),
            refresh_token: None,
            refresh_token_expires_at: None,
        };
        assert!(!token.expires_within(now, chrono::Duration::minutes(5)));
        assert!(token.expires_within(now, chrono::Duration::minutes(10)));
        token.expires_at = None;
        assert!(!token.expires_within(now, chrono::Duration::days(365)));
    }
}
