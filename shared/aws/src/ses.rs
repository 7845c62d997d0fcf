//! [`SesMailer`]: the ports' [`Mailer`] on SES v2.
//!
//! The MIME message is built here (multipart/alternative text + HTML, RFC 2047 encoded
//! headers) and sent as `Content::Raw`, so custom headers such as `List-Unsubscribe` and
//! `List-Unsubscribe-Post` reach the recipient byte for byte on SES and on emulators alike.

use crate::send_error::classify;
use aftersale_ports::{Mailbox, Mailer, OutgoingEmail, SendError, SentId};
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
}

impl SesMailer {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<SentId, SendError> {
        email.validate()?;
        let raw = mime_message(email)?;
        let content = EmailContent::builder()
            .raw(
                RawMessage::builder()
                    .data(Blob::new(raw))
                    .build()
                    .map_err(|e| SendError::Permanent(format!("building the SES request: {e}")))?,
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from.address)
            .destination(Destination::builder().to_addresses(&email.to.address).build())
            .content(content)
            .set_configuration_set_name(email.configuration_set.clone())
            .send()
            .await
            .map_err(|err| classify("SES SendEmail", err, is_transient))?;
        // SES always answers with an id; an empty one still means "accepted", never "resend".
        Ok(SentId(out.message_id.unwrap_or_default()))
    }
}

/// Account or configuration state an operator fixes (quota, pause, DNS, missing configuration
/// set): retry later rather than fail every message for good. `MessageRejected` and
/// `BadRequest` are about the message itself and stay permanent.
fn is_transient(err: &SendEmailError) -> bool {
    matches!(
        err,
        SendEmailError::TooManyRequestsException(_)
            | SendEmailError::LimitExceededException(_)
            | SendEmailError::SendingPausedException(_)
            | SendEmailError::AccountSuspendedException(_)
            | SendEmailError::MailFromDomainNotVerifiedException(_)
            | SendEmailError::NotFoundException(_)
    )
}

/// The RFC 5322 message: From, To, Subject, a Message-ID on the sender's domain, the caller's
/// headers, and a multipart/alternative body (text first, HTML preferred).
pub(crate) fn mime_message(email: &OutgoingEmail) -> Result<Vec<u8>, SendError> {
    let mut builder = MessageBuilder::new()
        .from(address(&email.from))
        .to(address(&email.to))
        .subject(email.subject.as_str())
        .message_id(message_id(&email.from.address))
        .text_body(email.text.as_str())
        .html_body(email.html.as_str());
    for (name, value) in &email.headers {
        let value: HeaderType<'_> = if value.is_ascii() {
            Raw::new(value.as_str()).into()
        } else {
            Text::new(value.as_str()).into()
        };
        builder = builder.header(name.as_str(), value);
    }
    builder
        .write_to_vec()
        .map_err(|e| SendError::Permanent(format!("building the MIME message: {e}")))
}

fn address(mailbox: &Mailbox) -> Address<'_> {
    match &mailbox.name {
        Some(name) => Address::new_address(Some(name.as_str()), mailbox.address.as_str()),
        None => Address::new_address(None::<&str>, mailbox.address.as_str()),
    }
}

/// Unique per process and time, on the sender's domain (a `localhost` id hurts spam scores).
fn message_id(from: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let domain = from.rsplit_once('@').map_or("localhost", |(_, domain)| domain);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}.{n:x}.{:x}@{domain}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            from: Mailbox::named("Bottega Àrtica", "hello@bottega.example"),
            to: Mailbox::new("laura@example.com"),
            subject: "Com'è andato il tuo ordine?".into(),
            html: "<p>Ciao Laura</p>".into(),
            text: "Ciao Laura".into(),
            headers: vec![
                (
                    "List-Unsubscribe".into(),
                    "<https://u.example/unsub?t=abc>".into(),
                ),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
            ],
            configuration_set: Some("aftersale".into()),
        }
    }

    #[test]
    fn mime_has_both_parts_and_the_custom_headers() {
        let raw = String::from_utf8(mime_message(&email()).unwrap()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://u.example/unsub?t=abc>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(
            raw.contains("@bottega.example>"),
            "message id on the sender's domain"
        );
        // Non-ASCII subject and display name are RFC 2047 encoded, never raw 8-bit.
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(headers.is_ascii(), "{headers}");
        assert!(headers.contains("=?utf-8?"));
    }
}
