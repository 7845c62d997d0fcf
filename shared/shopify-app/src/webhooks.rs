//! Registering the webhooks Aftersale needs, right after install and on demand
//! (`aftersale shopify sync-webhooks --shop S`). The result is kept on the shop's install
//! record, where `aftersale shops` reads it.

use crate::{ShopifyApp, TokenError};
use aftersale_domain::ShopId;
use aftersale_ports::{PlatformError, WebhookSync};
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("registering {shop}'s webhooks failed: {reason}")]
    Platform { shop: ShopId, reason: PlatformError },
    #[error(transparent)]
    Store(#[from] aftersale_ports::StoreError),
}

impl ShopifyApp {
    /// Lists the shop's subscriptions, creates the missing ones and fixes wrong URIs, all at
    /// `{AFTERSALE_PUBLIC_URL}/webhooks/shopify`; records the outcome on the install record.
    pub async fn sync_webhooks(&self, shop: &ShopId) -> Result<WebhookSync, SyncError> {
        let token = self.access_token(shop).await?;
        let uri = self.settings.webhook_uri();
        let sync = self
            .registrar
            .sync_webhooks(shop, &token.access_token, &uri, self.clock.now())
            .await
            .map_err(|reason| {
                warn!(shop = %shop, error = %reason, "webhook registration failed");
                SyncError::Platform {
                    shop: shop.clone(),
                    reason,
                }
            })?;
        if let Some(mut state) = self.store.load_shop(shop).await? {
            state.webhooks = Some(sync.clone());
            self.store.save_shop(shop, &state).await?;
        }
        let failing = sync.failing().count();
        info!(shop = %shop, topics = sync.topics.len(), failing, "webhooks registered");
        Ok(sync)
    }
}
