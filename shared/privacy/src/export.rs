//! A customer's data export: everything Aftersale holds on them, as one JSON document the
//! merchant can hand over. Kept under `data-request#{id}` in the shop's documents, and named
//! by `customer_id`, so the customer's redaction takes it too.

use aftersale_domain::{
    Answer, Channel, Consent, Customer, CustomerId, Flow, MessageStatus, OrderRecord, ShopId,
};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::lifecycle::customer_records;
use aftersale_ports::{FlowStore, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One stored data request, as `aftersale data-requests` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRequest {
    /// The platform's id of the request (Shopify's `data_request.id`), else the event id.
    pub request_id: String,
    pub shop: ShopId,
    /// The customer it is about: the erasure rule finds the document by this field.
    pub customer_id: CustomerId,
    pub received_at: DateTime<Utc>,
    pub export: DataExport,
}

/// Everything held on one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataExport {
    /// The latest profile (name, contact details, locale, time zone), if one was received.
    pub profile: Option<Customer>,
    pub consents: Consents,
    /// Orders as folded from the platform's events, refunds and delivery included.
    pub orders: Vec<OrderRecord>,
    /// Every message planned for them, with what became of it and why.
    pub messages: Vec<MessageEntry>,
    /// Their answers to 1-tap links: ratings, satisfaction and delivery answers.
    pub answers: Vec<Answer>,
    /// Their VIP tier, when the shop runs tiers.
    pub tier: Option<Value>,
    /// Their own referral code.
    pub referral_code: Option<Value>,
    /// Orders placed with their code, or placed by them with someone else's.
    pub referrals: Vec<Value>,
    /// Loyalty points ledger entries, if the shop runs points.
    pub points: Vec<Value>,
    /// The problems they reported after delivery (make-it-right), in their own words.
    #[serde(default)]
    pub cases: Vec<Value>,
    /// Every document kept under the customer's own key, by key (the above come from these).
    pub documents: BTreeMap<String, Value>,
}

impl DataExport {
    /// Whether nothing at all is held.
    pub fn is_empty(&self) -> bool {
        self.profile.is_none()
            && self.orders.is_empty()
            && self.messages.is_empty()
            && self.answers.is_empty()
            && self.referrals.is_empty()
            && self.cases.is_empty()
            && self.documents.is_empty()
    }
}

/// Marketing consent per channel, as the platform last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consents {
    pub email_marketing: Consent,
    pub sms_marketing: Consent,
}

/// A planned or sent message, without its rendered body (the outbox keeps that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEntry {
    pub id: String,
    pub flow: Flow,
    pub step: String,
    pub channel: Channel,
    pub status: MessageStatus,
    pub reason: String,
    pub due_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub to: Option<String>,
    pub subject: Option<String>,
}

/// Builds the export of `customer` from what the store holds now.
pub async fn build(
    store: &dyn FlowStore,
    shop: &ShopId,
    customer: &CustomerId,
) -> Result<DataExport, StoreError> {
    let profile = store.load_customer(shop, customer).await?;
    let consents = Consents {
        email_marketing: profile.as_ref().map_or(Consent::Unknown, |p| p.email_marketing),
        sms_marketing: profile.as_ref().map_or(Consent::Unknown, |p| p.sms_marketing),
    };
    let orders = customer_records(store, shop, customer).await?;
    let messages = store
        .customer_messages(shop, customer)
        .await?
        .into_iter()
        .map(|m| MessageEntry {
            id: m.id().to_string(),
            flow: m.flow(),
            step: m.step.to_string(),
            channel: m.channel,
            status: m.status,
            reason: m.reason.to_string(),
            due_at: m.due_at,
            sent_at: m.sent_at,
            to: m.to,
            subject: m.rendered_subject,
        })
        .collect();
    let answers = store.customer_answers(shop, customer).await?;
    let documents: BTreeMap<String, Value> = store
        .list_documents(shop, &keys::customer_prefix(customer))
        .await?
        .into_iter()
        .map(|(key, doc)| (key, doc.value))
        .collect();
    // The ledger's entries, each with its kind, points, source and time.
    let points = documents
        .get(&keys::customer_points(customer))
        .and_then(|ledger| ledger.get("entries"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut referrals = Vec::new();
    for (_, record) in documents::list::<Value, _>(store, shop, keys::REFERRALS_PREFIX).await? {
        let theirs = ["advocate", "friend"]
            .iter()
            .any(|field| record.get(field).and_then(Value::as_str) == Some(customer.as_str()));
        if theirs {
            referrals.push(record);
        }
    }
    let mut cases = Vec::new();
    for record in &orders {
        if let Some(case) = store.load_document(shop, &keys::case(&record.order_id)).await? {
            cases.push(case.value);
        }
    }
    Ok(DataExport {
        profile,
        consents,
        orders,
        messages,
        answers,
        tier: documents.get(&keys::customer_tier(customer)).cloned(),
        referral_code: documents.get(&keys::customer_referral(customer)).cloned(),
        referrals,
        points,
        cases,
        documents,
    })
}

/// The shop's data requests, oldest first.
pub async fn list_requests(store: &dyn FlowStore, shop: &ShopId) -> Result<Vec<DataRequest>, StoreError> {
    let mut requests: Vec<DataRequest> =
        documents::list::<DataRequest, _>(store, shop, keys::DATA_REQUESTS_PREFIX)
            .await?
            .into_iter()
            .map(|(_, request)| request)
            .collect();
    requests.sort_by(|a, b| {
        a.received_at
            .cmp(&b.received_at)
            .then_with(|| a.request_id.cmp(&b.request_id))
    });
    Ok(requests)
}
