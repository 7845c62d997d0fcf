//! The embedded store: one SQLite file under the data dir, local mode's default.
//!
//! Tables mirror the DynamoDB access patterns (every primary key starts with the shop), so
//! what works locally works in production. Values are the domain's JSON; the columns beside
//! them exist only to be looked up by.

use aftersale_domain::ShopId;
use aftersale_ports::StoreError;
use aftersale_ports::event_transaction;
use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

// One file per entity, like `shared/aws/src/dynamodb/`; `schema` holds every table.
mod answers;
mod customers;
mod dead_letters;
mod documents;
mod events;
mod install;
pub mod key_file;
mod messages;
mod orders;
mod privacy;
mod schema;
mod sealed_tokens;
mod shop_configs;
mod suppressions;

pub use key_file::{KeyFileError, SEALING_KEY_FILE, load_or_create_key};
pub use sealed_tokens::{SealedTokens, SealedTokensError};

/// A SQLite-backed [`aftersale_ports::Store`]. Cheap to clone; a call waits for the one
/// connection without blocking its thread, then runs where it was made
/// ([`SqliteStore::run`]).
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Writer>>,
    /// Held by the task whose event transaction is open ([`event_transaction`]): another
    /// task's call waits for it here, without holding up its thread.
    event_lock: Arc<tokio::sync::Mutex<()>>,
    /// Where the open event transaction keeps its hold of `event_lock` until it ends.
    event_hold: Arc<Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>>,
    /// Set while a [`SqliteStore::run_on_pool`] call holds the connection.
    long_call: Arc<AtomicBool>,
    /// Connections that only read, beside the one that writes: in WAL mode they read while
    /// it writes and while each other read. None for an in-memory database, where another
    /// connection would open another database.
    readers: Arc<[Mutex<Connection>]>,
    /// Which reader a read waits for when every reader is busy.
    next_reader: Arc<AtomicUsize>,
    /// Orders as last decoded, kept by version.
    orders: Arc<orders::DecodedOrders>,
}

/// The writing connection, and the event transaction open on it, if any.
struct Writer {
    conn: Connection,
    open: Option<u64>,
}

