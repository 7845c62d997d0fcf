//! Shopify webhooks (Admin API JSON payloads) to [`StoreEvent`]s.
//!
//! Topic from `X-Shopify-Topic`, shop from `X-Shopify-Shop-Domain`, dedupe key from
//! `X-Shopify-Event-Id`. Payload fields we do not use are ignored, so new API versions that add
//! fields keep working.

use crate::json::{decode, id, non_empty, opt_id};
use crate::{Delivery, Normalised, PayloadError};
use aftersale_domain::{
    Address, BulkOperationFinished, Checkout, Consent, Currency, Customer, CustomerId, EventId, EventKind,
    FulfillmentStatus, IdError, LineItem, Money, Order, OrderId, OrderStatus, Platform, PrivacyRequest,
    ProductId, Refund, RefundEvent, Shipment, ShipmentStatus, StoreEvent, VariantId,
};
use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

/// The topics Aftersale subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    OrdersCreate,
    OrdersPaid,
    OrdersUpdated,
    OrdersFulfilled,
    OrdersPartiallyFulfilled,
    OrdersCancelled,
    RefundsCreate,
    FulfillmentsCreate,
    FulfillmentsUpdate,
    FulfillmentEventsCreate,
    CustomersCreate,
    CustomersUpdate,
    CheckoutsCreate,
    CheckoutsUpdate,
    AppUninstalled,
    CustomersDataRequest,
    CustomersRedact,
    ShopRedact,
    /// The history import's export ended (`bulk_operations/finish`).
    BulkOperationsFinish,
}

impl Topic {
    pub const ALL: [Topic; 19] = [
        Topic::OrdersCreate,
        Topic::OrdersPaid,
        Topic::OrdersUpdated,
        Topic::OrdersFulfilled,
        Topic::OrdersPartiallyFulfilled,
        Topic::OrdersCancelled,
        Topic::RefundsCreate,
        Topic::FulfillmentsCreate,
        Topic::FulfillmentsUpdate,
        Topic::FulfillmentEventsCreate,
        Topic::CustomersCreate,
        Topic::CustomersUpdate,
        Topic::CheckoutsCreate,
        Topic::CheckoutsUpdate,
        Topic::AppUninstalled,
        Topic::CustomersDataRequest,
        Topic::CustomersRedact,
        Topic::ShopRedact,
        Topic::BulkOperationsFinish,
    ];

    /// The `X-Shopify-Topic` header value; `None` for topics we do not handle.
    pub fn parse(header: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == header.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::OrdersCreate => "orders/create",
            Topic::OrdersPaid => "orders/paid",
            Topic::OrdersUpdated => "orders/updated",
            Topic::OrdersFulfilled => "orders/fulfilled",
            Topic::OrdersPartiallyFulfilled => "orders/partially_fulfilled",
            Topic::OrdersCancelled => "orders/cancelled",
            Topic::RefundsCreate => "refunds/create",
            Topic::FulfillmentsCreate => "fulfillments/create",
            Topic::FulfillmentsUpdate => "fulfillments/update",
            Topic::FulfillmentEventsCreate => "fulfillment_events/create",
            Topic::CustomersCreate => "customers/create",
            Topic::CustomersUpdate => "customers/update",
            Topic::CheckoutsCreate => "checkouts/create",
            Topic::CheckoutsUpdate => "checkouts/update",
            Topic::AppUninstalled => "app/uninstalled",
            Topic::CustomersDataRequest => "customers/data_request",
            Topic::CustomersRedact => "customers/redact",
            Topic::ShopRedact => "shop/redact",
            Topic::BulkOperationsFinish => "bulk_operations/finish",
        }
    }
}

