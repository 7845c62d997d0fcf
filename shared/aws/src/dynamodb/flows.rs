//! The flows' storage on the single table: planned messages and their due index (GSI4),
//! answers, the suppression list and shop configs. Layout and costs: `TABLE.md`.
//!
//! ## The due index
//! While a message needs a sender's attention ([`attention_at`] is `Some`) it carries
//! `gsi4pk = DUE#{flow}#{hour}#{shard}` and `gsi4sk = {attention}#{shop}#{customer}#{id}`; once
//! final it loses both (a sparse index) and gets a TTL. The hour is the hour of the attention
//! time, **clamped to the writer's wall clock**: a message written with an attention time in the
//! past (a late webhook, a replay, a virtual clock) goes into the current hour's bucket, keeping
//! its true attention time in the sort key. So no write ever lands in a bucket older than the
//! hour it is written in, and buckets that were once seen empty, over an hour in the past,
//! stay empty for good.
//!
//! That makes a per-flow watermark safe: `DUEWM#{flow}` / `META` holds the oldest bucket that
//! may still hold entries. A tick queries every shard of every bucket from the watermark up to
//! the current hour (or `now`'s, if later) with `gsi4sk <= now`, and then moves the watermark up
//! to the first bucket that still holds anything, but never past the wall clock minus
//! [`WATERMARK_MARGIN`] (which covers clock skew between writers and GSI propagation). Nothing
//! due is ever skipped, however long ticks stop, and a healthy tick reads two or three hours
//! of buckets, not the history of the table.

use super::{DynamoDbStore, Item, Key, backend, corrupt, from_json, keys, n, number, s, text, to_json};
use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{Answer, CustomerId, Flow, Message, MessageId, ShopConfig, ShopId};
use aftersale_ports::{
    Answers, DueEntry as Due, Messages, ShopConfigs, StoreError, Suppressions, UndecodableMessage,
    address_hash, attention_at,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, DurationRound, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Attribute of a message's, answer's or config's JSON (not projected into any index).
const DATA: &str = super::DATA;
const VERSION: &str = super::VERSION;
/// Suppression attributes: the reason (`bounce`, `complaint`, `unsubscribed`) and when.
const REASON: &str = "reason";
const AT: &str = "at";
/// The watermark item's attribute: the oldest hour bucket that may hold due-index entries.
const BUCKET: &str = "bucket";

/// Finished messages are kept this long (TTL) after their last write: they feed a year of
/// metrics (sent, skipped and why, answers per message) and the outbox, then go by themselves.
pub const FINISHED_MESSAGE_RETENTION_DAYS: i64 = 400;

/// How far behind the wall clock the due watermark must stay. A write computes its bucket from
/// its own clock and becomes visible in GSI4 a little later; a tick only gives up buckets older
/// than this, so a write in flight (clock skew + request + GSI propagation, normally well under
/// a second) can never land behind the watermark.
pub const WATERMARK_MARGIN_MINUTES: i64 = 60;

/// Due-index partitions queried at once by one tick.
const DUE_QUERY_CONCURRENCY: usize = 16;

fn hour_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(chrono::Duration::hours(1)).unwrap_or(at)
}

