//! The store's ports, one small trait per capability (the event log, order records, customer
//! profiles, dead letters, the shop registry, privacy), grouped with [`Documents`] and
//! [`InstallNonces`] by the [`Store`] supertrait, and the [`EventBus`]. A handler asks only for the traits it uses; the memory, SQLite and
//! DynamoDB adapters implement them all and pass one contract suite.
use crate::{DeadLetter, Documents, InstallNonces, Recorded, ShopState, StoreError, StoredEvent, Versioned};
use aftersale_domain::{Customer, CustomerId, EventId, OrderId, OrderRecord, ShopId, StoreEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The log of normalised events, deduplicated per shop by event id.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Opens one transaction for the store calls of an event ([`crate::event_transaction`]),
    /// which then runs [`crate::event_transaction::within`] the id returned. `None`: this
    /// store has none, and each call stands alone.
    async fn begin_event_transaction(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Ends the event transaction `id`, committing whatever the event wrote, also when the
    /// event failed part-way: as with calls that each commit, its redelivery resumes it. Not
    /// async, so that it also runs where an event's future is dropped half-way.
    fn end_event_transaction(&self, _id: u64) -> Result<(), StoreError> {
        Ok(())
    }

    /// Stores the event unless `(shop, event_id)` is already there. One conditional write.
    async fn record_event(
        &self,
        event: &StoreEvent,
        received_at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError>;
    /// Marks an event's work (order fold, publish) as finished.
    async fn mark_applied(&self, event: &StoreEvent) -> Result<(), StoreError>;
    /// Every stored event of one shop (or all shops, for local tooling), oldest first.
    async fn list_events(&self, shop: Option<&ShopId>) -> Result<Vec<StoredEvent>, StoreError>;
    /// Whether the event's work is finished: `None` when it is not stored (never recorded, or
    /// erased since). Work finished after the delivery was answered asks first, so that an
    /// erased customer's event is never published.
    async fn event_applied(&self, shop: &ShopId, event_id: &EventId) -> Result<Option<bool>, StoreError>;
    /// The events of every shop received before `received_before` whose work did not finish,
    /// oldest first: what a process that died after answering left to do.
    async fn unfinished_events(&self, received_before: DateTime<Utc>)
    -> Result<Vec<StoredEvent>, StoreError>;
}

/// Orders as folded from their events.
#[async_trait]
pub trait OrderRecords: Send + Sync {
    async fn load_order(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
    ) -> Result<Option<Versioned<OrderRecord>>, StoreError>;
    /// Saves if the stored version is still `expected_version` (0 = must not exist yet).
    async fn save_order(
        &self,
        shop: &ShopId,
        record: &OrderRecord,
        expected_version: u64,
    ) -> Result<(), StoreError>;
}

/// The latest known profile of each customer.
#[async_trait]
pub trait CustomerProfiles: Send + Sync {
    async fn load_customer(&self, shop: &ShopId, id: &CustomerId) -> Result<Option<Customer>, StoreError>;
    async fn save_customer(&self, shop: &ShopId, customer: &Customer) -> Result<(), StoreError>;
}

/// Deliveries kept for a replay after a fix.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Idempotent on `id`: the same delivery retried is kept once.
    async fn put_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;
    async fn list_dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;
    async fn update_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;
    /// Erases a dead letter (its customer asked to be forgotten). Returns whether it was there.
    async fn delete_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError>;
}

/// Install state per shop (see [`crate::install`]).
#[async_trait]
pub trait ShopRegistry: Send + Sync {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<ShopState>, StoreError>;
    async fn save_shop(&self, shop: &ShopId, state: &ShopState) -> Result<(), StoreError>;
    /// Every shop with an install record, by shop id (`aftersale shops`).
    async fn list_shops(&self) -> Result<Vec<(ShopId, ShopState)>, StoreError>;
}

/// Deletion on the platform's GDPR requests.
#[async_trait]
pub trait Privacy: Send + Sync {
    /// Deletes the customer's profile, orders (theirs and those listed), events, and the
    /// documents under their `customer#{id}#` prefix.
    async fn redact_customer(
        &self,
        shop: &ShopId,
        customer: Option<&CustomerId>,
        orders: &[OrderId],
    ) -> Result<u64, StoreError>;
    /// Deletes everything the shop owns. Returns the number of items removed.
    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError>;
}

/// Everything a store offers; adapters implement the parts, this comes for free.
pub trait Store:
    EventLog + OrderRecords + CustomerProfiles + DeadLetters + ShopRegistry + Privacy + Documents + InstallNonces
{
}
impl<
    T: EventLog
        + OrderRecords
        + CustomerProfiles
        + DeadLetters
        + ShopRegistry
        + Privacy
        + Documents
        + InstallNonces,
> Store for T
{
}

/// Where stored events are announced for the flows (SNS in AWS, in-process locally).
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, event: &StoreEvent) -> Result<(), StoreError>;
}

/// The bus when nothing listens yet.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEventBus;

#[async_trait]
impl EventBus for NoEventBus {
    async fn publish(&self, _event: &StoreEvent) -> Result<(), StoreError> {
        Ok(())
    }
}