/// Event transaction ids, unique in the process, so a task inside one store's transaction is
/// never taken for the owner of another's.
static NEXT_EVENT_TRANSACTION: AtomicU64 = AtomicU64::new(1);

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
        let mut store = Self::init(conn)?;
        let readers = (0..READERS)
            .map(|_| Self::open_reader(path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        store.readers = readers.into();
        Ok(store)
    }

    /// A connection for [`SqliteStore::read`], opened after the writer made the schema.
    /// `query_only` makes any write through it an error rather than a second writer.
    fn open_reader(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(StoreError::backend)?;
        conn.pragma_update(None, "query_only", "ON")
            .map_err(StoreError::backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(StoreError::backend)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(StoreError::backend)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
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
        conn.execute_batch(schema::SCHEMA).map_err(StoreError::backend)?;
        // One plan per statement, whatever is bound to it. Without this SQLite marks a
        // statement whose plan a bound value could change (a range over `documents.key`, a
        // table with a partial index) to be compiled again on every new binding, and the
        // cached statements below were recompiled on almost every call: 8% of `serve`'s CPU.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(StoreError::backend)?;
        // Every statement the store runs is compiled once per connection and kept: parsing
        // and planning SQL cost more than running most of these lookups.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self {
            conn: Arc::new(Mutex::new(Writer { conn, open: None })),
            event_lock: Arc::default(),
            event_hold: Arc::default(),
            long_call: Arc::default(),
            readers: Arc::new([]),
            next_reader: Arc::default(),
            orders: Arc::default(),
        })
    }

    /// Upserts the one JSON document a shop has in `table` (install state, configuration).
    pub(crate) async fn put_shop_document(
        &self,
        table: &'static str,
        shop: &ShopId,
        body: String,
    ) -> Result<(), StoreError> {
        let shop = shop.to_string();
        self.run(move |conn| {
            conn.execute_cached(
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

    /// Runs `work` on the store's connection, right here on the async worker. Decoding
    /// what it read is left to the caller, so the connection is held only for the SQL.
    ///
    /// A busy connection is waited for on this thread, unless a long call holds it: an
    /// order event makes about 60 store calls (its history is read by several folds and
    /// flows), each a point lookup or a small write of a few microseconds, and any other way
    /// of waiting costs more than the SQL. Handing a busy call to the blocking pool (as this
    /// did before) cost two thread switches a call: under `aftersale load` at concurrency 8,
    /// the pool's threads and the kernel switching between them were a third of `serve`'s
    /// CPU. An async mutex was slower still, each release waking the next waiter's worker
    /// (README, "Ingest under load"). A call that can take long (a shop's erasure, a listing
    /// of every message) runs on the pool ([`Self::run_on_pool`]), and while it does, a
    /// call waits for it there too, so no worker is held up by it.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if self.long_call.load(Ordering::Acquire) {
            return self.on_pool(work).await;
        }
        {
            let mut writer = self.writer();
            if writer.open.is_none() || writer.open == event_transaction::current() {
                return work(&mut writer.conn);
            }
        }
        // Another task's event holds the connection in its transaction: this call waits for
        // it to end and then runs on its own, never inside it.
        let _ended = self.event_lock.lock().await;
        work(&mut self.writer().conn)
    }

    /// Opens an event transaction on the writer ([`event_transaction`]) once no other is open.
    pub(crate) async fn begin_event_transaction(&self) -> Result<u64, StoreError> {
        let hold = Arc::clone(&self.event_lock).lock_owned().await;
        let id = NEXT_EVENT_TRANSACTION.fetch_add(1, Ordering::Relaxed);
        {
            // No pool call runs now: outside an event transaction they hold the event lock.
            let mut writer = self.writer();
            writer.conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
            writer.open = Some(id);
        }
        *self.event_hold.lock().unwrap_or_else(|p| p.into_inner()) = Some(hold);
        Ok(id)
    }

    /// Commits event transaction `id` and lets the calls waiting for it run. A commit that
    /// fails, or a transaction SQLite already rolled back (a full disk, an I/O error), leaves
    /// none of the event's writes; the decoded orders kept from them are dropped with them.
    pub(crate) fn end_event_transaction(&self, id: u64) -> Result<(), StoreError> {
        let committed = {
            let mut writer = self.writer();
            if writer.open != Some(id) {
                return Err(StoreError::Backend(format!("event transaction {id} is not open")));
            }
            writer.open = None;
            let committed = if writer.conn.is_autocommit() {
                Err(StoreError::Backend(
                    "the event's transaction was rolled back by SQLite".into(),
                ))
            } else {
                writer.conn.execute_batch("COMMIT").map_err(db)
            };
            if committed.is_err() && !writer.conn.is_autocommit() {
                let _ = writer.conn.execute_batch("ROLLBACK");
            }
            committed
        };
        if committed.is_err() {
            self.orders.clear();
        }
        self.event_hold.lock().unwrap_or_else(|p| p.into_inner()).take();
        committed
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the running task owns this store's open event transaction.
    fn owns_event_transaction(&self) -> bool {
        event_transaction::current().is_some_and(|id| self.writer().open == Some(id))
    }

    /// Runs `work`, which only reads with one statement, on a free reader connection (any
    /// reader if all are busy, the writer's if there are none). An autocommit read sees every
    /// write committed before it began, so a caller reads what it has just written. One
    /// statement, because two in a row could each see a different commit.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        // Inside its event transaction a task reads on the writer, to see what it has written.
        if self.readers.is_empty() || self.owns_event_transaction() {
            return self.run(work).await;
        }
        for reader in self.readers.iter() {
            if let Ok(mut conn) = reader.try_lock() {
                return work(&mut conn);
            }
        }
        let pick = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let mut conn = self.readers[pick].lock().unwrap_or_else(|p| p.into_inner());
        work(&mut conn)
    }

    /// Runs `work` on the store's connection on tokio's blocking pool, always: for calls
    /// whose SQL can take long enough to stall an async worker.
    pub(crate) async fn run_on_pool<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let long_call = Arc::clone(&self.long_call);
        self.on_pool(move |conn| {
            long_call.store(true, Ordering::Release);
            let result = work(conn);
            long_call.store(false, Ordering::Release);
            result
        })
        .await
    }

    async fn on_pool<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        // A pool thread cannot wait for another task's event transaction: outside its own,
        // the call holds the event lock, so none opens while it runs.
        let outside = if self.owns_event_transaction() {
            None
        } else {
            Some(Arc::clone(&self.event_lock).lock_owned().await)
        };
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let _outside = outside;
            let mut writer = conn.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut writer.conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

/// Reader connections of a database file: one per core of the 2-core machines it is measured
/// on, so both async workers can read while the writer writes.
const READERS: usize = 2;

/// Statements kept compiled per connection: every fixed statement of the store fits.
const STATEMENT_CACHE: usize = 256;

/// `execute` and `query_row` with the statement taken from the connection's cache.
pub(crate) trait Cached {
    fn execute_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn query_row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn execute_cached(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, row)
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

/// The JSON body of the one row a key lookup finds, if any, still encoded: decoding is left
/// to the caller ([`decode_one`]), off the store's one thread.
pub(crate) fn read_one(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<String>, StoreError> {
    conn.query_row_cached(sql, params, |row| row.get(0))
        .optional()
        .map_err(db)
}

/// Decodes what [`read_one`] found.
pub(crate) fn decode_one<T: serde::de::DeserializeOwned>(
    what: &str,
    body: Option<String>,
) -> Result<Option<T>, StoreError> {
    body.map(|b| from_json(what, &b)).transpose()
}

/// The version of a new document or order: [`aftersale_ports::documents::next_version`], as
/// SQLite's integer. Never one a deleted row had, so the caches kept by version stay right.
pub(crate) fn first_version() -> Result<i64, StoreError> {
    i64::try_from(aftersale_ports::documents::next_version(0)).map_err(|_| StoreError::Corrupt {
        what: "version".into(),
        detail: "the clock is past what a version can hold".into(),
    })
}

pub(crate) fn db(err: rusqlite::Error) -> StoreError {
    StoreError::backend(err)
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

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// The store's reads run from the statement cache with a new binding on every call; each
    /// must keep its one compiled plan instead of being compiled again for the new values.
    #[test]
    fn cached_statements_keep_their_plan_whatever_is_bound() {
        let store = SqliteStore::in_memory().unwrap();
        let writer = store.conn.lock().unwrap();
        let conn = &writer.conn;
        let reads = [
            // A key range: a bound value could steer the plan.
            "SELECT key, version FROM documents WHERE shop = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
            // `messages` has a partial index, which bound values could prove usable.
            "SELECT body FROM messages WHERE shop = ?1 AND customer_id = ?2 AND ?3 = ?3 ORDER BY due_at, id",
        ];
        for sql in reads {
            for i in 0..10 {
                let mut stmt = conn.prepare_cached(sql).unwrap();
                let (a, b, c) = (
                    format!("shop-{i}"),
                    format!("customer#{i}#"),
                    format!("customer#{i}$"),
                );
                stmt.query(params![a, b, c]).unwrap().next().unwrap();
                assert_eq!(
                    stmt.get_status(StatementStatus::RePrepare),
                    0,
                    "{sql} was compiled again"
                );
            }
        }
    }

    /// A call made while a long one holds the connection waits for it on the blocking pool,
    /// not on its async worker: the worker keeps serving other tasks meanwhile (here, on a
    /// one-thread runtime, a ticker that would stop for the whole long call otherwise).
    #[tokio::test(flavor = "current_thread")]
    async fn a_call_behind_a_long_one_leaves_the_worker_free() {
        let store = SqliteStore::in_memory().unwrap();
        let (holding, held) = std::sync::mpsc::channel();
        let long = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .run_on_pool(move |_| {
                        holding.send(()).unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        Ok(())
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || held.recv().unwrap())
            .await
            .unwrap();
        let short = tokio::spawn({
            let store = store.clone();
            async move { store.run(|_| Ok(())).await }
        });
        let mut ticks = 0;
        while !short.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            ticks += 1;
        }
        assert!(
            ticks >= 5,
            "the worker stopped while the long call ran: {ticks} ticks"
        );
        long.await.unwrap().unwrap();
        short.await.unwrap().unwrap();
    }

    /// A database file gets its reader connections; they see what the writer has just
    /// committed, and cannot write themselves.
    #[tokio::test]
    async fn readers_see_each_write_at_once_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        assert_eq!(store.readers.len(), READERS);
        for i in 0..20 {
            store
                .run(move |conn| {
                    conn.execute(
                        "INSERT INTO shops (shop, body) VALUES (?1, '{}')",
                        params![format!("s{i}")],
                    )
                    .map_err(db)
                })
                .await
                .unwrap();
            let seen: i64 = store
                .read(|conn| {
                    conn.query_row("SELECT count(*) FROM shops", [], |row| row.get(0))
                        .map_err(db)
                })
                .await
                .unwrap();
            assert_eq!(seen, i + 1);
        }
        let err = store
            .read(|conn| conn.execute("DELETE FROM shops", []).map_err(db))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }

    /// Plan stability must not cost the due index: the due query names its condition itself.
    #[test]
    fn the_due_query_reads_the_due_index() {
        let store = SqliteStore::in_memory().unwrap();
        let writer = store.conn.lock().unwrap();
        let conn = &writer.conn;
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT shop, customer_id, id, body FROM messages
                 WHERE flow = ?1 AND attention_at IS NOT NULL AND attention_at <= ?2
                 ORDER BY attention_at, shop, customer_id, id LIMIT ?3",
            )
            .unwrap()
            .query_map(params!["thank_you", 0, 10], |row| row.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(plan.iter().any(|step| step.contains("messages_due")), "{plan:?}");
    }

    fn count_shops(conn: &mut Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT count(*) FROM shops", [], |row| row.get(0))
            .map_err(db)
    }

    fn add_shop(name: &'static str) -> impl FnOnce(&mut Connection) -> Result<usize, StoreError> {
        move |conn| {
            conn.execute("INSERT INTO shops (shop, body) VALUES (?1, '{}')", params![name])
                .map_err(db)
        }
    }

    /// Inside its event transaction a task reads what it wrote; every other task (and the
    /// readers) sees it only once the transaction commits.
    #[tokio::test]
    async fn an_event_transaction_is_seen_by_its_own_task_until_it_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let id = store.begin_event_transaction().await.unwrap();
        event_transaction::within(id, async {
            store.run(add_shop("inside")).await.unwrap();
            assert_eq!(
                store.read(count_shops).await.unwrap(),
                1,
                "its own write, read back"
            );
        })
        .await;
        let outside = tokio::spawn({
            let store = store.clone();
            async move { store.read(count_shops).await }
        });
        assert_eq!(
            outside.await.unwrap().unwrap(),
            0,
            "another task sees only what is committed"
        );
        store.end_event_transaction(id).unwrap();
        assert_eq!(store.read(count_shops).await.unwrap(), 1);
        assert!(
            store.end_event_transaction(id).is_err(),
            "an ended transaction cannot end again"
        );
    }

    /// Another task's write waits for the open event transaction without holding up the one
    /// thread the owner also runs on, then commits on its own; a long call of another task
    /// waits the same way, on the pool.
    #[tokio::test(flavor = "current_thread")]
    async fn another_tasks_write_waits_for_the_event_transaction_and_stands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let id = store.begin_event_transaction().await.unwrap();
        let write = tokio::spawn({
            let store = store.clone();
            async move { store.run(add_shop("other")).await }
        });
        let long = tokio::spawn({
            let store = store.clone();
            async move { store.run_on_pool(add_shop("long")).await }
        });
        event_transaction::within(id, async {
            store.run(add_shop("owner")).await.unwrap();
            for _ in 0..5 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                store.read(count_shops).await.unwrap();
            }
            assert!(
                !write.is_finished() && !long.is_finished(),
                "they wait for the transaction"
            );
            assert_eq!(
                store.read(count_shops).await.unwrap(),
                1,
                "only the owner's write is in it"
            );
        })
        .await;
        let pending = event_transaction::within(id, store.run(|conn| Ok(conn.is_autocommit())));
        assert!(!pending.await.unwrap(), "the transaction is open until it ends");
        store.end_event_transaction(id).unwrap();
        assert_eq!(write.await.unwrap().unwrap(), 1);
        assert_eq!(long.await.unwrap().unwrap(), 1);
        assert_eq!(store.read(count_shops).await.unwrap(), 3);
        assert!(store.run(|conn| Ok(conn.is_autocommit())).await.unwrap());
    }
}
