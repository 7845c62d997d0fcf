//! Planned messages and their due index: `attention_at` is set while a message needs a
//! sender (see `aftersale_ports::attention_at`) and NULL once final or quarantined.

use crate::{Cached, SqliteStore, db, from_json, millis, to_json};
use aftersale_domain::{CustomerId, Flow, Message, MessageId, ShopId};
use aftersale_ports::{DueEntry, Messages, StoreError, UndecodableMessage, attention_at};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// The bodies of the messages `sql` selects, still encoded: decoded by [`decode_messages`]
/// off the store's one thread.
pub(crate) fn read_messages(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(params, |row| row.get::<_, String>(0))
        .map_err(db)?;
    rows.map(|r| r.map_err(db)).collect()
}

pub(crate) fn decode_messages(bodies: Vec<String>) -> Result<Vec<Message>, StoreError> {
    bodies.iter().map(|body| from_json("message", body)).collect()
}

#[async_trait]
impl Messages for SqliteStore {
    async fn plan_message(&self, message: &Message) -> Result<bool, StoreError> {
        let stored = Message {
            version: 1,
            ..message.clone()
        };
        let body = to_json(&stored)?;
        let (shop, customer, id) = (
            message.shop.to_string(),
            message.customer_id.to_string(),
            message.id().to_string(),
        );
        let flow = message.flow().as_str();
        let attention = attention_at(&stored).map(millis);
        let due = millis(message.due_at);
        self.run(move |conn| {
            let inserted = conn
                .execute_cached(
                    "INSERT INTO messages (shop, customer_id, id, flow, attention_at, due_at, version, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7) ON CONFLICT DO NOTHING",
                    params![shop, customer, id, flow, attention, due, body],
                )
                .map_err(db)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn load_message(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError> {
        let (shop, customer, id) = (shop.to_string(), customer.to_string(), id.to_string());
        let found = self
            .run(move |conn| {
                read_messages(
                    conn,
                    "SELECT body FROM messages WHERE shop = ?1 AND customer_id = ?2 AND id = ?3",
                    params![shop, customer, id],
                )
            })
            .await?;
        Ok(decode_messages(found)?.pop())
    }

    async fn update_message(&self, message: &Message) -> Result<Message, StoreError> {
        let expected = i64::try_from(message.version).map_err(StoreError::backend)?;
        let saved = Message {
            version: message.version + 1,
            ..message.clone()
        };
        let body = to_json(&saved)?;
        let (shop, customer, id) = (
            message.shop.to_string(),
            message.customer_id.to_string(),
            message.id().to_string(),
        );
        let attention = attention_at(&saved).map(millis);
        let due = millis(saved.due_at);
        let what = format!("message {id}");
        self.run(move |conn| {
            let changed = conn
                .execute_cached(
                    "UPDATE messages SET attention_at = ?4, due_at = ?5, version = version + 1, body = ?6
                     WHERE shop = ?1 AND customer_id = ?2 AND id = ?3 AND version = ?7",
                    params![shop, customer, id, attention, due, body, expected],
                )
                .map_err(db)?;
            if changed == 1 {
                Ok(saved)
            } else {
                Err(StoreError::Conflict { what })
            }
        })
        .await
    }

    async fn due_entries(
        &self,
        flow: Flow,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let flow = flow.as_str();
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT shop, customer_id, id, body FROM messages
                     WHERE flow = ?1 AND attention_at IS NOT NULL AND attention_at <= ?2
                     ORDER BY attention_at, shop, customer_id, id LIMIT ?3",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![flow, millis(now), limit], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })
                .map_err(db)?;
            rows.map(|row| {
                let (shop, customer, id, body) = row.map_err(db)?;
                Ok(match from_json::<Message>("message", &body) {
                    Ok(message) => DueEntry::Message(Box::new(message)),
                    Err(err) => DueEntry::Undecodable(UndecodableMessage {
                        shop,
                        customer,
                        id,
                        problem: err.to_string(),
                    }),
                })
            })
            .collect()
        })
        .await
    }

    async fn quarantine_message(&self, entry: &UndecodableMessage) -> Result<(), StoreError> {
        let UndecodableMessage {
            shop, customer, id, ..
        } = entry.clone();
        self.run(move |conn| {
            conn.execute_cached(
                "UPDATE messages SET attention_at = NULL WHERE shop = ?1 AND customer_id = ?2 AND id = ?3",
                params![shop, customer, id],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn customer_messages(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
    ) -> Result<Vec<Message>, StoreError> {
        let (shop, customer) = (shop.to_string(), customer.to_string());
        let bodies = self
            .read(move |conn| {
                read_messages(
                    conn,
                    "SELECT body FROM messages WHERE shop = ?1 AND customer_id = ?2 ORDER BY due_at, id",
                    params![shop, customer],
                )
            })
            .await?;
        decode_messages(bodies)
    }

    async fn list_messages(&self, shop: Option<&ShopId>) -> Result<Vec<Message>, StoreError> {
        let shop = shop.map(ToString::to_string);
        let bodies = self
            .run_on_pool(move |conn| {
                read_messages(
                    conn,
                    "SELECT body FROM messages WHERE ?1 IS NULL OR shop = ?1 ORDER BY due_at, shop, customer_id, id",
                params![shop],
                )
            })
            .await?;
        decode_messages(bodies)
    }
}
