//! The one event model: everything a platform tells us (an order placed, paid, fulfilled,
//! delivered, cancelled or refunded, a customer updated, a privacy request) becomes a
//! [`StoreEvent`] before any flow sees it, so flows never know which platform spoke.
use crate::{Checkout, Customer, CustomerId, EventId, Order, OrderId, Origin, Platform, Refund, ShopId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One thing that happened in a shop, in Aftersale's words. Every platform webhook is
/// normalised into these, and everything downstream (storage, flows, metrics) reads only these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreEvent {
    pub shop: ShopId,
    pub platform: Platform,
    /// What the delivery is deduplicated on; unique per shop.
    pub event_id: EventId,
    /// When it happened on the platform (not when we heard of it).
    pub occurred_at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
    /// A webhook, or history brought in by an import: see [`Origin`] for what that changes.
    #[serde(default, skip_serializing_if = "Origin::is_live")]
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventKind {
    OrderPlaced(Order),
    OrderPaid(Order),
    /// A change that is none of the others (address edit, note, on-hold...).
    OrderUpdated(Order),
    OrderPartiallyFulfilled(Order),
    OrderFulfilled(Order),
    OrderCancelled(Order),
    /// A WooCommerce order moved back from the trash.
    OrderRestored(Order),
    OrderDeleted {
        order_id: OrderId,
    },
    OrderRefunded(RefundEvent),
    ShipmentUpdated(Shipment),
    OrderDelivered(Shipment),
    CustomerCreated(Customer),
    CustomerUpdated(Customer),
    /// A checkout started or changed (Shopify `checkouts/create` and `checkouts/update`).
    /// WooCommerce core sends nothing like it; a plugin that does would normalise into this.
    CheckoutUpdated(Checkout),
    AppUninstalled,
    CustomerDataRequest(PrivacyRequest),
    CustomerRedact(PrivacyRequest),
    ShopRedact,
    /// Shopify's `bulk_operations/finish`: an export (the history import's) has ended. No flow
    /// plans on it; the import function picks it up and streams the file.
    BulkOperationFinished(BulkOperationFinished),
}

/// A bulk operation's end, as its webhook tells it. The file's URL is not in the webhook: the
/// import asks the operation for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOperationFinished {
    /// `gid://shopify/BulkOperation/…`.
    pub operation_id: String,
    /// `completed`, `failed`, `canceled`, `expired`, as Shopify writes it.
    pub status: String,
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundEvent {
    pub order_id: OrderId,
    pub refund: Refund,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    LabelPrinted,
    Confirmed,
    InTransit,
    OutForDelivery,
    AttemptedDelivery,
    ReadyForPickup,
    Delivered,
    Failure,
    Other,
}

/// A parcel's progress. Fulfilment webhooks carry only the order id, so the customer is
/// resolved from the stored order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub order_id: OrderId,
    pub fulfillment_id: Option<String>,
    pub status: ShipmentStatus,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub carrier: Option<String>,
    pub estimated_delivery_at: Option<DateTime<Utc>>,
    pub happened_at: DateTime<Utc>,
}

/// A GDPR request from the platform about one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyRequest {
    pub customer_id: Option<CustomerId>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub order_ids: Vec<OrderId>,
    pub request_id: Option<String>,
}

impl StoreEvent {
    /// The snake_case name used in logs, JSON output and SNS message attributes.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            EventKind::OrderPlaced(_) => "order_placed",
            EventKind::OrderPaid(_) => "order_paid",
            EventKind::OrderUpdated(_) => "order_updated",
            EventKind::OrderPartiallyFulfilled(_) => "order_partially_fulfilled",
            EventKind::OrderFulfilled(_) => "order_fulfilled",
            EventKind::OrderCancelled(_) => "order_cancelled",
            EventKind::OrderRestored(_) => "order_restored",
            EventKind::OrderDeleted { .. } => "order_deleted",
            EventKind::OrderRefunded(_) => "order_refunded",
            EventKind::ShipmentUpdated(_) => "shipment_updated",
            EventKind::OrderDelivered(_) => "order_delivered",
            EventKind::CustomerCreated(_) => "customer_created",
            EventKind::CustomerUpdated(_) => "customer_updated",
            EventKind::CheckoutUpdated(_) => "checkout_updated",
            EventKind::AppUninstalled => "app_uninstalled",
            EventKind::CustomerDataRequest(_) => "customer_data_request",
            EventKind::CustomerRedact(_) => "customer_redact",
            EventKind::ShopRedact => "shop_redact",
            EventKind::BulkOperationFinished(_) => "bulk_operation_finished",
        }
    }

    /// The full order snapshot, for events that carry one.
    pub fn order(&self) -> Option<&Order> {
        match &self.kind {
            EventKind::OrderPlaced(o)
            | EventKind::OrderPaid(o)
            | EventKind::OrderUpdated(o)
            | EventKind::OrderPartiallyFulfilled(o)
            | EventKind::OrderFulfilled(o)
            | EventKind::OrderCancelled(o)
            | EventKind::OrderRestored(o) => Some(o),
            _ => None,
        }
    }

    pub fn order_id(&self) -> Option<&OrderId> {
        match &self.kind {
            EventKind::OrderDeleted { order_id } => Some(order_id),
            EventKind::OrderRefunded(r) => Some(&r.order_id),
            EventKind::ShipmentUpdated(s) | EventKind::OrderDelivered(s) => Some(&s.order_id),
            _ => self.order().map(|o| &o.id),
        }
    }

    /// The customer, when the event itself names one. Shipment and refund events do not:
    /// their customer is found through the stored order.
    pub fn customer_id(&self) -> Option<&CustomerId> {
        match &self.kind {
            EventKind::CustomerCreated(c) | EventKind::CustomerUpdated(c) => Some(&c.id),
            EventKind::CheckoutUpdated(checkout) => Some(&checkout.customer.id),
            EventKind::CustomerDataRequest(p) | EventKind::CustomerRedact(p) => p.customer_id.as_ref(),
            _ => self.order().map(|o| o.customer_id()),
        }
    }
}
