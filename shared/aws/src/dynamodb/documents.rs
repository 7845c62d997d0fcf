//! The lifecycle flows' small JSON documents ([`Documents`]) on the single table: one item per
//! document in its shop's own partition, `SHOP#{shop}` / `DOC#{key}`, with the JSON in `data`,
//! its `version` for the conditional write, and `gsi1pk = SHOP#{shop}` so shop redaction finds
//! it. A key prefix is a `begins_with` on the sort key: one Query on one partition, never a
//! scan of other shops. Layout and costs: `TABLE.md`.

use super::{DATA, DynamoDbStore, Item, Key, VERSION, corrupt, from_json, keys, n, number, s, text, to_json};
use aftersale_domain::ShopId;
use aftersale_ports::documents::{DocumentWrite, next_version};
use aftersale_ports::{Documents, StoreError, Versioned};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde_json::Value;

impl DynamoDbStore {
    /// The base-table keys of the shop's documents under `prefix` (a customer's, for
    /// `redact_customer`): a strongly consistent Query on the shop's partition.
    pub(super) async fn document_keys_under(
        &self,
        shop: &ShopId,
        prefix: &str,
    ) -> Result<Vec<Key>, StoreError> {
        self.query_keys(
            None,
            "pk = :pk AND begins_with(sk, :prefix)",
            &[(":pk", &keys::shop(shop)), (":prefix", &keys::document(prefix))],
        )
        .await
    }
}

fn document_from(item: &Item, key: &str) -> Result<Versioned<Value>, StoreError> {
    let what = format!("document {key}");
    Ok(Versioned {
        value: from_json(text(item, DATA, &what)?, &what)?,
        version: number(item, VERSION, &what)?,
    })
}

#[async_trait]
impl Documents for DynamoDbStore {
    async fn load_document(&self, shop: &ShopId, key: &str) -> Result<Option<Versioned<Value>>, StoreError> {
        self.get(keys::shop(shop), &keys::document(key))
            .await?
            .map(|item| document_from(&item, key))
            .transpose()
    }

    async fn load_document_json(
        &self,
        shop: &ShopId,
        key: &str,
    ) -> Result<Option<Versioned<String>>, StoreError> {
        let what = format!("document {key}");
        self.get(keys::shop(shop), &keys::document(key))
            .await?
            .map(|item| {
                Ok(Versioned {
                    value: text(&item, DATA, &what)?.to_string(),
                    version: number(&item, VERSION, &what)?,
                })
            })
            .transpose()
    }

    async fn save_document(
        &self,
        shop: &ShopId,
        key: &str,
        value: &Value,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let json = to_json(value, &format!("document {key}"))?;
        self.save_document_json(shop, key, json, expected_version).await
    }

    /// The text goes into the item's data attribute as it is.
    async fn save_document_json(
        &self,
        shop: &ShopId,
        key: &str,
        json: String,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let item = document_text_item(shop, key, json, expected_version);
        self.put_versioned(item, expected_version, format!("document {key}"))
            .await
    }

    /// One strongly consistent Query, paged: `pk = SHOP#{shop} AND begins_with(sk, DOC#{prefix})`.
    /// DynamoDB returns sort keys in byte order, which is key order.
    async fn list_documents(
        &self,
        shop: &ShopId,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned<Value>)>, StoreError> {
        self.query_all(
            None,
            "pk = :pk AND begins_with(sk, :prefix)",
            &[(":pk", &keys::shop(shop)), (":prefix", &keys::document(prefix))],
            None,
        )
        .await?
        .iter()
        .map(|item| {
            let sort_key = text(item, keys::SK, "document")?;
            let key = keys::document_key(sort_key)
                .ok_or_else(|| corrupt("document", "sort key without the DOC# prefix"))?;
            Ok((key.to_string(), document_from(item, key)?))
        })
        .collect()
    }

    async fn delete_document(&self, shop: &ShopId, key: &str) -> Result<bool, StoreError> {
        self.delete_if_present(keys::shop(shop), &keys::document(key))
            .await
    }

    /// One `TransactWriteItems`: a put per document, each conditioned on its version. A failed
    /// condition, or another transaction on the same items, cancels all of them (`Conflict`).
    /// It costs two write units per kilobyte of each item, twice a plain put.
    async fn save_documents(&self, shop: &ShopId, writes: &[DocumentWrite]) -> Result<(), StoreError> {
        aftersale_ports::documents::check_batch(writes)?;
        let mut items = Vec::with_capacity(writes.len());
        for w in writes {
            let what = format!("document {}", w.key);
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(document_item(shop, &w.key, &w.value, w.expected_version)?));
            let put = if w.expected_version == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("#version = :expected")
                    .expression_attribute_names("#version", VERSION)
                    .expression_attribute_values(":expected", n(w.expected_version))
            };
            let put = put
                .build()
                .map_err(|e| StoreError::Backend(format!("{what}: {e}")))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        if items.is_empty() {
            return Ok(());
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                // Cancelled for a failed condition or a concurrent transaction on one of the
                // items: a lost race, like a plain put's. Any other reason is the backend's.
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                    if cancelled.cancellation_reasons().iter().all(|r| {
                        matches!(
                            r.code(),
                            None | Some("None" | "ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) =>
                {
                    Err(StoreError::Conflict {
                        what: format!("{} documents written together", writes.len()),
                    })
                }
                _ => Err(super::backend("TransactWriteItems", err)),
            },
        }
    }
}

/// A document's item: its key, JSON, next version and the shop index attributes.
fn document_item(shop: &ShopId, key: &str, value: &Value, expected_version: u64) -> Result<Item, StoreError> {
    let json = to_json(value, &format!("document {key}"))?;
    Ok(document_text_item(shop, key, json, expected_version))
}

fn document_text_item(shop: &ShopId, key: &str, json: String, expected_version: u64) -> Item {
    let mut item = Item::new();
    item.insert(keys::PK.into(), s(keys::shop(shop)));
    item.insert(keys::SK.into(), s(keys::document(key)));
    item.insert(DATA.into(), s(json));
    item.insert(VERSION.into(), n(next_version(expected_version)));
    item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
    item.insert(keys::GSI1SK.into(), s(keys::document(key)));
    item
}
