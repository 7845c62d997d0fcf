//! The embedded store: one SQLite file under the data dir, local mode's default.
//!
//! Tables mirror the DynamoDB access patterns (every primary key starts with the shop), so
//! what works locally works in production. Values are the domain's JSON; the columns beside
//! them exist only to be looked up by.

use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{
    Answer, Customer, CustomerId, Flow, Message, MessageId, OrderId, OrderRecord, ShopConfig, ShopId,
    StoreEvent,
};
use aftersale_ports::documents::keys::customer_prefix;
use aftersale_ports::{
    Answers, Documents, DueEntry, Messages, ShopConfigs, Suppressions, UndecodableMessage, address_hash,
    attention_at,
};
use aftersale_ports::{
    CustomerProfiles, DeadLetter, DeadLetters, EventLog, OrderRecords, Privacy, Recorded, StoreError,
    StoredEvent, Versioned,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

mod install;
mod sealed_tokens;

pub use sealed_tokens::{SealedTokens, TokenKeyError};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    shop TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT,
    customer_id TEXT,
    received_at TEXT NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, event_id)
);
CREATE INDEX IF NOT EXISTS events_by_received ON events (shop, received_at);
CREATE INDEX IF NOT EXISTS events_by_customer ON events (shop, customer_id);
CREATE INDEX IF NOT EXISTS events_by_order ON events (shop, order_id);
CREATE TABLE IF NOT EXISTS orders (
    shop TEXT NOT NULL,
    order_id TEXT NOT NULL,
    customer_id TEXT,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, order_id)
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (shop, customer_id);
CREATE TABLE IF NOT EXISTS customers (
    shop TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, customer_id)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    shop TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shops (
    shop TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    shop TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    id TEXT NOT NULL,
    flow TEXT NOT NULL,
    -- milliseconds since the epoch; NULL once the message is final (the due index)
    attention_at INTEGER,
    due_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, customer_id, id)
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (flow, attention_at) WHERE attention_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS answers (
    shop TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    question TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, customer_id, message_id, question)
);
CREATE TABLE IF NOT EXISTS suppressions (
    shop TEXT NOT NULL,
    address_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    suppressed_at TEXT NOT NULL,
    PRIMARY KEY (shop, address_hash)
);
CREATE TABLE IF NOT EXISTS shop_configs (
    shop TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
-- listed and redacted by key prefix, as a range on the primary key (see `prefix_upper`)
CREATE TABLE IF NOT EXISTS documents (
    shop TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shop, key)
);
-- single-use OAuth `state` values (see `install.rs`)
CREATE TABLE IF NOT EXISTS oauth_nonces (
    shop TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (shop, nonce)
);
-- Admin API tokens, sealed with AES-256-GCM under the data dir's token.key (`sealed_tokens.rs`)
CREATE TABLE IF NOT EXISTS shop_tokens (
    shop TEXT PRIMARY KEY,
    sealed TEXT NOT NULL
);
"#;

