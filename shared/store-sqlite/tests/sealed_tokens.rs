//! Shops' Admin API tokens in the embedded store: sealed at rest under a 0600 key file.

use aftersale_domain::ShopId;
use aftersale_ports::{ShopToken, ShopTokens};
use aftersale_store_sqlite::{SealedTokens, SqliteStore};
use std::os::unix::fs::PermissionsExt;

fn token(access: &str, refresh: &str) -> ShopToken {
    ShopToken {
        access_token: access.into(),
        scopes: vec!["read_orders".into()],
        expires_at: Some("2026-12-01T11:00:00Z".parse().unwrap()),
        refresh_token: Some(refresh.into()),
        refresh_token_expires_at: None,
    }
}

fn shop(name: &str) -> ShopId {
    ShopId::new(name).unwrap()
}

/// Every byte under the data dir (database, WAL, key file aside), as lossy text.
fn stored_bytes(dir: &std::path::Path) -> String {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "token.key" {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn a_token_reads_back_but_is_nowhere_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let tokens = SealedTokens::open(store, dir.path()).unwrap();
    let demo = shop("demo.myshopify.com");
    let saved = token("shpat_plaintext_access_0123", "shprt_plaintext_refresh_4567");
    tokens.save_token(&demo, &saved).await.unwrap();
    assert_eq!(tokens.load_token(&demo).await.unwrap(), Some(saved));

    let bytes = stored_bytes(dir.path());
    assert!(!bytes.contains("shpat_plaintext_access_0123"));
    assert!(!bytes.contains("shprt_plaintext_refresh_4567"));

    let mode = std::fs::metadata(dir.path().join("token.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the key file is private to its owner");

    tokens.delete_token(&demo).await.unwrap();
    assert_eq!(tokens.load_token(&demo).await.unwrap(), None);
    tokens.delete_token(&demo).await.unwrap();
}

#[tokio::test]
async fn the_same_key_file_opens_tokens_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let demo = shop("demo.myshopify.com");
    let saved = token("a1", "r1");
    {
        let tokens = SealedTokens::open(SqliteStore::open_dir(dir.path()).unwrap(), dir.path()).unwrap();
        tokens.save_token(&demo, &saved).await.unwrap();
    }
    let again = SealedTokens::open(SqliteStore::open_dir(dir.path()).unwrap(), dir.path()).unwrap();
    assert_eq!(again.load_token(&demo).await.unwrap(), Some(saved));
}

#[tokio::test]
async fn a_replaced_key_or_a_row_moved_to_another_shop_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let tokens = SealedTokens::open(store.clone(), dir.path()).unwrap();
    let demo = shop("demo.myshopify.com");
    tokens.save_token(&demo, &token("a1", "r1")).await.unwrap();

    // The sealed row copied under another shop's id: the shop is bound in as associated data.
    let db = rusqlite::Connection::open(dir.path().join("aftersale.db")).unwrap();
    db.execute(
        "INSERT INTO shop_tokens (shop, sealed) SELECT 'other.myshopify.com', sealed FROM shop_tokens",
        [],
    )
    .unwrap();
    let err = tokens.load_token(&shop("other.myshopify.com")).await.unwrap_err();
    assert!(err.to_string().contains("token.key"), "{err}");

    std::fs::remove_file(dir.path().join("token.key")).unwrap();
    let fresh_key = SealedTokens::open(store, dir.path()).unwrap();
    let err = fresh_key.load_token(&demo).await.unwrap_err();
    assert!(err.to_string().contains("was the key replaced?"), "{err}");
}

#[test]
fn a_key_file_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    drop(SealedTokens::open(store.clone(), dir.path()).unwrap());
    let key = dir.path().join("token.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = SealedTokens::open(store.clone(), dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("readable by other users (mode 644)"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");

    std::fs::write(&key, "not hex").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = SealedTokens::open(store, dir.path()).err().unwrap().to_string();
    assert!(err.contains("does not hold a 32-byte hex key"), "{err}");
}
