//! An in-memory [`FlowStore`](aftersale_ports::FlowStore) for unit tests: the same semantics as the real
//! adapters (conditional writes, versions, per-shop keys) behind one lock.

use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{
    Answer, Customer, CustomerId, EventId, Flow, Message, MessageId, OrderId, OrderRecord, ShopConfig,
    ShopId, StoreEvent,
};
use aftersale_ports::documents::DocumentWrite;
use aftersale_ports::redaction_plan::{BY_CUSTOMER, BY_ORDER, CustomerRedaction, Record};
use aftersale_ports::{
    Answers, Documents, DueEntry, Messages, ShopConfigs, Suppressions, UndecodableMessage, address_hash,
    attention_at,
};
use aftersale_ports::{
    CustomerProfiles, DeadLetter, DeadLetters, EventLog, InstallNonces, OrderRecords, Privacy, Recorded,
    ShopRegistry, ShopState, StoreError, StoredEvent, Versioned,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

#[derive(Default)]
struct State {
    /// With an insertion sequence, so events received at the same instant list in arrival order.
    events: BTreeMap<(ShopId, EventId), (u64, StoredEvent)>,
    next_seq: u64,
    orders: HashMap<(ShopId, OrderId), Versioned<OrderRecord>>,
    customers: HashMap<(ShopId, CustomerId), Customer>,
    dead_letters: BTreeMap<String, DeadLetter>,
    shops: HashMap<ShopId, ShopState>,
    messages: HashMap<(ShopId, CustomerId, MessageId), Message>,
    answers: HashMap<(ShopId, CustomerId, MessageId, String), Answer>,
    suppressions: HashMap<(ShopId, String), SuppressionReason>,
    configs: HashMap<ShopId, ShopConfig>,
    documents: BTreeMap<(ShopId, String), Versioned<serde_json::Value>>,
    /// OAuth `state` nonces and their expiry.
    nonces: HashMap<(ShopId, String), DateTime<Utc>>,
}

impl State {
    /// Items held, for the counts redaction reports.
    fn size(&self) -> usize {
        self.events.len()
            + self.orders.len()
            + self.customers.len()
            + self.dead_letters.len()
            + self.shops.len()
            + self.messages.len()
            + self.answers.len()
            + self.suppressions.len()
            + self.configs.len()
            + self.documents.len()
            + self.nonces.len()
    }
}

#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
    /// Document writes left before an injected crash (`None`: no crash planned).
    writes_before_crash: std::sync::Mutex<Option<usize>>,
    /// Writes of a sent message still to fail, and whether each lands first.
    failing_sent_writes: std::sync::Mutex<(usize, bool)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every document write after the next `writes` fail, as if the process had died
    /// there: nothing of those writes is stored. `None` lifts it (the process restarted).
    pub fn crash_document_writes_after(&self, writes: Option<usize>) {
        *self.writes_before_crash.lock().unwrap_or_else(|p| p.into_inner()) = writes;
    }

    /// Makes the next `writes` updates that record a message as sent fail with a backend
    /// error. With `landed`, each is stored before it fails, as a call that committed and
    /// whose answer was lost on the way back (a timeout).
    pub fn fail_sent_writes(&self, writes: usize, landed: bool) {
        *self.failing_sent_writes.lock().unwrap_or_else(|p| p.into_inner()) = (writes, landed);
    }

    /// Counts one document write against a planned crash.
    fn document_write_allowed(&self) -> Result<(), StoreError> {
        let mut left = self.writes_before_crash.lock().unwrap_or_else(|p| p.into_inner());
        match left.as_mut() {
            Some(0) => Err(StoreError::Backend("injected crash before this write".into())),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn record_event(
        &self,
        event: &StoreEvent,
        received_at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let mut state = self.write();
        let key = (event.shop.clone(), event.event_id.clone());
        if let Some((_, existing)) = state.events.get(&key) {
            return Ok(Recorded::Duplicate {
                applied: existing.applied,
            });
        }
        state.next_seq += 1;
        let seq = state.next_seq;
        let stored = StoredEvent {
            event: event.clone(),
            received_at,
            applied: false,
        };
        state.events.insert(key, (seq, stored));
        Ok(Recorded::New)
    }

    async fn mark_applied(&self, event: &StoreEvent) -> Result<(), StoreError> {
        let mut state = self.write();
        if let Some((_, stored)) = state
            .events
            .get_mut(&(event.shop.clone(), event.event_id.clone()))
        {
            stored.applied = true;
        }
        Ok(())
    }

    async fn list_events(&self, shop: Option<&ShopId>) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events: Vec<(u64, StoredEvent)> = self
            .read()
            .events
            .values()
            .filter(|(_, e)| shop.is_none_or(|s| *s == e.event.shop))
            .cloned()
            .collect();
        events.sort_by_key(|(seq, e)| (e.received_at, *seq));
        Ok(events.into_iter().map(|(_, e)| e).collect())
    }

    async fn event_applied(&self, shop: &ShopId, event_id: &EventId) -> Result<Option<bool>, StoreError> {
        Ok(self
            .read()
            .events
            .get(&(shop.clone(), event_id.clone()))
            .map(|(_, stored)| stored.applied))
    }

    async fn unfinished_events(
        &self,
        received_before: DateTime<Utc>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = self.list_events(None).await?;
        events.retain(|e| !e.applied && e.received_at < received_before);
        Ok(events)
    }
}

#[async_trait]
impl OrderRecords for MemoryStore {
    async fn load_order(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Versioned<OrderRecord>>, StoreError> {
        Ok(self.read().orders.get(&(shop.clone(), order_id.clone())).cloned())
    }

    async fn save_order(
        &self,
        shop: &ShopId,
        record: &OrderRecord,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        let key = (shop.clone(), record.order_id.clone());
        let current = state.orders.get(&key).map_or(0, |v| v.version);
        if current != expected_version {
            return Err(StoreError::Conflict {
                what: format!("order {}", record.order_id),
            });
        }
        state.orders.insert(
            key,
            Versioned {
                value: record.clone(),
                version: aftersale_ports::documents::next_version(current),
            },
        );
        Ok(())
    }
}

#[async_trait]
impl CustomerProfiles for MemoryStore {
    async fn load_customer(&self, shop: &ShopId, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        Ok(self.read().customers.get(&(shop.clone(), id.clone())).cloned())
    }

    async fn save_customer(&self, shop: &ShopId, customer: &Customer) -> Result<(), StoreError> {
        self.write()
            .customers
            .insert((shop.clone(), customer.id.clone()), customer.clone());
        Ok(())
    }
}

#[async_trait]
impl DeadLetters for MemoryStore {
    async fn put_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.write()
            .dead_letters
            .entry(letter.id.clone())
            .or_insert_with(|| letter.clone());
        Ok(())
    }

    async fn list_dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let mut letters: Vec<DeadLetter> = self.read().dead_letters.values().cloned().collect();
        letters.sort_by_key(|l| l.received_at);
        Ok(letters)
    }

    async fn update_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.write()
            .dead_letters
            .insert(letter.id.clone(), letter.clone());
        Ok(())
    }

    async fn delete_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        Ok(self.write().dead_letters.remove(&letter.id).is_some())
    }
}

