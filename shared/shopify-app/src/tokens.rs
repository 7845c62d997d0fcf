//! A fresh access token for a shop. Expiring offline tokens last an hour; each is refreshed
//! [`REFRESH_MARGIN`] before it expires, by one process at a time.
//!
//! Why a lock: Shopify rotates the refresh token on every use. If two Lambdas refreshed the same
//! shop at once, one of them would store a refresh token that the other's refresh had already
//! replaced, and the shop would need reinstalling. So a refresh first takes a lease, a
//! document written with a conditional write (`install#token-refresh`, expected version), which
//! only one writer can win. The winner re-reads the token (someone may have refreshed just
//! before), refreshes, stores the new pair, then releases the lease. Losers wait and re-read.
//! A holder that dies leaves a lease that expires after [`LEASE`].

use crate::ShopifyApp;
use aftersale_domain::{Secret, ShopId};
use aftersale_platform_api::InstalledTokens;
use aftersale_ports::documents;
use aftersale_ports::{PlatformError, ShopToken, StoreError};
use aftersale_rewards::DiscountError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// Refresh when the token has less than this left.
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);
/// How long a refresh may hold the lock before others may take it over.
const LEASE: Duration = Duration::seconds(30);
const LOCK_KEY: &str = "install#token-refresh";
/// How long a caller waits for another process's refresh, in steps.
const WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(50);
const WAIT_STEPS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0} has no Admin API token: install the app on it (open /shopify/install?shop={0})")]
    NotInstalled(ShopId),
    #[error("{shop}'s access token expired and no refresh token is stored: install the app again")]
    NoRefreshToken { shop: ShopId },
    #[error("refreshing {shop}'s access token failed: {reason}")]
    Refresh { shop: ShopId, reason: PlatformError },
    #[error("another process is refreshing {0}'s token and did not finish in time; try again")]
    Busy(ShopId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The lease document.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    /// `None` once released.
    until: Option<DateTime<Utc>>,
}

impl ShopifyApp {
    /// The shop's access token, refreshed first if it expires within [`REFRESH_MARGIN`].
    pub async fn access_token(&self, shop: &ShopId) -> Result<ShopToken, TokenError> {
        for _ in 0..WAIT_STEPS {
            let now = self.clock.now();
            let token = self
                .tokens
                .load_token(shop)
                .await?
                .ok_or_else(|| TokenError::NotInstalled(shop.clone()))?;
            if !token.expires_within(now, REFRESH_MARGIN) {
                return Ok(token);
            }
            if token.refresh_token.is_none() {
                return Err(TokenError::NoRefreshToken { shop: shop.clone() });
            }
            if let Some(version) = self.take_lease(shop, now).await? {
                let result = self.refresh_holding_lease(shop, now).await;
                self.release_lease(shop, version).await;
                return result;
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
        Err(TokenError::Busy(shop.clone()))
    }

    async fn refresh_holding_lease(
        &self,
        shop: &ShopId,
        now: DateTime<Utc>,
    ) -> Result<ShopToken, TokenError> {
        // Read again under the lease: the token read before may be one another process has
        // refreshed since, and its refresh token already spent.
        let token = self
            .tokens
            .load_token(shop)
            .await?
            .ok_or_else(|| TokenError::NotInstalled(shop.clone()))?;
        if !token.expires_within(now, REFRESH_MARGIN) {
            return Ok(token);
        }
        let refresh_token = token
            .refresh_token
            .as_ref()
            .ok_or_else(|| TokenError::NoRefreshToken { shop: shop.clone() })?;
        let mut fresh = self
            .grants
            .refresh(shop, refresh_token, now)
            .await
            .map_err(|reason| TokenError::Refresh {
                shop: shop.clone(),
                reason,
            })?;
        if fresh.scopes.is_empty() {
            fresh.scopes = token.scopes.clone();
        }
        // Store the rotated pair before anything else can fail: it is the only copy.
        self.tokens.save_token(shop, &fresh).await?;
        if let Some(mut state) = self.store.load_shop(shop).await? {
            state.token_expires_at = fresh.expires_at;
            self.store.save_shop(shop, &state).await?;
        }
        info!(shop = %shop, "access token refreshed");
        Ok(fresh)
    }

    /// Takes the lease if it is free or expired; returns the version written.
    async fn take_lease(&self, shop: &ShopId, now: DateTime<Utc>) -> Result<Option<u64>, StoreError> {
        let current = documents::load::<Lease, _>(self.store.as_ref(), shop, LOCK_KEY).await?;
        let version = current.as_ref().map_or(0, |c| c.version);
        if current
            .as_ref()
            .and_then(|c| c.value.until)
            .is_some_and(|until| until > now)
        {
            return Ok(None);
        }
        let until = Some(now + LEASE);
        let lease = serde_json::to_value(Lease { until }).map_err(StoreError::backend)?;
        match self.store.save_document(shop, LOCK_KEY, &lease, version).await {
            // The store picks a new document's version, so it is read back; a lease already
            // taken over by then is not ours to release.
            Ok(()) => Ok(documents::load::<Lease, _>(self.store.as_ref(), shop, LOCK_KEY)
                .await?
                .filter(|taken| taken.value.until == until)
                .map(|taken| taken.version)),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Frees the lease we hold at `version`. If it was taken over after it expired, the new
    /// holder's write wins and this one is dropped; a failed release only delays the next
    /// refresh until the lease expires.
    async fn release_lease(&self, shop: &ShopId, version: u64) {
        let released = serde_json::json!({ "until": null });
        match self.store.save_document(shop, LOCK_KEY, &released, version).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(err) => warn!(shop = %shop, error = %err, "releasing the token refresh lease failed"),
        }
    }
}

/// Discount codes of an installed shop are created with the app's token, refreshed like any
/// other use of it.
#[async_trait::async_trait]
impl InstalledTokens for ShopifyApp {
    async fn live_token(&self, shop: &ShopId) -> Result<Option<Secret>, DiscountError> {
        match self.access_token(shop).await {
            Ok(token) => Ok(Some(token.access_token)),
            Err(TokenError::NotInstalled(_)) => Ok(None),
            Err(
                err @ (TokenError::NoRefreshToken { .. }
                | TokenError::Refresh {
                    reason: PlatformError::Rejected(_),
                    ..
                }),
            ) => Err(DiscountError::Permanent(err.to_string())),
            Err(err) => Err(DiscountError::Transient(err.to_string())),
        }
    }
}
