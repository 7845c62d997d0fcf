//! `GET /shopify/install` and `GET /shopify/callback`: Shopify's authorization code grant.
//!
//! The callback checks, in this order and before anything is exchanged or stored: every
//! parameter is there; the shop is a `*.myshopify.com` domain; the `hmac` is Shopify's (so no
//! other parameter can have been changed); the `timestamp` is recent; the `state` is a live
//! nonce issued for this very shop, which it consumes. A callback failing any of these gets a
//! 4xx page saying what to do, and Shopify's token endpoint is never called.

use crate::ShopifyApp;
use aftersale_domain::{Platform, ShopId};
use aftersale_platform_api::shopify::{authorize_url, parse_shop, verify_query_hmac};
use aftersale_ports::{PlatformError, ShopState, StoreError, WebhookSync};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use tracing::{info, warn};

/// A callback's `timestamp` may be this far ahead of our clock (clock skew).
const MAX_CLOCK_SKEW: Duration = Duration::minutes(1);

/// Why an install or callback request is refused. The text is for the merchant's page; no
/// variant carries a secret or a value from the request beyond the shop's domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("The address is missing its {0} parameter.")]
    Missing(&'static str),
    #[error(
        "{0:?} is not a Shopify shop address. Use the shop's permanent address, such as your-shop.myshopify.com."
    )]
    BadShop(String),
    #[error(
        "The request's signature does not match: it was not sent by Shopify, or it was changed on the way."
    )]
    BadSignature,
    #[error("This link is too old. Start the installation again from your Shopify admin.")]
    Stale,
    #[error(
        "This installation link was already used, or it was not issued for this shop. Start the installation again from your Shopify admin."
    )]
    UnknownState,
    #[error("This installation link has expired. Start the installation again from your Shopify admin.")]
    ExpiredState,
    #[error("Shopify did not grant access: {0}")]
    Denied(String),
    #[error("Shopify could not be reached to finish the installation. Try again in a minute. ({0})")]
    Unavailable(String),
    #[error("Aftersale could not save the installation. Try again in a minute.")]
    Storage,
}

impl Refusal {
    /// 400 for bad input, 401 for a bad signature, 502/503 when Shopify or storage failed.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadSignature => 401,
            Refusal::Denied(_) | Refusal::Unavailable(_) => 502,
            Refusal::Storage => 503,
            _ => 400,
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        warn!(error = %err, "install storage failed");
        Refusal::Storage
    }
}

/// A finished install, for the page the merchant lands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub shop: ShopId,
    /// Requested but not granted.
    pub missing_scopes: Vec<String>,
    /// The webhook registration, or why it failed.
    pub webhooks: Result<WebhookSync, String>,
}

/// Decoded query pairs, as the handlers get them.
pub type Query = [(String, String)];

fn param<'a>(query: &'a Query, name: &'static str) -> Result<&'a str, Refusal> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or(Refusal::Missing(name))
}

fn shop_of(query: &Query) -> Result<ShopId, Refusal> {
    let raw = param(query, "shop")?;
    parse_shop(raw).ok_or_else(|| Refusal::BadShop(raw.chars().take(100).collect()))
}

