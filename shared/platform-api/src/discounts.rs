//! The shop's Admin API for real discount codes (referral codes, rewards, win-back offers):
//! [`AdminApiDiscounts`] implements the engine's [`DiscountApis`] port with the platform
//! clients. A Shopify shop installed through the app uses the app's token
//! ([`InstalledTokens`], refreshed before expiry); otherwise the client is built from the
//! shop's `[admin_api]` config and secrets looked up by name: environment variables locally,
//! SSM parameters on AWS. Clients are built per use; nothing secret is cached or logged.

use crate::http::ClientConfigError;
use crate::shopify::Endpoint;
use crate::shopify::discounts::ShopifyDiscounts;
use crate::woocommerce::coupons::WooCommerceCoupons;
use aftersale_domain::{AdminApiConfig, Platform, Secret, ShopId};
use aftersale_rewards::{DiscountApi, DiscountApis, DiscountError};
use async_trait::async_trait;
use std::sync::Arc;

/// Where secrets come from, by name.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn secret(&self, name: &str) -> Result<String, String>;

    /// Whether `shop`'s config may name `name`. A shop config names its own secrets; a source
    /// shared by many shops (SSM) narrows that so one shop's config can never send another
    /// shop's token, or the deployment's own keys, to an Admin API URL.
    fn may_read(&self, _shop: &ShopId, _name: &str) -> bool {
        true
    }
}

/// Secrets from environment variables (local mode).
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvSecrets;

#[async_trait]
impl SecretSource for EnvSecrets {
    async fn secret(&self, name: &str) -> Result<String, String> {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
    }
}

/// The Admin API tokens of shops installed through the Shopify app (the install side, which
/// holds them, implements this).
#[async_trait]
pub trait InstalledTokens: Send + Sync {
    /// A live access token for `shop`, refreshed first when it is about to expire; `None` when
    /// the app holds no token for it (never installed, or uninstalled). The error says why a
    /// stored token could not be made live, without the token.
    async fn live_token(&self, shop: &ShopId) -> Result<Option<Secret>, DiscountError>;
}

/// The real clients, Shopify GraphQL or WooCommerce REST: with the installed app's token when
/// there is one, else with secrets from `secrets`.
pub struct AdminApiDiscounts {
    secrets: Arc<dyn SecretSource>,
    installed: Option<Arc<dyn InstalledTokens>>,
    /// Where installed shops' Admin API is (`https://{shop}`, or the test seam).
    endpoint: Endpoint,
}

impl AdminApiDiscounts {
    /// Only `[admin_api]` secrets: for a deployment without the Shopify app.
    pub fn new(secrets: Arc<dyn SecretSource>) -> Self {
        Self {
            secrets,
            installed: None,
            endpoint: Endpoint::from_env(),
        }
    }

    /// Tries the installed app's token first, `[admin_api]` after.
    pub fn with_installed(mut self, installed: Arc<dyn InstalledTokens>) -> Self {
        self.installed = Some(installed);
        self
    }

    /// Installed shops' Admin API at `endpoint` rather than where [`Endpoint::from_env`] says.
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Where installed shops' Admin API is.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The installed app's live token for `shop`, if it has one.
    pub(crate) async fn installed_token(&self, shop: &ShopId) -> Result<Option<Secret>, DiscountError> {
        match &self.installed {
            Some(installed) => installed.live_token(shop).await,
            None => Ok(None),
        }
    }

    /// The client on the installed app's token, if the shop has one.
    async fn installed_client(&self, shop: &ShopId) -> Result<Option<ShopifyDiscounts>, DiscountError> {
        let Some(token) = self.installed_token(shop).await? else {
            return Ok(None);
        };
        let base = self.endpoint.base(shop);
        ShopifyDiscounts::with_base_url(&base, &token)
            .map(Some)
            .map_err(|err| DiscountError::Permanent(err.to_string()))
    }

    pub(crate) async fn secret(
        &self,
        shop: &ShopId,
        name: Option<&String>,
        field: &str,
    ) -> Result<Secret, DiscountError> {
        let name = name.ok_or_else(|| DiscountError::Permanent(format!("admin_api.{field} is not set")))?;
        if !self.secrets.may_read(shop, name) {
            return Err(DiscountError::Permanent(format!(
                "admin_api.{field}: {name} is not one of this shop's secrets"
            )));
        }
        let value = self
            .secrets
            .secret(name)
            .await
            .map_err(|err| DiscountError::Permanent(format!("admin_api.{field}: {err}")))?;
        Secret::new(value.trim())
            .ok_or_else(|| DiscountError::Permanent(format!("admin_api.{field}: {name} is empty")))
    }
}

#[async_trait]
impl DiscountApis for AdminApiDiscounts {
    async fn for_shop(
        &self,
        shop: &ShopId,
        platform: Platform,
        config: Option<&AdminApiConfig>,
    ) -> Result<Arc<dyn DiscountApi>, DiscountError> {
        let bad = |err: ClientConfigError| DiscountError::Permanent(err.to_string());
        if platform == Platform::Shopify
            && let Some(client) = self.installed_client(shop).await?
        {
            return Ok(Arc::new(client));
        }
        let config = config.ok_or_else(|| {
            DiscountError::Permanent(format!(
                "{shop} has no Admin API access: install the Aftersale app on it, or configure [admin_api]"
            ))
        })?;
        match platform {
            Platform::Shopify => {
                let token = self
                    .secret(shop, config.access_token_secret.as_ref(), "access_token_secret")
                    .await?;
                let client = match &config.base_url {
                    Some(base) => ShopifyDiscounts::with_base_url(base, &token),
                    None => ShopifyDiscounts::new(shop.as_str(), &token),
                };
                Ok(Arc::new(client.map_err(bad)?))
            }
            Platform::Woocommerce => {
                let site = config.base_url.as_deref().ok_or_else(|| {
                    DiscountError::Permanent("admin_api.base_url (the site URL) is not set".into())
                })?;
                let key = self
                    .secret(shop, config.consumer_key_secret.as_ref(), "consumer_key_secret")
                    .await?;
                let secret = self
                    .secret(
                        shop,
                        config.consumer_secret_secret.as_ref(),
                        "consumer_secret_secret",
                    )
                    .await?;
                Ok(Arc::new(WooCommerceCoupons::new(site, key, secret).map_err(bad)?))
            }
        }
    }
}