/// Turns one verified delivery into events.
///
/// Shopify's own test notifications ("Send test notification") carry sample bodies with
/// `created_at: null` and no transactions; a missing time falls back to
/// `X-Shopify-Triggered-At`, so they are accepted like real deliveries.
pub fn normalise(topic: Topic, delivery: &Delivery, body: &[u8]) -> Normalised {
    let topic_name = topic.as_str();
    let fired_at = delivery.triggered_at;
    let event_id = delivery.event_id.clone().ok_or_else(|| PayloadError::Field {
        topic: topic_name.to_string(),
        field: "X-Shopify-Event-Id",
        problem: "missing (and no X-Shopify-Webhook-Id either)".into(),
    })?;
    let make = |occurred_at: DateTime<Utc>, kind: EventKind| StoreEvent {
        origin: Default::default(),
        shop: delivery.shop.clone(),
        platform: Platform::Shopify,
        event_id: event_id.clone(),
        occurred_at: delivery.triggered_at.unwrap_or(occurred_at),
        kind,
    };
    let event = match topic {
        Topic::OrdersCreate
        | Topic::OrdersPaid
        | Topic::OrdersUpdated
        | Topic::OrdersFulfilled
        | Topic::OrdersPartiallyFulfilled
        | Topic::OrdersCancelled => {
            let raw: RawOrder = decode(topic_name, body)?;
            let order = raw.into_order(topic_name, fired_at)?;
            let at = order.updated_at;
            let kind = match topic {
                Topic::OrdersCreate => EventKind::OrderPlaced(order),
                Topic::OrdersPaid => EventKind::OrderPaid(order),
                Topic::OrdersFulfilled => EventKind::OrderFulfilled(order),
                Topic::OrdersPartiallyFulfilled => EventKind::OrderPartiallyFulfilled(order),
                Topic::OrdersCancelled => EventKind::OrderCancelled(order),
                _ => EventKind::OrderUpdated(order),
            };
            make(at, kind)
        }
        Topic::RefundsCreate => {
            let raw: RawRefund = decode(topic_name, body)?;
            let order_id = order_id(topic_name, &raw.order_id)?;
            let Some(refund) = raw.into_refund(topic_name, fired_at)? else {
                // Nothing was paid back and no line was refunded (a test notification's empty
                // sample): there is nothing to record.
                return Ok(Vec::new());
            };
            make(
                refund.created_at,
                EventKind::OrderRefunded(RefundEvent { order_id, refund }),
            )
        }
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => {
            let raw: RawFulfillment = decode(topic_name, body)?;
            let shipment = raw.into_shipment(topic_name, fired_at)?;
            let at = shipment.happened_at;
            make(at, shipment_kind(shipment))
        }
        Topic::FulfillmentEventsCreate => {
            let raw: RawFulfillmentEvent = decode(topic_name, body)?;
            let shipment = raw.into_shipment(topic_name, fired_at)?;
            let at = shipment.happened_at;
            make(at, shipment_kind(shipment))
        }
        Topic::CustomersCreate | Topic::CustomersUpdate => {
            let raw: RawCustomer = decode(topic_name, body)?;
            let at = raw.updated_at.map(utc);
            let customer = raw
                .into_customer(topic_name, "id", None)?
                .ok_or_else(|| missing(topic_name, "id"))?;
            let kind = if topic == Topic::CustomersCreate {
                EventKind::CustomerCreated(customer)
            } else {
                EventKind::CustomerUpdated(customer)
            };
            make(at.or(fired_at).unwrap_or_else(Utc::now), kind)
        }
        Topic::CheckoutsCreate | Topic::CheckoutsUpdate => {
            let raw: RawCheckout = decode(topic_name, body)?;
            let Some(checkout) = raw.into_checkout(topic_name, fired_at)? else {
                // No email or customer yet: nobody to remind, nothing to record.
                return Ok(Vec::new());
            };
            let at = checkout.updated_at;
            make(at, EventKind::CheckoutUpdated(checkout))
        }
        Topic::AppUninstalled => {
            // The body is the shop object; we only need to know it happened.
            let _: serde_json::Map<String, serde_json::Value> = decode(topic_name, body)?;
            make(Utc::now(), EventKind::AppUninstalled)
        }
        Topic::CustomersDataRequest | Topic::CustomersRedact => {
            let raw: RawPrivacy = decode(topic_name, body)?;
            let request = raw.into_request(topic_name)?;
            let kind = if topic == Topic::CustomersRedact {
                EventKind::CustomerRedact(request)
            } else {
                EventKind::CustomerDataRequest(request)
            };
            make(Utc::now(), kind)
        }
        Topic::ShopRedact => {
            let raw: RawShopRedact = decode(topic_name, body)?;
            if raw.shop_domain.is_none() && raw.shop_id.is_none() {
                return Err(missing(topic_name, "shop_domain"));
            }
            make(Utc::now(), EventKind::ShopRedact)
        }
        Topic::BulkOperationsFinish => {
            let raw: RawBulkFinish = decode(topic_name, body)?;
            let at = raw.completed_at.map(utc).or(fired_at).unwrap_or_else(Utc::now);
            make(
                at,
                EventKind::BulkOperationFinished(BulkOperationFinished {
                    operation_id: raw.admin_graphql_api_id,
                    status: raw.status,
                    error_code: raw.error_code,
                }),
            )
        }
    };
    Ok(vec![event])
}