impl ShopifyApp {
    /// `GET /shopify/install?shop=…`: the `Location` to send the merchant's browser to.
    pub async fn begin_install(&self, query: &Query) -> Result<String, Refusal> {
        let shop = shop_of(query)?;
        let now = self.clock.now();
        // A launch from the Shopify admin is signed; a typed-in link is not, and needs no
        // signature: it only starts a flow the merchant must still approve in their admin.
        if query.iter().any(|(n, _)| n == "hmac") {
            self.check_signed(query, now)?;
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let nonce = hex::encode(bytes);
        self.store
            .save_nonce(&shop, &nonce, now + self.settings.nonce_ttl)
            .await?;
        info!(shop = %shop, "install started; redirecting to the shop's admin");
        Ok(authorize_url(
            &shop,
            &self.settings.credentials.api_key,
            &self.settings.scopes,
            &self.settings.redirect_uri(),
            &nonce,
        ))
    }

    /// `GET /shopify/callback`: verify, exchange the code, store the token, register webhooks.
    pub async fn finish_install(&self, query: &Query) -> Result<Connected, Refusal> {
        for name in ["code", "hmac", "shop", "state", "timestamp"] {
            param(query, name)?;
        }
        let shop = shop_of(query)?;
        let now = self.clock.now();
        self.check_signed(query, now)?;
        let state = param(query, "state")?;
        // Our nonces are 64 hex characters; anything else was never issued.
        if state.len() != 64 || !state.bytes().all(|b| b.is_ascii_hexdigit()) {
            warn!(shop = %shop, "callback refused: malformed state");
            return Err(Refusal::UnknownState);
        }
        match self.store.take_nonce(&shop, state).await? {
            None => {
                warn!(shop = %shop, "callback refused: state unknown, used or issued for another shop");
                return Err(Refusal::UnknownState);
            }
            Some(expires_at) if expires_at <= now => {
                warn!(shop = %shop, "callback refused: state expired");
                return Err(Refusal::ExpiredState);
            }
            Some(_) => {}
        }
        let token = self
            .grants
            .exchange_code(&shop, param(query, "code")?, now)
            .await
            .map_err(|err| {
                warn!(shop = %shop, error = %err, "code exchange failed");
                match err {
                    PlatformError::Rejected(reason) => Refusal::Denied(reason),
                    PlatformError::Unavailable(reason) => Refusal::Unavailable(reason),
                }
            })?;
        self.tokens.save_token(&shop, &token).await?;
        let mut state = self
            .store
            .load_shop(&shop)
            .await?
            .unwrap_or_else(|| ShopState::installed(Platform::Shopify, now));
        state.reinstalled(now);
        state.platform = Platform::Shopify;
        state.scopes = token.scopes.clone();
        state.token_expires_at = token.expires_at;
        self.store.save_shop(&shop, &state).await?;
        info!(shop = %shop, expiring = token.expires_at.is_some(), "installed");
        let missing_scopes = self
            .settings
            .scopes
            .iter()
            .filter(|wanted| !grants_scope(&token.scopes, wanted))
            .cloned()
            .collect();
        let webhooks = self.sync_webhooks(&shop).await.map_err(|err| err.to_string());
        // The install stands even if the import cannot be asked for now: the merchant can run
        // `aftersale import shopify`, and the log says why.
        if let Some(history) = &self.history
            && let Err(reason) = history.start(&shop).await
        {
            warn!(shop = %shop, error = %reason, "the history import could not be started");
        }
        Ok(Connected {
            shop,
            missing_scopes,
            webhooks,
        })
    }

    /// The query's `hmac` is Shopify's, and its `timestamp` recent.
    fn check_signed(&self, query: &Query, now: DateTime<Utc>) -> Result<(), Refusal> {
        if !verify_query_hmac(query, self.settings.credentials.secret()) {
            warn!("request refused: bad hmac");
            return Err(Refusal::BadSignature);
        }
        let timestamp = param(query, "timestamp")?
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or(Refusal::Stale)?;
        if timestamp < now - self.settings.max_callback_age || timestamp > now + MAX_CLOCK_SKEW {
            warn!("request refused: timestamp out of range");
            return Err(Refusal::Stale);
        }
        Ok(())
    }
}

/// Whether the granted list covers `wanted`: Shopify reports `write_x` alone when both `read_x`
/// and `write_x` were asked for, since writing implies reading.
fn grants_scope(granted: &[String], wanted: &str) -> bool {
    granted.iter().any(|g| g == wanted)
        || wanted
            .strip_prefix("read_")
            .is_some_and(|rest| granted.iter().any(|g| *g == format!("write_{rest}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_implies_reading() {
        let granted = vec!["write_discounts".to_string(), "read_orders".into()];
        assert!(grants_scope(&granted, "read_discounts"));
        assert!(grants_scope(&granted, "read_orders"));
        assert!(!grants_scope(&granted, "read_customers"));
        assert!(!grants_scope(&granted, "write_orders"));
    }

    #[test]
    fn refusals_map_to_4xx_for_bad_input() {
        assert_eq!(Refusal::BadSignature.status(), 401);
        assert_eq!(Refusal::UnknownState.status(), 400);
        assert_eq!(Refusal::BadShop("x".into()).status(), 400);
        assert_eq!(Refusal::Unavailable("down".into()).status(), 502);
    }
}
