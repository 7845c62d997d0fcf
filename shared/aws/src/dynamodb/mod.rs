//! [`DynamoDbStore`]: the ports' [`Store`](aftersale_ports::Store) on one DynamoDB table.
//!
//! The key design, every access pattern with its cost, and the exact table definition are in
//! `shared/aws/TABLE.md`; [`keys`] builds every key. In short: every base-table key starts with
//! `SHOP#{shop}`, each domain value is stored as JSON in one attribute next to its key and index
//! attributes, conditional writes give dedupe and optimistic concurrency, and four sparse
//! GSIs answer "everything a shop owns" (and its events by time), "a customer's orders and
//! events", "an order's events" and "a flow's messages due by now" without a Scan. The flows'
//! items (messages, answers, suppressions, configs) are in [`flows`], the lifecycle flows'
//! versioned JSON documents in [`documents`].

mod documents;
mod flows;
mod install;
mod keys;
mod table;

pub use flows::{FINISHED_MESSAGE_RETENTION_DAYS, WATERMARK_MARGIN_MINUTES};
pub use table::{TableStatus, create_table};

use aftersale_domain::{Customer, CustomerId, EventId, OrderId, OrderRecord, ShopId, StoreEvent};
use aftersale_ports::redaction_plan::{CustomerRedaction, Record};
use aftersale_ports::{
    CustomerProfiles, DeadLetter, DeadLetters, EventLog, OrderRecords, Privacy, Recorded, StoreError,
    StoredEvent, Versioned,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, ReturnValue, ReturnValuesOnConditionCheckFailure, WriteRequest,
};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

type Item = HashMap<String, AttributeValue>;
/// A base-table key: (pk, sk).
type Key = (String, String);

/// Attribute holding an event's JSON. Distinct from [`DATA`] so GSI1 can project events (and
/// dead letters) without copying every order and profile into the index.
const EVENT: &str = "event";
/// Attribute holding a dead letter's JSON.
const LETTER: &str = "letter";
/// Attribute holding an order record's, customer's or shop state's JSON.
const DATA: &str = "data";
const RECEIVED_AT: &str = "received_at";
const APPLIED: &str = "applied";
const VERSION: &str = "version";

/// How long an event (and so its dedupe record) is kept. Platforms retry for at most 48 hours
/// (Shopify) to a few days (WooCommerce), so anything above a week dedupes every redelivery;
/// the rest is the replay window of `list_events`.
pub const DEFAULT_EVENT_RETENTION_DAYS: i64 = 90;

