//! Install records (`shops`) and OAuth nonces (`oauth_nonces`).

use crate::{Cached, SqliteStore, db, decode_one, from_json, read_one, to_json};
use aftersale_domain::ShopId;
use aftersale_ports::{InstallNonces, ShopRegistry, ShopState, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl ShopRegistry for SqliteStore {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<ShopState>, StoreError> {
        let shop = shop.to_string();
        let body = self
            .read(move |conn| read_one(conn, "SELECT body FROM shops WHERE shop = ?1", params![shop]))
            .await?;
        decode_one("shop", body)
    }

    async fn save_shop(&self, shop: &ShopId, state: &ShopState) -> Result<(), StoreError> {
        self.put_shop_document("shops", shop, to_json(state)?).await
    }

    async fn list_shops(&self) -> Result<Vec<(ShopId, ShopState)>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT shop, body FROM shops ORDER BY shop")
                .map_err(db)?;
            let rows = stmt
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
                .map_err(db)?;
            rows.map(|row| {
                let (shop, body) = row.map_err(db)?;
                let id = ShopId::new(shop).map_err(|e| StoreError::Corrupt {
                    what: "shop id".into(),
                    detail: e.to_string(),
                })?;
                Ok((id, from_json("shop", &body)?))
            })
            .collect()
        })
        .await
    }
}

#[async_trait]
impl InstallNonces for SqliteStore {
    async fn save_nonce(
        &self,
        shop: &ShopId,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (shop, nonce) = (shop.to_string(), nonce.to_string());
        self.run(move |conn| {
            conn.execute_cached(
                "INSERT INTO oauth_nonces (shop, nonce, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (shop, nonce) DO UPDATE SET expires_at = excluded.expires_at",
                params![shop, nonce, expires_at.to_rfc3339()],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    /// `DELETE … RETURNING`: the delete and the read are one statement, so a nonce is taken
    /// once even by two processes on the same file.
    async fn take_nonce(&self, shop: &ShopId, nonce: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (shop, nonce) = (shop.to_string(), nonce.to_string());
        self.run(move |conn| {
            let expires: Option<String> = conn
                .query_row_cached(
                    "DELETE FROM oauth_nonces WHERE shop = ?1 AND nonce = ?2 RETURNING expires_at",
                    params![shop, nonce],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db)?;
            expires
                .map(|text| {
                    DateTime::parse_from_rfc3339(&text)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| StoreError::Corrupt {
                            what: "oauth nonce".into(),
                            detail: e.to_string(),
                        })
                })
                .transpose()
        })
        .await
    }
}
