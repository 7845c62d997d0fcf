//! The Shopify app: what happens between a merchant clicking "install" and orders flowing in.
//!
//! - [`settings`]: the app's credentials, scopes and public URL, read once.
//! - [`install`]: `GET /shopify/install` and `GET /shopify/callback`, verifying everything
//!   before anything is exchanged or stored.
//! - [`tokens`]: a fresh access token for a shop, refreshed before expiry under a lock.
//! - [`webhooks`]: registering the webhooks Aftersale needs (after install, and on demand).
//! - [`http`]: the axum router, served by `functions/shopify-app` and by `aftersale serve`.
//! - [`pages`]: the HTML the merchant sees.

pub mod http;
pub mod install;
pub mod pages;
pub mod settings;
pub mod tokens;
pub mod webhooks;

pub use http::router;
pub use install::{Connected, Refusal};
pub use settings::{AppSettings, DEFAULT_SCOPES, SettingsError};
pub use tokens::TokenError;
pub use webhooks::SyncError;

use aftersale_domain::ShopId;
use aftersale_ports::{Clock, ShopTokens, Store, TokenGrants, WebhookRegistrar};
use std::sync::Arc;

/// Starts a shop's history import once it is installed. On AWS a message to the import
/// function's jobs topic: the export runs on Shopify's side, and its `bulk_operations/finish`
/// webhook brings the file in. The error says why it could not be asked.
#[async_trait::async_trait]
pub trait HistoryImport: Send + Sync {
    async fn start(&self, shop: &ShopId) -> Result<(), String>;
}

/// The app, built once per process and shared by every request.
pub struct ShopifyApp {
    store: Arc<dyn Store>,
    tokens: Arc<dyn ShopTokens>,
    grants: Arc<dyn TokenGrants>,
    registrar: Arc<dyn WebhookRegistrar>,
    clock: Arc<dyn Clock>,
    settings: AppSettings,
    /// Asked to import the shop's history after each install, when set.
    history: Option<Arc<dyn HistoryImport>>,
}

impl ShopifyApp {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Arc<dyn ShopTokens>,
        grants: Arc<dyn TokenGrants>,
        registrar: Arc<dyn WebhookRegistrar>,
        clock: Arc<dyn Clock>,
        settings: AppSettings,
    ) -> Self {
        Self {
            store,
            tokens,
            grants,
            registrar,
            clock,
            settings,
            history: None,
        }
    }

    /// Starts the shop's history import after every install.
    pub fn with_history_import(mut self, history: Arc<dyn HistoryImport>) -> Self {
        self.history = Some(history);
        self
    }

    /// The real Shopify clients (OAuth and GraphQL Admin), at `https://{shop}` or at
    /// `AFTERSALE_SHOPIFY_BASE_URL` when that is set.
    pub fn with_shopify(
        store: Arc<dyn Store>,
        tokens: Arc<dyn ShopTokens>,
        clock: Arc<dyn Clock>,
        settings: AppSettings,
    ) -> Self {
        use aftersale_platform_api::shopify::{Endpoint, ShopifyOAuth, ShopifyWebhooks};
        let endpoint = Endpoint::from_env();
        let grants = ShopifyOAuth::new(
            endpoint.clone(),
            settings.credentials.clone(),
            settings.expiring_tokens,
        );
        Self::new(
            store,
            tokens,
            Arc::new(grants),
            Arc::new(ShopifyWebhooks::new(endpoint)),
            clock,
            settings,
        )
    }

    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }
}
