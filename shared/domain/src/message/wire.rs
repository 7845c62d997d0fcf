//! A message as stored: the same JSON as before payloads were typed, so old rows and items
//! read unchanged. Only `details` needs the message's flow to be understood, which is why
//! [`Message`] goes through this shape instead of deriving its own.

use super::{Channel, DueBasis, Message, MessageClass, MessageStatus, PROCESSING_ERRORS, ProductRef, Reason};
use crate::flows::{Details, Payload, PayloadError};
use crate::{CustomerId, Flow, FlowStep, OrderId, ShopId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Field for field the stored JSON, in the order it is written.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredMessage {
    shop: ShopId,
    customer_id: CustomerId,
    flow: Flow,
    subject: String,
    step: String,
    order_id: Option<OrderId>,
    class: MessageClass,
    channel: Channel,
    due_at: DateTime<Utc>,
    due_basis: DueBasis,
    status: MessageStatus,
    reason: Reason,
    planned_at: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
    attempts: u32,
    #[serde(default)]
    products: Vec<ProductRef>,
    /// The flow's payload as text ([`Payload::details`]).
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    details: Details,
    to: Option<String>,
    rendered_subject: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    provider_id: Option<String>,
    version: u64,
}

impl TryFrom<StoredMessage> for Message {
    type Error = PayloadError;

    fn try_from(mut m: StoredMessage) -> Result<Message, PayloadError> {
        let step = FlowStep::parse(m.flow, &m.step).ok_or_else(|| PayloadError {
            flow: m.flow,
            problem: format!("{:?} is not one of its steps", m.step),
        })?;
        let processing_errors = match m.details.remove(PROCESSING_ERRORS) {
            Some(count) => count.parse().map_err(|_| PayloadError {
                flow: m.flow,
                problem: format!("{PROCESSING_ERRORS} is {count:?}, not a count"),
            })?,
            None => 0,
        };
        Ok(Message {
            payload: Payload::from_details(m.flow, &m.details)?,
            processing_errors,
            shop: m.shop,
            customer_id: m.customer_id,
            subject: m.subject,
            step,
            order_id: m.order_id,
            class: m.class,
            channel: m.channel,
            due_at: m.due_at,
            due_basis: m.due_basis,
            status: m.status,
            reason: m.reason,
            planned_at: m.planned_at,
            lease_until: m.lease_until,
            attempts: m.attempts,
            products: m.products,
            to: m.to,
            rendered_subject: m.rendered_subject,
            sent_at: m.sent_at,
            provider_id: m.provider_id,
            version: m.version,
        })
    }
}

impl From<Message> for StoredMessage {
    fn from(m: Message) -> StoredMessage {
        StoredMessage {
            details: m.details(),
            shop: m.shop,
            customer_id: m.customer_id,
            flow: m.step.flow(),
            subject: m.subject,
            step: m.step.as_str().to_string(),
            order_id: m.order_id,
            class: m.class,
            channel: m.channel,
            due_at: m.due_at,
            due_basis: m.due_basis,
            status: m.status,
            reason: m.reason,
            planned_at: m.planned_at,
            lease_until: m.lease_until,
            attempts: m.attempts,
            products: m.products,
            to: m.to,
            rendered_subject: m.rendered_subject,
            sent_at: m.sent_at,
            provider_id: m.provider_id,
            version: m.version,
        }
    }
}