/// The [`Store`](aftersale_ports::Store) on DynamoDB. Cheap to clone: the SDK client is shared.
#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    /// Flows whose due watermark this process has seen exist (see [`flows`]).
    watermarks: Arc<Mutex<HashSet<aftersale_domain::Flow>>>,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            watermarks: Arc::default(),
        }
    }

    /// A store on `table`, with a client built from `config` (see [`crate::load_config`]).
    pub fn from_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(out.item)
    }

    /// Every item a key condition matches, across pages. `consistent` only on the base table
    /// (GSIs are eventually consistent).
    async fn query_all(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: &[(&str, &str)],
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let values: HashMap<String, AttributeValue> = values
            .iter()
            .map(|(name, value)| (name.to_string(), s(*value)))
            .collect();
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(key_condition)
                .set_expression_attribute_values(Some(values.clone()))
                .set_projection_expression(projection.map(str::to_string))
                .consistent_read(index.is_none())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// The base-table keys of the items a query matches.
    async fn query_keys(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: &[(&str, &str)],
    ) -> Result<Vec<Key>, StoreError> {
        self.query_all(index, key_condition, values, Some("pk, sk"))
            .await?
            .iter()
            .map(|item| {
                Ok((
                    text(item, keys::PK, "key")?.to_string(),
                    text(item, keys::SK, "key")?.to_string(),
                ))
            })
            .collect()
    }

    /// Deletes items known to exist, 25 per BatchWriteItem, re-sending what DynamoDB leaves
    /// unprocessed (throttling) with a growing pause.
    async fn delete_keys(&self, keys: &BTreeSet<Key>) -> Result<u64, StoreError> {
        let requests: Vec<WriteRequest> = keys
            .iter()
            .map(|(pk, sk)| {
                let delete = DeleteRequest::builder()
                    .key(keys::PK, s(pk))
                    .key(keys::SK, s(sk))
                    .build()
                    .map_err(|e| StoreError::backend(format!("building a delete request: {e}")))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, StoreError>>()?;
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                if attempt > 0 {
                    if attempt >= 8 {
                        return Err(StoreError::backend(format!(
                            "BatchWriteItem left {} deletes unprocessed after {attempt} attempts",
                            pending.len()
                        )));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| backend("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(keys.len() as u64)
    }

    /// Deletes one item that may not exist; returns whether it did.
    async fn delete_if_present(&self, pk: String, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|old| !old.is_empty()))
    }

    /// Whether a stored event's work finished, read when the dedupe write found it present.
    async fn applied_flag(
        &self,
        shop: &ShopId,
        event: &StoreEvent,
        old: Option<&Item>,
    ) -> Result<bool, StoreError> {
        if let Some(item) = old {
            return flag(item, APPLIED);
        }
        // The service returns the old item with the failed condition; fetch it if it did not.
        match self
            .get(keys::event(shop, &event.event_id), keys::SK_SEEN)
            .await?
        {
            Some(item) => flag(&item, APPLIED),
            None => Err(StoreError::Conflict {
                what: format!("event {}", event.event_id),
            }),
        }
    }
}

#[async_trait]
impl EventLog for DynamoDbStore {
    async fn record_event(
        &self,
        event: &StoreEvent,
        received_at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let shop = &event.shop;
        // TTL is storage housekeeping, so it runs on the wall clock even when `received_at`
        // comes from a simulated one.
        let now = Utc::now();
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::event(shop, &event.event_id)));
        item.insert(keys::SK.into(), s(keys::SK_SEEN));
        item.insert(EVENT.into(), s(to_json(event, "event")?));
        item.insert(RECEIVED_AT.into(), s(keys::timestamp(received_at)));
        item.insert(APPLIED.into(), AttributeValue::Bool(false));
        item.insert(
            keys::EXPIRES_AT.into(),
            n((now + Duration::days(DEFAULT_EVENT_RETENTION_DAYS)).timestamp()),
        );
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(
            keys::GSI1SK.into(),
            s(keys::event_by_time(received_at, &event.event_id)),
        );
        if let Some(customer) = event.customer_id() {
            item.insert(keys::GSI2PK.into(), s(keys::customer(shop, customer)));
            item.insert(keys::GSI2SK.into(), s(keys::event_ref(&event.event_id)));
        }
        if let Some(order) = event.order_id() {
            item.insert(keys::GSI3PK.into(), s(keys::order(shop, order)));
            item.insert(
                keys::GSI3SK.into(),
                s(keys::event_by_time(received_at, &event.event_id)),
            );
        }

        // An item past its TTL may linger until DynamoDB sweeps it; it no longer dedupes.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::New),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let applied = self.applied_flag(shop, event, failed.item()).await?;
                    Ok(Recorded::Duplicate { applied })
                }
                _ => Err(backend("PutItem", err)),
            },
        }
    }

    async fn mark_applied(&self, event: &StoreEvent) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::event(&event.shop, &event.event_id)))
            .key(keys::SK, s(keys::SK_SEEN))
            .update_expression("SET #applied = :true")
            // Never create a stub item for an event that was not recorded.
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#applied", APPLIED)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(backend("UpdateItem", err)),
            },
        }
    }

    async fn list_events(&self, shop: Option<&ShopId>) -> Result<Vec<StoredEvent>, StoreError> {
        let items = match shop {
            Some(shop) => {
                self.query_all(
                    Some(keys::GSI1),
                    "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
                    &[(":pk", &keys::shop(shop)), (":prefix", keys::EVENT_PREFIX)],
                    None,
                )
                .await?
            }
            None => self.scan_events().await?,
        };
        let mut events = items.iter().map(stored_event).collect::<Result<Vec<_>, _>>()?;
        // GSI1 already sorts one shop's events; a Scan does not.
        events.sort_by(|a, b| {
            (a.received_at, &a.event.shop, &a.event.event_id).cmp(&(
                b.received_at,
                &b.event.shop,
                &b.event.event_id,
            ))
        });
        Ok(events)
    }

    async fn event_applied(&self, shop: &ShopId, event_id: &EventId) -> Result<Option<bool>, StoreError> {
        self.get(keys::event(shop, event_id), keys::SK_SEEN)
            .await?
            .map(|item| flag(&item, APPLIED))
            .transpose()
    }

    /// A Scan, like `list_events` without a shop: for `aftersale serve` on a table, never a
    /// Lambda's path (there SNS and SQS hold what is left to do).
    async fn unfinished_events(
        &self,
        received_before: DateTime<Utc>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = self.list_events(None).await?;
        events.retain(|e| !e.applied && e.received_at < received_before);
        Ok(events)
    }
}

