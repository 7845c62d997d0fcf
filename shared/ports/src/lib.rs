//! What Aftersale's logic needs from the world, as small traits (one per capability), plus
//! in-memory implementations for unit tests. Adapters (SQLite, DynamoDB, SES, SNS) implement
//! these; handlers take only the traits they use.

mod clock;
mod error;
pub mod memory;
mod records;
mod traits;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use records::{DeadLetter, DeadLetterStatus, Recorded, ShopState, StoredEvent, Versioned};
pub use traits::{
    CustomerProfiles, DeadLetters, EventBus, EventLog, NoEventBus, OrderRecords, Privacy, ShopRegistry, Store,
};
