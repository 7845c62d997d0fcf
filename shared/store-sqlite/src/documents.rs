//! The lifecycle flows' versioned JSON documents, listed and redacted by key prefix as a
//! range of the primary key.

use crate::{Cached, SqliteStore, db, first_version, from_json, to_json};
use aftersale_domain::ShopId;
use aftersale_ports::documents::DocumentWrite;
use aftersale_ports::{Documents, StoreError, Versioned};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

/// The least string above every string that starts with `prefix`, so the documents under a
/// prefix are the range `key >= prefix AND key < upper` of the primary key: an index search,
/// and no LIKE, so `%` and `_` in keys are plain characters. `None` when there is no such
/// bound (an empty prefix, or one of only `char::MAX`): everything from `prefix` on matches.
pub(crate) fn prefix_upper(prefix: &str) -> Option<String> {
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
pub(crate) fn delete_documents(conn: &Connection, shop: &str, prefix: &str) -> Result<u64, StoreError> {
    let removed = match prefix_upper(prefix) {
        Some(upper) => conn.execute_cached(
            "DELETE FROM documents WHERE shop = ?1 AND key >= ?2 AND key < ?3",
            params![shop, prefix, upper],
        ),
        None => conn.execute_cached(
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

/// Writes one document if its stored version is still `expected_version` (0 = absent).
fn save_row(
    conn: &Connection,
    shop: &str,
    key: &str,
    body: &str,
    expected_version: u64,
) -> Result<(), StoreError> {
    let conflict = || StoreError::Conflict {
        what: format!("document {key}"),
    };
    let expected_version = i64::try_from(expected_version).map_err(|_| conflict())?;
    let changed = if expected_version == 0 {
        conn.execute_cached(
            "INSERT INTO documents (shop, key, version, body) VALUES (?1, ?2, ?4, ?3)
             ON CONFLICT DO NOTHING",
            params![shop, key, body, first_version()?],
        )
    } else {
        conn.execute_cached(
            "UPDATE documents SET version = version + 1, body = ?3
             WHERE shop = ?1 AND key = ?2 AND version = ?4",
            params![shop, key, body, expected_version],
        )
    }
    .map_err(db)?;
    if changed == 1 { Ok(()) } else { Err(conflict()) }
}

#[async_trait]
impl Documents for SqliteStore {
    async fn load_document(
        &self,
        shop: &ShopId,
        key: &str,
    ) -> Result<Option<Versioned<serde_json::Value>>, StoreError> {
        let (shop, key) = (shop.to_string(), key.to_string());
        let lookup = key.clone();
        let row: Option<(String, i64)> = self
            .read(move |conn| {
                conn.query_row_cached(
                    "SELECT body, version FROM documents WHERE shop = ?1 AND key = ?2",
                    params![shop, lookup],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        // Decoded here, off the store's one thread.
        row.map(|(body, version)| document_row(&key, &body, version))
            .transpose()
    }

    async fn load_document_json(
        &self,
        shop: &ShopId,
        key: &str,
    ) -> Result<Option<Versioned<String>>, StoreError> {
        let (shop, key) = (shop.to_string(), key.to_string());
        self.read(move |conn| {
            conn.query_row_cached(
                "SELECT body, version FROM documents WHERE shop = ?1 AND key = ?2",
                params![shop, key],
                |row| {
                    Ok(Versioned {
                        value: row.get(0)?,
                        version: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    })
                },
            )
            .optional()
            .map_err(db)
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
        self.save_document_json(shop, key, to_json(value)?, expected_version)
            .await
    }

    /// The text is stored as it is (the column holds JSON text).
    async fn save_document_json(
        &self,
        shop: &ShopId,
        key: &str,
        json: String,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let (shop, key) = (shop.to_string(), key.to_string());
        self.run(move |conn| save_row(conn, &shop, &key, &json, expected_version))
            .await
    }

    /// One SQLite transaction: a conflict on any write rolls back the ones before it.
    async fn save_documents(&self, shop: &ShopId, writes: &[DocumentWrite]) -> Result<(), StoreError> {
        aftersale_ports::documents::check_batch(writes)?;
        let rows = writes
            .iter()
            .map(|w| Ok((w.key.clone(), to_json(&w.value)?, w.expected_version)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let shop = shop.to_string();
        self.run(move |conn| {
            let tx = conn.savepoint().map_err(db)?;
            for (key, body, expected_version) in &rows {
                save_row(&tx, &shop, key, body, *expected_version)?;
            }
            tx.commit().map_err(db)
        })
        .await
    }

    async fn list_documents(
        &self,
        shop: &ShopId,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned<serde_json::Value>)>, StoreError> {
        let (shop, prefix) = (shop.to_string(), prefix.to_string());
        let rows: Vec<(String, String, i64)> = self
            .read(move |conn| {
                let upper = prefix_upper(&prefix);
                let mut stmt = conn
                    .prepare_cached(if upper.is_some() {
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
                match &upper {
                    Some(upper) => stmt.query_map(params![shop, prefix, upper], read),
                    None => stmt.query_map(params![shop, prefix], read),
                }
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
            })
            .await?;
        rows.into_iter()
            .map(|(key, body, version)| {
                let doc = document_row(&key, &body, version)?;
                Ok((key, doc))
            })
            .collect()
    }

    /// Keys and versions only: the version sits before the body in the row, so SQLite reads
    /// neither the body's overflow pages nor any JSON.
    async fn list_document_versions(
        &self,
        shop: &ShopId,
        prefix: &str,
    ) -> Result<Option<Vec<(String, u64)>>, StoreError> {
        let (shop, prefix) = (shop.to_string(), prefix.to_string());
        self.read(move |conn| {
            let upper = prefix_upper(&prefix);
            let mut stmt = conn
                .prepare_cached(if upper.is_some() {
                    "SELECT key, version FROM documents WHERE shop = ?1 AND key >= ?2 AND key < ?3 ORDER BY key"
                } else {
                    "SELECT key, version FROM documents WHERE shop = ?1 AND key >= ?2 ORDER BY key"
                })
                .map_err(db)?;
            let read = |row: &rusqlite::Row<'_>| {
                Ok((row.get::<_, String>(0)?, u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0)))
            };
            match &upper {
                Some(upper) => stmt.query_map(params![shop, prefix, upper], read),
                None => stmt.query_map(params![shop, prefix], read),
            }
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(db)
        })
        .await
    }

    async fn delete_document(&self, shop: &ShopId, key: &str) -> Result<bool, StoreError> {
        let (shop, key) = (shop.to_string(), key.to_string());
        self.run(move |conn| {
            let removed = conn
                .execute_cached(
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
