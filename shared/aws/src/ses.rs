//! [`SesMailer`]: the ports' [`Mailer`] on SES v2.
//!
//! The MIME message is built by `aftersale-mime`, the same code that writes local `.eml`
//! files, and sent as `Content::Raw`, so custom headers such as `List-Unsubscribe` and
//! `List-Unsubscribe-Post` reach the recipient byte for byte on SES and on emulators alike.

use crate::send_error::classify;
use aftersale_mime::Envelope;
use aftersale_ports::{Mailer, OutgoingEmail, SendError, SentId};
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

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

    /// The account's sending rate, emails per second (SESv2 `GetAccount` →
    /// `SendQuota.MaxSendRate`: 1 in the sandbox, 14 or more in production). Read once per
    /// cold start: the tick paces its sends by it.
    pub async fn max_send_rate(&self) -> Result<f64, SendError> {
        let account = self
            .client
            .get_account()
            .send()
            .await
            .map_err(|err| classify("SES GetAccount", err, |_| false))?;
        match account.send_quota.map(|quota| quota.max_send_rate) {
            Some(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
            Some(rate) => Err(SendError::Permanent(format!(
                "SES GetAccount: MaxSendRate {rate} is not a positive rate"
            ))),
            None => Err(SendError::Permanent(
                "SES GetAccount: the answer has no SendQuota".into(),
            )),
        }
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

/// The RFC 5322 message: a Message-ID on the sender's domain (a `localhost` id hurts spam
/// scores), dated now.
pub(crate) fn mime_message(email: &OutgoingEmail) -> Result<Vec<u8>, SendError> {
    let domain = email
        .from
        .address
        .rsplit_once('@')
        .map_or("localhost", |(_, domain)| domain);
    let envelope = Envelope::new(domain, chrono::Utc::now());
    aftersale_mime::message(email, &envelope).map(String::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_ports::Mailbox;

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
        assert!(headers.contains("=?UTF-8?B?"), "{headers}");
    }

    /// The head of the raw message, folded lines joined back.
    fn unfolded_head(raw: &str) -> String {
        raw.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ")
    }

    #[test]
    fn a_3000_character_first_name_is_folded_within_the_line_limits() {
        let mut long = email();
        long.to = Mailbox::named("A".repeat(3000), "laura@example.com");
        let raw = String::from_utf8(mime_message(&long).unwrap()).unwrap();
        let longest = raw.split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 78, "a line of {longest} characters");
        let to = unfolded_head(&raw)
            .lines()
            .find(|l| l.starts_with("To: "))
            .unwrap()
            .to_owned();
        assert!(
            to.starts_with("To: =?UTF-8?B?") && to.ends_with(" <laura@example.com>"),
            "{to}"
        );
    }

    #[test]
    fn a_line_break_in_a_display_name_is_dropped_and_the_send_goes_ahead() {
        let mut injected = email();
        injected.to = Mailbox::named("Laura\r\nBcc: eve@example.com", "laura@example.com");
        assert_eq!(injected.validate(), Ok(()));
        let raw = String::from_utf8(mime_message(&injected).unwrap()).unwrap();
        let head = unfolded_head(&raw);
        assert!(
            head.contains("\r\nTo: \"Laura Bcc: eve@example.com\" <laura@example.com>\r\n"),
            "{head}"
        );
        assert!(!head.contains("\r\nBcc:"), "{head}");
    }

    #[test]
    fn doubtful_addresses_are_refused_before_ses_is_called() {
        let mut doubtful = email();
        doubtful.to = Mailbox::new("laura@example.com(comment)");
        assert_eq!(
            doubtful.validate(),
            Err(SendError::Permanent(
                "recipient email address has a comment in parentheses".into()
            ))
        );
    }
}
