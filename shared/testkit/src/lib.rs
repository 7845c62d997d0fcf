//! What tests put in place of the world: an in-memory store with the same contract as the
//! real ones (the store-contract suite runs on it), tokens in a map, and the senders that
//! record what they are given. A dev-dependency only: no production crate links it.
//!
//! The recording senders live in `aftersale-outbox`, because `aftersale simulate` sends
//! through them too; they are re-exported here so a test finds every fake in one place.

mod memory_store;
mod tokens;

pub use aftersale_outbox::{RecordingAlerts, RecordingMailer, RecordingSms};
pub use memory_store::MemoryStore;
pub use tokens::MemoryTokens;