#[async_trait]
impl ShopRegistry for MemoryStore {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<ShopState>, StoreError> {
        Ok(self.read().shops.get(shop).cloned())
    }

    async fn save_shop(&self, shop: &ShopId, state: &ShopState) -> Result<(), StoreError> {
        self.write().shops.insert(shop.clone(), state.clone());
        Ok(())
    }

    async fn list_shops(&self) -> Result<Vec<(ShopId, ShopState)>, StoreError> {
        let mut shops: Vec<_> = self
            .read()
            .shops
            .iter()
            .map(|(shop, state)| (shop.clone(), state.clone()))
            .collect();
        shops.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(shops)
    }
}

#[async_trait]
impl InstallNonces for MemoryStore {
    async fn save_nonce(
        &self,
        shop: &ShopId,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write()
            .nonces
            .insert((shop.clone(), nonce.to_string()), expires_at);
        Ok(())
    }

    async fn take_nonce(&self, shop: &ShopId, nonce: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.write().nonces.remove(&(shop.clone(), nonce.to_string())))
    }
}

#[async_trait]
impl Privacy for MemoryStore {
    async fn redact_customer(
        &self,
        shop: &ShopId,
        customer: Option<&CustomerId>,
        orders: &[OrderId],
    ) -> Result<u64, StoreError> {
        let mut state = self.write();
        let mut plan = CustomerRedaction::new(customer, orders);
        if let Some(customer) = plan.customer() {
            let theirs: Vec<OrderId> = state
                .orders
                .iter()
                .filter(|((s, _), r)| s == shop && r.value.customer_id() == Some(customer))
                .map(|((_, id), _)| id.clone())
                .collect();
            plan.add_their_orders(theirs);
        }
        let before = state.size();
        for order in plan.orders() {
            for record in BY_ORDER {
                state.remove_order_records(record, shop, order);
            }
            for key in CustomerRedaction::order_documents(order) {
                state.documents.remove(&(shop.clone(), key));
            }
        }
        if let Some(customer) = plan.customer() {
            for record in BY_CUSTOMER {
                state.remove_customer_records(record, shop, customer);
            }
        }
        if let Some(prefix) = plan.document_prefix() {
            state
                .documents
                .retain(|(s, key), _| !(s == shop && key.starts_with(&prefix)));
        }
        let after = state.size();
        Ok((before - after) as u64)
    }

    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError> {
        let mut state = self.write();
        let before = state.size();
        for record in Record::ALL {
            state.remove_shop_records(record, shop);
        }
        let after = state.size();
        Ok((before - after) as u64)
    }
}