impl DynamoDbStore {
    /// The item of a message as stored: version `version`, with its due-index entry while it
    /// needs attention, or its TTL once final.
    async fn message_item(&self, message: &Message) -> Result<Item, StoreError> {
        let id = message.id();
        let what = format!("message {id}");
        let (shop, customer) = (&message.shop, &message.customer_id);
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::customer(shop, customer)));
        item.insert(keys::SK.into(), s(keys::message(id.as_str())));
        item.insert(DATA.into(), s(to_json(message, &what)?));
        item.insert(VERSION.into(), n(message.version));
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(keys::GSI1SK.into(), s(keys::message_ref(customer, id.as_str())));
        // Housekeeping runs on the wall clock even when the message's times are simulated.
        let wall = Utc::now();
        match attention_at(message) {
            Some(attention) => {
                self.ensure_watermark(message.flow(), wall).await?;
                let bucket = keys::hour(attention.max(wall));
                let shard = keys::due_shard(shop, customer);
                item.insert(
                    keys::GSI4PK.into(),
                    s(keys::due_partition(message.flow(), &bucket, shard)),
                );
                item.insert(
                    keys::GSI4SK.into(),
                    s(keys::due_sort(attention, shop, customer, id.as_str())),
                );
            }
            None => {
                let expires = wall + chrono::Duration::days(FINISHED_MESSAGE_RETENTION_DAYS);
                item.insert(keys::EXPIRES_AT.into(), n(expires.timestamp()));
            }
        }
        Ok(item)
    }

    /// Makes sure the flow's watermark exists before the first due-index entry this process
    /// writes: a reader that finds no watermark knows no message of the flow was ever indexed.
    async fn ensure_watermark(&self, flow: Flow, wall: DateTime<Utc>) -> Result<(), StoreError> {
        if self.lock_watermarks().contains(&flow) {
            return Ok(());
        }
        if self
            .get(keys::due_watermark(flow), keys::SK_META)
            .await?
            .is_none()
        {
            let start = keys::hour(wall - chrono::Duration::minutes(WATERMARK_MARGIN_MINUTES));
            let mut item = Item::new();
            item.insert(keys::PK.into(), s(keys::due_watermark(flow)));
            item.insert(keys::SK.into(), s(keys::SK_META));
            item.insert(BUCKET.into(), s(start));
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match result {
                Ok(_) => {}
                // Another writer created it first: theirs is as good.
                Err(err)
                    if matches!(
                        err.as_service_error(),
                        Some(PutItemError::ConditionalCheckFailedException(_))
                    ) => {}
                Err(err) => return Err(backend("PutItem", err)),
            }
        }
        self.lock_watermarks().insert(flow);
        Ok(())
    }

    fn lock_watermarks(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<Flow>> {
        self.watermarks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the watermark up to `bucket` unless another tick already moved it further.
    async fn advance_watermark(&self, flow: Flow, bucket: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::due_watermark(flow)))
            .key(keys::SK, s(keys::SK_META))
            .update_expression("SET #bucket = :bucket")
            .condition_expression("attribute_exists(pk) AND #bucket < :bucket")
            .expression_attribute_names("#bucket", BUCKET)
            .expression_attribute_values(":bucket", s(bucket))
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

    /// Strongly consistent reads of items by key, 100 per BatchGetItem, re-asking for what
    /// DynamoDB leaves unprocessed. Items that no longer exist are simply not returned.
    async fn batch_get(&self, wanted: &[Key]) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(100) {
            let unique: BTreeSet<&Key> = chunk.iter().collect();
            let request_keys: Vec<HashMap<String, AttributeValue>> = unique
                .into_iter()
                .map(|(pk, sk)| HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(request_keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::backend(format!("building a batch get: {e}")))?,
            );
            let mut attempt = 0u32;
            while let Some(request) = pending.take() {
                if attempt > 0 {
                    if attempt >= 8 {
                        return Err(StoreError::backend(format!(
                            "BatchGetItem left keys unprocessed after {attempt} attempts"
                        )));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| backend("BatchGetItem", e))?;
                if let Some(mut found) = out.responses {
                    items.extend(found.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.table))
                    .filter(|left| !left.keys().is_empty());
                attempt += 1;
            }
        }
        Ok(items)
    }

    /// Every item of the table whose sort key starts with `prefix`: a Scan, for local tooling
    /// only (`aftersale` commands without a shop), never on a request path.
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
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

fn message_from(item: &Item) -> Result<Message, StoreError> {
    let what = "message";
    let mut message: Message = from_json(text(item, DATA, what)?, what)?;
    message.version = number(item, VERSION, what)?;
    Ok(message)
}

/// Names an unreadable message item by its key: `SHOP#{shop}#C#{customer}` / `MSG#{id}`.
fn undecodable_entry(item: &Item, err: &StoreError) -> Result<UndecodableMessage, StoreError> {
    let what = "unreadable message";
    let pk = text(item, keys::PK, what)?;
    let sk = text(item, keys::SK, what)?;
    let (shop, customer) = pk
        .strip_prefix("SHOP#")
        .and_then(|rest| rest.split_once("#C#"))
        .ok_or_else(|| corrupt(what, "not a customer partition key"))?;
    let id = sk
        .strip_prefix(keys::MESSAGE_PREFIX)
        .ok_or_else(|| corrupt(what, "not a message sort key"))?;
    Ok(UndecodableMessage {
        shop: shop.to_string(),
        customer: customer.to_string(),
        id: id.to_string(),
        problem: err.to_string(),
    })
}

fn by_due_time(messages: &mut [Message]) {
    messages.sort_by(|a, b| {
        (a.due_at, a.id(), &a.shop, &a.customer_id).cmp(&(b.due_at, b.id(), &b.shop, &b.customer_id))
    });
}

/// One due-index entry: its sort key and the base-table key of its message.
struct DueEntry {
    sort: String,
    key: Key,
}

/// The first `limit` entries of one due-index partition with `gsi4sk < upper`.
async fn query_due_partition(
    client: Client,
    table: String,
    partition: String,
    upper: String,
    limit: usize,
) -> Result<Vec<DueEntry>, StoreError> {
    let page_limit = i32::try_from(limit).unwrap_or(i32::MAX).max(1);
    let mut entries = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(&table)
            .index_name(keys::GSI4)
            .key_condition_expression("gsi4pk = :pk AND gsi4sk < :upper")
            .expression_attribute_values(":pk", s(&partition))
            .expression_attribute_values(":upper", s(&upper))
            .projection_expression("pk, sk, gsi4sk")
            .limit(page_limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| backend("Query", e))?;
        for item in out.items.unwrap_or_default() {
            entries.push(DueEntry {
                sort: text(&item, keys::GSI4SK, "due entry")?.to_string(),
                key: (
                    text(&item, keys::PK, "due entry")?.to_string(),
                    text(&item, keys::SK, "due entry")?.to_string(),
                ),
            });
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() && entries.len() < limit => start = Some(key),
            _ => return Ok(entries),
        }
    }
}

