//! Sending to people: email, SMS and support alerts, as small ports.
//!
//! Every send answers with a [`SendError`] that tells the caller what to do next: a
//! [`SendError::Permanent`] failure is recorded on the message and never retried (the same
//! request would fail again); a [`SendError::Transient`] one leaves the message due so a later
//! tick retries it; a [`SendError::Throttled`] one means the provider took nothing because
//! we are sending too fast, so the caller slows down and tries again (never a failure).

use aftersale_domain::check_email_address;
use async_trait::async_trait;
use std::fmt;

/// The provider's id of an accepted message (SES message id, SNS message id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SentId(pub String);

impl fmt::Display for SentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a send failed. The text never contains addresses, phone numbers or message bodies, so
/// it can be logged and stored on the message as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The request itself is wrong (rejected message, unverified sender, invalid number):
    /// record it on the message, do not retry.
    #[error("permanent send failure: {0}")]
    Permanent(String),
    /// Timeouts, provider outages or account state an operator can fix: retry later.
    #[error("transient send failure: {0}")]
    Transient(String),
    /// The provider refused the call for its rate ("Maximum sending rate exceeded",
    /// `TooManyRequestsException`, `Throttling`): it took nothing. Slow down and send again;
    /// this is never a failure of the message.
    #[error("throttled by the provider: {0}")]
    Throttled(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }
}

/// An email address with an optional display name (`Shop Name <hello@shop.example>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            name: None,
            address: address.into(),
        }
    }

    pub fn named(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            address: address.into(),
        }
    }
}

/// One email, rendered: both an HTML and a plain-text part, since many clients (and spam
/// filters) want the text alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub from: Mailbox,
    pub to: Mailbox,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Extra headers, e.g. `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058).
    pub headers: Vec<(String, String)>,
    /// SES configuration set that routes bounces and complaints back to us.
    pub configuration_set: Option<String>,
}

impl OutgoingEmail {
    /// Refuses what would let content forge headers (CR/LF in a header, subject or address)
    /// or what no provider would accept. Adapters call this before sending.
    pub fn validate(&self) -> Result<(), SendError> {
        // Display names are not checked: mailers clean them (a CR/LF in a first name must not
        // fail every email to that customer). Addresses cannot be cleaned without guessing.
        for (role, mailbox) in [("sender", &self.from), ("recipient", &self.to)] {
            check_email_address(&mailbox.address)
                .map_err(|problem| SendError::Permanent(format!("{role} email address {problem}")))?;
        }
        if has_line_break(&self.subject) {
            return Err(SendError::Permanent("subject contains a line break".into()));
        }
        for (name, value) in &self.headers {
            let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !token {
                return Err(SendError::Permanent(format!("invalid header name '{name}'")));
            }
            if has_line_break(value) {
                return Err(SendError::Permanent(format!(
                    "header {name} contains a line break"
                )));
            }
        }
        Ok(())
    }
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

/// SMS pricing and routing class: transactional messages get the reliable (dearer) routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsKind {
    Transactional,
    Promotional,
}

/// One text message to an E.164 number (`+393331234567`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    pub to: String,
    pub body: String,
    pub kind: SmsKind,
}

/// Checks E.164: `+`, a non-zero country code digit, at most 15 digits in all. Providers take
/// other spellings in some countries; we do not guess, so a bad number fails permanently.
pub fn validate_e164(number: &str) -> Result<(), SendError> {
    let valid = number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if valid {
        Ok(())
    } else {
        Err(SendError::Permanent("phone number is not in E.164 form".into()))
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<SentId, SendError>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send_sms(&self, sms: &OutgoingSms) -> Result<SentId, SendError>;
}

/// Messages for the shop's operators (failed deliveries, dead letters), not for customers.
#[async_trait]
pub trait SupportAlerts: Send + Sync {
    async fn alert(&self, subject: &str, body: &str) -> Result<(), SendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            from: Mailbox::named("Shop", "hello@shop.example"),
            to: Mailbox::new("laura@example.com"),
            subject: "Thank you".into(),
            html: "<p>Hi</p>".into(),
            text: "Hi".into(),
            headers: vec![("List-Unsubscribe".into(), "<https://u.example/x>".into())],
            configuration_set: None,
        }
    }

    #[test]
    fn e164_numbers() {
        assert!(validate_e164("+393331234567").is_ok());
        assert!(validate_e164("+14155552671").is_ok());
        for bad in [
            "393331234567",
            "+0393331234",
            "+39 333 1234567",
            "+1234",
            "+1234567890123456",
            "",
        ] {
            assert!(validate_e164(bad).unwrap_err().is_permanent(), "{bad}");
        }
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(email().validate().is_ok());
        let mut e = email();
        e.subject = "Hi\r\nBcc: victim@example.com".into();
        assert!(e.validate().unwrap_err().is_permanent());
        let mut e = email();
        e.headers.push(("X-Bad".into(), "a\nb".into()));
        assert!(e.validate().is_err());
        let mut e = email();
        e.headers.push(("Bad Name".into(), "x".into()));
        assert!(e.validate().is_err());
        let mut e = email();
        e.to = Mailbox::new("a@b.example, c@d.example");
        assert!(e.validate().is_err());
        let mut e = email();
        e.from = Mailbox::new("no-at-sign");
        assert_eq!(
            e.validate(),
            Err(SendError::Permanent("sender email address has no @".into()))
        );
    }

    #[test]
    fn doubtful_addresses_fail_with_the_reason_and_names_are_left_to_the_mailer() {
        for (address, reason) in [
            (
                "a@b.com(comment)",
                "recipient email address has a comment in parentheses",
            ),
            (
                "làura@example.com",
                "recipient email address has characters outside plain ASCII (international addresses are not supported)",
            ),
        ] {
            let mut e = email();
            e.to = Mailbox::new(address);
            assert_eq!(
                e.validate(),
                Err(SendError::Permanent(reason.into())),
                "{address}"
            );
        }
        let mut e = email();
        e.to = Mailbox::named("Laura\r\nBcc: eve@example.com", "laura@example.com");
        assert_eq!(e.validate(), Ok(()));
    }
}