impl State {
    /// Removes every record of one kind that `shop` owns.
    fn remove_shop_records(&mut self, record: Record, shop: &ShopId) {
        match record {
            Record::Events => self.events.retain(|(s, _), _| s != shop),
            Record::Orders => self.orders.retain(|(s, _), _| s != shop),
            Record::Customers => self.customers.retain(|(s, _), _| s != shop),
            Record::DeadLetters => self.dead_letters.retain(|_, letter| letter.shop != shop.as_str()),
            Record::Shops => drop(self.shops.remove(shop)),
            Record::Messages => self.messages.retain(|(s, _, _), _| s != shop),
            Record::Answers => self.answers.retain(|(s, _, _, _), _| s != shop),
            Record::Suppressions => self.suppressions.retain(|(s, _), _| s != shop),
            Record::ShopConfigs => drop(self.configs.remove(shop)),
            Record::Documents => self.documents.retain(|(s, _), _| s != shop),
            Record::OauthNonces => self.nonces.retain(|(s, _), _| s != shop),
            // Tokens are not in this store: `MemoryTokens` keeps them.
            Record::ShopTokens => {}
        }
    }

    /// Removes the records of one kind that name `order` (see [`BY_ORDER`]).
    fn remove_order_records(&mut self, record: Record, shop: &ShopId, order: &OrderId) {
        match record {
            Record::Orders => drop(self.orders.remove(&(shop.clone(), order.clone()))),
            Record::Events => self
                .events
                .retain(|(s, _), (_, e)| !(s == shop && e.event.order_id() == Some(order))),
            other => unreachable!("{other:?} is not kept by order"),
        }
    }

