//! What a shop's catalogue says about its products that order webhooks do not carry: a
//! product's type (Shopify's `productType`, WooCommerce's category slugs), for the care
//! guides a shop writes per product type. The platform clients (`aftersale-platform-api`)
//! implement [`Catalogue`]; [`NoCatalogue`] stands in where no shop's API is reachable.

use aftersale_domain::{AdminApiConfig, Platform, ShopId};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// The types of each product asked about, by the platform's product id. A product with no
/// type has an empty list; one the shop no longer has is left out.
pub type ProductTypes = BTreeMap<String, Vec<String>>;

/// Why the catalogue could not say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// The shop has no Admin API access to ask with (no app install, no `[admin_api]`, a
    /// secret missing): asking again will not help until someone configures it.
    #[error("no Admin API access: {0}")]
    NoAccess(String),
    /// The API refused or failed (down, throttled, a missing scope): ask again later.
    #[error("{0}")]
    Failed(String),
}

/// A shop's product catalogue, read through its Admin API.
#[async_trait]
pub trait Catalogue: Send + Sync {
    /// The types of `product_ids` in `shop`, in one call where the platform allows it.
    async fn product_types(
        &self,
        shop: &ShopId,
        platform: Platform,
        admin_api: Option<&AdminApiConfig>,
        product_ids: &[String],
    ) -> Result<ProductTypes, CatalogueError>;
}

/// No catalogue at all (tests, tools that never send): every shop has no access.
pub struct NoCatalogue;

#[async_trait]
impl Catalogue for NoCatalogue {
    async fn product_types(
        &self,
        _shop: &ShopId,
        _platform: Platform,
        _admin_api: Option<&AdminApiConfig>,
        _product_ids: &[String],
    ) -> Result<ProductTypes, CatalogueError> {
        Err(CatalogueError::NoAccess("no catalogue is configured".into()))
    }
}
