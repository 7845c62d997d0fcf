//! [`SealedTokens`]: shops' Admin API tokens in the embedded store, never in plain text.
//!
//! Each token is sealed with AES-256-GCM under the data dir's one sealing key
//! ([`crate::key_file`], `sealing.key`, mode 0600), with the shop id as associated data: a
//! sealed token copied to another shop's row does not open. The database file alone, a backup
//! of it, or a support bundle, therefore holds no usable token. This is the local stand-in for
//! the SSM SecureString the AWS deployment uses.
//!
//! Older data dirs sealed tokens under a key of their own, `token.key`. Opening one re-seals
//! every token under the sealing key in one transaction, and removes `token.key` only once that
//! transaction has committed: a crash at any point leaves either the old layout or a complete
//! new one (a token that already opens with the new key is left as it is, so a re-seal
//! interrupted before the removal simply finishes on the next open).

use crate::key_file::{KEY_LEN, KeyFileError, LEGACY_TOKEN_KEY_FILE, read_key};
use crate::{Cached, SqliteStore, db};
use aftersale_domain::ShopId;
use aftersale_ports::{ShopToken, ShopTokens, StoreError};
use async_trait::async_trait;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::info;

/// Why the tokens could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealedTokensError {
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(
        "re-sealing the tokens of {legacy} under the sealing key failed, so nothing was changed and {legacy} is kept: {source}"
    )]
    Reseal { legacy: PathBuf, source: StoreError },
    #[error(
        "the tokens were re-sealed under the sealing key, but {legacy} could not be removed ({source}); remove it by hand"
    )]
    RemoveLegacy { legacy: PathBuf, source: std::io::Error },
}

/// Tokens sealed in the SQLite store's `shop_tokens` table.
#[derive(Clone)]
pub struct SealedTokens {
    store: SqliteStore,
    key: Arc<LessSafeKey>,
}

fn cipher(key: &[u8; KEY_LEN]) -> Arc<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key fits AES-256-GCM");
    Arc::new(LessSafeKey::new(unbound))
}

impl SealedTokens {
    /// The tokens of the store in `data_dir`, sealed under `key` (the data dir's one sealing
    /// key). Re-seals, first, whatever an older data dir's `token.key` sealed.
    pub async fn open(
        store: SqliteStore,
        data_dir: &Path,
        key: &[u8; KEY_LEN],
    ) -> Result<Self, SealedTokensError> {
        let tokens = Self {
            store,
            key: cipher(key),
        };
        let legacy = data_dir.join(LEGACY_TOKEN_KEY_FILE);
        if let Some(old) = read_key(&legacy)? {
            let resealed =
                tokens
                    .reseal_from(cipher(&old))
                    .await
                    .map_err(|source| SealedTokensError::Reseal {
                        legacy: legacy.clone(),
                        source,
                    })?;
            std::fs::remove_file(&legacy).map_err(|source| SealedTokensError::RemoveLegacy {
                legacy: legacy.clone(),
                source,
            })?;
            info!(
                resealed,
                "tokens re-sealed under the data dir's sealing key; token.key removed"
            );
        }
        Ok(tokens)
    }

    /// Re-seals, in one transaction, every token that does not open with our key but does
    /// with `old`. Any token that opens with neither fails it all (nothing is written).
    async fn reseal_from(&self, old: Arc<LessSafeKey>) -> Result<usize, StoreError> {
        let new = Arc::clone(&self.key);
        self.store
            .run(move |conn| {
                let tx = conn.transaction().map_err(db)?;
                let rows: Vec<(String, String)> = {
                    let mut select = tx
                        .prepare_cached("SELECT shop, sealed FROM shop_tokens")
                        .map_err(db)?;
                    select
                        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                        .map_err(db)?
                        .collect::<Result<_, _>>()
                        .map_err(db)?
                };
                let mut resealed = 0;
                for (shop, sealed) in rows {
                    if open_with(&new, &shop, &sealed).is_ok() {
                        continue;
                    }
                    let plain = open_with(&old, &shop, &sealed).map_err(|detail| StoreError::Corrupt {
                        what: format!("sealed token of {shop}"),
                        detail: format!("{detail}; it opens with neither token.key nor sealing.key"),
                    })?;
                    let again = seal_with(&new, &shop, plain)?;
                    tx.execute_cached(
                        "UPDATE shop_tokens SET sealed = ?2 WHERE shop = ?1",
                        params![shop, again],
                    )
                    .map_err(db)?;
                    resealed += 1;
                }
                tx.commit().map_err(db)?;
                Ok(resealed)
            })
            .await
    }

    fn seal(&self, shop: &ShopId, token: &ShopToken) -> Result<String, StoreError> {
        let data = serde_json::to_vec(token).map_err(StoreError::backend)?;
        seal_with(&self.key, shop.as_str(), data)
    }

    fn open_sealed(&self, shop: &ShopId, sealed: &str) -> Result<ShopToken, StoreError> {
        let corrupt = |detail: &str| StoreError::Corrupt {
            what: format!("sealed token of {shop}"),
            detail: detail.to_string(),
        };
        let plain = open_with(&self.key, shop.as_str(), sealed).map_err(corrupt)?;
        serde_json::from_slice(&plain).map_err(|e| corrupt(&e.to_string()))
    }
}

/// `v1:{hex nonce}:{hex ciphertext and tag}`, bound to the shop.
fn seal_with(key: &LessSafeKey, shop: &str, mut data: Vec<u8>) -> Result<String, StoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| StoreError::backend("no randomness for a token nonce"))?;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(shop.as_bytes()),
        &mut data,
    )
    .map_err(|_| StoreError::backend("sealing a token failed"))?;
    Ok(format!("v1:{}:{}", hex::encode(nonce), hex::encode(data)))
}

/// The plaintext of a [`seal_with`] value, or why it does not open.
fn open_with(key: &LessSafeKey, shop: &str, sealed: &str) -> Result<Vec<u8>, &'static str> {
    let mut parts = sealed.splitn(3, ':');
    let (Some("v1"), Some(nonce), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("unknown format");
    };
    let nonce: [u8; NONCE_LEN] = hex::decode(nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or("bad nonce")?;
    let mut data = hex::decode(data).map_err(|_| "not hex")?;
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(shop.as_bytes()),
            &mut data,
        )
        .map_err(|_| "does not open with this data dir's sealing.key (was the key replaced?)")?;
    Ok(plain.to_vec())
}

#[async_trait]
impl ShopTokens for SealedTokens {
    async fn load_token(&self, shop: &ShopId) -> Result<Option<ShopToken>, StoreError> {
        let id = shop.to_string();
        let sealed: Option<String> = self
            .store
            .run(move |conn| {
                conn.query_row_cached(
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
                conn.execute_cached(
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
                conn.execute_cached("DELETE FROM shop_tokens WHERE shop = ?1", params![id])
                    .map_err(db)?;
                Ok(())
            })
            .await
    }
}
