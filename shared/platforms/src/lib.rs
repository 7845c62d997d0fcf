//! The two platforms Aftersale listens to. Each module turns a verified webhook delivery into
//! [`StoreEvent`]s; nothing here does I/O, so every payload shape is unit-tested.

mod json;
pub mod shopify;
pub mod shopify_bulk;
pub mod signature;
pub mod text;
pub mod woocommerce;

use aftersale_domain::{EventId, ShopId, StoreEvent};
use chrono::{DateTime, Utc};

/// What a delivery tells us besides its body.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub shop: ShopId,
    /// The platform's event id, when it sends one (Shopify does, WooCommerce does not).
    pub event_id: Option<EventId>,
    /// When the platform says the event fired; falls back to the payload's own timestamps.
    pub triggered_at: Option<DateTime<Utc>>,
}

/// Why a verified body could not become events. The message names the field and says what is
/// wrong with it, never its value: reasons are logged and kept with dead letters, and payload
/// values are customers' names and addresses.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not the JSON expected for {topic}: {problem}")]
    Json { topic: String, problem: String },
    #[error("{topic}: field `{field}`: {problem}")]
    Field {
        topic: String,
        field: &'static str,
        problem: String,
    },
}

/// The normalised result of one delivery: usually one event, sometimes several (a WooCommerce
/// order update that also carries a new refund), or none (an update that changes nothing we use).
pub type Normalised = Result<Vec<StoreEvent>, PayloadError>;
