//! Shops' Admin API tokens in the embedded store: sealed at rest under the data dir's one
//! 0600 key file, `sealing.key`; a data dir from before it (tokens under their own
//! `token.key`) is re-sealed on open.

use aftersale_domain::Secret;
use aftersale_domain::ShopId;
use aftersale_ports::{ShopToken, ShopTokens};
use aftersale_store_sqlite::{SEALING_KEY_FILE, SealedTokens, SqliteStore, load_or_create_key};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn token(access: &str, refresh: &str) -> ShopToken {
    ShopToken {
        access_token: Secret::new(access).unwrap(),
        scopes: vec!["read_orders".into()],
        expires_at: Some("2026-12-01T11:00:00Z".parse().unwrap()),
        refresh_token: Secret::new(refresh),
        refresh_token_expires_at: None,
    }
}

fn shop(name: &str) -> ShopId {
    ShopId::new(name).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The data dir's sealing key, created as `serve` creates it.
fn sealing_key(dir: &Path) -> [u8; 32] {
    load_or_create_key(&dir.join(SEALING_KEY_FILE)).unwrap()
}

async fn open(dir: &Path) -> SealedTokens {
    let key = sealing_key(dir);
    SealedTokens::open(SqliteStore::open_dir(dir).unwrap(), dir, &key)
        .await
        .unwrap()
}

/// Every byte under the data dir (database, WAL, key file aside), as lossy text.
fn stored_bytes(dir: &Path) -> String {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != SEALING_KEY_FILE {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn a_token_reads_back_but_is_nowhere_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = open(dir.path()).await;
    let demo = shop("demo.myshopify.com");
    let saved = token("shpat_plaintext_access_0123", "shprt_plaintext_refresh_4567");
    tokens.save_token(&demo, &saved).await.unwrap();
    assert_eq!(tokens.load_token(&demo).await.unwrap(), Some(saved));

    let bytes = stored_bytes(dir.path());
    assert!(!bytes.contains("shpat_plaintext_access_0123"));
    assert!(!bytes.contains("shprt_plaintext_refresh_4567"));
    assert_eq!(
        mode(&dir.path().join(SEALING_KEY_FILE)),
        0o600,
        "the key file is private to its owner"
    );
    assert!(
        !dir.path().join("token.key").exists(),
        "one key file per data dir"
    );

    tokens.delete_token(&demo).await.unwrap();
    assert_eq!(tokens.load_token(&demo).await.unwrap(), None);
    tokens.delete_token(&demo).await.unwrap();
}

#[tokio::test]
async fn the_same_key_file_opens_tokens_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let demo = shop("demo.myshopify.com");
    let saved = token("a1", "r1");
    open(dir.path()).await.save_token(&demo, &saved).await.unwrap();
    let again = open(dir.path()).await;
    assert_eq!(again.load_token(&demo).await.unwrap(), Some(saved));
}

#[tokio::test]
async fn a_replaced_key_or_a_row_moved_to_another_shop_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = open(dir.path()).await;
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
    assert!(err.to_string().contains("sealing.key"), "{err}");

    std::fs::remove_file(dir.path().join(SEALING_KEY_FILE)).unwrap();
    let fresh_key = open(dir.path()).await;
    let err = fresh_key.load_token(&demo).await.unwrap_err();
    assert!(err.to_string().contains("was the key replaced?"), "{err}");
}

#[test]
fn a_key_file_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join(SEALING_KEY_FILE);
    load_or_create_key(&key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_or_create_key(&key).unwrap_err().to_string();
    assert!(err.contains("readable by other users (mode 644)"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");

    std::fs::write(&key, "not hex").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = load_or_create_key(&key).unwrap_err().to_string();
    assert!(err.contains("does not hold a 32-byte hex key"), "{err}");
}

/// The layout before one key: tokens sealed under `token.key` (0600, beside the database),
/// the WooCommerce secrets under `sealing.key`. Returns the old key.
async fn old_two_key_layout(dir: &Path, saved: &[(&ShopId, &ShopToken)]) -> [u8; 32] {
    let old_key = [0x5a; 32];
    // The old code sealed exactly as the new one does (v1, AES-256-GCM, shop as associated
    // data), only under the other key: seal through a store that knows no other key.
    let scratch = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir).unwrap();
    let old = SealedTokens::open(store, scratch.path(), &old_key).await.unwrap();
    for (shop, token) in saved {
        old.save_token(shop, token).await.unwrap();
    }
    let legacy = dir.join("token.key");
    std::fs::write(&legacy, hex::encode(old_key)).unwrap();
    std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o600)).unwrap();
    sealing_key(dir);
    old_key
}