    /// Removes the records of one kind kept under `customer` (see [`BY_CUSTOMER`]).
    fn remove_customer_records(&mut self, record: Record, shop: &ShopId, customer: &CustomerId) {
        match record {
            Record::Customers => drop(self.customers.remove(&(shop.clone(), customer.clone()))),
            Record::Events => self
                .events
                .retain(|(s, _), (_, e)| !(s == shop && e.event.customer_id() == Some(customer))),
            Record::Messages => self.messages.retain(|(s, c, _), _| !(s == shop && c == customer)),
            Record::Answers => self
                .answers
                .retain(|(s, c, _, _), _| !(s == shop && c == customer)),
            other => unreachable!("{other:?} is not kept by customer"),
        }
    }
}

#[async_trait]
impl Messages for MemoryStore {
    async fn plan_message(&self, message: &Message) -> Result<bool, StoreError> {
        let mut state = self.write();
        let key = (message.shop.clone(), message.customer_id.clone(), message.id());
        if state.messages.contains_key(&key) {
            return Ok(false);
        }
        state.messages.insert(
            key,
            Message {
                version: 1,
                ..message.clone()
            },
        );
        Ok(true)
    }

    async fn load_message(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError> {
        Ok(self
            .read()
            .messages
            .get(&(shop.clone(), customer.clone(), id.clone()))
            .cloned())
    }

    async fn update_message(&self, message: &Message) -> Result<Message, StoreError> {
        let fault = {
            let mut failing = self.failing_sent_writes.lock().unwrap_or_else(|p| p.into_inner());
            let fails = failing.0 > 0 && message.status == aftersale_domain::MessageStatus::Sent;
            if fails {
                failing.0 -= 1;
            }
            fails.then_some(failing.1)
        };
        let injected = || StoreError::Backend("injected: the store did not answer".into());
        if fault == Some(false) {
            return Err(injected());
        }
        let mut state = self.write();
        let key = (message.shop.clone(), message.customer_id.clone(), message.id());
        match state.messages.get(&key) {
            Some(current) if current.version == message.version => {
                let saved = Message {
                    version: message.version + 1,
                    ..message.clone()
                };
                state.messages.insert(key, saved.clone());
                if fault == Some(true) {
                    return Err(injected());
                }
                Ok(saved)
            }
            _ => Err(StoreError::Conflict {
                what: format!("message {}", message.id()),
            }),
        }
    }

    async fn due_entries(
        &self,
        flow: Flow,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let mut due: Vec<(DateTime<Utc>, Message)> = self
            .read()
            .messages
            .values()
            .filter(|m| m.flow() == flow)
            .filter_map(|m| attention_at(m).filter(|at| *at <= now).map(|at| (at, m.clone())))
            .collect();
        due.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id().cmp(&b.1.id())));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, m)| DueEntry::Message(Box::new(m)))
            .collect())
    }

    /// Messages are held typed here, so none is ever unreadable: there is nothing to take out.
    async fn quarantine_message(&self, _entry: &UndecodableMessage) -> Result<(), StoreError> {
        Ok(())
    }

    async fn customer_messages(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
    ) -> Result<Vec<Message>, StoreError> {
        let mut messages: Vec<Message> = self
            .read()
            .messages
            .iter()
            .filter(|((s, c, _), _)| s == shop && c == customer)
            .map(|(_, m)| m.clone())
            .collect();
        messages.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id().cmp(&b.id())));
        Ok(messages)
    }

    async fn list_messages(&self, shop: Option<&ShopId>) -> Result<Vec<Message>, StoreError> {
        let mut messages: Vec<Message> = self
            .read()
            .messages
            .values()
            .filter(|m| shop.is_none_or(|s| *s == m.shop))
            .cloned()
            .collect();
        messages.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id().cmp(&b.id())));
        Ok(messages)
    }
}

#[async_trait]
impl Answers for MemoryStore {
    async fn record_answer(&self, answer: &Answer) -> Result<(), StoreError> {
        let key = (
            answer.shop.clone(),
            answer.customer_id.clone(),
            answer.message_id.clone(),
            answer.answer.question(),
        );
        self.write().answers.insert(key, answer.clone());
        Ok(())
    }

