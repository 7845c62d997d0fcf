//! [`SealedTokens`]: shops' Admin API tokens in the embedded store, never in plain text.
//!
//! Each token is sealed with AES-256-GCM under a key kept beside the database in `token.key`
//! (mode 0600, created on first use), with the shop id as associated data: a sealed token
//! copied to another shop's row does not open. The database file alone, a backup of it, or a
//! support bundle, therefore holds no usable token. This is the local stand-in for the SSM
//! SecureString the AWS deployment uses.

use crate::{SqliteStore, db};
use aftersale_domain::ShopId;
use aftersale_ports::{ShopToken, ShopTokens, StoreError};
use async_trait::async_trait;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{OptionalExtension, params};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const KEY_FILE: &str = "token.key";
const KEY_LEN: usize = 32;

/// Why the token key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} does not hold a 32-byte hex key")]
    Malformed { path: PathBuf },
}

/// Tokens sealed in the SQLite store's `shop_tokens` table.
#[derive(Clone)]
pub struct SealedTokens {
    store: SqliteStore,
    key: Arc<LessSafeKey>,
}

impl SealedTokens {
    /// Uses (or creates) `token.key` in `data_dir`.
    pub fn open(store: SqliteStore, data_dir: &Path) -> Result<Self, TokenKeyError> {
        let key = load_or_create_key(&data_dir.join(KEY_FILE))?;
        Ok(Self::with_key(store, &key))
    }

    fn with_key(store: SqliteStore, key: &[u8; KEY_LEN]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key fits AES-256-GCM");
        Self {
            store,
            key: Arc::new(LessSafeKey::new(unbound)),
        }
    }

    fn seal(&self, shop: &ShopId, token: &ShopToken) -> Result<String, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::backend("no randomness for a token nonce"))?;
        let mut data = serde_json::to_vec(token).map_err(StoreError::backend)?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(shop.as_str().as_bytes()),
                &mut data,
            )
            .map_err(|_| StoreError::backend("sealing a token failed"))?;
        Ok(format!("v1:{}:{}", hex::encode(nonce), hex::encode(data)))
    }

    fn open_sealed(&self, shop: &ShopId, sealed: &str) -> Result<ShopToken, StoreError> {
        let corrupt = |detail: &str| StoreError::Corrupt {
            what: format!("sealed token of {shop}"),
            detail: detail.to_string(),
        };
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(nonce), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt("unknown format"));
        };
        let nonce: [u8; NONCE_LEN] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| corrupt("bad nonce"))?;
        let mut data = hex::decode(data).map_err(|_| corrupt("not hex"))?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(shop.as_str().as_bytes()),
                &mut data,
            )
            .map_err(|_| corrupt("does not open with this data dir's token.key (was the key replaced?)"))?;
        serde_json::from_slice(plain).map_err(|e| corrupt(&e.to_string()))
    }
}

#[async_trait]
impl ShopTokens for SealedTokens {
    async fn load_token(&self, shop: &ShopId) -> Result<Option<ShopToken>, StoreError> {
        let id = shop.to_string();
        let sealed: Option<String> = self
            .store
            .run(move |conn| {
                conn.query_row(
                    "SELECT sealed FROM shop_tokens WHERE shop = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        sealed.map(|s| self.open_sealed(shop, &s)).transpose()
    }

    async fn save_token(&self, shop: &ShopId, token: &ShopToken) -> Result<(), StoreError> {
        let sealed = self.seal(shop, token)?;
        let id = shop.to_string();
        self.store
            .run(move |conn| {
                conn.execute(
                    "INSERT INTO shop_tokens (shop, sealed) VALUES (?1, ?2)
                     ON CONFLICT (shop) DO UPDATE SET sealed = excluded.sealed",
                    params![id, sealed],
                )
                .map_err(db)?;
                Ok(())
            })
            .await
    }

    async fn delete_token(&self, shop: &ShopId) -> Result<(), StoreError> {
        let id = shop.to_string();
        self.store
            .run(move |conn| {
                conn.execute("DELETE FROM shop_tokens WHERE shop = ?1", params![id])
                    .map_err(db)?;
                Ok(())
            })
            .await
    }
}

/// Reads the key, or creates it with mode 0600 (never wider, even for a moment: the file is
/// created with that mode). An existing key readable by others is refused, as ssh does.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], TokenKeyError> {
    let io = |source| TokenKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private(path)?;
            hex::decode(text.trim())
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| TokenKeyError::Malformed {
                    path: path.to_path_buf(),
                })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_LEN];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| io(std::io::Error::other("no randomness for a key")))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
            Ok(key)
        }
        Err(err) => Err(io(err)),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), TokenKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| TokenKeyError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenKeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), TokenKeyError> {
    Ok(())
}
