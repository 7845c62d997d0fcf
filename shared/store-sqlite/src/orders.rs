//! Order records, versioned for optimistic concurrency, indexed by customer for redaction.

use crate::{Cached, SqliteStore, db, from_json, to_json};
use aftersale_domain::{OrderId, OrderRecord, ShopId};
use aftersale_ports::{OrderRecords, StoreError, Versioned};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl OrderRecords for SqliteStore {
    async fn load_order(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Versioned<OrderRecord>>, StoreError> {
        let (shop, order_id) = (shop.to_string(), order_id.to_string());
        let row: Option<(String, i64)> = self
            .read(move |conn| {
                conn.query_row_cached(
                    "SELECT body, version FROM orders WHERE shop = ?1 AND order_id = ?2",
                    params![shop, order_id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        // Decoded here, off the store's one thread.
        row.map(|(body, version)| {
            Ok(Versioned {
                value: from_json("order", &body)?,
                version: u64::try_from(version).unwrap_or(0),
            })
        })
        .transpose()
    }

    async fn save_order(
        &self,
        shop: &ShopId,
        record: &OrderRecord,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let body = to_json(record)?;
        let shop = shop.to_string();
        let order_id = record.order_id.to_string();
        let customer_id = record.customer_id().map(ToString::to_string);
        let expected_version = i64::try_from(expected_version).map_err(|_| StoreError::Conflict {
            what: format!("order {order_id} version"),
        })?;
        self.run(move |conn| {
            let changed = if expected_version == 0 {
                conn.execute_cached(
                    "INSERT INTO orders (shop, order_id, customer_id, version, body) VALUES (?1, ?2, ?3, 1, ?4)
                     ON CONFLICT DO NOTHING",
                    params![shop, order_id, customer_id, body],
                )
            } else {
                conn.execute_cached(
                    "UPDATE orders SET customer_id = ?3, version = version + 1, body = ?4
                     WHERE shop = ?1 AND order_id = ?2 AND version = ?5",
                    params![shop, order_id, customer_id, body, expected_version],
                )
            }
            .map_err(db)?;
            if changed == 1 { Ok(()) } else { Err(StoreError::Conflict { what: format!("order {order_id}") }) }
        })
        .await
    }
}
