//! WooCommerce webhooks (REST API v3 resource JSON) to [`StoreEvent`]s.
//!
//! WooCommerce has no event id: `X-WC-Webhook-Delivery-ID` names a delivery attempt, and
//! `order.updated` fires several times for one change. So event ids are built from the order's
//! state: a status change is keyed by (order, status, modified time, refunds) and each refund by
//! its own id, which makes repeated identical updates collapse into one stored event.
//!
//! Names arrive HTML-encoded (WordPress stores `&ndash;`) and are decoded here, once.

use crate::json::{decode, id, non_empty, opt_id};
use crate::text::decode_entities;
use crate::{Delivery, Normalised, PayloadError};
use aftersale_domain::{
    Address, Consent, Currency, Customer, CustomerId, EventId, EventKind, FulfillmentStatus, LineItem, Money,
    Order, OrderId, OrderStatus, Platform, ProductId, Refund, RefundEvent, Shipment, ShipmentStatus,
    StoreEvent, VariantId,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

/// The topics Aftersale subscribes to (`X-WC-Webhook-Topic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    OrderCreated,
    OrderUpdated,
    OrderDeleted,
    OrderRestored,
    CustomerCreated,
    CustomerUpdated,
    /// `action.woocommerce_order_status_completed`: WooCommerce's "shipped" moment.
    OrderStatusCompleted,
}

impl Topic {
    pub const ALL: [Topic; 7] = [
        Topic::OrderCreated,
        Topic::OrderUpdated,
        Topic::OrderDeleted,
        Topic::OrderRestored,
        Topic::CustomerCreated,
        Topic::CustomerUpdated,
        Topic::OrderStatusCompleted,
    ];

    pub fn parse(header: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == header.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::OrderCreated => "order.created",
            Topic::OrderUpdated => "order.updated",
            Topic::OrderDeleted => "order.deleted",
            Topic::OrderRestored => "order.restored",
            Topic::CustomerCreated => "customer.created",
            Topic::CustomerUpdated => "customer.updated",
            Topic::OrderStatusCompleted => "action.woocommerce_order_status_completed",
        }
    }
}

/// WooCommerce's creation ping: an unsigned form body `webhook_id=N` sent when a merchant saves
/// the webhook. It proves nothing and must only be acknowledged.
pub fn is_creation_ping(body: &[u8]) -> bool {
    if body.len() > 64 {
        return false;
    }
    let pairs: Vec<(String, String)> = match serde_urlencoded::from_bytes(body) {
        Ok(pairs) => pairs,
        Err(_) => return false,
    };
    matches!(pairs.as_slice(), [(key, value)] if key == "webhook_id" && value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty())
}