impl DynamoDbStore {
    /// Every event of every shop: a full-table Scan, for local tooling only (`aftersale`
    /// commands without `--shop`), never on a request path.
    async fn scan_events(&self) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :seen")
                .expression_attribute_values(":seen", s(keys::SK_SEEN))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend("Scan", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl OrderRecords for DynamoDbStore {
    async fn load_order(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Versioned<OrderRecord>>, StoreError> {
        let Some(item) = self.get(keys::order(shop, order_id), keys::SK_ORDER).await? else {
            return Ok(None);
        };
        let what = format!("order {order_id}");
        let version = number(&item, VERSION, &what)?;
        let value = from_json(text(&item, DATA, &what)?, &what)?;
        Ok(Some(Versioned { value, version }))
    }

    async fn save_order(
        &self,
        shop: &ShopId,
        record: &OrderRecord,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let what = format!("order {}", record.order_id);
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::order(shop, &record.order_id)));
        item.insert(keys::SK.into(), s(keys::SK_ORDER));
        item.insert(DATA.into(), s(to_json(record, &what)?));
        item.insert(
            VERSION.into(),
            n(aftersale_ports::documents::next_version(expected_version)),
        );
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(keys::GSI1SK.into(), s(keys::order_ref(&record.order_id)));
        // The customer's GSI2 partition follows the newest snapshot: no reference item to
        // keep in step, and an order with no snapshot yet (refund first) is simply absent.
        if let Some(customer) = record.customer_id() {
            item.insert(keys::GSI2PK.into(), s(keys::customer(shop, customer)));
            item.insert(keys::GSI2SK.into(), s(keys::order_ref(&record.order_id)));
        }
        self.put_versioned(item, expected_version, what).await
    }
}

#[async_trait]
impl CustomerProfiles for DynamoDbStore {
    async fn load_customer(&self, shop: &ShopId, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.get_json(
            keys::customer(shop, id),
            keys::SK_PROFILE,
            &format!("customer {id}"),
        )
        .await
    }

    async fn save_customer(&self, shop: &ShopId, customer: &Customer) -> Result<(), StoreError> {
        let what = format!("customer {}", customer.id);
        self.put_document(
            shop,
            keys::customer(shop, &customer.id),
            keys::SK_PROFILE,
            to_json(customer, &what)?,
            keys::customer_ref(&customer.id),
        )
        .await
    }
}

impl DynamoDbStore {
    /// The JSON document of one item, if it exists.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(item) = self.get(pk, sk).await? else {
            return Ok(None);
        };
        from_json(text(&item, DATA, what)?, what).map(Some)
    }

    /// Stores a JSON document, listed under its shop in GSI1 so shop redaction finds it.
    pub(crate) async fn put_document(
        &self,
        shop: &ShopId,
        pk: String,
        sk: &str,
        json: String,
        gsi1sk: impl Into<String>,
    ) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(pk));
        item.insert(keys::SK.into(), s(sk));
        item.insert(DATA.into(), s(json));
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(keys::GSI1SK.into(), s(gsi1sk));
        self.put(item).await
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    fn dead_letter_item(letter: &DeadLetter) -> Result<Item, StoreError> {
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::dead_letters(&letter.shop)));
        item.insert(keys::SK.into(), s(keys::dead_letter(&letter.id)));
        item.insert(LETTER.into(), s(to_json(letter, "dead letter")?));
        item.insert(keys::GSI1PK.into(), s(keys::DEAD_LETTERS_PARTITION));
        item.insert(
            keys::GSI1SK.into(),
            s(keys::dead_letter_by_time(
                letter.received_at,
                &letter.shop,
                &letter.id,
            )),
        );
        Ok(item)
    }
}

