//! Forgetting one customer, on the platform's `customers/redact`: the one place that knows
//! everything held about a customer, on every store.
//!
//! The store's own [`Privacy::redact_customer`](crate::Privacy::redact_customer) deletes what
//! is keyed by the customer (profile, orders, events, messages, answers, their documents).
//! Two things name the customer without being keyed by them, and are handled here once for
//! every adapter:
//! - the shop's statistics, whose samples carry the customer's id (`stats#spend`, gaps, supply);
//! - dead letters: raw deliveries that could not be parsed, holding names, emails and
//!   addresses. They are matched by what the body says about who it concerns.

use crate::documents::{self, keys};
use crate::lifecycle::{self, CustomerOrders};
use crate::{DeadLetter, Store, StoreError};
use aftersale_domain::{CustomerId, OrderId, PrivacyRequest, ShopId};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// Erases everything held about the request's customer in `shop`. Returns the number of items
/// removed or changed. Idempotent: a second run finds nothing.
pub async fn redact_customer(
    store: &dyn Store,
    shop: &ShopId,
    request: &PrivacyRequest,
) -> Result<u64, StoreError> {
    let guest = request.email.as_deref().map(CustomerId::for_guest_email);
    let customers: Vec<&CustomerId> = request.customer_id.iter().chain(guest.iter()).collect();
    // Read before the store deletes it: their orders identify dead letters too.
    let mut orders = request.order_ids.clone();
    for customer in &customers {
        if let Some(theirs) =
            documents::load::<CustomerOrders, _>(store, shop, &keys::customer_orders(customer)).await?
        {
            orders.extend(theirs.value.orders);
        }
    }
    let mut removed = 0;
    for customer in &customers {
        removed += store.redact_customer(shop, Some(customer), &orders).await?;
        removed += lifecycle::forget_customer(store, shop, customer).await?;
    }
    if customers.is_empty() {
        removed += store.redact_customer(shop, None, &orders).await?;
    }
    let subject = Subject {
        customers: customers.into_iter().cloned().collect(),
        email: request.email.as_deref().map(str::to_lowercase),
        orders,
    };
    for letter in store.list_dead_letters().await? {
        if filed_under(&letter, shop) && subject.appears_in(&letter) {
            removed += u64::from(store.delete_dead_letter(&letter).await?);
        }
    }
    Ok(removed)
}

/// Dead letters keep the shop as the delivery named it; compare it as a shop id.
fn filed_under(letter: &DeadLetter, shop: &ShopId) -> bool {
    letter.shop == shop.as_str() || ShopId::from_domain(&letter.shop).is_ok_and(|named| named == *shop)
}

/// Who is being forgotten, as a raw payload could name them.
struct Subject {
    customers: Vec<CustomerId>,
    /// Lower case.
    email: Option<String>,
    orders: Vec<OrderId>,
}

impl Subject {
    /// Whether the dead letter's body is about this customer. A body that is JSON is read
    /// field by field; one that is not (truncated, most often) is searched for the email and
    /// for the ids as whole tokens, erring towards erasing.
    fn appears_in(&self, letter: &DeadLetter) -> bool {
        let Ok(body) = STANDARD.decode(&letter.body_base64) else {
            return false;
        };
        let text = String::from_utf8_lossy(&body);
        if let Some(email) = &self.email
            && text.to_lowercase().contains(email.as_str())
        {
            return true;
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(json) => self.named_in_json(&json, &letter.topic),
            Err(_) => self.ids().any(|id| has_token(&text, id)),
        }
    }

    fn ids(&self) -> impl Iterator<Item = &str> {
        self.customers
            .iter()
            .map(CustomerId::as_str)
            .chain(self.orders.iter().map(OrderId::as_str))
    }

    /// The places Shopify and WooCommerce payloads name a customer or an order: `customer.id`,
    /// `customer_id`, the top-level `id` / `order_id` of an order or refund, and the top-level
    /// `id` of a customer topic.
    fn named_in_json(&self, json: &Value, topic: &str) -> bool {
        let is_customer = |v: Option<&Value>| {
            v.and_then(scalar)
                .is_some_and(|id| self.customers.iter().any(|c| c.as_str() == id))
        };
        let is_order = |v: Option<&Value>| {
            v.and_then(scalar)
                .is_some_and(|id| self.orders.iter().any(|o| o.as_str() == id))
        };
        let customer_topic = topic.starts_with("customers/") || topic.starts_with("customer.");
        if (customer_topic && is_customer(json.get("id")))
            || (!customer_topic && is_order(json.get("id")))
            || is_order(json.get("order_id"))
        {
            return true;
        }
        let mut stack = vec![json];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(map) => {
                    if is_customer(map.get("customer_id"))
                        || is_customer(map.get("customer").and_then(|c| c.get("id")))
                    {
                        return true;
                    }
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        false
    }
}

/// A JSON id as text: platforms send ids as numbers or strings.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `id` occurs in `text` with no letter or digit right before or after it.
fn has_token(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_domain::Platform;
    use chrono::TimeZone;

    fn letter(topic: &str, body: &str) -> DeadLetter {
        DeadLetter {
            id: "dl-1".into(),
            shop: "demo.myshopify.com".into(),
            platform: Platform::Shopify,
            topic: topic.into(),
            headers: vec![],
            body_base64: STANDARD.encode(body),
            reason: String::new(),
            received_at: chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            status: crate::DeadLetterStatus::Pending,
            attempts: 0,
        }
    }

    fn subject() -> Subject {
        Subject {
            customers: vec![CustomerId::new("115").unwrap()],
            email: Some("laura.rossi@example.com".into()),
            orders: vec![OrderId::new("9001").unwrap()],
        }
    }

    #[test]
    fn a_letter_is_theirs_when_it_names_their_email_id_or_order() {
        let s = subject();
        assert!(s.appears_in(&letter(
            "orders/create",
            r#"{"id": 1, "email": "Laura.Rossi@Example.com"}"#
        )));
        assert!(s.appears_in(&letter("orders/create", r#"{"id": 1, "customer": {"id": 115}}"#)));
        assert!(s.appears_in(&letter("order.updated", r#"{"id": 1, "customer_id": "115"}"#)));
        assert!(s.appears_in(&letter("orders/paid", r#"{"id": 9001}"#)));
        assert!(s.appears_in(&letter("refunds/create", r#"{"id": 5, "order_id": 9001}"#)));
        assert!(s.appears_in(&letter("customers/update", r#"{"id": 115}"#)));
        assert!(
            s.appears_in(&letter(
                "orders/create",
                r#"{"id": 1, "customer": {"id": 115, "na"#
            )),
            "truncated"
        );
    }

    #[test]
    fn another_customers_letter_is_left_alone() {
        let s = subject();
        assert!(
            !s.appears_in(&letter(
                "orders/create",
                r#"{"id": 115, "customer": {"id": 1150}}"#
            )),
            "an order id 115 is not customer 115"
        );
        assert!(!s.appears_in(&letter("orders/create", r#"{"id": 2, "customer": {"id": 11"#)));
        assert!(!s.appears_in(&letter(
            "orders/create",
            r#"{"id": 2, "email": "rossi@example.com"}"#
        )));
    }
}
