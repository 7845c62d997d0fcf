//! A shop's customers and orders as every platform is normalised into: consent, addresses,
//! line items, refunds and statuses in Aftersale's words, money as decimals in a currency.
//! Pure data; what an order's events add up to is [`crate::OrderRecord`].
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

    /// Folds a newer sighting of the same customer in: fields the newer one knows replace
    /// ours, fields it lacks (an order payload has no time zone) are kept, and a sighting
    /// older than what we hold changes nothing, so out-of-order deliveries cannot roll back
    /// an unsubscribe.
    pub fn merge_newer(&mut self, newer: &Customer) {
        if let (Some(ours), Some(theirs)) = (self.updated_at, newer.updated_at)
            && theirs < ours
        {
            return;
        }
        fn take<T: Clone>(ours: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                ours.clone_from(theirs);
            }
        }
        take(&mut self.email, &newer.email);
        take(&mut self.phone, &newer.phone);
        take(&mut self.first_name, &newer.first_name);
        take(&mut self.last_name, &newer.last_name);
        take(&mut self.locale, &newer.locale);
        take(&mut self.time_zone, &newer.time_zone);
        take(&mut self.updated_at, &newer.updated_at);
        if newer.email_marketing != Consent::Unknown {
            self.email_marketing = newer.email_marketing;
        }
        if newer.sms_marketing != Consent::Unknown {
            self.sms_marketing = newer.sms_marketing;
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
    /// Where the parcel goes, kept only for referral fraud checks (a friend shipping to the
    /// advocate's own address is the advocate).
    #[serde(default)]
    pub shipping_address: Option<Address>,
    /// The buyer's IP, kept only for referral fraud checks.
    pub client_ip: Option<String>,
    /// The checkout the order completed (Shopify's `checkout_token`), so checkout recovery
    /// stops reminding of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_token: Option<String>,
    /// The cart the order came from (Shopify's `cart_token`): a new checkout of the same cart
    /// is the same purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_token: Option<String>,
}

/// A checkout the customer started: contact details given, not (yet) paid. Shopify sends it
/// on `checkouts/create` and `checkouts/update`; checkout recovery reminds of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    /// Shopify's checkout `token`: an order that completes it carries it as `checkout_token`.
    pub token: String,
    pub cart_token: Option<String>,
    pub customer: Customer,
    /// Where the customer picks the checkout up again (`abandoned_checkout_url`).
    pub recovery_url: String,
    pub line_items: Vec<LineItem>,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    /// The customer's last change: the reminder waits from here.
    pub updated_at: DateTime<Utc>,
    /// Set once the checkout became an order.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A postal address as the platform gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postcode: String,
    pub country_code: String,
}

impl Order {
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer.id
    }

    /// Sum of refunds, in the order's currency (saturating: see [`Money::saturating_sum`]).
    pub fn refunded(&self) -> Money {
        let currency = self.total.currency;
        let amounts = self
            .refunds
            .iter()
            .filter(|r| r.amount.currency == currency)
            .map(|r| r.amount.amount);
        Money::new(Money::saturating_sum(amounts), currency)
    }

    /// What the shop kept: total minus refunds, never below zero.
    pub fn net_total(&self) -> Money {
        let net = self.total.amount.saturating_sub(self.refunded().amount);
        Money::new(net.max(rust_decimal::Decimal::ZERO), self.total.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn customer(minute: u32, email: Option<&str>, consent: Consent) -> Customer {
        let mut c = Customer::bare(CustomerId::new("7").unwrap());
        c.email = email.map(String::from);
        c.email_marketing = consent;
        c.updated_at = Some(Utc.with_ymd_and_hms(2026, 11, 1, 10, minute, 0).unwrap());
        c
    }

    #[test]
    fn newer_fields_win_and_missing_ones_are_kept() {
        let mut stored = customer(0, Some("a@example.com"), Consent::Granted);
        stored.time_zone = Some(chrono_tz::Europe::Rome);
        stored.merge_newer(&customer(5, None, Consent::Denied));
        assert_eq!(stored.email.as_deref(), Some("a@example.com"));
        assert_eq!(stored.email_marketing, Consent::Denied);
        assert_eq!(stored.time_zone, Some(chrono_tz::Europe::Rome));
    }

    #[test]
    fn an_older_sighting_cannot_undo_an_unsubscribe() {
        let mut stored = customer(5, Some("a@example.com"), Consent::Denied);
        stored.merge_newer(&customer(1, Some("old@example.com"), Consent::Granted));
        assert_eq!(stored.email_marketing, Consent::Denied);
        assert_eq!(stored.email.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn unknown_consent_never_overrides_a_known_answer() {
        let mut stored = customer(0, None, Consent::Granted);
        stored.merge_newer(&customer(9, None, Consent::Unknown));
        assert_eq!(stored.email_marketing, Consent::Granted);
    }
}
