//! What Aftersale's logic needs from the world, as small traits (one per capability), plus
//! in-memory implementations for unit tests. Adapters (SQLite, DynamoDB, SES, SNS) implement
//! these; handlers take only the traits they use.

mod clock;
#[cfg(feature = "contract")]
pub mod contract;
pub mod documents;
pub mod erasure;
mod error;
mod flow_store;
pub mod install;
pub mod lifecycle;
pub mod memory;
mod messaging;
mod records;
pub mod redaction;
mod site_secrets;
mod traits;

pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use documents::Documents;
pub use erasure::{PersonalFiles, PrivacyDesk, Traces};
pub use error::StoreError;
pub use flow_store::{
    Answers, DueEntry, FlowStore, Messages, ShopConfigs, Suppressions, UndecodableMessage, address_hash,
    attention_at,
};
pub use install::{
    InstallNonces, MemoryTokens, PlatformError, ShopState, ShopStatus, ShopToken, ShopTokens, TokenGrants,
    WebhookOutcome, WebhookRegistrar, WebhookSync, WebhookTopicState,
};
pub use messaging::{
    Mailbox, Mailer, OutgoingEmail, OutgoingSms, RecordingAlerts, RecordingMailer, RecordingSms, SendError,
    SentId, SmsKind, SmsSender, SupportAlerts, validate_e164,
};
pub use records::{DeadLetter, DeadLetterStatus, Recorded, StoredEvent, Versioned};
pub use site_secrets::SiteSecrets;
pub use traits::{
    CustomerProfiles, DeadLetters, EventBus, EventLog, NoEventBus, OrderRecords, Privacy, ShopRegistry, Store,
};