#[async_trait]
impl Messages for DynamoDbStore {
    async fn plan_message(&self, message: &Message) -> Result<bool, StoreError> {
        let stored = Message {
            version: 1,
            ..message.clone()
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.message_item(&stored).await?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(backend("PutItem", err)),
            },
        }
    }

    async fn load_message(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError> {
        self.get(keys::customer(shop, customer), &keys::message(id.as_str()))
            .await?
            .map(|item| message_from(&item))
            .transpose()
    }

    async fn update_message(&self, message: &Message) -> Result<Message, StoreError> {
        let saved = Message {
            version: message.version + 1,
            ..message.clone()
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.message_item(&saved).await?))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":expected", n(message.version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(saved),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Err(StoreError::Conflict {
                    what: format!("message {}", message.id()),
                }),
                _ => Err(backend("PutItem", err)),
            },
        }
    }

    /// Queries GSI4 from the watermark's bucket to the current one (see the module docs), then
    /// reads the oldest entries' messages strongly consistent, so a sender never works from a
    /// stale index copy, and keeps those that really need attention at `now`.
    async fn due_entries(
        &self,
        flow: Flow,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let wall = Utc::now();
        let Some(watermark) = self.get(keys::due_watermark(flow), keys::SK_META).await? else {
            // Written before any entry of the flow: no watermark, nothing was ever due.
            return Ok(Vec::new());
        };
        let what = format!("due watermark of {flow}");
        let first = text(&watermark, BUCKET, &what)?;
        let first = keys::parse_hour(first).ok_or_else(|| corrupt(&what, "not an hour bucket"))?;
        let last = hour_floor(now).max(hour_floor(wall));
        let mut buckets = Vec::new();
        let mut bucket = first;
        while bucket <= last {
            buckets.push(bucket);
            bucket += chrono::Duration::hours(1);
        }

        // Every shard of every bucket, a few partitions at a time.
        let upper = keys::due_sort_upper(now);
        let semaphore = Arc::new(tokio::sync::Semaphore::new(DUE_QUERY_CONCURRENCY));
        let mut queries = tokio::task::JoinSet::new();
        for (index, bucket) in buckets.iter().enumerate() {
            for shard in 0..keys::DUE_SHARDS {
                let partition = keys::due_partition(flow, &keys::hour(*bucket), shard);
                let (client, table, upper) = (self.client.clone(), self.table.clone(), upper.clone());
                let semaphore = Arc::clone(&semaphore);
                queries.spawn(async move {
                    let _permit = semaphore
                        .acquire_owned()
                        .await
                        .map_err(|e| StoreError::backend(format!("due query pool: {e}")))?;
                    let entries = query_due_partition(client, table, partition, upper, limit).await?;
                    Ok::<_, StoreError>((index, entries))
                });
            }
        }
        let mut occupied = vec![false; buckets.len()];
        let mut entries = Vec::new();
        while let Some(joined) = queries.join_next().await {
            let (index, found) =
                joined.map_err(|e| StoreError::backend(format!("due query task failed: {e}")))??;
            occupied[index] |= !found.is_empty();
            entries.extend(found);
        }

        // A bucket is done when it holds nothing and everything it could hold was in range:
        // an entry's attention time is always before its bucket's end.
        let cap = hour_floor(wall - chrono::Duration::minutes(WATERMARK_MARGIN_MINUTES));
        let done = |index: usize| !occupied[index] && buckets[index] + chrono::Duration::hours(1) <= now;
        let next = (0..buckets.len())
            .find(|&index| !done(index))
            .map_or(last + chrono::Duration::hours(1), |index| buckets[index])
            .min(cap);
        if next > first {
            self.advance_watermark(flow, &keys::hour(next)).await?;
        }

        // Oldest first; read the messages themselves and keep what still needs attention.
        entries.sort_by(|a, b| a.sort.cmp(&b.sort));
        let mut seen = BTreeSet::new();
        let candidates: Vec<Key> = entries
            .into_iter()
            .filter(|entry| seen.insert(entry.key.clone()))
            .map(|entry| entry.key)
            .collect();
        let mut due = Vec::new();
        let mut undecodable = Vec::new();
        for chunk in candidates.chunks(limit.clamp(1, 100)) {
            for item in self.batch_get(chunk).await? {
                match message_from(&item) {
                    Ok(message) => {
                        if message.flow() == flow && attention_at(&message).is_some_and(|at| at <= now) {
                            due.push(message);
                        }
                    }
                    Err(err) => undecodable.push(undecodable_entry(&item, &err)?),
                }
            }
            if due.len() + undecodable.len() >= limit {
                break;
            }
        }
        due.sort_by(|a, b| {
            (attention_at(a), &a.shop, &a.customer_id, a.id()).cmp(&(
                attention_at(b),
                &b.shop,
                &b.customer_id,
                b.id(),
            ))
        });
        // The unreadable first: they are set aside at once, whatever the batch size.
        let mut entries: Vec<Due> = undecodable.into_iter().map(Due::Undecodable).collect();
        entries.extend(due.into_iter().map(|m| Due::Message(Box::new(m))));
        entries.truncate(limit);
        Ok(entries)
    }

    /// Removes the item's due-index entry (`gsi4pk`, `gsi4sk`) and gives it the TTL of a
    /// finished message; its data stays for inspection until then.
    async fn quarantine_message(&self, entry: &UndecodableMessage) -> Result<(), StoreError> {
        let shop =
            ShopId::new(&entry.shop).map_err(|e| corrupt("quarantined message's shop", e.to_string()))?;
        let customer = CustomerId::new(&entry.customer)
            .map_err(|e| corrupt("quarantined message's customer", e.to_string()))?;
        let expires = Utc::now() + chrono::Duration::days(FINISHED_MESSAGE_RETENTION_DAYS);
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::customer(&shop, &customer)))
            .key(keys::SK, s(keys::message(&entry.id)))
            .update_expression("REMOVE #gpk, #gsk SET #ttl = :ttl")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#gpk", keys::GSI4PK)
            .expression_attribute_names("#gsk", keys::GSI4SK)
            .expression_attribute_names("#ttl", keys::EXPIRES_AT)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":ttl", n(expires.timestamp()))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(backend("UpdateItem", err)),
            })
    }

    async fn customer_messages(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
    ) -> Result<Vec<Message>, StoreError> {
        let mut messages = self
            .query_all(
                None,
                "pk = :pk AND begins_with(sk, :prefix)",
                &[
                    (":pk", &keys::customer(shop, customer)),
                    (":prefix", keys::MESSAGE_PREFIX),
                ],
                None,
            )
            .await?
            .iter()
            .map(message_from)
            .collect::<Result<Vec<_>, _>>()?;
        by_due_time(&mut messages);
        Ok(messages)
    }

    /// One shop: its message keys from GSI1, then the messages themselves. All shops: a Scan,
    /// for local tooling only.
    async fn list_messages(&self, shop: Option<&ShopId>) -> Result<Vec<Message>, StoreError> {
        let items = match shop {
            Some(shop) => {
                let found = self
                    .query_keys(
                        Some(keys::GSI1),
                        "gsi1pk = :pk AND begins_with(gsi1sk, :prefix)",
                        &[(":pk", &keys::shop(shop)), (":prefix", keys::MESSAGE_REF_PREFIX)],
                    )
                    .await?;
                self.batch_get(&found).await?
            }
            None => self.scan_prefix(keys::MESSAGE_PREFIX).await?,
        };
        let mut messages = items.iter().map(message_from).collect::<Result<Vec<_>, _>>()?;
        by_due_time(&mut messages);
        Ok(messages)
    }
}

