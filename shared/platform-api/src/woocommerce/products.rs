//! A WooCommerce product's type, for care guides by product type: `GET
//! /wp-json/wc/v3/products/{id}` (WooCommerce REST API, "Retrieve a product"). WooCommerce has
//! no `productType` field as Shopify does (its `type` is `simple`, `variable`, ...: how the
//! product is sold, not what it is); its categories are what a shop sorts products by, so a
//! product's types here are its `categories[].slug`. A product the site no longer has (404)
//! has no types.

use super::client::{WooClient, WooError};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

#[derive(Deserialize)]
struct Product {
    #[serde(default)]
    categories: Vec<Category>,
}

#[derive(Deserialize)]
struct Category {
    slug: String,
}

impl WooClient {
    /// The category slugs of product `id`; `None` when the site has no such product.
    pub async fn product_categories(&self, id: u64) -> Result<Option<Vec<String>>, WooError> {
        let url = self.endpoint(&format!("products/{id}"));
        let response = self
            .signed(Method::GET, url)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if status == StatusCode::NOT_FOUND && text.contains("woocommerce_rest_product_invalid_id") {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.refusal(status, &text).await);
        }
        let product: Product = serde_json::from_str(&text).map_err(|e| self.unreadable(&e))?;
        Ok(Some(
            product
                .categories
                .into_iter()
                .map(|c| c.slug)
                .filter(|s| !s.trim().is_empty())
                .collect(),
        ))
    }
}
