//! What the flows need from storage, beyond ingest's [`Store`](crate::Store): planned
//! messages with a due index, answers from 1-tap links, the suppression list, shop config.

use crate::{Store, StoreError};
use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{Answer, CustomerId, Flow, Message, MessageId, ShopConfig, ShopId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait Messages: Send + Sync {
    /// Stores a planned message unless the customer already has one with its id
    /// (`flow#subject#step`). Returns whether it was stored: planning twice stores once.
    async fn plan_message(&self, message: &Message) -> Result<bool, StoreError>;

    async fn load_message(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError>;

    /// Saves if the stored version is still `message.version`, else `Conflict`. Returns the
    /// message as stored (version bumped). This is how a sender claims a message: only one
    /// of two concurrent claims can win.
    async fn update_message(&self, message: &Message) -> Result<Message, StoreError>;

    /// One flow's due-index entries needing attention at `now`, oldest first, at most
    /// `limit`: messages planned and due, or claimed/sending with an expired lease. Backed by
    /// an index on (flow, attention time), so a tick costs what is due, not the number of
    /// customers. An entry whose message cannot be read comes back as
    /// [`DueEntry::Undecodable`] instead of failing the whole batch: one poison pill must not
    /// block its flow's queue.
    async fn due_entries(
        &self,
        flow: Flow,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError>;

    /// [`Messages::due_entries`]' readable messages.
    async fn due_messages(
        &self,
        flow: Flow,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self
            .due_entries(flow, now, limit)
            .await?
            .into_iter()
            .filter_map(|entry| match entry {
                DueEntry::Message(message) => Some(*message),
                DueEntry::Undecodable(_) => None,
            })
            .collect())
    }

    /// Takes an unreadable message out of the due index, for good, leaving the stored bytes
    /// as they are for someone to inspect. Its other queries are unaffected.
    async fn quarantine_message(&self, entry: &UndecodableMessage) -> Result<(), StoreError>;

    /// One customer's messages (caps, reminders, the outbox of one person).
    async fn customer_messages(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
    ) -> Result<Vec<Message>, StoreError>;

    /// Every message of a shop (or all, for local tooling), by due time.
    async fn list_messages(&self, shop: Option<&ShopId>) -> Result<Vec<Message>, StoreError>;
}

/// One entry of the due index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueEntry {
    /// Boxed: a message is several times the size of an unreadable entry.
    Message(Box<Message>),
    Undecodable(UndecodableMessage),
}

/// A stored message that cannot be read (written by a newer version, or damaged), named by
/// its key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndecodableMessage {
    pub shop: String,
    pub customer: String,
    /// `flow#subject#step`.
    pub id: String,
    /// What the decoder said.
    pub problem: String,
}

#[async_trait]
pub trait Answers: Send + Sync {
    /// Records an answer; a later answer to the same question of the same message replaces it.
    async fn record_answer(&self, answer: &Answer) -> Result<(), StoreError>;
    async fn customer_answers(&self, shop: &ShopId, customer: &CustomerId)
    -> Result<Vec<Answer>, StoreError>;
}

#[async_trait]
pub trait Suppressions: Send + Sync {
    /// Suppresses an address (email or phone) for one shop. Stored by a hash of the
    /// normalised address, so the list holds no contact details.
    async fn suppress(
        &self,
        shop: &ShopId,
        address: &str,
        reason: SuppressionReason,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn suppression(
        &self,
        shop: &ShopId,
        address: &str,
    ) -> Result<Option<SuppressionReason>, StoreError>;
}

#[async_trait]
pub trait ShopConfigs: Send + Sync {
    async fn load_config(&self, shop: &ShopId) -> Result<Option<ShopConfig>, StoreError>;
    async fn save_config(&self, shop: &ShopId, config: &ShopConfig) -> Result<(), StoreError>;
}

/// Everything the flows use.
pub trait FlowStore: Store + Messages + Answers + Suppressions + ShopConfigs {}
impl<T: Store + Messages + Answers + Suppressions + ShopConfigs> FlowStore for T {}

/// The key a suppressed address is stored under: SHA-256 of the trimmed, lower-cased address.
pub fn address_hash(address: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// When a message next needs a sender's attention: its due time while planned, its lease's
/// end while claimed or sending, never once final. Every store indexes this.
pub fn attention_at(message: &Message) -> Option<DateTime<Utc>> {
    use aftersale_domain::MessageStatus::*;
    match message.status {
        Planned => Some(message.due_at),
        Claimed | Sending => Some(message.lease_until.unwrap_or(message.due_at)),
        Sent | Skipped | Failed | HeldOut => None,
    }
}
