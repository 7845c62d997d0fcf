//! SNS adapters: [`SnsSms`] (SMS to E.164 numbers), [`SnsAlerts`] (a support topic) and
//! [`SnsEventBus`] (domain events to a topic, with message attributes for per-flow
//! subscription filter policies).

use crate::send_error::classify;
use aftersale_domain::StoreEvent;
use aftersale_ports::{
    EventBus, OutgoingSms, SendError, SentId, SmsKind, SmsSender, StoreError, SupportAlerts, validate_e164,
};
use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;

/// SNS refuses messages (body plus attributes) above 256 KiB.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// SNS subjects: at most 100 printable ASCII characters, no line breaks.
const MAX_SUBJECT_CHARS: usize = 100;

/// Errors of `Publish` that an operator fixes (permissions, KMS key state, a deleted topic)
/// or that pass by themselves: retry later. Invalid parameters and disabled endpoints are
/// about the message and stay permanent.
fn is_transient(err: &PublishError) -> bool {
    matches!(
        err,
        PublishError::AuthorizationErrorException(_)
            | PublishError::InternalErrorException(_)
            | PublishError::InvalidSecurityException(_)
            | PublishError::KmsAccessDeniedException(_)
            | PublishError::KmsDisabledException(_)
            | PublishError::KmsInvalidStateException(_)
            | PublishError::KmsNotFoundException(_)
            | PublishError::KmsOptInRequired(_)
            | PublishError::KmsThrottlingException(_)
            | PublishError::NotFoundException(_)
    )
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, aws_sdk_sns::error::BuildError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
}

/// SMS through SNS `Publish` to a phone number.
#[derive(Clone, Debug)]
pub struct SnsSms {
    client: Client,
}

impl SnsSms {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send_sms(&self, sms: &OutgoingSms) -> Result<SentId, SendError> {
        // SNS accepts some national spellings and guesses the country: we never let it guess.
        validate_e164(&sms.to)?;
        if sms.body.trim().is_empty() {
            return Err(SendError::Permanent("SMS body is empty".into()));
        }
        let sms_type = match sms.kind {
            SmsKind::Transactional => "Transactional",
            SmsKind::Promotional => "Promotional",
        };
        let out = self
            .client
            .publish()
            .phone_number(&sms.to)
            .message(&sms.body)
            .message_attributes(
                "AWS.SNS.SMS.SMSType",
                string_attribute(sms_type)
                    .map_err(|e| SendError::Permanent(format!("building the request: {e}")))?,
            )
            .send()
            .await
            .map_err(|err| classify("SNS Publish (SMS)", err, is_transient))?;
        Ok(SentId(out.message_id.unwrap_or_default()))
    }
}

/// Alerts for the shop's operators, published to a support topic (email or chat subscribers).
#[derive(Clone, Debug)]
pub struct SnsAlerts {
    client: Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl SupportAlerts for SnsAlerts {
    async fn alert(&self, subject: &str, body: &str) -> Result<(), SendError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(alert_subject(subject))
            .message(truncate(body, MAX_MESSAGE_BYTES - 1024))
            .send()
            .await
            .map_err(|err| classify("SNS Publish (alert)", err, is_transient))?;
        Ok(())
    }
}

/// SNS subjects must be printable ASCII on one line: line breaks and other whitespace become
/// spaces, anything else non-ASCII becomes `?`, so an alert is never lost to its own subject.
fn alert_subject(subject: &str) -> String {
    let cleaned: String = subject
        .trim()
        .chars()
        .map(|c| match c {
            c if c.is_whitespace() => ' ',
            c if c.is_ascii_graphic() => c,
            _ => '?',
        })
        .take(MAX_SUBJECT_CHARS)
        .collect();
    let cleaned = cleaned.trim_end();
    if cleaned.is_empty() {
        "Aftersale alert".to_string()
    } else {
        cleaned.to_string()
    }
}

fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Domain events to a topic. Each message is the event's JSON with the string attributes
/// `kind` (e.g. `order_placed`), `platform` and `shop`, which is what the flows'
/// subscription filter policies match on.
#[derive(Clone, Debug)]
pub struct SnsEventBus {
    client: Client,
    topic_arn: String,
}

impl SnsEventBus {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl EventBus for SnsEventBus {
    async fn publish(&self, event: &StoreEvent) -> Result<(), StoreError> {
        let body = serde_json::to_string(event)
            .map_err(|e| StoreError::Backend(format!("serialising event: {e}")))?;
        let attributes = [
            ("kind", event.kind_name()),
            ("platform", event.platform.as_str()),
            ("shop", event.shop.as_str()),
        ];
        let size = body.len()
            + attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + "String".len())
                .sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(StoreError::Backend(format!(
                "event {} is {size} bytes, above SNS's {MAX_MESSAGE_BYTES}-byte limit",
                event.event_id
            )));
        }
        let mut request = self.client.publish().topic_arn(&self.topic_arn).message(body);
        for (name, value) in attributes {
            request = request.message_attributes(
                name,
                string_attribute(value)
                    .map_err(|e| StoreError::Backend(format!("building the request: {e}")))?,
            );
        }
        request.send().await.map_err(|err| {
            StoreError::Backend(format!(
                "SNS Publish (event {}): {}",
                event.event_id,
                DisplayErrorContext(&err)
            ))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_subjects_are_made_acceptable() {
        assert_eq!(
            alert_subject("Dead letter: shop.example"),
            "Dead letter: shop.example"
        );
        assert_eq!(alert_subject("Ordine perso\n— riprova"), "Ordine perso ? riprova");
        assert_eq!(alert_subject("  \n "), "Aftersale alert");
        assert_eq!(alert_subject(&"x".repeat(300)).len(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("àbc", 1), "");
        assert_eq!(truncate("àbc", 2), "à");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