/// Turns one verified delivery into events.
pub fn normalise(topic: Topic, delivery: &Delivery, body: &[u8]) -> Normalised {
    let name = topic.as_str();
    let event = |event_id: String, occurred_at: DateTime<Utc>, kind: EventKind| {
        Ok(StoreEvent {
            origin: Default::default(),
            shop: delivery.shop.clone(),
            platform: Platform::Woocommerce,
            event_id: EventId::new(event_id).map_err(|e| invalid(name, "id", e))?,
            occurred_at,
            kind,
        })
    };
    match topic {
        Topic::OrderCreated | Topic::OrderUpdated | Topic::OrderRestored => {
            let raw: RawOrder = decode(name, body)?;
            let order = raw.into_order(name)?;
            let at = order.updated_at;
            let state_key = state_key(&order);
            let mut events = Vec::new();
            match topic {
                Topic::OrderCreated => {
                    events.push(event(
                        format!("wc:order:{}:created", order.id),
                        order.created_at,
                        EventKind::OrderPlaced(order.clone()),
                    )?);
                    if order.status.is_paid() {
                        events.push(event(state_key, at, EventKind::OrderPaid(order.clone()))?);
                    }
                }
                Topic::OrderRestored => events.push(event(
                    format!("{state_key}:restored"),
                    at,
                    EventKind::OrderRestored(order.clone()),
                )?),
                _ => events.push(event(state_key, at, status_kind(order.clone()))?),
            }
            for refund in &order.refunds {
                let kind = EventKind::OrderRefunded(RefundEvent {
                    order_id: order.id.clone(),
                    refund: refund.clone(),
                });
                events.push(event(
                    format!("wc:order:{}:refund:{}", order.id, refund.id),
                    refund.created_at,
                    kind,
                )?);
            }
            Ok(events)
        }
        Topic::OrderDeleted => {
            let raw: RawDeleted = decode(name, body)?;
            let order_id = OrderId::new(raw.id).map_err(|e| invalid(name, "id", e))?;
            let at = raw
                .date_modified_gmt
                .map(gmt)
                .unwrap_or_else(|| delivery.triggered_at.unwrap_or_else(Utc::now));
            let key = format!("wc:order:{order_id}:deleted:{}", at.timestamp());
            Ok(vec![event(key, at, EventKind::OrderDeleted { order_id })?])
        }
        Topic::OrderStatusCompleted => {
            let raw: RawAction = decode(name, body)?;
            let order_id = OrderId::new(raw.arg).map_err(|e| invalid(name, "arg", e))?;
            let at = delivery.triggered_at.unwrap_or_else(Utc::now);
            let shipment = Shipment {
                order_id: order_id.clone(),
                fulfillment_id: None,
                status: ShipmentStatus::Confirmed,
                tracking_number: None,
                tracking_url: None,
                carrier: None,
                estimated_delivery_at: None,
                happened_at: at,
            };
            Ok(vec![event(
                format!("wc:order:{order_id}:completed"),
                at,
                EventKind::ShipmentUpdated(shipment),
            )?])
        }
        Topic::CustomerCreated | Topic::CustomerUpdated => {
            let raw: RawCustomer = decode(name, body)?;
            let modified = raw.date_modified_gmt.or(raw.date_created_gmt).map(gmt);
            let customer = raw.into_customer(name)?;
            let at = modified.unwrap_or_else(|| delivery.triggered_at.unwrap_or_else(Utc::now));
            let key = format!("wc:customer:{}:{}", customer.id, at.timestamp());
            let kind = if topic == Topic::CustomerCreated {
                EventKind::CustomerCreated(customer)
            } else {
                EventKind::CustomerUpdated(customer)
            };
            Ok(vec![event(key, at, kind)?])
        }
    }
}

/// The event an `order.updated` means, judged by the status it now has.
fn status_kind(order: Order) -> EventKind {
    match order.status {
        OrderStatus::Processing => EventKind::OrderPaid(order),
        OrderStatus::Completed => EventKind::OrderFulfilled(order),
        OrderStatus::Cancelled => EventKind::OrderCancelled(order),
        _ => EventKind::OrderUpdated(order),
    }
}

/// (order, status, modified time, refunds): two deliveries of the same state share it.
/// The refunds are named by a digest of their ids, so the key stays short however many
/// refunds an order collects (joined, about 68 of them overflowed the event id's limit and
/// every later update of the order was refused).
fn state_key(order: &Order) -> String {
    format!(
        "wc:order:{}:{}:{}:r{}",
        order.id,
        status_name(order.status),
        order.updated_at.timestamp(),
        refunds_digest(&order.refunds)
    )
}

/// Empty for no refunds; else the count and a digest of the sorted ids.
fn refunds_digest(refunds: &[Refund]) -> String {
    use sha2::{Digest, Sha256};
    if refunds.is_empty() {
        return String::new();
    }
    let mut ids: Vec<&str> = refunds.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let digest = Sha256::digest(ids.join("\n").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", ids.len())
}

fn status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "pending",
        OrderStatus::OnHold => "on-hold",
        OrderStatus::Processing => "processing",
        OrderStatus::Completed => "completed",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Refunded => "refunded",
        OrderStatus::Failed => "failed",
    }
}

