//! The SQLite store keeps the same contract as the in-memory and DynamoDB stores, on a real
//! database file (WAL mode and all), not only in memory.

use aftersale_ports::contract;
use aftersale_store_sqlite::SqliteStore;

fn on_disk() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("a temporary data dir");
    let store = SqliteStore::open_dir(dir.path()).expect("opening the store");
    (dir, store)
}

#[tokio::test]
async fn sqlite_store_keeps_the_store_contract() {
    let (_dir, store) = on_disk();
    contract::all(&store).await;
}

#[tokio::test]
async fn in_memory_sqlite_store_keeps_the_store_contract() {
    contract::all(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn sqlite_store_keeps_the_flow_store_contract() {
    let (_dir, store) = on_disk();
    contract::flows_all(&store).await;
}
