//! Redaction: executes the plan `aftersale_ports::redaction_plan` decides, in one
//! transaction, then erases the old pages from the write-ahead log.

use crate::documents::delete_documents;
use crate::{Cached, SqliteStore, db};
use aftersale_domain::{CustomerId, OrderId, ShopId};
use aftersale_ports::redaction_plan::{BY_CUSTOMER, BY_ORDER, CustomerRedaction, Record};
use aftersale_ports::{Privacy, StoreError};
use async_trait::async_trait;
use rusqlite::{Connection, params};

/// The table each kind of record is kept in: every kind has one, so a shop's redaction
/// reaches them all.
fn table(record: Record) -> &'static str {
    match record {
        Record::Events => "events",
        Record::Orders => "orders",
        Record::Customers => "customers",
        Record::DeadLetters => "dead_letters",
        Record::Shops => "shops",
        Record::Messages => "messages",
        Record::Answers => "answers",
        Record::Suppressions => "suppressions",
        Record::ShopConfigs => "shop_configs",
        Record::Documents => "documents",
        Record::OauthNonces => "oauth_nonces",
        Record::ShopTokens => "shop_tokens",
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
        let mut plan = CustomerRedaction::new(customer, orders);
        self.erase(move |tx| {
            if let Some(customer) = plan.customer() {
                let mut stmt = tx
                    .prepare_cached("SELECT order_id FROM orders WHERE shop = ?1 AND customer_id = ?2")
                    .map_err(db)?;
                let theirs = stmt
                    .query_map(params![shop, customer.as_str()], |row| row.get::<_, String>(0))
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                drop(stmt);
                plan.add_their_orders(theirs.into_iter().filter_map(|id| OrderId::new(id).ok()));
            }
            let mut removed = 0u64;
            for order_id in plan.orders() {
                for record in BY_ORDER {
                    // Every table deleted by order names it in an `order_id` column.
                    let sql = format!("DELETE FROM {} WHERE shop = ?1 AND order_id = ?2", table(record));
                    removed += tx
                        .execute_cached(&sql, params![shop, order_id.as_str()])
                        .map_err(db)? as u64;
                }
                for key in CustomerRedaction::order_documents(order_id) {
                    removed += tx
                        .execute_cached(
                            "DELETE FROM documents WHERE shop = ?1 AND key = ?2",
                            params![shop, key],
                        )
                        .map_err(db)? as u64;
                }
            }
            if let Some(customer) = plan.customer() {
                for record in BY_CUSTOMER {
                    // Every table deleted by customer names them in a `customer_id` column.
                    let sql = format!(
                        "DELETE FROM {} WHERE shop = ?1 AND customer_id = ?2",
                        table(record)
                    );
                    removed += tx
                        .execute_cached(&sql, params![shop, customer.as_str()])
                        .map_err(db)? as u64;
                }
            }
            if let Some(prefix) = plan.document_prefix() {
                removed += delete_documents(tx, &shop, &prefix)?;
            }
            Ok(removed)
        })
        .await
    }

    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError> {
        let shop = shop.to_string();
        self.erase(move |tx| {
            let mut removed = 0u64;
            for record in Record::ALL {
                removed += tx
                    .execute_cached(
                        &format!("DELETE FROM {} WHERE shop = ?1", table(record)),
                        params![shop],
                    )
                    .map_err(db)? as u64;
            }
            Ok(removed)
        })
        .await
    }
}

impl SqliteStore {
    /// Runs an erasure's deletes in one transaction on the blocking pool, then removes the
    /// old copies of the pages ([`erase_old_pages`]) and the decoded orders kept in memory:
    /// nothing of what was erased stays in the file, its log or the process.
    async fn erase<F>(&self, deletes: F) -> Result<u64, StoreError>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<u64, StoreError> + Send + 'static,
    {
        let removed = self
            .run_on_pool(move |conn| {
                let tx = conn.transaction().map_err(db)?;
                let removed = deletes(&tx)?;
                tx.commit().map_err(db)?;
                erase_old_pages(conn)?;
                Ok(removed)
            })
            .await?;
        self.orders.clear();
        Ok(removed)
    }
}

/// After a redaction: copies the write-ahead log into the database and truncates it. With
/// WAL, the pages as they were before the delete still sit in `aftersale.db-wal` until a
/// checkpoint; `secure_delete` zeroes the freed space in the main file, and this removes the
/// old copies. A reader holding an old snapshot (a concurrent `aftersale events`) can keep the
/// checkpoint from finishing; SQLite then reports it busy and the next redaction, or the next
/// automatic checkpoint, completes it.
pub(crate) fn erase_old_pages(conn: &Connection) -> Result<(), StoreError> {
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row_cached("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
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
