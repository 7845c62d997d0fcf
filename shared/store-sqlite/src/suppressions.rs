//! The suppression list, by a hash of the address: it holds no contact details.

use crate::{Cached, SqliteStore, db, decode_one, read_one, to_json};
use aftersale_domain::ShopId;
use aftersale_domain::policy::SuppressionReason;
use aftersale_ports::{StoreError, Suppressions, address_hash};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[async_trait]
impl Suppressions for SqliteStore {
    async fn suppress(
        &self,
        shop: &ShopId,
        address: &str,
        reason: SuppressionReason,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (shop, hash, reason) = (shop.to_string(), address_hash(address), to_json(&reason)?);
        self.run(move |conn| {
            conn.execute_cached(
                "INSERT INTO suppressions (shop, address_hash, reason, suppressed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (shop, address_hash) DO UPDATE SET reason = excluded.reason,
                 suppressed_at = excluded.suppressed_at",
                params![shop, hash, reason, at.to_rfc3339()],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn suppression(
        &self,
        shop: &ShopId,
        address: &str,
    ) -> Result<Option<SuppressionReason>, StoreError> {
        let (shop, hash) = (shop.to_string(), address_hash(address));
        let body = self
            .read(move |conn| {
                read_one(
                    conn,
                    "SELECT reason FROM suppressions WHERE shop = ?1 AND address_hash = ?2",
                    params![shop, hash],
                )
            })
            .await?;
        decode_one("suppression", body)
    }
}
