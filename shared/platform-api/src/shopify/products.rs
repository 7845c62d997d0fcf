//! Shopify products' types, for care guides by product type: one GraphQL Admin query over
//! every product of an order, `nodes(ids:) { ... on Product { id productType } }`
//! (<https://shopify.dev/docs/api/admin-graphql/2025-01/queries/nodes>,
//! <https://shopify.dev/docs/api/admin-graphql/2025-01/objects/Product#field-productType>).
//! It needs the `read_products` scope. A product the shop deleted comes back as `null`; one
//! with no type has `productType: ""`.

use super::graphql::AdminClient;
use aftersale_ports::{PlatformError, ProductTypes};
use serde::Deserialize;
use serde_json::json;

pub(crate) const PRODUCT_TYPES_QUERY: &str = "query productTypes($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Product { id productType } }
}";

/// Shopify answers at most 250 nodes per query; an order has far fewer lines.
const MAX_IDS: usize = 250;

#[derive(Deserialize)]
struct Node {
    id: String,
    #[serde(rename = "productType", default)]
    product_type: Option<String>,
}

/// The types of `product_ids` (numeric ids, as order webhooks carry them).
pub async fn product_types(
    client: &AdminClient<'_>,
    product_ids: &[String],
) -> Result<ProductTypes, PlatformError> {
    let mut types = ProductTypes::new();
    for chunk in product_ids.chunks(MAX_IDS) {
        let ids: Vec<String> = chunk
            .iter()
            .map(|id| format!("gid://shopify/Product/{}", id.trim()))
            .collect();
        let data = client.run(PRODUCT_TYPES_QUERY, json!({ "ids": ids })).await?;
        let nodes: Vec<Option<Node>> = data
            .get("nodes")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .ok()
            .flatten()
            .ok_or_else(|| PlatformError::Unavailable("Shopify's answer has no readable nodes".into()))?;
        for node in nodes.into_iter().flatten() {
            let Some(id) = node.id.strip_prefix("gid://shopify/Product/") else {
                continue;
            };
            let kind = node.product_type.unwrap_or_default();
            let kinds = if kind.trim().is_empty() {
                Vec::new()
            } else {
                vec![kind]
            };
            types.insert(id.to_string(), kinds);
        }
    }
    Ok(types)
}
