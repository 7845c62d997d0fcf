//! Customer profiles, upserted whole.

use crate::{Cached, SqliteStore, db, decode_one, read_one, to_json};
use aftersale_domain::{Customer, CustomerId, ShopId};
use aftersale_ports::{CustomerProfiles, StoreError};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl CustomerProfiles for SqliteStore {
    async fn load_customer(&self, shop: &ShopId, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        let (shop, id) = (shop.to_string(), id.to_string());
        let body = self
            .read(move |conn| {
                read_one(
                    conn,
                    "SELECT body FROM customers WHERE shop = ?1 AND customer_id = ?2",
                    params![shop, id],
                )
            })
            .await?;
        decode_one("customer", body)
    }

    async fn save_customer(&self, shop: &ShopId, customer: &Customer) -> Result<(), StoreError> {
        let body = to_json(customer)?;
        let (shop, id) = (shop.to_string(), customer.id.to_string());
        self.run(move |conn| {
            conn.execute_cached(
                "INSERT INTO customers (shop, customer_id, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (shop, customer_id) DO UPDATE SET body = excluded.body",
                params![shop, id, body],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }
}