#[tokio::test]
async fn a_store_with_the_old_two_key_layout_opens_reseals_and_its_tokens_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let (demo, other) = (shop("demo.myshopify.com"), shop("other.myshopify.com"));
    let (a, b) = (token("shpat_a", "shprt_a"), token("shpat_b", "shprt_b"));
    let old_key = old_two_key_layout(dir.path(), &[(&demo, &a), (&other, &b)]).await;

    let tokens = open(dir.path()).await;
    assert_eq!(tokens.load_token(&demo).await.unwrap(), Some(a.clone()));
    assert_eq!(tokens.load_token(&other).await.unwrap(), Some(b.clone()));
    assert!(
        !dir.path().join("token.key").exists(),
        "the old key is removed once its tokens are re-sealed"
    );
    assert_eq!(mode(&dir.path().join(SEALING_KEY_FILE)), 0o600);

    // Re-sealed for real: the old key no longer opens them, and a restart still reads them.
    let scratch = tempfile::tempdir().unwrap();
    let under_old = SealedTokens::open(
        SqliteStore::open_dir(dir.path()).unwrap(),
        scratch.path(),
        &old_key,
    )
    .await
    .unwrap();
    assert!(under_old.load_token(&demo).await.is_err());
    assert_eq!(open(dir.path()).await.load_token(&other).await.unwrap(), Some(b));
}

#[tokio::test]
async fn a_reseal_interrupted_before_the_old_key_was_removed_finishes_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let demo = shop("demo.myshopify.com");
    let a = token("shpat_a", "shprt_a");
    let old_key = old_two_key_layout(dir.path(), &[(&demo, &a)]).await;
    open(dir.path()).await;
    // As if the process died after the commit, before the removal.
    let legacy = dir.path().join("token.key");
    std::fs::write(&legacy, hex::encode(old_key)).unwrap();
    std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o600)).unwrap();

    let tokens = open(dir.path()).await;
    assert_eq!(tokens.load_token(&demo).await.unwrap(), Some(a));
    assert!(!legacy.exists());
}

#[tokio::test]
async fn a_reseal_that_cannot_finish_changes_nothing_and_keeps_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let demo = shop("demo.myshopify.com");
    let a = token("shpat_a", "shprt_a");
    let old_key = old_two_key_layout(dir.path(), &[(&demo, &a)]).await;
    // A token sealed under neither key (say, a third key lost long ago).
    let scratch = tempfile::tempdir().unwrap();
    let stranger = shop("stranger.myshopify.com");
    SealedTokens::open(
        SqliteStore::open_dir(dir.path()).unwrap(),
        scratch.path(),
        &[0x33; 32],
    )
    .await
    .unwrap()
    .save_token(&stranger, &token("x", "y"))
    .await
    .unwrap();

    let key = sealing_key(dir.path());
    let err = SealedTokens::open(SqliteStore::open_dir(dir.path()).unwrap(), dir.path(), &key)
        .await
        .err()
        .expect("a token no key opens stops the re-seal")
        .to_string();
    assert!(err.contains("stranger.myshopify.com"), "{err}");
    assert!(
        err.contains("opens with neither token.key nor sealing.key"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    let legacy = dir.path().join("token.key");
    assert!(legacy.exists(), "the old key is kept: {err}");

    // Nothing was committed: the old key still opens the demo token.
    let under_old = SealedTokens::open(
        SqliteStore::open_dir(dir.path()).unwrap(),
        scratch.path(),
        &old_key,
    )
    .await
    .unwrap();
    assert_eq!(under_old.load_token(&demo).await.unwrap(), Some(a));
}