#[async_trait]
impl Answers for DynamoDbStore {
    async fn record_answer(&self, answer: &Answer) -> Result<(), StoreError> {
        let question = answer.answer.question();
        let (shop, customer) = (&answer.shop, &answer.customer_id);
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::customer(shop, customer)));
        item.insert(
            keys::SK.into(),
            s(keys::answer(answer.message_id.as_str(), &question)),
        );
        item.insert(DATA.into(), s(to_json(answer, "answer")?));
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(
            keys::GSI1SK.into(),
            s(keys::answer_ref(customer, answer.message_id.as_str(), &question)),
        );
        self.put(item).await
    }

    async fn customer_answers(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
    ) -> Result<Vec<Answer>, StoreError> {
        let mut answers = self
            .query_all(
                None,
                "pk = :pk AND begins_with(sk, :prefix)",
                &[
                    (":pk", &keys::customer(shop, customer)),
                    (":prefix", keys::ANSWER_PREFIX),
                ],
                None,
            )
            .await?
            .iter()
            .map(|item| from_json(text(item, DATA, "answer")?, "answer"))
            .collect::<Result<Vec<Answer>, _>>()?;
        answers.sort_by_key(|a| a.answered_at);
        Ok(answers)
    }
}

#[async_trait]
impl Suppressions for DynamoDbStore {
    async fn suppress(
        &self,
        shop: &ShopId,
        address: &str,
        reason: SuppressionReason,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let hash = address_hash(address);
        let reason = match serde_json::to_value(reason) {
            Ok(serde_json::Value::String(reason)) => reason,
            _ => return Err(StoreError::backend("suppression reason is not a string")),
        };
        let mut item = Item::new();
        item.insert(keys::PK.into(), s(keys::suppression(shop, &hash)));
        item.insert(keys::SK.into(), s(keys::SK_SUPPRESSED));
        item.insert(REASON.into(), s(reason));
        item.insert(AT.into(), s(keys::timestamp(at)));
        item.insert(keys::GSI1PK.into(), s(keys::shop(shop)));
        item.insert(keys::GSI1SK.into(), s(keys::suppression_ref(&hash)));
        self.put(item).await
    }

    async fn suppression(
        &self,
        shop: &ShopId,
        address: &str,
    ) -> Result<Option<SuppressionReason>, StoreError> {
        let key = keys::suppression(shop, &address_hash(address));
        let Some(item) = self.get(key, keys::SK_SUPPRESSED).await? else {
            return Ok(None);
        };
        let reason = text(&item, REASON, "suppression")?;
        serde_json::from_value(serde_json::Value::String(reason.to_string()))
            .map(Some)
            .map_err(|_| corrupt("suppression", "unknown reason"))
    }
}

#[async_trait]
impl ShopConfigs for DynamoDbStore {
    async fn load_config(&self, shop: &ShopId) -> Result<Option<ShopConfig>, StoreError> {
        self.get_json(keys::shop(shop), keys::SK_CONFIG, &format!("config of {shop}"))
            .await
    }

    async fn save_config(&self, shop: &ShopId, config: &ShopConfig) -> Result<(), StoreError> {
        self.put_document(
            shop,
            keys::shop(shop),
            keys::SK_CONFIG,
            to_json(config, "shop config")?,
            keys::SK_CONFIG,
        )
        .await
    }
}