#[async_trait]
impl DeadLetters for DynamoDbStore {
    async fn put_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::dead_letter_item(letter)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            // A retried delivery: the first copy is the one kept.
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            other => other.map(|_| ()).map_err(|e| backend("PutItem", e)),
        }
    }

    async fn list_dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.query_all(
            Some(keys::GSI1),
            "gsi1pk = :pk",
            &[(":pk", keys::DEAD_LETTERS_PARTITION)],
            None,
        )
        .await?
        .iter()
        .map(|item| from_json(text(item, LETTER, "dead letter")?, "dead letter"))
        .collect()
    }

    async fn update_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.put(Self::dead_letter_item(letter)?).await
    }

    async fn delete_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        self.delete_if_present(keys::dead_letters(&letter.shop), &keys::dead_letter(&letter.id))
            .await
    }
}

#[async_trait]
impl Privacy for DynamoDbStore {
    /// Queries the customer's partition (profile, messages, answers), their documents (the
    /// shop's partition, `DOC#customer#{id}#`), their GSI2 partition (orders and events naming
    /// them) and each order's GSI3 partition (events naming the order), then deletes what was found plus the listed orders. Suppressions stay: they hold
    /// only a hash of the address, and an unsubscribe must outlive the customer's data. GSIs
    /// are eventually consistent: an event written in the last second may survive, which is why
    /// platforms send redacts days after the request.
    async fn redact_customer(
        &self,
        shop: &ShopId,
        customer: Option<&CustomerId>,
        orders: &[OrderId],
    ) -> Result<u64, StoreError> {
        let mut plan = CustomerRedaction::new(customer, orders);
        let mut found: BTreeSet<Key> = BTreeSet::new();
        // Their orders' partitions, as GSI2 lists them: those records are already in `found`.
        let mut their_orders: BTreeSet<OrderId> = BTreeSet::new();
        if let Some(customer) = plan.customer() {
            let partition = keys::customer(shop, customer);
            // Profile, messages and answers ([`BY_CUSTOMER`]) share the customer's partition.
            found.extend(self.query_keys(None, "pk = :pk", &[(":pk", &partition)]).await?);
            for (pk, sk) in self
                .query_keys(Some(keys::GSI2), "gsi2pk = :pk", &[(":pk", &partition)])
                .await?
            {
                if sk == keys::SK_ORDER
                    && let Some(order) = keys::order_id_of(shop, &pk).and_then(|id| OrderId::new(id).ok())
                {
                    their_orders.insert(order);
                }
                found.insert((pk, sk));
            }
        }
        if let Some(prefix) = plan.document_prefix() {
            // Their documents live in the shop's partition, under `DOC#customer#{id}#`.
            found.extend(self.document_keys_under(shop, &prefix).await?);
        }
        plan.add_their_orders(their_orders.iter().cloned());
        // Events naming each order ([`BY_ORDER`]) are in the order's GSI3 partition.
        for order in plan.orders() {
            found.extend(
                self.query_keys(
                    Some(keys::GSI3),
                    "gsi3pk = :pk",
                    &[(":pk", &keys::order(shop, order))],
                )
                .await?,
            );
        }

        let mut removed = self.delete_keys(&found).await?;
        for order in plan.orders() {
            for key in CustomerRedaction::order_documents(order) {
                if self
                    .delete_if_present(keys::shop(shop), &keys::document(&key))
                    .await?
                {
                    removed += 1;
                }
            }
            // A listed order that is not theirs by GSI2 (a guest's, or one the index has not
            // caught up with) is deleted by its key.
            if !their_orders.contains(order)
                && self
                    .delete_if_present(keys::order(shop, order), keys::SK_ORDER)
                    .await?
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Everything the shop owns carries `gsi1pk = SHOP#{shop}` (one Query: install state, config,
    /// profiles, orders, events, messages, answers, suppressions, documents, nonces), except dead
    /// letters, which live in their own `SHOP#{shop}#DL` partition (a second Query). Rare and
    /// paged, so a large shop costs time, not a Scan.
    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError> {
        let mut found: BTreeSet<Key> = BTreeSet::new();
        let places: BTreeSet<ShopPlace> = Record::ALL.into_iter().filter_map(shop_place).collect();
        for place in places {
            let keys_found = match place {
                ShopPlace::ShopIndex => {
                    self.query_keys(Some(keys::GSI1), "gsi1pk = :pk", &[(":pk", &keys::shop(shop))])
                        .await?
                }
                ShopPlace::DeadLetters => {
                    self.query_keys(None, "pk = :pk", &[(":pk", &keys::dead_letters(shop.as_str()))])
                        .await?
                }
            };
            found.extend(keys_found);
        }
        self.delete_keys(&found).await
    }
}

/// Where a shop's redaction finds each kind of its records in the table; `None` for what the
/// table does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ShopPlace {
    /// `gsi1pk = SHOP#{shop}`.
    ShopIndex,
    /// The `SHOP#{shop}#DL` partition.
    DeadLetters,
}

fn shop_place(record: Record) -> Option<ShopPlace> {
    match record {
        Record::Events
        | Record::Orders
        | Record::Customers
        | Record::Shops
        | Record::Messages
        | Record::Answers
        | Record::Suppressions
        | Record::ShopConfigs
        | Record::Documents
        | Record::OauthNonces => Some(ShopPlace::ShopIndex),
        Record::DeadLetters => Some(ShopPlace::DeadLetters),
        // Tokens are SSM parameters on AWS (`SsmShopTokens`), deleted on uninstall.
        Record::ShopTokens => None,
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn backend<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(format!("DynamoDB {operation}: {}", DisplayErrorContext(&err)))
}

fn corrupt(what: &str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        detail: detail.into(),
    }
}

fn text<'a>(item: &'a Item, name: &str, what: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(corrupt(
            what,
            format!("attribute {name} is missing or not a string"),
        )),
    }
}

