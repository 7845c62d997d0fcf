//! Answers from 1-tap links: one row per question of a message; a later answer replaces it.

use crate::{Cached, SqliteStore, db, from_json, to_json};
use aftersale_domain::{Answer, CustomerId, ShopId};
use aftersale_ports::{Answers, StoreError};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl Answers for SqliteStore {
    async fn record_answer(&self, answer: &Answer) -> Result<(), StoreError> {
        let body = to_json(answer)?;
        let values = (
            answer.shop.to_string(),
            answer.customer_id.to_string(),
            answer.message_id.to_string(),
            answer.answer.question(),
            answer.answered_at.to_rfc3339(),
        );
        self.run(move |conn| {
            let (shop, customer, message, question, at) = values;
            conn.execute_cached(
                "INSERT INTO answers (shop, customer_id, message_id, question, answered_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (shop, customer_id, message_id, question)
                 DO UPDATE SET answered_at = excluded.answered_at, body = excluded.body",
                params![shop, customer, message, question, at, body],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn customer_answers(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
    ) -> Result<Vec<Answer>, StoreError> {
        let (shop, customer) = (shop.to_string(), customer.to_string());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT body FROM answers WHERE shop = ?1 AND customer_id = ?2 ORDER BY answered_at",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![shop, customer], |row| row.get::<_, String>(0))
                .map_err(db)?;
            rows.map(|r| from_json("answer", &r.map_err(db)?)).collect()
        })
        .await
    }
}
