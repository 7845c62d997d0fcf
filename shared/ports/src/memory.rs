//! An in-memory [`Store`](crate::Store) for unit tests: the same semantics as the real
//! adapters (conditional writes, versions, per-shop keys) behind one lock.

use crate::{
    CustomerProfiles, DeadLetter, DeadLetters, EventLog, OrderRecords, Privacy, Recorded, ShopRegistry,
    ShopState, StoreError, StoredEvent, Versioned,
};
use aftersale_domain::{Customer, CustomerId, EventId, OrderId, OrderRecord, ShopId, StoreEvent};
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
}

#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
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
            return Ok(Recorded::Duplicate { applied: existing.applied });
        }
        state.next_seq += 1;
        let seq = state.next_seq;
        let stored = StoredEvent { event: event.clone(), received_at, applied: false };
        state.events.insert(key, (seq, stored));
        Ok(Recorded::New)
    }

    async fn mark_applied(&self, event: &StoreEvent) -> Result<(), StoreError> {
        let mut state = self.write();
        if let Some((_, stored)) = state.events.get_mut(&(event.shop.clone(), event.event_id.clone())) {
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
                version: current + 1,
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
        let mut order_ids: Vec<OrderId> = orders.to_vec();
        if let Some(customer) = customer {
            order_ids.extend(
                state
                    .orders
                    .iter()
                    .filter(|((s, _), r)| s == shop && r.value.customer_id() == Some(customer))
                    .map(|((_, id), _)| id.clone()),
            );
        }
        let before = state.orders.len() + state.customers.len() + state.events.len();
        state
            .orders
            .retain(|(s, id), _| !(s == shop && order_ids.contains(id)));
        if let Some(customer) = customer {
            state.customers.remove(&(shop.clone(), customer.clone()));
        }
        state.events.retain(|(s, _), (_, e)| {
            let mine = customer.is_some() && e.event.customer_id() == customer;
            let their_order = e.event.order_id().is_some_and(|o| order_ids.contains(o));
            !(s == shop && (mine || their_order))
        });
        let after = state.orders.len() + state.customers.len() + state.events.len();
        Ok((before - after) as u64)
    }

    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError> {
        let mut state = self.write();
        let before = state.orders.len() + state.customers.len() + state.events.len() + state.shops.len();
        state.orders.retain(|(s, _), _| s != shop);
        state.customers.retain(|(s, _), _| s != shop);
        state.events.retain(|(s, _), _| s != shop);
        state.shops.remove(shop);
        let after = state.orders.len() + state.customers.len() + state.events.len() + state.shops.len();
        Ok((before - after) as u64)
    }
}
