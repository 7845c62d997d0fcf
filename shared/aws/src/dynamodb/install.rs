//! Install records and OAuth nonces on the table.
//!
//! - The record is `SHOP#{shop}` / `META`, listed under its shop in GSI1 (so `shop/redact`
//!   finds it) and under `SHOPS` in GSI2 (keys only), which `list_shops` queries.
//! - A nonce is `SHOP#{shop}` / `OAUTH#{nonce}` with `expires_at` for TTL, and is taken with
//!   one `DeleteItem` returning the old item: two callbacks with the same nonce cannot both
//!   get it, and a nonce stored for another shop is simply not at that key.

use super::{DATA, DynamoDbStore, Item, backend, keys, n, s, text, to_json};
use aftersale_domain::ShopId;
use aftersale_ports::{InstallNonces, ShopRegistry, ShopState, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

#[async_trait]
impl ShopRegistry for DynamoDbStore {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<ShopState>, StoreError> {
        self.get_json(keys::shop(shop), keys::SK_META, &format!("shop {shop}"))
            .await
    }

    async fn save_shop(&self, shop: &ShopId, state: &ShopState) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::shop(shop)));
        item.insert(keys::SK.into(), s(keys::SK_META));
        item.insert(DATA.into(), s(to_json(state, "shop state")?));
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(keys::GSI1SK.into(), s(keys::SK_META));
        item.insert(keys::GSI2PK.into(), s(keys::SHOPS_PARTITION));
        item.insert(keys::GSI2SK.into(), s(shop.as_str()));
        self.put(item).await
    }

    /// One GSI2 query for the keys, then a strongly consistent read per shop: shops are few,
    /// and this serves an operator's command, not a hot path.
    async fn list_shops(&self) -> Result<Vec<(ShopId, ShopState)>, StoreError> {
        let found = self
            .query_all(
                Some(keys::GSI2),
                "gsi2pk = :pk",
                &[(":pk", keys::SHOPS_PARTITION)],
                Some("gsi2sk"),
            )
            .await?;
        let mut shops = Vec::with_capacity(found.len());
        for item in &found {
            let id =
                ShopId::new(text(item, keys::GSI2SK, "shop listing")?).map_err(|e| StoreError::Corrupt {
                    what: "shop listing".into(),
                    detail: e.to_string(),
                })?;
            // The index is eventually consistent: a shop redacted a moment ago may still be listed.
            if let Some(state) = self.load_shop(&id).await? {
                shops.push((id, state));
            }
        }
        shops.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(shops)
    }
}

#[async_trait]
impl InstallNonces for DynamoDbStore {
    async fn save_nonce(
        &self,
        shop: &ShopId,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::shop(shop)));
        item.insert(keys::SK.into(), s(format!("{}{nonce}", keys::NONCE_PREFIX)));
        item.insert(keys::EXPIRES_AT.into(), n(expires_at.timestamp()));
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(keys::GSI1SK.into(), s(format!("{}{nonce}", keys::NONCE_PREFIX)));
        self.put(item).await
    }

    async fn take_nonce(&self, shop: &ShopId, nonce: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::shop(shop)))
            .key(keys::SK, s(format!("{}{nonce}", keys::NONCE_PREFIX)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend("DeleteItem", e))?;
        let Some(old) = out.attributes.filter(|old| !old.is_empty()) else {
            return Ok(None);
        };
        let corrupt = |detail: &str| StoreError::Corrupt {
            what: "oauth nonce".into(),
            detail: detail.into(),
        };
        match old.get(keys::EXPIRES_AT) {
            Some(AttributeValue::N(secs)) => secs
                .parse::<i64>()
                .ok()
                .and_then(|secs| DateTime::from_timestamp(secs, 0))
                .map(Some)
                .ok_or_else(|| corrupt("expires_at is not an instant")),
            _ => Err(corrupt("expires_at is missing")),
        }
    }
}
