//! The shops' catalogues through their Admin APIs ([`Catalogue`]): Shopify's GraphQL Admin
//! (`nodes(ids:)`, [`crate::shopify::products`]) and WooCommerce's REST products
//! ([`crate::woocommerce::products`]), with the same access as discount codes: the installed
//! app's token first, else the shop's `[admin_api]` and its secrets.

use crate::discounts::AdminApiDiscounts;
use crate::http;
use crate::shopify::{AdminClient, Endpoint, http_client, products};
use crate::woocommerce::{WooClient, WooError};
use aftersale_domain::{AdminApiConfig, Platform, ShopId};
use aftersale_ports::{Catalogue, CatalogueError, PlatformError, ProductTypes};
use aftersale_rewards::DiscountError;
use async_trait::async_trait;

fn no_access(err: DiscountError) -> CatalogueError {
    match err {
        DiscountError::Transient(text) => CatalogueError::Failed(text),
        DiscountError::Permanent(text) => CatalogueError::NoAccess(text),
        DiscountError::AlreadyExists => CatalogueError::Failed("unexpected answer".into()),
    }
}

fn failed(err: PlatformError) -> CatalogueError {
    CatalogueError::Failed(format!("Shopify: {err}"))
}

#[async_trait]
impl Catalogue for AdminApiDiscounts {
    async fn product_types(
        &self,
        shop: &ShopId,
        platform: Platform,
        admin_api: Option<&AdminApiConfig>,
        product_ids: &[String],
    ) -> Result<ProductTypes, CatalogueError> {
        if product_ids.is_empty() {
            return Ok(ProductTypes::new());
        }
        if platform == Platform::Shopify
            && let Some(token) = self.installed_token(shop).await.map_err(no_access)?
        {
            let client = http_client();
            let admin = AdminClient::new(&client, self.endpoint(), shop, &token);
            return products::product_types(&admin, product_ids).await.map_err(failed);
        }
        let config = admin_api.ok_or_else(|| {
            CatalogueError::NoAccess(format!(
                "{shop} has no Admin API access: install the Aftersale app on it, or configure [admin_api]"
            ))
        })?;
        match platform {
            Platform::Shopify => {
                let token = self
                    .secret(shop, config.access_token_secret.as_ref(), "access_token_secret")
                    .await
                    .map_err(no_access)?;
                let endpoint = match &config.base_url {
                    Some(base) => {
                        http::secure_url(base).map_err(|e| CatalogueError::NoAccess(e.to_string()))?;
                        Endpoint::Base(base.trim().trim_end_matches('/').to_string())
                    }
                    None => Endpoint::Shop,
                };
                let client = http_client();
                let admin = AdminClient::new(&client, &endpoint, shop, &token);
                products::product_types(&admin, product_ids).await.map_err(failed)
            }
            Platform::Woocommerce => {
                let site = config.base_url.as_deref().ok_or_else(|| {
                    CatalogueError::NoAccess("admin_api.base_url (the site URL) is not set".into())
                })?;
                let key = self
                    .secret(shop, config.consumer_key_secret.as_ref(), "consumer_key_secret")
                    .await
                    .map_err(no_access)?;
                let secret = self
                    .secret(
                        shop,
                        config.consumer_secret_secret.as_ref(),
                        "consumer_secret_secret",
                    )
                    .await
                    .map_err(no_access)?;
                let woo = WooClient::new(site, key.expose(), secret.expose())
                    .map_err(|e| CatalogueError::NoAccess(e.to_string()))?;
                let mut types = ProductTypes::new();
                for id in product_ids {
                    // WooCommerce product ids are numbers; anything else is no product of its.
                    let Ok(number) = id.trim().parse::<u64>() else {
                        continue;
                    };
                    match woo.product_categories(number).await {
                        Ok(Some(slugs)) => {
                            types.insert(id.clone(), slugs);
                        }
                        Ok(None) => {}
                        Err(err @ (WooError::Unauthorized { .. } | WooError::BadKey(_))) => {
                            return Err(CatalogueError::NoAccess(err.to_string()));
                        }
                        Err(err) => return Err(CatalogueError::Failed(err.to_string())),
                    }
                }
                Ok(types)
            }
        }
    }
}
