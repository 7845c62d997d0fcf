use crate::{CustomerId, Money, OrderId};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A customer's answer to "may we market to you on this channel?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    Granted,
    Denied,
    /// The platform said nothing (WooCommerce has no consent field); shop config decides.
    #[default]
    Unknown,
}

/// A customer as last seen on the platform. Contact fields are optional: guests may leave
/// only an email, and SMS needs a phone number we may not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// BCP 47 tag such as `it` or `en-GB`, when the platform knows it.
    pub locale: Option<String>,
    /// The customer's own time zone, when known; quiet hours fall back to the shop's.
    pub time_zone: Option<Tz>,
    pub email_marketing: Consent,
    pub sms_marketing: Consent,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Customer {
    /// A customer known only by id, for events that carry nothing else.
    pub fn bare(id: CustomerId) -> Self {
        Self {
            id,
            email: None,
            phone: None,
            first_name: None,
            last_name: None,
            locale: None,
            time_zone: None,
            email_marketing: Consent::Unknown,
            sms_marketing: Consent::Unknown,
            updated_at: None,
        }
    }
}

/// Where an order is in its life, across platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not yet paid.
    Pending,
    OnHold,
    /// Paid and being prepared.
    Processing,
    /// Paid and fully fulfilled.
    Completed,
    Cancelled,
    /// Fully refunded.
    Refunded,
    Failed,
}

impl OrderStatus {
    pub fn is_paid(self) -> bool {
        matches!(self, OrderStatus::Processing | OrderStatus::Completed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentStatus {
    #[default]
    Unfulfilled,
    Partial,
    Fulfilled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub id: String,
    pub product_id: Option<String>,
    pub variant_id: Option<String>,
    pub sku: Option<String>,
    pub title: String,
    pub quantity: u32,
    /// Unit price before order-level discounts.
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// Always positive: the amount returned to the customer.
    pub amount: Money,
    pub reason: Option<String>,
}

/// An order snapshot as the platform sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    /// What the customer sees, e.g. `#1001`.
    pub name: Option<String>,
    pub customer: Customer,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status: OrderStatus,
    pub fulfillment: FulfillmentStatus,
    pub line_items: Vec<LineItem>,
    pub subtotal: Money,
    pub total: Money,
    pub total_discounts: Money,
    pub discount_codes: Vec<String>,
    pub refunds: Vec<Refund>,
    pub shipping_country: Option<String>,
    /// The buyer's IP, kept only for referral fraud checks.
    pub client_ip: Option<String>,
}

impl Order {
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer.id
    }

    /// Sum of refunds, in the order's currency.
    pub fn refunded(&self) -> Money {
        let mut sum = Money::zero(self.total.currency);
        for refund in &self.refunds {
            if refund.amount.currency == sum.currency {
                sum.amount += refund.amount.amount;
            }
        }
        sum
    }

    /// What the shop kept: total minus refunds, never below zero.
    pub fn net_total(&self) -> Money {
        let net = self.total.amount - self.refunded().amount;
        Money::new(net.max(rust_decimal::Decimal::ZERO), self.total.currency)
    }
}
