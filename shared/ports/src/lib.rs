//! What Aftersale's logic needs from the world, as small traits (one per capability), and the
//! rules every store shares (document keys and versioned updates, redaction, erasure).
//! Adapters (SQLite, DynamoDB, SES, SNS) implement the traits; handlers take only the traits
//! they use. The in-memory fakes for tests are in `aftersale-testkit`, the suite every store
//! must pass in `aftersale-store-contract`.

pub mod catalogue;
mod clock;
pub mod documents;
pub mod erasure;
mod error;
pub mod event_transaction;
mod flow_store;
pub mod install;
pub mod lifecycle;
mod messaging;
mod records;
pub mod redaction;
pub mod redaction_plan;
mod site_secrets;
pub mod stat_shards;
mod traits;

pub use catalogue::{Catalogue, CatalogueError, NoCatalogue, ProductTypes};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use documents::Documents;
pub use erasure::{PersonalFiles, PrivacyDesk, Traces};
pub use error::StoreError;
pub use flow_store::{
    Answers, DueEntry, FlowStore, Messages, ShopConfigs, Suppressions, UndecodableMessage, address_hash,
    attention_at,
};
pub use install::{
    InstallNonces, PlatformError, ShopState, ShopStatus, ShopToken, ShopTokens, TokenGrants, WebhookOutcome,
    WebhookRegistrar, WebhookSync, WebhookTopicState,
};
pub use messaging::{
    Mailbox, Mailer, OutgoingEmail, OutgoingSms, SendError, SentId, SmsKind, SmsSender, SupportAlerts,
    validate_e164,
};
pub use records::{DeadLetter, DeadLetterStatus, Recorded, StoredEvent, Versioned};
pub use site_secrets::SiteSecrets;
pub use traits::{
    CustomerProfiles, DeadLetters, EventBus, EventLog, NoEventBus, OrderRecords, Privacy, ShopRegistry, Store,
};