    async fn customer_answers(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
    ) -> Result<Vec<Answer>, StoreError> {
        let mut answers: Vec<Answer> = self
            .read()
            .answers
            .iter()
            .filter(|((s, c, _, _), _)| s == shop && c == customer)
            .map(|(_, a)| a.clone())
            .collect();
        answers.sort_by_key(|a| a.answered_at);
        Ok(answers)
    }
}

#[async_trait]
impl Suppressions for MemoryStore {
    async fn suppress(
        &self,
        shop: &ShopId,
        address: &str,
        reason: SuppressionReason,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write()
            .suppressions
            .insert((shop.clone(), address_hash(address)), reason);
        Ok(())
    }

    async fn suppression(
        &self,
        shop: &ShopId,
        address: &str,
    ) -> Result<Option<SuppressionReason>, StoreError> {
        Ok(self
            .read()
            .suppressions
            .get(&(shop.clone(), address_hash(address)))
            .copied())
    }
}

#[async_trait]
impl ShopConfigs for MemoryStore {
    async fn load_config(&self, shop: &ShopId) -> Result<Option<ShopConfig>, StoreError> {
        Ok(self.read().configs.get(shop).cloned())
    }

    async fn save_config(&self, shop: &ShopId, config: &ShopConfig) -> Result<(), StoreError> {
        self.write().configs.insert(shop.clone(), config.clone());
        Ok(())
    }
}

#[async_trait]
impl Documents for MemoryStore {
    async fn load_document(
        &self,
        shop: &ShopId,
        key: &str,
    ) -> Result<Option<Versioned<serde_json::Value>>, StoreError> {
        Ok(self
            .read()
            .documents
            .get(&(shop.clone(), key.to_string()))
            .cloned())
    }

    async fn save_document(
        &self,
        shop: &ShopId,
        key: &str,
        value: &serde_json::Value,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.document_write_allowed()?;
        let mut state = self.write();
        let slot = (shop.clone(), key.to_string());
        let current = state.documents.get(&slot).map_or(0, |d| d.version);
        if current != expected_version {
            return Err(StoreError::Conflict {
                what: format!("document {key}"),
            });
        }
        state.documents.insert(
            slot,
            Versioned {
                value: value.clone(),
                version: aftersale_ports::documents::next_version(expected_version),
            },
        );
        Ok(())
    }

    async fn list_documents(
        &self,
        shop: &ShopId,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned<serde_json::Value>)>, StoreError> {
        Ok(self
            .read()
            .documents
            .range((shop.clone(), prefix.to_string())..)
            .take_while(|((s, key), _)| s == shop && key.starts_with(prefix))
            .map(|((_, key), doc)| (key.clone(), doc.clone()))
            .collect())
    }

    async fn delete_document(&self, shop: &ShopId, key: &str) -> Result<bool, StoreError> {
        self.document_write_allowed()?;
        Ok(self
            .write()
            .documents
            .remove(&(shop.clone(), key.to_string()))
            .is_some())
    }

    async fn save_documents(&self, shop: &ShopId, writes: &[DocumentWrite]) -> Result<(), StoreError> {
        aftersale_ports::documents::check_batch(writes)?;
        self.document_write_allowed()?;
        let mut state = self.write();
        for w in writes {
            let current = state
                .documents
                .get(&(shop.clone(), w.key.clone()))
                .map_or(0, |d| d.version);
            if current != w.expected_version {
                return Err(StoreError::Conflict {
                    what: format!("document {}", w.key),
                });
            }
        }
        for w in writes {
            state.documents.insert(
                (shop.clone(), w.key.clone()),
                Versioned {
                    value: w.value.clone(),
                    version: aftersale_ports::documents::next_version(w.expected_version),
                },
            );
        }
        Ok(())
    }
}
