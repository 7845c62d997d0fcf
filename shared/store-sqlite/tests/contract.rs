//! The SQLite store keeps the same contract as the in-memory and DynamoDB stores, on a real
//! database file (WAL mode and all), not only in memory.

use aftersale_store_contract::{Subject, messages, store_contract};
use aftersale_store_sqlite::SqliteStore;

fn on_disk() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("a temporary data dir");
    let store = SqliteStore::open_dir(dir.path()).expect("opening the store");
    (dir, store)
}

fn on_disk_subject() -> Subject<SqliteStore> {
    let (dir, store) = on_disk();
    Subject::new(store).keeping(dir)
}

store_contract!(sqlite_on_disk, on_disk_subject());
store_contract!(sqlite_in_memory, Subject::new(SqliteStore::in_memory().unwrap()));

#[tokio::test]
async fn sqlite_store_keeps_the_metrics_rollups_equal_to_a_rebuild() {
    let (_dir, store) = on_disk();
    aftersale_metrics::contract::live_equals_rebuild(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_folds_concurrently_to_the_figures_of_a_serial_replay() {
    let (_dir, store) = on_disk();
    aftersale_metrics::contract::concurrent_folds_equal_a_serial_replay(&store).await;
}

/// The database holds customers' names and addresses: only its owner may read it, the WAL
/// beside it included, and a file an older version made 0644 is restricted.
#[cfg(unix)]
#[tokio::test]
async fn the_database_is_readable_by_its_owner_only() {
    use aftersale_ports::CustomerProfiles;
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let (dir, store) = on_disk();
    let shop = aftersale_domain::ShopId::new("demo.myshopify.com").unwrap();
    let customer = aftersale_domain::Customer::bare(aftersale_domain::CustomerId::new("7").unwrap());
    store.save_customer(&shop, &customer).await.unwrap();
    let db = dir.path().join("aftersale.db");
    assert_eq!(mode(&db), 0o600);
    let wal = dir.path().join("aftersale.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600);

    let older = tempfile::tempdir().unwrap();
    let path = older.path().join("aftersale.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    SqliteStore::open_dir(older.path()).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn an_unreadable_message_on_sqlite_is_named_and_quarantined() {
    let (dir, store) = on_disk();
    let path = dir.path().join("aftersale.db");
    messages::unreadable_messages_are_named_and_quarantined(&store, |message| async move {
        // What an older binary meets after a newer one wrote a message it cannot read.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let changed = conn
            .execute(
                "UPDATE messages SET body = '{\"flow\": \"from-the-future\"}' WHERE shop = ?1 AND customer_id = ?2 AND id = ?3",
                rusqlite::params![message.shop.as_str(), message.customer_id.as_str(), message.id().as_str()],
            )
            .unwrap();
        assert_eq!(changed, 1);
    })
    .await;
}