fn shipment_kind(shipment: Shipment) -> EventKind {
    if shipment.status == ShipmentStatus::Delivered {
        EventKind::OrderDelivered(shipment)
    } else {
        EventKind::ShipmentUpdated(shipment)
    }
}

fn utc(at: DateTime<FixedOffset>) -> DateTime<Utc> {
    at.with_timezone(&Utc)
}

fn missing(topic: &str, field: &'static str) -> PayloadError {
    PayloadError::Field {
        topic: topic.to_string(),
        field,
        problem: "missing".into(),
    }
}

fn invalid(topic: &str, field: &'static str, problem: impl ToString) -> PayloadError {
    PayloadError::Field {
        topic: topic.to_string(),
        field,
        problem: problem.to_string(),
    }
}

/// A product or variant id, validated like an order id: it is signed into rating links.
fn item_id<T>(
    topic: &str,
    field: &'static str,
    raw: Option<String>,
    make: fn(String) -> Result<T, IdError>,
) -> Result<Option<String>, PayloadError>
where
    String: From<T>,
{
    raw.map(|raw| make(raw).map(String::from).map_err(|e| invalid(topic, field, e)))
        .transpose()
}

/// A time the payload should carry, else when Shopify says the event fired.
fn time_or_fired(
    topic: &str,
    field: &'static str,
    at: Option<DateTime<FixedOffset>>,
    fired_at: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, PayloadError> {
    at.map(utc).or(fired_at).ok_or_else(|| missing(topic, field))
}

fn order_id(topic: &str, raw: &Option<String>) -> Result<OrderId, PayloadError> {
    let raw = raw.as_deref().ok_or_else(|| missing(topic, "order_id"))?;
    OrderId::new(raw).map_err(|e| invalid(topic, "order_id", e))
}

fn money(topic: &str, field: &'static str, amount: &str, currency: Currency) -> Result<Money, PayloadError> {
    Money::parse(amount, currency).map_err(|e| invalid(topic, field, e))
}

/// Shopify's consent states: only an explicit "subscribed" is consent.
fn consent(state: Option<&RawConsent>, legacy_accepts: Option<bool>) -> Consent {
    match (state.map(|s| s.state.as_str()), legacy_accepts) {
        (Some("subscribed"), _) => Consent::Granted,
        (Some(_), _) => Consent::Denied,
        (None, Some(true)) => Consent::Granted,
        (None, Some(false)) => Consent::Denied,
        (None, None) => Consent::Unknown,
    }
}

fn shipment_status(raw: Option<&str>) -> ShipmentStatus {
    match raw.unwrap_or("") {
        "label_printed" | "label_purchased" => ShipmentStatus::LabelPrinted,
        "confirmed" | "" => ShipmentStatus::Confirmed,
        "in_transit" => ShipmentStatus::InTransit,
        "out_for_delivery" => ShipmentStatus::OutForDelivery,
        "attempted_delivery" => ShipmentStatus::AttemptedDelivery,
        "ready_for_pickup" | "picked_up" => ShipmentStatus::ReadyForPickup,
        "delivered" => ShipmentStatus::Delivered,
        "failure" => ShipmentStatus::Failure,
        _ => ShipmentStatus::Other,
    }
}

#[derive(Deserialize)]
struct RawConsent {
    state: String,
}

#[derive(Deserialize)]
struct RawCustomer {
    #[serde(default, deserialize_with = "opt_id")]
    id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    locale: Option<String>,
    email_marketing_consent: Option<RawConsent>,
    sms_marketing_consent: Option<RawConsent>,
    accepts_marketing: Option<bool>,
    updated_at: Option<DateTime<FixedOffset>>,
}

impl RawCustomer {
    /// `None` when the customer has neither an id nor an email to derive one from; an id that
    /// is there but unusable is an error that says what is wrong with it.
    fn into_customer(
        self,
        topic: &str,
        field: &'static str,
        fallback_email: Option<&str>,
    ) -> Result<Option<Customer>, PayloadError> {
        let email = non_empty(self.email).or_else(|| non_empty(fallback_email.map(String::from)));
        let id = match (self.id, email.as_deref()) {
            (Some(id), _) => CustomerId::new(id).map_err(|e| invalid(topic, field, e))?,
            (None, Some(email)) => CustomerId::for_guest_email(email),
            (None, None) => return Ok(None),
        };
        Ok(Some(Customer {
            id,
            email,
            phone: non_empty(self.phone),
            first_name: non_empty(self.first_name),
            last_name: non_empty(self.last_name),
            locale: non_empty(self.locale),
            time_zone: None,
            email_marketing: consent(self.email_marketing_consent.as_ref(), self.accepts_marketing),
            sms_marketing: consent(self.sms_marketing_consent.as_ref(), None),
            updated_at: self.updated_at.map(utc),
        }))
    }
}

#[derive(Deserialize)]
struct RawLineItem {
    #[serde(deserialize_with = "id")]
    id: String,
    #[serde(default, deserialize_with = "opt_id")]
    product_id: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    variant_id: Option<String>,
    sku: Option<String>,
    #[serde(default)]
    title: String,
    name: Option<String>,
    quantity: u32,
    price: String,
}

#[derive(Deserialize)]
struct RawDiscountCode {
    code: String,
}

#[derive(Deserialize)]
struct RawAddress {
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    zip: Option<String>,
    country_code: Option<String>,
}

impl RawAddress {
    fn address(&self) -> Option<Address> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        non_empty(self.address1.clone()).map(|line1| Address {
            line1,
            line2: text(&self.address2),
            city: text(&self.city),
            postcode: text(&self.zip),
            country_code: text(&self.country_code),
        })
    }
}

