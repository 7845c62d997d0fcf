//! Erasing a customer from everything the store keeps, for the platforms' privacy requests
//! (`customers/redact`), on any [`Store`].
//!
//! [`crate::redaction`] removes what is keyed by the customer or their orders, their samples
//! in the shop's statistics and their dead letters. Left are the shop-wide documents that
//! *name* them: the owner record of their referral code, referral records where they were the
//! advocate or the friend, and their data-request exports. Those are found here, through the [`Documents`]
//! port, so the three stores share one rule: a shop-wide document (one of
//! [`NAMED_PREFIXES`]) whose top-level `customer`, `customer_id`, `advocate` or `friend` is
//! the customer belongs to them and is deleted. A new shop-wide kind that names customers
//! must be listed there and follow the rule.

use crate::documents::keys;
use crate::{Documents, Store, StoreError};
use aftersale_domain::{CustomerId, PrivacyRequest, ShopId, StoreEvent};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeSet;

/// The shop-wide documents (not under a customer's own prefix) that may name a customer.
pub const NAMED_PREFIXES: [&str; 3] = [
    keys::REFERRAL_CODES_PREFIX,
    keys::REFERRALS_PREFIX,
    keys::DATA_REQUESTS_PREFIX,
];

/// The top-level fields through which a shop-wide document names the customer it is about.
const NAMING_FIELDS: [&str; 4] = ["customer", "customer_id", "advocate", "friend"];

/// The customers a privacy request is about: the platform's customer id, and the guest key of
/// the email (guest checkouts are stored under it).
pub fn request_customers(request: &PrivacyRequest) -> Vec<CustomerId> {
    let guest = request.email.as_deref().map(CustomerId::for_guest_email);
    request.customer_id.iter().cloned().chain(guest).collect()
}

/// Erases everyone a `customers/redact` request names: the shop-wide documents that name
/// them, then everything [`crate::redaction::redact_customer`] erases (what the store keys by
/// them or their orders, their statistics samples, their dead letters). Returns the number of
/// items removed.
pub async fn erase_request(
    store: &dyn Store,
    shop: &ShopId,
    request: &PrivacyRequest,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    for customer in &request_customers(request) {
        removed += erase_named_documents(store, shop, customer).await?;
    }
    removed += crate::redaction::redact_customer(store, shop, request).await?;
    Ok(removed)
}

/// Deletes the shop-wide documents that name `customer`. Returns how many.
pub async fn erase_named_documents<D: Documents + ?Sized>(
    store: &D,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    for prefix in NAMED_PREFIXES {
        for (key, found) in store.list_documents(shop, prefix).await? {
            if names(&found.value, customer) && store.delete_document(shop, &key).await? {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn names(value: &Value, customer: &CustomerId) -> bool {
    NAMING_FIELDS
        .iter()
        .any(|field| value.get(field).and_then(Value::as_str) == Some(customer.as_str()))
}

/// Who a redaction must leave no trace of, gathered *before* anything is deleted, so copies kept
/// outside the store (the local outbox) can be found too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traces {
    pub customers: BTreeSet<String>,
    pub emails: BTreeSet<String>,
    pub phones: BTreeSet<String>,
    /// Provider ids of the messages sent to them (the outbox names its files by these).
    pub sent_ids: BTreeSet<String>,
    /// For a whole shop: its domain, which its support alerts carry.
    pub shops: BTreeSet<String>,
}

impl Traces {
    /// Every value whose presence marks a copy as theirs.
    pub fn needles(&self) -> impl Iterator<Item = &str> {
        self.customers
            .iter()
            .chain(&self.emails)
            .chain(&self.phones)
            .chain(&self.sent_ids)
            .chain(&self.shops)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.needles().next().is_none()
    }
}

/// Copies of messages and alerts kept outside the store (the local outbox's `.eml` files and
/// JSON lines). SES and SNS keep their own records, which Aftersale cannot reach.
#[async_trait]
pub trait PersonalFiles: Send + Sync {
    /// Deletes every kept message to, and alert line about, anyone in `traces`. Returns how many
    /// files or lines were removed.
    async fn erase(&self, traces: &Traces) -> Result<u64, StoreError>;
}

/// What a deployment does with the platform's privacy requests: export, erase, tell the
/// merchant. Ingest hands every privacy event to one of these.
#[async_trait]
pub trait PrivacyDesk: Send + Sync {
    /// `customers/data_request`: builds the customer's export and keeps it for the merchant.
    async fn data_request(&self, event: &StoreEvent, request: &PrivacyRequest) -> Result<(), StoreError>;
    /// `customers/redact`: erases the customer everywhere. Returns the items removed.
    async fn redact_customer(&self, shop: &ShopId, request: &PrivacyRequest) -> Result<u64, StoreError>;
    /// `shop/redact`: erases everything the shop owns. Returns the items removed.
    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError>;
}

/// The event as the event log keeps it: a privacy request without the customer's id, contact
/// details or orders, so the record that the request was honoured is no trace of the customer.
pub fn without_personal_data(event: &StoreEvent) -> std::borrow::Cow<'_, StoreEvent> {
    use aftersale_domain::EventKind;
    match &event.kind {
        EventKind::CustomerDataRequest(request) | EventKind::CustomerRedact(request) => {
            let bare = PrivacyRequest {
                customer_id: None,
                email: None,
                phone: None,
                order_ids: Vec::new(),
                request_id: request.request_id.clone(),
            };
            let mut kept = event.clone();
            kept.kind = match &event.kind {
                EventKind::CustomerRedact(_) => EventKind::CustomerRedact(bare),
                _ => EventKind::CustomerDataRequest(bare),
            };
            std::borrow::Cow::Owned(kept)
        }
        _ => std::borrow::Cow::Borrowed(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(id: &str) -> CustomerId {
        CustomerId::new(id).unwrap()
    }

    #[test]
    fn a_document_names_its_customer_in_one_of_the_known_fields() {
        assert!(names(&json!({"customer": "c1"}), &c("c1")));
        assert!(names(&json!({"advocate": "c1", "friend": "c2"}), &c("c2")));
        assert!(!names(&json!({"customer": "c10"}), &c("c1")));
        assert!(
            !names(&json!({"note": "c1"}), &c("c1")),
            "only the naming fields count"
        );
    }

    #[test]
    fn a_request_is_about_the_customer_and_their_guest_key() {
        let request = PrivacyRequest {
            customer_id: Some(c("42")),
            email: Some("Ada@Example.com".into()),
            phone: None,
            order_ids: vec![],
            request_id: None,
        };
        assert_eq!(
            request_customers(&request),
            [c("42"), CustomerId::for_guest_email("ada@example.com")]
        );
    }
}