fn number(item: &Item, name: &str, what: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| corrupt(what, format!("attribute {name} is not a whole number"))),
        _ => Err(corrupt(
            what,
            format!("attribute {name} is missing or not a number"),
        )),
    }
}

fn flag(item: &Item, name: &str) -> Result<bool, StoreError> {
    match item.get(name) {
        Some(AttributeValue::Bool(value)) => Ok(*value),
        _ => Err(corrupt(
            "event",
            format!("attribute {name} is missing or not a boolean"),
        )),
    }
}

fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("serialising {what}: {e}")))
}

/// The error names the kind and position only: serde's own message can quote stored values,
/// which may be personal data.
fn from_json<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| {
        corrupt(
            what,
            format!(
                "{:?} error in JSON at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })
}

fn stored_event(item: &Item) -> Result<StoredEvent, StoreError> {
    let event: StoreEvent = from_json(text(item, EVENT, "event")?, "event")?;
    let received = text(item, RECEIVED_AT, "event")?;
    let received_at = DateTime::parse_from_rfc3339(received)
        .map_err(|e| corrupt("event", format!("received_at: {e}")))?
        .with_timezone(&Utc);
    Ok(StoredEvent {
        event,
        received_at,
        applied: flag(item, APPLIED)?,
    })
}

impl DynamoDbStore {
    /// Puts `item` if the stored one is still at `expected_version` (0: must not exist), the
    /// optimistic-concurrency write of orders and documents. A lost race is `Conflict`.
    pub(super) async fn put_versioned(
        &self,
        item: Item,
        expected_version: u64,
        what: String,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = if expected_version == 0 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":expected", n(expected_version))
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Err(StoreError::Conflict { what }),
                _ => Err(backend("PutItem", err)),
            },
        }
    }
}
