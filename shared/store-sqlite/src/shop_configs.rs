//! Each shop's configuration, one JSON document per shop.

use crate::{SqliteStore, decode_one, read_one, to_json};
use aftersale_domain::{ShopConfig, ShopId};
use aftersale_ports::{ShopConfigs, StoreError};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl ShopConfigs for SqliteStore {
    async fn load_config(&self, shop: &ShopId) -> Result<Option<ShopConfig>, StoreError> {
        let shop = shop.to_string();
        let body = self
            .read(move |conn| {
                read_one(
                    conn,
                    "SELECT body FROM shop_configs WHERE shop = ?1",
                    params![shop],
                )
            })
            .await?;
        decode_one("shop config", body)
    }

    async fn save_config(&self, shop: &ShopId, config: &ShopConfig) -> Result<(), StoreError> {
        self.put_shop_document("shop_configs", shop, to_json(config)?)
            .await
    }
}
