//! What connecting a site leaves in the store: one document per site, `woocommerce#connection`
//! in the site's own partition (so `shop/redact` takes it), holding the delivery URL, the ids of
//! the webhooks signed with the site's secret, and the credentials sealed ([`SealingKey`]):
//! the REST API keys and the webhook secret never sit in the store in clear.

use crate::sealed::{SealError, SealingKey};
use aftersale_domain::{Secret, ShopId};
use aftersale_ports::documents;
use aftersale_ports::{Documents, SiteSecrets, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

pub const CONNECTION_KEY: &str = "woocommerce#connection";

/// A connected site, credentials in clear (in memory only). `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    pub site: String,
    pub delivery_url: String,
    pub webhook_ids: BTreeSet<u64>,
    pub connected_at: DateTime<Utc>,
    pub credentials: Credentials,
}

/// A site's REST keys and the secret its webhooks are signed with. Sealed as a whole before
/// they are stored; `{:?}` hides them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(with = "aftersale_domain::secret::exposed")]
    pub consumer_key: Secret,
    #[serde(with = "aftersale_domain::secret::exposed")]
    pub consumer_secret: Secret,
    #[serde(with = "aftersale_domain::secret::exposed")]
    pub webhook_secret: Secret,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("site", &self.site)
            .field("delivery_url", &self.delivery_url)
            .field("webhook_ids", &self.webhook_ids)
            .finish_non_exhaustive()
    }
}

/// The document as stored.
#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    site: String,
    delivery_url: String,
    webhook_ids: BTreeSet<u64>,
    connected_at: DateTime<Utc>,
    sealed_credentials: String,
}

/// A new, random webhook secret (256 bits, hex).
pub fn new_webhook_secret() -> Secret {
    Secret::new(hex::encode(rand::random::<[u8; 32]>())).expect("64 hex digits are not blank")
}

/// The site's store id, as its deliveries name it (`X-WC-Webhook-Source`).
pub fn site_id(site: &str) -> Result<ShopId, StoreError> {
    ShopId::from_domain(site).map_err(|e| StoreError::Backend(format!("site {site:?}: {e}")))
}

fn sealing(err: SealError) -> StoreError {
    StoreError::Backend(err.to_string())
}

pub async fn save(
    store: &dyn Documents,
    key: &SealingKey,
    connection: &Connection,
) -> Result<(), StoreError> {
    let shop = site_id(&connection.site)?;
    let plain = serde_json::to_vec(&connection.credentials).map_err(StoreError::backend)?;
    let stored = Stored {
        site: connection.site.clone(),
        delivery_url: connection.delivery_url.clone(),
        webhook_ids: connection.webhook_ids.clone(),
        connected_at: connection.connected_at,
        sealed_credentials: key.seal(shop.as_str(), &plain),
    };
    documents::update::<Stored, _, _>(store, &shop, CONNECTION_KEY, |_| Some(stored.clone())).await?;
    Ok(())
}

pub async fn load(
    store: &dyn Documents,
    key: &SealingKey,
    site: &ShopId,
) -> Result<Option<Connection>, StoreError> {
    let Some(found) = documents::load::<Stored, _>(store, site, CONNECTION_KEY).await? else {
        return Ok(None);
    };
    let stored = found.value;
    let plain = key
        .open(site.as_str(), &stored.sealed_credentials)
        .map_err(sealing)?;
    let credentials: Credentials = serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt {
        what: format!("{site} WooCommerce credentials"),
        detail: e.to_string(),
    })?;
    Ok(Some(Connection {
        site: stored.site,
        delivery_url: stored.delivery_url,
        webhook_ids: stored.webhook_ids,
        connected_at: stored.connected_at,
        credentials,
    }))
}

/// [`SiteSecrets`] from the connections in the store: what ingest verifies deliveries with.
pub struct StoredSiteSecrets {
    store: Arc<dyn Documents>,
    key: SealingKey,
}

impl StoredSiteSecrets {
    pub fn new(store: Arc<dyn Documents>, key: SealingKey) -> Self {
        Self { store, key }
    }
}

#[async_trait]
impl SiteSecrets for StoredSiteSecrets {
    async fn webhook_secret(&self, site: &ShopId) -> Result<Option<Secret>, StoreError> {
        Ok(load(self.store.as_ref(), &self.key, site)
            .await?
            .map(|c| c.credentials.webhook_secret))
    }
}