/// A SQLite-backed [`aftersale_ports::Store`]. Cheap to clone; calls run on tokio's blocking
/// pool so the async server never stalls on disk.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) `aftersale.db` in `data_dir`.
    pub fn open_dir(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!("cannot create data dir {}: {e}", data_dir.display()))
        })?;
        Self::open(&data_dir.join("aftersale.db"))
    }

    /// Opens (creating if needed) the database at `path`, readable by its owner only: it
    /// holds customers' names, emails and addresses. SQLite gives its `-wal` and `-shm`
    /// files the database's own permissions.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        owner_only(path)?;
        let conn = Connection::open(path).map_err(StoreError::backend)?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(StoreError::backend)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // WAL lets `aftersale events` read while `serve` writes; the busy timeout covers
        // the moments two processes write at once.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(StoreError::backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(StoreError::backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(StoreError::backend)?;
        // Deleted rows are overwritten with zeros, not left in free pages: a redacted
        // customer's email must not be readable in the file's raw bytes afterwards.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(StoreError::backend)?;
        conn.execute_batch(SCHEMA).map_err(StoreError::backend)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Upserts the one JSON document a shop has in `table` (install state, configuration).
    async fn put_shop_document(
        &self,
        table: &'static str,
        shop: &ShopId,
        body: String,
    ) -> Result<(), StoreError> {
        let shop = shop.to_string();
        self.run(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO {table} (shop, body) VALUES (?1, ?2)
                     ON CONFLICT (shop) DO UPDATE SET body = excluded.body"
                ),
                params![shop, body],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

/// The JSON body of the one row a key lookup finds, if any.
fn read_one<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    what: &str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>, StoreError> {
    let body: Option<String> = conn
        .query_row(sql, params, |row| row.get(0))
        .optional()
        .map_err(db)?;
    body.map(|b| from_json(what, &b)).transpose()
}

fn db(err: rusqlite::Error) -> StoreError {
    StoreError::backend(err)
}

#[async_trait]
impl EventLog for SqliteStore {
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
                .execute(
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
                .query_row(
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
            conn.execute(
                "UPDATE events SET applied = 1 WHERE shop = ?1 AND event_id = ?2",
                params![shop, event_id],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn list_events(&self, shop: Option<&ShopId>) -> Result<Vec<StoredEvent>, StoreError> {
        let shop = shop.map(ToString::to_string);
        self.run(move |conn| {
            let mut stmt = conn
                .prepare(
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
                    received_at: DateTime::parse_from_rfc3339(&received_at)
                        .map_err(|e| StoreError::Corrupt {
                            what: "event time".into(),
                            detail: e.to_string(),
                        })?
                        .with_timezone(&Utc),
                    applied,
                });
            }
            Ok(events)
        })
        .await
    }
}

#[async_trait]
impl OrderRecords for SqliteStore {
    async fn load_order(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Versioned<OrderRecord>>, StoreError> {
        let (shop, order_id) = (shop.to_string(), order_id.to_string());
        self.run(move |conn| {
            let row: Option<(String, i64)> = conn
                .query_row(
                    "SELECT body, version FROM orders WHERE shop = ?1 AND order_id = ?2",
                    params![shop, order_id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            row.map(|(body, version)| {
                Ok(Versioned {
                    value: from_json("order", &body)?,
                    version: u64::try_from(version).unwrap_or(0),
                })
            })
            .transpose()
        })
        .await
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
                conn.execute(
                    "INSERT INTO orders (shop, order_id, customer_id, version, body) VALUES (?1, ?2, ?3, 1, ?4)
                     ON CONFLICT DO NOTHING",
                    params![shop, order_id, customer_id, body],
                )
            } else {
                conn.execute(
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

#[async_trait]
impl CustomerProfiles for SqliteStore {
    async fn load_customer(&self, shop: &ShopId, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        let (shop, id) = (shop.to_string(), id.to_string());
        self.run(move |conn| {
            read_one(
                conn,
                "customer",
                "SELECT body FROM customers WHERE shop = ?1 AND customer_id = ?2",
                params![shop, id],
            )
        })
        .await
    }

    async fn save_customer(&self, shop: &ShopId, customer: &Customer) -> Result<(), StoreError> {
        let body = to_json(customer)?;
        let (shop, id) = (shop.to_string(), customer.id.to_string());
        self.run(move |conn| {
            conn.execute(
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
            conn.execute(
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
                .prepare("SELECT body FROM dead_letters ORDER BY received_at, id")
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
            conn.execute(
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
                .execute("DELETE FROM dead_letters WHERE id = ?1", params![id])
                .map_err(db)?;
            Ok(removed > 0)
        })
        .await
    }
}

#[async_trait]
impl Privacy for SqliteStore {
    async fn redact_customer(
        &self,
        shop: &ShopId,
        customer: Option<&CustomerId>,
        orders: &[OrderId],
    ) -> Result<u64, StoreError> {
        let shop = shop.to_string();
        // Everything held on the customer as documents is under this prefix.
        let documents = customer.map(customer_prefix);
        let customer = customer.map(ToString::to_string);
        let mut order_ids: Vec<String> = orders.iter().map(ToString::to_string).collect();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            if let Some(customer) = &customer {
                let mut stmt = tx
                    .prepare("SELECT order_id FROM orders WHERE shop = ?1 AND customer_id = ?2")
                    .map_err(db)?;
                let theirs = stmt
                    .query_map(params![shop, customer], |row| row.get::<_, String>(0))
                    .map_err(db)?;
                for id in theirs {
                    order_ids.push(id.map_err(db)?);
                }
            }
            let mut removed = 0u64;
            for order_id in &order_ids {
                removed += tx
                    .execute(
                        "DELETE FROM orders WHERE shop = ?1 AND order_id = ?2",
                        params![shop, order_id],
                    )
                    .map_err(db)? as u64;
                removed += tx
                    .execute(
                        "DELETE FROM events WHERE shop = ?1 AND order_id = ?2",
                        params![shop, order_id],
                    )
                    .map_err(db)? as u64;
                // A referral record names the friend and keeps their IP: it goes with their order.
                removed += tx
                    .execute(
                        "DELETE FROM documents WHERE shop = ?1 AND key = ?2",
                        params![shop, format!("referral#{order_id}")],
                    )
                    .map_err(db)? as u64;
            }
            if let Some(customer) = &customer {
                removed += tx
                    .execute(
                        "DELETE FROM customers WHERE shop = ?1 AND customer_id = ?2",
                        params![shop, customer],
                    )
                    .map_err(db)? as u64;
                // Suppressions stay: they hold only a hash, and an unsubscribe must outlive the data.
                for table in ["events", "messages", "answers"] {
                    removed += tx
                        .execute(
                            &format!("DELETE FROM {table} WHERE shop = ?1 AND customer_id = ?2"),
                            params![shop, customer],
                        )
                        .map_err(db)? as u64;
                }
            }
            if let Some(prefix) = &documents {
                removed += delete_documents(&tx, &shop, prefix)?;
            }
            tx.commit().map_err(db)?;
            erase_old_pages(conn)?;
            Ok(removed)
        })
        .await
    }

    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError> {
        let shop = shop.to_string();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let mut removed = 0u64;
            for table in [
                "events",
                "orders",
                "customers",
                "shops",
                "messages",
                "answers",
                "suppressions",
                "shop_configs",
                "documents",
                "oauth_nonces",
                "shop_tokens",
                // Dead letters hold raw payloads, customer details included.
                "dead_letters",
            ] {
                removed += tx
                    .execute(&format!("DELETE FROM {table} WHERE shop = ?1"), params![shop])
                    .map_err(db)? as u64;
            }
            tx.commit().map_err(db)?;
            erase_old_pages(conn)?;
            Ok(removed)
        })
        .await
    }
}

/// Creates `path` with mode 0600 if it is missing, and takes group and other access away if
/// an older version created it 0644.
#[cfg(unix)]
fn owner_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
    let mode = file.metadata().map_err(StoreError::backend)?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::Backend(format!("cannot restrict {}: {e}", path.display())))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// After a redaction: copies the write-ahead log into the database and truncates it. With
/// WAL, the pages as they were before the delete still sit in `aftersale.db-wal` until a
/// checkpoint; `secure_delete` zeroes the freed space in the main file, and this removes the
/// old copies. A reader holding an old snapshot (a concurrent `aftersale events`) can keep the
/// checkpoint from finishing; SQLite then reports it busy and the next redaction, or the next
/// automatic checkpoint, completes it.
fn erase_old_pages(conn: &Connection) -> Result<(), StoreError> {
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .map_err(db)?;
    if busy != 0 {
        tracing::warn!(
            "redaction: the write-ahead log is in use; old pages are erased at the next checkpoint"
        );
    }
    Ok(())
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn read_messages(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Message>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db)?;
    let rows = stmt
        .query_map(params, |row| row.get::<_, String>(0))
        .map_err(db)?;
    rows.map(|r| from_json("message", &r.map_err(db)?)).collect()
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
        let flow = message.flow.as_str();
        let attention = attention_at(&stored).map(millis);
        let due = millis(message.due_at);
        self.run(move |conn| {
            let inserted = conn
                .execute(
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
        self.run(move |conn| {
            let mut found = read_messages(
                conn,
                "SELECT body FROM messages WHERE shop = ?1 AND customer_id = ?2 AND id = ?3",
                params![shop, customer, id],
            )?;
            Ok(found.pop())
        })
        .await
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
                .execute(
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
                .prepare(
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
            conn.execute(
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
        self.run(move |conn| {
            read_messages(
                conn,
                "SELECT body FROM messages WHERE shop = ?1 AND customer_id = ?2 ORDER BY due_at, id",
                params![shop, customer],
            )
        })
        .await
    }

    async fn list_messages(&self, shop: Option<&ShopId>) -> Result<Vec<Message>, StoreError> {
        let shop = shop.map(ToString::to_string);
        self.run(move |conn| {
            read_messages(
                conn,
                "SELECT body FROM messages WHERE ?1 IS NULL OR shop = ?1 ORDER BY due_at, shop, customer_id, id",
                params![shop],
            )
        })
        .await
    }
}

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
            conn.execute(
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
        self.run(move |conn| {
            let mut stmt = conn
                .prepare("SELECT body FROM answers WHERE shop = ?1 AND customer_id = ?2 ORDER BY answered_at")
                .map_err(db)?;
            let rows = stmt
                .query_map(params![shop, customer], |row| row.get::<_, String>(0))
                .map_err(db)?;
            rows.map(|r| from_json("answer", &r.map_err(db)?)).collect()
        })
        .await
    }
}

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
            conn.execute(
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
        self.run(move |conn| {
            read_one(
                conn,
                "suppression",
                "SELECT reason FROM suppressions WHERE shop = ?1 AND address_hash = ?2",
                params![shop, hash],
            )
        })
        .await
    }
}

#[async_trait]
impl ShopConfigs for SqliteStore {
    async fn load_config(&self, shop: &ShopId) -> Result<Option<ShopConfig>, StoreError> {
        let shop = shop.to_string();
        self.run(move |conn| {
            read_one(
                conn,
                "shop config",
                "SELECT body FROM shop_configs WHERE shop = ?1",
                params![shop],
            )
        })
        .await
    }

    async fn save_config(&self, shop: &ShopId, config: &ShopConfig) -> Result<(), StoreError> {
        self.put_shop_document("shop_configs", shop, to_json(config)?)
            .await
    }
}

/// The least string above every string that starts with `prefix`, so the documents under a
/// prefix are the range `key >= prefix AND key < upper` of the primary key: an index search,
/// and no LIKE, so `%` and `_` in keys are plain characters. `None` when there is no such
/// bound (an empty prefix, or one of only `char::MAX`): everything from `prefix` on matches.
fn prefix_upper(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // SQLite compares TEXT bytewise (BINARY), and UTF-8 byte order is code point order.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Deletes the shop's documents under `prefix`; returns how many.
fn delete_documents(conn: &Connection, shop: &str, prefix: &str) -> Result<u64, StoreError> {
    let removed = match prefix_upper(prefix) {
        Some(upper) => conn.execute(
            "DELETE FROM documents WHERE shop = ?1 AND key >= ?2 AND key < ?3",
            params![shop, prefix, upper],
        ),
        None => conn.execute(
            "DELETE FROM documents WHERE shop = ?1 AND key >= ?2",
            params![shop, prefix],
        ),
    }
    .map_err(db)?;
    Ok(removed as u64)
}

fn document_row(key: &str, body: &str, version: i64) -> Result<Versioned<serde_json::Value>, StoreError> {
    Ok(Versioned {
        value: from_json(&format!("document {key}"), body)?,
        version: u64::try_from(version).unwrap_or(0),
    })
}

#[async_trait]
impl Documents for SqliteStore {
    async fn load_document(
        &self,
        shop: &ShopId,
        key: &str,
    ) -> Result<Option<Versioned<serde_json::Value>>, StoreError> {
        let (shop, key) = (shop.to_string(), key.to_string());
        self.run(move |conn| {
            let row: Option<(String, i64)> = conn
                .query_row(
                    "SELECT body, version FROM documents WHERE shop = ?1 AND key = ?2",
                    params![shop, key],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            row.map(|(body, version)| document_row(&key, &body, version))
                .transpose()
        })
        .await
    }

    async fn save_document(
        &self,
        shop: &ShopId,
        key: &str,
        value: &serde_json::Value,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let body = to_json(value)?;
        let (shop, key) = (shop.to_string(), key.to_string());
        let expected_version = i64::try_from(expected_version).map_err(|_| StoreError::Conflict {
            what: format!("document {key} version"),
        })?;
        self.run(move |conn| {
            let changed = if expected_version == 0 {
                conn.execute(
                    "INSERT INTO documents (shop, key, version, body) VALUES (?1, ?2, 1, ?3)
                     ON CONFLICT DO NOTHING",
                    params![shop, key, body],
                )
            } else {
                conn.execute(
                    "UPDATE documents SET version = version + 1, body = ?3
                     WHERE shop = ?1 AND key = ?2 AND version = ?4",
                    params![shop, key, body, expected_version],
                )
            }
            .map_err(db)?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict {
                    what: format!("document {key}"),
                })
            }
        })
        .await
    }

    async fn list_documents(
        &self,
        shop: &ShopId,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned<serde_json::Value>)>, StoreError> {
        let (shop, prefix) = (shop.to_string(), prefix.to_string());
        self.run(move |conn| {
            let upper = prefix_upper(&prefix);
            let mut stmt = conn
                .prepare(if upper.is_some() {
                    "SELECT key, body, version FROM documents WHERE shop = ?1 AND key >= ?2 AND key < ?3
                     ORDER BY key"
                } else {
                    "SELECT key, body, version FROM documents WHERE shop = ?1 AND key >= ?2 ORDER BY key"
                })
                .map_err(db)?;
            let read = |row: &rusqlite::Row<'_>| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            };
            let rows = match &upper {
                Some(upper) => stmt.query_map(params![shop, prefix, upper], read),
                None => stmt.query_map(params![shop, prefix], read),
            }
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
            rows.into_iter()
                .map(|(key, body, version)| {
                    let doc = document_row(&key, &body, version)?;
                    Ok((key, doc))
                })
                .collect()
        })
        .await
    }

    async fn delete_document(&self, shop: &ShopId, key: &str) -> Result<bool, StoreError> {
        let (shop, key) = (shop.to_string(), key.to_string());
        self.run(move |conn| {
            let removed = conn
                .execute(
                    "DELETE FROM documents WHERE shop = ?1 AND key = ?2",
                    params![shop, key],
                )
                .map_err(db)?;
            Ok(removed == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_upper;

    #[test]
    fn prefix_upper_bounds_exactly_the_keys_with_the_prefix() {
        assert_eq!(prefix_upper("customer#c1#").as_deref(), Some("customer#c1$"));
        assert_eq!(prefix_upper("a%_").as_deref(), Some("a%`"));
        assert_eq!(prefix_upper(""), None);
        assert_eq!(prefix_upper(&char::MAX.to_string()), None);
        assert_eq!(prefix_upper(&format!("a{}", char::MAX)).as_deref(), Some("b"));
        // The surrogate gap is skipped: U+D7FF is followed by U+E000.
        assert_eq!(prefix_upper("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let upper = prefix_upper("customer#c1#").unwrap();
        let range = "customer#c1#"..upper.as_str();
        for key in ["customer#c1#", "customer#c1#tier", "customer#c1#\u{10FFFF}x"] {
            assert!(range.contains(&key), "{key}");
        }
        for key in ["customer#c1", "customer#c10#orders", "customer#c2#tier"] {
            assert!(!range.contains(&key), "{key}");
        }
    }
}
