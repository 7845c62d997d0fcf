//! Deliveries kept for a replay, by id; the shop is kept as the delivery named it.

use crate::{Cached, SqliteStore, db, from_json, to_json};
use aftersale_ports::{DeadLetter, DeadLetters, StoreError};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl DeadLetters for SqliteStore {
    async fn put_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let body = to_json(letter)?;
        let (id, shop, at) = (
            letter.id.clone(),
            letter.shop.clone(),
            letter.received_at.to_rfc3339(),
        );
        self.run(move |conn| {
            conn.execute_cached(
                "INSERT INTO dead_letters (id, shop, received_at, body) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![id, shop, at, body],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn list_dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT body FROM dead_letters ORDER BY received_at, id")
                .map_err(db)?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0)).map_err(db)?;
            rows.map(|r| from_json("dead letter", &r.map_err(db)?)).collect()
        })
        .await
    }

    async fn update_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let body = to_json(letter)?;
        let (id, shop, at) = (
            letter.id.clone(),
            letter.shop.clone(),
            letter.received_at.to_rfc3339(),
        );
        self.run(move |conn| {
            conn.execute_cached(
                "INSERT INTO dead_letters (id, shop, received_at, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![id, shop, at, body],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn delete_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        let id = letter.id.clone();
        self.run(move |conn| {
            let removed = conn
                .execute_cached("DELETE FROM dead_letters WHERE id = ?1", params![id])
                .map_err(db)?;
            Ok(removed > 0)
        })
        .await
    }
}
