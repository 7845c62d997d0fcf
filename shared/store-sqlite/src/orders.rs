//! Order records, versioned for optimistic concurrency, indexed by customer for redaction.

use crate::{Cached, SqliteStore, db, first_version, from_json, to_json};
use aftersale_domain::{OrderId, OrderRecord, ShopId};
use aftersale_ports::{OrderRecords, StoreError, Versioned};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Orders as last decoded, by shop and id, with the version they were decoded at. An order
/// event reads its customer's orders about five times (the fold, the statistics, the order
/// figures, the planning, the message figures), and decoding a whole order each time was a
/// tenth of `serve`'s CPU: a read whose stored version is still the cached one neither reads
/// the body nor decodes it. Versions never repeat (a new order's is the instant it was
/// created), so a cached order can only be the stored one.
#[derive(Default)]
pub(crate) struct DecodedOrders(Mutex<Entries>);

/// By shop and order id: the version decoded, and the order.
type Entries = HashMap<(String, String), (i64, Arc<OrderRecord>)>;

/// Orders kept at most; beyond it the cache starts over.
const CACHED_ORDERS: usize = 4096;

impl DecodedOrders {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &(String, String)) -> Option<(i64, Arc<OrderRecord>)> {
        self.entries().get(key).cloned()
    }

    fn keep(&self, key: (String, String), version: i64, record: Arc<OrderRecord>) {
        let mut entries = self.entries();
        if entries.len() >= CACHED_ORDERS {
            entries.clear();
        }
        entries.insert(key, (version, record));
    }

    fn forget(&self, key: &(String, String)) {
        self.entries().remove(key);
    }

    /// After an erasure: nothing of it stays in memory.
    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

#[async_trait]
impl OrderRecords for SqliteStore {
    async fn load_order(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Versioned<OrderRecord>>, StoreError> {
        let key = (shop.to_string(), order_id.to_string());
        let cached = self.orders.get(&key);
        // 0 is no stored version: the body comes back.
        let known = cached.as_ref().map_or(0, |(version, _)| *version);
        let (shop, order_id) = key.clone();
        let row: Option<(Option<String>, i64)> = self
            .read(move |conn| {
                conn.query_row_cached(
                    "SELECT CASE WHEN version = ?3 THEN NULL ELSE body END, version
                     FROM orders WHERE shop = ?1 AND order_id = ?2",
                    params![shop, order_id, known],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        let record = match (row, cached) {
            (None, _) => {
                self.orders.forget(&key);
                return Ok(None);
            }
            (Some((None, version)), Some((_, record))) => (version, record),
            (Some((Some(body), version)), _) => {
                // Decoded here, off the store's one thread.
                let record = Arc::new(from_json::<OrderRecord>("order", &body)?);
                self.orders.keep(key, version, Arc::clone(&record));
                (version, record)
            }
            // Left out only for a cached version, so only a row without a body gets here.
            (Some((None, _)), None) => {
                return Err(StoreError::Corrupt {
                    what: format!("order {}", key.1),
                    detail: "no body".into(),
                });
            }
        };
        Ok(Some(Versioned {
            value: OrderRecord::clone(&record.1),
            version: u64::try_from(record.0).unwrap_or(0),
        }))
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
        let version = if expected_version == 0 {
            first_version()?
        } else {
            expected_version + 1
        };
        let key = (shop.clone(), order_id.clone());
        self.run(move |conn| {
            let changed = if expected_version == 0 {
                conn.execute_cached(
                    "INSERT INTO orders (shop, order_id, customer_id, version, body) VALUES (?1, ?2, ?3, ?5, ?4)
                     ON CONFLICT DO NOTHING",
                    params![shop, order_id, customer_id, body, version],
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
        .await?;
        // What was just written is what the next read finds, unless another write comes first,
        // and then that read sees a newer version and decodes it.
        self.orders.keep(key, version, Arc::new(record.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_ports::Privacy;
    use chrono::{TimeZone, Utc};

    /// Two stores on one file, as `serve` and an `aftersale` command would have: what one
    /// writes or erases, the other's cached order never hides.
    #[tokio::test]
    async fn a_cached_order_is_never_behind_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let (serve, other) = (
            SqliteStore::open_dir(dir.path()).unwrap(),
            SqliteStore::open_dir(dir.path()).unwrap(),
        );
        let shop = ShopId::new("cache.myshopify.com").unwrap();
        let id = OrderId::new("1001").unwrap();
        let mut record = OrderRecord::new(id.clone());
        serve.save_order(&shop, &record, 0).await.unwrap();
        let first = serve.load_order(&shop, &id).await.unwrap().unwrap();
        assert_eq!(first.value, record);
        assert_eq!(
            serve.load_order(&shop, &id).await.unwrap().unwrap(),
            first,
            "from the cache"
        );

        record.delivered_at = Some(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
        other.save_order(&shop, &record, first.version).await.unwrap();
        let changed = serve.load_order(&shop, &id).await.unwrap().unwrap();
        assert_eq!((changed.value, changed.version), (record, first.version + 1));

        other
            .redact_customer(&shop, None, std::slice::from_ref(&id))
            .await
            .unwrap();
        assert_eq!(
            serve.load_order(&shop, &id).await.unwrap(),
            None,
            "erased elsewhere"
        );

        // Erased and stored again elsewhere, with no read between: written as often as the
        // cached one, it must still not be taken for it.
        let id = OrderId::new("1002").unwrap();
        serve
            .save_order(&shop, &OrderRecord::new(id.clone()), 0)
            .await
            .unwrap();
        serve.load_order(&shop, &id).await.unwrap().unwrap();
        other
            .redact_customer(&shop, None, std::slice::from_ref(&id))
            .await
            .unwrap();
        let mut again = OrderRecord::new(id.clone());
        again.deleted = true;
        other.save_order(&shop, &again, 0).await.unwrap();
        assert_eq!(serve.load_order(&shop, &id).await.unwrap().unwrap().value, again);
    }
}