#[derive(Deserialize)]
struct RawClientDetails {
    browser_ip: Option<String>,
}

#[derive(Deserialize)]
struct RawOrder {
    #[serde(deserialize_with = "id")]
    id: String,
    name: Option<String>,
    email: Option<String>,
    contact_email: Option<String>,
    phone: Option<String>,
    created_at: Option<DateTime<FixedOffset>>,
    updated_at: Option<DateTime<FixedOffset>>,
    cancelled_at: Option<DateTime<FixedOffset>>,
    currency: String,
    financial_status: Option<String>,
    fulfillment_status: Option<String>,
    total_price: String,
    subtotal_price: Option<String>,
    total_discounts: Option<String>,
    #[serde(default)]
    line_items: Vec<RawLineItem>,
    #[serde(default)]
    discount_codes: Vec<RawDiscountCode>,
    customer: Option<RawCustomer>,
    customer_locale: Option<String>,
    buyer_accepts_marketing: Option<bool>,
    shipping_address: Option<RawAddress>,
    billing_address: Option<RawAddress>,
    browser_ip: Option<String>,
    client_details: Option<RawClientDetails>,
    #[serde(default)]
    refunds: Vec<RawRefund>,
    checkout_token: Option<String>,
    cart_token: Option<String>,
}

impl RawOrder {
    fn into_order(self, topic: &str, fired_at: Option<DateTime<Utc>>) -> Result<Order, PayloadError> {
        let currency = Currency::new(&self.currency).map_err(|e| invalid(topic, "currency", e))?;
        let id = OrderId::new(self.id).map_err(|e| invalid(topic, "id", e))?;
        let order_email = non_empty(self.email).or_else(|| non_empty(self.contact_email));
        let mut customer = match self.customer {
            Some(raw) => raw.into_customer(topic, "customer.id", order_email.as_deref())?,
            None => order_email.as_deref().map(|email| {
                let mut guest = Customer::bare(CustomerId::for_guest_email(email));
                guest.email = Some(email.to_string());
                guest.email_marketing = consent(None, self.buyer_accepts_marketing);
                guest
            }),
        }
        .ok_or_else(|| missing(topic, "customer.id or email"))?;
        if customer.phone.is_none() {
            customer.phone = non_empty(self.phone);
        }
        if let Some(locale) = non_empty(self.customer_locale) {
            customer.locale = Some(locale);
        }
        let status = if self.cancelled_at.is_some() {
            OrderStatus::Cancelled
        } else {
            match self.financial_status.as_deref().unwrap_or("pending") {
                "refunded" => OrderStatus::Refunded,
                "voided" => OrderStatus::Cancelled,
                "expired" => OrderStatus::Failed,
                "pending" | "authorized" => OrderStatus::Pending,
                _ if self.fulfillment_status.as_deref() == Some("fulfilled") => OrderStatus::Completed,
                _ => OrderStatus::Processing,
            }
        };
        let fulfillment = match self.fulfillment_status.as_deref() {
            Some("fulfilled") => FulfillmentStatus::Fulfilled,
            Some("partial") => FulfillmentStatus::Partial,
            _ => FulfillmentStatus::Unfulfilled,
        };
        let line_items = self
            .line_items
            .into_iter()
            .map(|li| {
                Ok(LineItem {
                    id: li.id,
                    product_id: item_id(topic, "line_items.product_id", li.product_id, ProductId::new)?,
                    variant_id: item_id(topic, "line_items.variant_id", li.variant_id, VariantId::new)?,
                    sku: non_empty(li.sku),
                    title: non_empty(Some(li.title)).or(li.name).unwrap_or_default(),
                    quantity: li.quantity,
                    price: money(topic, "line_items.price", &li.price, currency)?,
                })
            })
            .collect::<Result<Vec<_>, PayloadError>>()?;
        let total = money(topic, "total_price", &self.total_price, currency)?;
        let subtotal = match &self.subtotal_price {
            Some(s) => money(topic, "subtotal_price", s, currency)?,
            None => total,
        };
        let total_discounts = match &self.total_discounts {
            Some(s) => money(topic, "total_discounts", s, currency)?,
            None => Money::zero(currency),
        };
        let created_at = time_or_fired(topic, "created_at", self.created_at, fired_at)?;
        let refunds = self
            .refunds
            .into_iter()
            .filter_map(|r| r.into_refund(topic, Some(created_at)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Order {
            id,
            name: non_empty(self.name),
            customer,
            created_at,
            updated_at: self.updated_at.map(utc).unwrap_or(created_at),
            status,
            fulfillment,
            line_items,
            subtotal,
            total,
            total_discounts,
            discount_codes: self.discount_codes.into_iter().map(|d| d.code).collect(),
            refunds,
            shipping_address: self.shipping_address.as_ref().and_then(RawAddress::address),
            shipping_country: self
                .shipping_address
                .or(self.billing_address)
                .and_then(|a| non_empty(a.country_code)),
            client_ip: non_empty(self.browser_ip)
                .or_else(|| self.client_details.and_then(|c| non_empty(c.browser_ip))),
            checkout_token: non_empty(self.checkout_token),
            cart_token: non_empty(self.cart_token),
        })
    }
}

#[derive(Deserialize)]
struct RawCheckout {
    token: Option<String>,
    cart_token: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    created_at: Option<DateTime<FixedOffset>>,
    updated_at: Option<DateTime<FixedOffset>>,
    completed_at: Option<DateTime<FixedOffset>>,
    currency: String,
    total_price: String,
    abandoned_checkout_url: Option<String>,
    #[serde(default)]
    line_items: Vec<RawCheckoutLine>,
    customer: Option<RawCustomer>,
    customer_locale: Option<String>,
    buyer_accepts_marketing: Option<bool>,
}

/// A checkout's line: like an order's, but keyed by `key` (checkout lines have no id yet).
#[derive(Deserialize)]
struct RawCheckoutLine {
    key: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    product_id: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    variant_id: Option<String>,
    sku: Option<String>,
    #[serde(default)]
    title: String,
    quantity: u32,
    price: String,
}

impl RawCheckout {
    /// `None` for a checkout without an email or a customer yet (Shopify sends one as soon as
    /// a cart reaches checkout): there is no one to remind.
    fn into_checkout(
        self,
        topic: &str,
        fired_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Checkout>, PayloadError> {
        let token = non_empty(self.token).ok_or_else(|| missing(topic, "token"))?;
        let currency = Currency::new(&self.currency).map_err(|e| invalid(topic, "currency", e))?;
        let email = non_empty(self.email);
        let found = match self.customer {
            Some(raw) => raw.into_customer(topic, "customer.id", email.as_deref())?,
            None => email.as_deref().map(|email| {
                let mut guest = Customer::bare(CustomerId::for_guest_email(email));
                guest.email = Some(email.to_string());
                guest
            }),
        };
        let Some(mut customer) = found else {
            return Ok(None);
        };
        if customer.email.is_none() {
            customer.email.clone_from(&email);
        }
        if customer.phone.is_none() {
            customer.phone = non_empty(self.phone);
        }
        if let Some(locale) = non_empty(self.customer_locale) {
            customer.locale = Some(locale);
        }
        // The box ticked (or not) in this checkout is the buyer's answer when their profile
        // gives none.
        if customer.email_marketing == Consent::Unknown {
            customer.email_marketing = consent(None, self.buyer_accepts_marketing);
        }
        let recovery_url =
            non_empty(self.abandoned_checkout_url).ok_or_else(|| missing(topic, "abandoned_checkout_url"))?;
        if !recovery_url.starts_with("https://") {
            return Err(invalid(
                topic,
                "abandoned_checkout_url",
                "must be an https:// link",
            ));
        }
        let line_items = self
            .line_items
            .into_iter()
            .enumerate()
            .map(|(n, li)| {
                Ok(LineItem {
                    id: non_empty(li.key).unwrap_or_else(|| n.to_string()),
                    product_id: item_id(topic, "line_items.product_id", li.product_id, ProductId::new)?,
                    variant_id: item_id(topic, "line_items.variant_id", li.variant_id, VariantId::new)?,
                    sku: non_empty(li.sku),
                    title: li.title,
                    quantity: li.quantity,
                    price: money(topic, "line_items.price", &li.price, currency)?,
                })
            })
            .collect::<Result<Vec<_>, PayloadError>>()?;
        let created_at = time_or_fired(topic, "created_at", self.created_at, fired_at)?;
        Ok(Some(Checkout {
            token,
            cart_token: non_empty(self.cart_token),
            customer,
            recovery_url,
            line_items,
            total: money(topic, "total_price", &self.total_price, currency)?,
            created_at,
            updated_at: self.updated_at.map(utc).unwrap_or(created_at),
            completed_at: self.completed_at.map(utc),
        }))
    }
}

#[derive(Deserialize)]
struct RawTransaction {
    amount: String,
    kind: Option<String>,
    status: Option<String>,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct RawMoneyBag {
    shop_money: RawMoneySet,
}

#[derive(Deserialize)]
struct RawMoneySet {
    amount: String,
    currency_code: String,
}

#[derive(Deserialize)]
struct RawRefundLine {
    subtotal_set: Option<RawMoneyBag>,
    total_tax_set: Option<RawMoneyBag>,
}

#[derive(Deserialize)]
struct RawRefund {
    #[serde(deserialize_with = "id")]
    id: String,
    #[serde(default, deserialize_with = "opt_id")]
    order_id: Option<String>,
    created_at: Option<DateTime<FixedOffset>>,
    processed_at: Option<DateTime<FixedOffset>>,
    note: Option<String>,
    #[serde(default)]
    transactions: Vec<RawTransaction>,
    #[serde(default)]
    refund_line_items: Vec<RawRefundLine>,
}

impl RawRefund {
    /// The refunded amount is what actually went back to the customer: the successful refund
    /// transactions. A refund without transactions (restock only, or store credit) falls back to
    /// the refunded lines' value; one with neither returned nothing (`None`). Amounts are added
    /// with checked arithmetic: an implausible sum is refused, never a panic.
    fn into_refund(
        self,
        topic: &str,
        fired_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Refund>, PayloadError> {
        let paid_back: Vec<&RawTransaction> = self
            .transactions
            .iter()
            .filter(|t| t.kind.as_deref().is_none_or(|k| k == "refund"))
            .filter(|t| t.status.as_deref().is_none_or(|s| s == "success"))
            .collect();
        let line_sets: Vec<&RawMoneySet> = self
            .refund_line_items
            .iter()
            .flat_map(|l| [&l.subtotal_set, &l.total_tax_set])
            .filter_map(|s| s.as_ref().map(|b| &b.shop_money))
            .collect();
        if paid_back.is_empty() && line_sets.is_empty() {
            return Ok(None);
        }
        // Transactions often carry `currency: null`; the line sets always name theirs.
        let code = paid_back
            .iter()
            .find_map(|t| t.currency.as_deref())
            .or_else(|| line_sets.first().map(|s| s.currency_code.as_str()))
            .ok_or_else(|| missing(topic, "transactions.currency or refund_line_items.subtotal_set"))?;
        let currency = Currency::new(code).map_err(|e| invalid(topic, "currency", e))?;
        let parts: Vec<(&'static str, &str)> = if paid_back.is_empty() {
            line_sets
                .iter()
                .map(|set| ("refund_line_items.subtotal_set", set.amount.as_str()))
                .collect()
        } else {
            paid_back
                .iter()
                .map(|t| ("transactions.amount", t.amount.as_str()))
                .collect()
        };
        let mut amount = Money::zero(currency);
        for (field, part) in parts {
            amount = amount
                .checked_add(money(topic, field, part, currency)?)
                .map_err(|e| invalid(topic, field, e))?;
        }
        if amount.amount < Decimal::ZERO {
            return Err(invalid(
                topic,
                "transactions.amount",
                "is negative (a refund returns money)",
            ));
        }
        let created_at = self.created_at.or(self.processed_at);
        Ok(Some(Refund {
            id: self.id,
            created_at: time_or_fired(topic, "created_at", created_at, fired_at)?,
            amount,
            reason: non_empty(self.note),
        }))
    }
}

#[derive(Deserialize)]
struct RawFulfillment {
    #[serde(deserialize_with = "id")]
    id: String,
    #[serde(default, deserialize_with = "opt_id")]
    order_id: Option<String>,
    shipment_status: Option<String>,
    created_at: Option<DateTime<FixedOffset>>,
    updated_at: Option<DateTime<FixedOffset>>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
    tracking_company: Option<String>,
}

impl RawFulfillment {
    fn into_shipment(self, topic: &str, fired_at: Option<DateTime<Utc>>) -> Result<Shipment, PayloadError> {
        Ok(Shipment {
            order_id: order_id(topic, &self.order_id)?,
            fulfillment_id: Some(self.id),
            status: shipment_status(self.shipment_status.as_deref()),
            tracking_number: non_empty(self.tracking_number),
            tracking_url: non_empty(self.tracking_url),
            carrier: non_empty(self.tracking_company),
            estimated_delivery_at: None,
            happened_at: time_or_fired(topic, "updated_at", self.updated_at.or(self.created_at), fired_at)?,
        })
    }
}

#[derive(Deserialize)]
struct RawFulfillmentEvent {
    #[serde(default, deserialize_with = "opt_id")]
    fulfillment_id: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    order_id: Option<String>,
    status: Option<String>,
    happened_at: Option<DateTime<FixedOffset>>,
    created_at: Option<DateTime<FixedOffset>>,
    estimated_delivery_at: Option<DateTime<FixedOffset>>,
}

impl RawFulfillmentEvent {
    fn into_shipment(self, topic: &str, fired_at: Option<DateTime<Utc>>) -> Result<Shipment, PayloadError> {
        Ok(Shipment {
            order_id: order_id(topic, &self.order_id)?,
            fulfillment_id: self.fulfillment_id,
            status: shipment_status(self.status.as_deref()),
            tracking_number: None,
            tracking_url: None,
            carrier: None,
            estimated_delivery_at: self.estimated_delivery_at.map(utc),
            happened_at: time_or_fired(
                topic,
                "happened_at",
                self.happened_at.or(self.created_at),
                fired_at,
            )?,
        })
    }
}

#[derive(Deserialize)]
struct RawPrivacyCustomer {
    #[serde(default, deserialize_with = "opt_id")]
    id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
struct RawDataRequest {
    #[serde(default, deserialize_with = "opt_id")]
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawPrivacy {
    customer: Option<RawPrivacyCustomer>,
    #[serde(default)]
    orders_requested: Vec<serde_json::Value>,
    #[serde(default)]
    orders_to_redact: Vec<serde_json::Value>,
    data_request: Option<RawDataRequest>,
}

impl RawPrivacy {
    fn into_request(self, topic: &str) -> Result<PrivacyRequest, PayloadError> {
        let customer = self.customer.ok_or_else(|| missing(topic, "customer"))?;
        let order_ids = self
            .orders_requested
            .iter()
            .chain(&self.orders_to_redact)
            .map(|v| match v {
                serde_json::Value::Number(n) => OrderId::new(n.to_string()),
                serde_json::Value::String(s) => OrderId::new(s.clone()),
                other => OrderId::new(other.to_string().replace(' ', "")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(topic, "orders_to_redact", e))?;
        let customer_id = customer
            .id
            .map(|id| CustomerId::new(id).map_err(|e| invalid(topic, "customer.id", e)))
            .transpose()?;
        let email = non_empty(customer.email);
        if customer_id.is_none() && email.is_none() {
            return Err(missing(topic, "customer.id or customer.email"));
        }
        Ok(PrivacyRequest {
            customer_id,
            email,
            phone: non_empty(customer.phone),
            order_ids,
            request_id: self.data_request.and_then(|d| d.id),
        })
    }
}

#[derive(Deserialize)]
struct RawShopRedact {
    #[serde(default, deserialize_with = "opt_id")]
    shop_id: Option<String>,
    shop_domain: Option<String>,
}

/// `bulk_operations/finish`:
/// `{"admin_graphql_api_id": "gid://shopify/BulkOperation/1", "completed_at": …,
/// "created_at": …, "error_code": null, "status": "completed", "type": "query"}`.
#[derive(Deserialize)]
struct RawBulkFinish {
    admin_graphql_api_id: String,
    status: String,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    completed_at: Option<DateTime<FixedOffset>>,
}

/// The dedupe key Shopify documents: the event id, or the webhook id from older API versions.
/// `Ok(None)` when neither header is there; an unusable one is an error saying why.
pub fn event_id(
    event_id_header: Option<&str>,
    webhook_id_header: Option<&str>,
) -> Result<Option<EventId>, IdError> {
    [event_id_header, webhook_id_header]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(|v| EventId::new(format!("shopify:{v}")))
        .transpose()
}
