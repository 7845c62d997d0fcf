//! What a store deletes for `customers/redact` and `shop/redact`, decided once for every
//! adapter. The adapters (memory, SQLite, DynamoDB) only execute a plan: each maps every
//! [`Record`] kind to where it keeps it with an exhaustive `match`, so a new kind of record
//! cannot be added to one store and forgotten by another's redaction.
//!
//! The wider erasure (statistics samples, dead letters, shop-wide documents naming the
//! customer) runs on top of this, through the ports: see [`crate::redaction`] and
//! [`crate::erasure`].

use crate::documents::keys;
use aftersale_domain::{CustomerId, OrderId};
use std::collections::BTreeSet;

/// The kinds of record a store holds, all keyed by the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Record {
    Events,
    Orders,
    Customers,
    DeadLetters,
    Shops,
    Messages,
    Answers,
    Suppressions,
    ShopConfigs,
    Documents,
    OauthNonces,
    ShopTokens,
}

impl Record {
    /// Every kind: what a shop's redaction deletes. Dead letters count as the shop's when the
    /// delivery named it (they hold raw payloads, customer details included).
    pub const ALL: [Record; 12] = [
        Record::Events,
        Record::Orders,
        Record::Customers,
        Record::Shops,
        Record::Messages,
        Record::Answers,
        Record::Suppressions,
        Record::ShopConfigs,
        Record::Documents,
        Record::OauthNonces,
        Record::ShopTokens,
        Record::DeadLetters,
    ];
}

/// The records a customer's redaction deletes by their customer id: their profile, the
/// events naming them, their messages and answers. Their documents go by
/// [`CustomerRedaction::document_prefix`], their orders by [`CustomerRedaction::orders`].
/// Suppressions stay: they hold only a hash of the address, and an unsubscribe must outlive
/// the customer's data.
pub const BY_CUSTOMER: [Record; 4] = [
    Record::Customers,
    Record::Events,
    Record::Messages,
    Record::Answers,
];

/// The records a customer's redaction deletes per order: the order record and the events
/// naming the order. The documents that go with an order are
/// [`CustomerRedaction::order_documents`].
pub const BY_ORDER: [Record; 2] = [Record::Orders, Record::Events];

/// One `redact_customer` call: who, and which orders. The orders are those the platform
/// listed plus the ones the store holds under the customer, which only the adapter can find
/// (an index lookup): it adds them with [`CustomerRedaction::add_their_orders`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRedaction {
    customer: Option<CustomerId>,
    orders: BTreeSet<OrderId>,
}

impl CustomerRedaction {
    pub fn new(customer: Option<&CustomerId>, listed: &[OrderId]) -> Self {
        Self {
            customer: customer.cloned(),
            orders: listed.iter().cloned().collect(),
        }
    }

    /// The customer, when the request named one (a request may list only orders).
    pub fn customer(&self) -> Option<&CustomerId> {
        self.customer.as_ref()
    }

    /// Adds the orders the store holds under the customer.
    pub fn add_their_orders(&mut self, found: impl IntoIterator<Item = OrderId>) {
        self.orders.extend(found);
    }

    /// Every order to delete, with [`BY_ORDER`] and [`Self::order_documents`].
    pub fn orders(&self) -> impl Iterator<Item = &OrderId> {
        self.orders.iter()
    }

    /// The documents that go with an order: its referral record names the friend and keeps
    /// their IP; its make-it-right case keeps the customer's words.
    pub fn order_documents(order: &OrderId) -> [String; 2] {
        [keys::referred_order(order), keys::case(order)]
    }

    /// Everything held on the customer as documents is under this prefix.
    pub fn document_prefix(&self) -> Option<String> {
        self.customer.as_ref().map(keys::customer_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_redaction_covers_listed_and_found_orders_once_and_keeps_suppressions() {
        let c = CustomerId::new("c1").unwrap();
        let o = |id: &str| OrderId::new(id).unwrap();
        let mut plan = CustomerRedaction::new(Some(&c), &[o("1"), o("2")]);
        plan.add_their_orders([o("2"), o("3")]);
        assert_eq!(
            plan.orders().cloned().collect::<Vec<_>>(),
            [o("1"), o("2"), o("3")]
        );
        assert_eq!(plan.document_prefix().as_deref(), Some("customer#c1#"));
        assert_eq!(
            CustomerRedaction::order_documents(&o("3")),
            ["referral#3".to_string(), "case#3".to_string()]
        );
        assert!(!BY_CUSTOMER.contains(&Record::Suppressions));
        assert!(!BY_ORDER.contains(&Record::Suppressions));
        assert_eq!(CustomerRedaction::new(None, &[]).document_prefix(), None);
    }

    #[test]
    fn a_shop_redaction_covers_every_kind_of_record_once() {
        let kinds: BTreeSet<Record> = Record::ALL.into_iter().collect();
        assert_eq!(kinds.len(), Record::ALL.len());
    }
}