fn parse_status(topic: &str, raw: &str) -> Result<OrderStatus, PayloadError> {
    Ok(match raw {
        "pending" | "checkout-draft" => OrderStatus::Pending,
        "on-hold" => OrderStatus::OnHold,
        "processing" => OrderStatus::Processing,
        "completed" => OrderStatus::Completed,
        "cancelled" | "trash" => OrderStatus::Cancelled,
        "refunded" => OrderStatus::Refunded,
        "failed" => OrderStatus::Failed,
        other => {
            return Err(invalid(
                topic,
                "status",
                format!("unknown order status '{other}'"),
            ));
        }
    })
}

/// WooCommerce's `*_gmt` fields are UTC without an offset.
fn gmt(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
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

fn money(topic: &str, field: &'static str, amount: &str, currency: Currency) -> Result<Money, PayloadError> {
    Money::parse(amount, currency).map_err(|e| invalid(topic, field, e))
}

/// A name or other free text: trimmed, `""` as none, HTML entities decoded.
fn text(value: Option<String>) -> Option<String> {
    non_empty(value).map(|v| decode_entities(&v))
}

#[derive(Deserialize, Default)]
struct RawAddress {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address_1: Option<String>,
    address_2: Option<String>,
    city: Option<String>,
    postcode: Option<String>,
    country: Option<String>,
}

impl RawAddress {
    fn address(&self) -> Option<Address> {
        let part = |v: &Option<String>| text(v.clone()).unwrap_or_default();
        text(self.address_1.clone()).map(|line1| Address {
            line1,
            line2: part(&self.address_2),
            city: part(&self.city),
            postcode: part(&self.postcode),
            country_code: part(&self.country),
        })
    }
}

#[derive(Deserialize)]
struct RawLineItem {
    #[serde(deserialize_with = "id")]
    id: String,
    name: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    product_id: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    variation_id: Option<String>,
    sku: Option<String>,
    quantity: u32,
    /// Line subtotal before discounts, as a decimal string. (`price` is a JSON float, so the
    /// unit price is derived from this instead.)
    subtotal: String,
}

#[derive(Deserialize)]
struct RawCoupon {
    code: String,
}

#[derive(Deserialize)]
struct RawOrderRefund {
    #[serde(deserialize_with = "id")]
    id: String,
    reason: Option<String>,
    /// Negative, e.g. `"-10.00"`.
    total: String,
}

#[derive(Deserialize)]
struct RawOrder {
    #[serde(deserialize_with = "id")]
    id: String,
    number: Option<String>,
    status: String,
    currency: String,
    date_created_gmt: NaiveDateTime,
    date_modified_gmt: Option<NaiveDateTime>,
    total: String,
    discount_total: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    customer_id: Option<String>,
    #[serde(default)]
    billing: RawAddress,
    #[serde(default)]
    shipping: RawAddress,
    customer_ip_address: Option<String>,
    #[serde(default)]
    line_items: Vec<RawLineItem>,
    #[serde(default)]
    coupon_lines: Vec<RawCoupon>,
    #[serde(default)]
    refunds: Vec<RawOrderRefund>,
}

impl RawOrder {
    fn into_order(self, topic: &str) -> Result<Order, PayloadError> {
        let currency = Currency::new(&self.currency).map_err(|e| invalid(topic, "currency", e))?;
        let id = OrderId::new(self.id).map_err(|e| invalid(topic, "id", e))?;
        let status = parse_status(topic, &self.status)?;
        let email = non_empty(self.billing.email);
        let customer_id = match (&self.customer_id, &email) {
            (Some(id), _) => CustomerId::new(id.clone()).map_err(|e| invalid(topic, "customer_id", e))?,
            (None, Some(email)) => CustomerId::for_guest_email(email),
            (None, None) => return Err(missing(topic, "customer_id or billing.email")),
        };
        let customer = Customer {
            id: customer_id,
            email,
            phone: non_empty(self.billing.phone),
            first_name: text(self.billing.first_name),
            last_name: text(self.billing.last_name),
            locale: None,
            time_zone: None,
            email_marketing: Consent::Unknown,
            sms_marketing: Consent::Unknown,
            updated_at: None,
        };
        let mut subtotal = Money::zero(currency);
        let mut line_items = Vec::with_capacity(self.line_items.len());
        for li in self.line_items {
            let line_total = money(topic, "line_items.subtotal", &li.subtotal, currency)?;
            subtotal = subtotal
                .checked_add(line_total)
                .map_err(|e| invalid(topic, "line_items.subtotal", e))?;
            let unit = if li.quantity == 0 {
                line_total.amount
            } else {
                line_total.amount / Decimal::from(li.quantity)
            };
            line_items.push(LineItem {
                id: li.id,
                product_id: li
                    .product_id
                    .map(|p| ProductId::new(p).map(String::from))
                    .transpose()
                    .map_err(|e| invalid(topic, "line_items.product_id", e))?,
                variant_id: li
                    .variation_id
                    .map(|v| VariantId::new(v).map(String::from))
                    .transpose()
                    .map_err(|e| invalid(topic, "line_items.variation_id", e))?,
                sku: non_empty(li.sku),
                title: text(li.name).unwrap_or_default(),
                quantity: li.quantity,
                price: Money::new(unit.round_dp(currency_scale(unit)), currency),
            });
        }
        let created_at = gmt(self.date_created_gmt);
        let updated_at = self.date_modified_gmt.map(gmt).unwrap_or(created_at);
        let refunds = self
            .refunds
            .into_iter()
            .map(|r| {
                Ok(Refund {
                    id: r.id,
                    // The order payload does not date its refunds; the modification that
                    // carried them is the closest instant we have.
                    created_at: updated_at,
                    amount: money(topic, "refunds.total", &r.total, currency)?.abs(),
                    reason: text(r.reason),
                })
            })
            .collect::<Result<Vec<_>, PayloadError>>()?;
        Ok(Order {
            id,
            name: non_empty(self.number).map(|n| format!("#{n}")),
            customer,
            created_at,
            updated_at,
            status,
            fulfillment: if status == OrderStatus::Completed {
                FulfillmentStatus::Fulfilled
            } else {
                FulfillmentStatus::Unfulfilled
            },
            line_items,
            subtotal,
            total: money(topic, "total", &self.total, currency)?,
            total_discounts: match &self.discount_total {
                Some(d) => money(topic, "discount_total", d, currency)?,
                None => Money::zero(currency),
            },
            discount_codes: self.coupon_lines.into_iter().map(|c| c.code).collect(),
            refunds,
            shipping_address: self.shipping.address(),
            shipping_country: non_empty(self.shipping.country).or(non_empty(self.billing.country)),
            client_ip: non_empty(self.customer_ip_address),
            // WooCommerce core has no checkout webhook, so there is no checkout to match.
            checkout_token: None,
            cart_token: None,
        })
    }
}

/// Keeps the precision the division produced, capped so repeating decimals stay readable.
fn currency_scale(unit: Decimal) -> u32 {
    unit.scale().min(4)
}

#[derive(Deserialize)]
struct RawDeleted {
    #[serde(deserialize_with = "id")]
    id: String,
    date_modified_gmt: Option<NaiveDateTime>,
}

#[derive(Deserialize)]
struct RawAction {
    #[serde(deserialize_with = "id")]
    arg: String,
}

#[derive(Deserialize)]
struct RawCustomer {
    #[serde(deserialize_with = "id")]
    id: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    date_created_gmt: Option<NaiveDateTime>,
    date_modified_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    billing: RawAddress,
}

impl RawCustomer {
    fn into_customer(self, topic: &str) -> Result<Customer, PayloadError> {
        Ok(Customer {
            id: CustomerId::new(self.id).map_err(|e| invalid(topic, "id", e))?,
            email: non_empty(self.email).or(non_empty(self.billing.email)),
            phone: non_empty(self.billing.phone),
            first_name: text(self.first_name).or(text(self.billing.first_name)),
            last_name: text(self.last_name).or(text(self.billing.last_name)),
            locale: None,
            time_zone: None,
            email_marketing: Consent::Unknown,
            sms_marketing: Consent::Unknown,
            updated_at: self.date_modified_gmt.map(gmt),
        })
    }
}
