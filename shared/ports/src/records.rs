use aftersale_domain::{Platform, StoreEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What `record_event` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First time this event id was seen for the shop.
    New,
    /// Seen before. `applied` is false when an earlier attempt stored it but died before
    /// finishing the work, so the work must be done again (idempotently).
    Duplicate { applied: bool },
}

/// An event as stored, with when we received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub event: StoreEvent,
    pub received_at: DateTime<Utc>,
    pub applied: bool,
}

/// A value with the version it was read at, for optimistic concurrency: a save names the
/// version it expects, and fails with `Conflict` if someone else saved in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    /// Waiting for a fix and a replay.
    Pending,
    /// Replayed successfully; kept for the record.
    Replayed,
}

/// A signed delivery we could not turn into events, kept whole so a fixed parser can replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    /// The shop's id when the delivery named a valid one (so the shop's and its customers'
    /// redaction find the letter), else the name as sent, which may be what was wrong. The
    /// header itself is kept unchanged in `headers`.
    pub shop: String,
    pub platform: Platform,
    pub topic: String,
    /// The platform's headers (signature included: it is a MAC, not a secret).
    pub headers: Vec<(String, String)>,
    /// The exact raw body, base64 so any bytes survive every backend.
    pub body_base64: String,
    pub reason: String,
    pub received_at: DateTime<Utc>,
    pub status: DeadLetterStatus,
    pub attempts: u32,
}
