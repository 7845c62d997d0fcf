//! Aftersale's vocabulary: shops, customers, orders and the one event model every platform is
//! normalised into. Pure data and rules, no I/O, so everything here is tested in memory.

mod config;
mod config_error;
mod email_address;
mod event;
pub mod flows;
mod ids;
mod localised;
mod message;
mod model;
mod money;
mod order_state;
mod origin;
pub mod points;
pub mod policy;
pub mod secret;

pub use config::{
    AdminApiConfig, BUILT_IN_LANGUAGES, CapsConfig, ConsentConfig, QuietHours, RawShopConfig, Sender,
    ShopConfig, shop_domain_problem,
};
pub use config_error::ConfigError;
pub use email_address::{AddressProblem, check_email_address};
pub use event::{
    BulkOperationFinished, EventKind, PrivacyRequest, RefundEvent, Shipment, ShipmentStatus, StoreEvent,
};
pub use flows::delivery_check_in::DeliveryCheckInConfig;
pub use flows::review_request::{ReviewCycle, ReviewRequestConfig};
pub use flows::thank_you::ThankYouConfig;
pub use flows::{Flow, FlowStep, FlowsConfig};
pub use ids::{
    CustomerId, EventId, IdError, MessageId, OrderId, Platform, ProductId, ShopId, VariantId,
    is_myshopify_domain,
};
pub use localised::LocalisedText;
pub use message::{
    Answer, AnswerKind, Channel, DeferReason, DueBasis, FailReason, Message, MessageClass, MessageStatus,
    ProductRef, Reason, ReplanReason, SkipReason, Transition, TransitionError,
};
pub use model::{
    Address, Checkout, Consent, Customer, FulfillmentStatus, LineItem, Order, OrderStatus, Refund,
};
pub use money::{Currency, MAX_AMOUNT, Money, MoneyError};
pub use order_state::{OrderRecord, VoidReason};
pub use origin::Origin;
pub use secret::Secret;
