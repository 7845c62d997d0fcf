//! The event log: one row per (shop, event id), so a redelivery is a duplicate.

use crate::{Cached, SqliteStore, db, from_json, to_json};
use aftersale_domain::{EventId, ShopId, StoreEvent};
use aftersale_ports::{EventLog, Recorded, StoreError, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl EventLog for SqliteStore {
    async fn begin_event_transaction(&self) -> Result<Option<u64>, StoreError> {
        SqliteStore::begin_event_transaction(self).await.map(Some)
    }

    fn end_event_transaction(&self, id: u64) -> Result<(), StoreError> {
        SqliteStore::end_event_transaction(self, id)
    }

    async fn record_event(
        &self,
        event: &StoreEvent,
        received_at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let body = to_json(event)?;
        let shop = event.shop.to_string();
        let event_id = event.event_id.to_string();
        let kind = event.kind_name();
        let order_id = event.order_id().map(ToString::to_string);
        let customer_id = event.customer_id().map(ToString::to_string);
        self.run(move |conn| {
            let inserted = conn
                .execute_cached(
                    "INSERT INTO events (shop, event_id, kind, order_id, customer_id, received_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                    params![
                        shop,
                        event_id,
                        kind,
                        order_id,
                        customer_id,
                        received_at.to_rfc3339(),
                        body
                    ],
                )
                .map_err(db)?;
            if inserted == 1 {
                return Ok(Recorded::New);
            }
            let applied: bool = conn
                .query_row_cached(
                    "SELECT applied FROM events WHERE shop = ?1 AND event_id = ?2",
                    params![shop, event_id],
                    |row| row.get(0),
                )
                .map_err(db)?;
            Ok(Recorded::Duplicate { applied })
        })
        .await
    }

    async fn mark_applied(&self, event: &StoreEvent) -> Result<(), StoreError> {
        let (shop, event_id) = (event.shop.to_string(), event.event_id.to_string());
        self.run(move |conn| {
            conn.execute_cached(
                "UPDATE events SET applied = 1 WHERE shop = ?1 AND event_id = ?2",
                params![shop, event_id],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn event_applied(&self, shop: &ShopId, event_id: &EventId) -> Result<Option<bool>, StoreError> {
        let (shop, event_id) = (shop.to_string(), event_id.to_string());
        self.run(move |conn| {
            conn.query_row_cached(
                "SELECT applied FROM events WHERE shop = ?1 AND event_id = ?2",
                params![shop, event_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn unfinished_events(
        &self,
        received_before: DateTime<Utc>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = self
            .run(move |conn| {
                // `events_unfinished` holds only these rows.
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT body, received_at FROM events WHERE applied = 0 ORDER BY received_at, rowid",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
                    .map_err(db)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db)
            })
            .await?;
        let mut events = Vec::new();
        for (body, received_at) in rows {
            let received_at = parse_received_at(&received_at)?;
            if received_at < received_before {
                events.push(StoredEvent {
                    event: from_json("event", &body)?,
                    received_at,
                    applied: false,
                });
            }
        }
        Ok(events)
    }

    async fn list_events(&self, shop: Option<&ShopId>) -> Result<Vec<StoredEvent>, StoreError> {
        let shop = shop.map(ToString::to_string);
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT body, received_at, applied FROM events
                     WHERE ?1 IS NULL OR shop = ?1 ORDER BY received_at, rowid",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![shop], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, bool>(2)?,
                    ))
                })
                .map_err(db)?;
            let mut events = Vec::new();
            for row in rows {
                let (body, received_at, applied) = row.map_err(db)?;
                events.push(StoredEvent {
                    event: from_json("event", &body)?,
                    received_at: parse_received_at(&received_at)?,
                    applied,
                });
            }
            Ok(events)
        })
        .await
    }
}

fn parse_received_at(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what: "event time".into(),
            detail: e.to_string(),
        })
}
