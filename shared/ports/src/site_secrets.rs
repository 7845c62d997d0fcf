//! Webhook secrets Aftersale set on a site itself (WooCommerce connect), looked up when the
//! site's deliveries arrive. Kept sealed in the store; only an adapter that holds the sealing
//! key can read them.

use crate::StoreError;
use aftersale_domain::{Secret, ShopId};
use async_trait::async_trait;

#[async_trait]
pub trait SiteSecrets: Send + Sync {
    /// The secret the site's webhooks are signed with, if Aftersale connected it.
    async fn webhook_secret(&self, site: &ShopId) -> Result<Option<Secret>, StoreError>;
}
