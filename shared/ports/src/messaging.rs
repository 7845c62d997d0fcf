//! Sending to people: email, SMS and support alerts, as small ports.
//!
//! Every send answers with a [`SendError`] that tells the caller what to do next: a
//! [`SendError::Permanent`] failure is recorded on the message and never retried (the same
//! request would fail again); a [`SendError::Transient`] one leaves the message due so a later
//! tick retries it. Adapters have already retried throttling with backoff before answering.
//!
//! The `Recording*` fakes at the end record what was sent, for unit tests of callers.

use aftersale_domain::check_email_address;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

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
    /// Throttling, timeouts, provider outages or account state an operator can fix: retry later.
    #[error("transient send failure: {0}")]
    Transient(String),
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

/// What a fake records, plus failures scripted to be returned by the next calls.
struct Recorder<T> {
    sent: Mutex<Vec<T>>,
    failures: Mutex<VecDeque<SendError>>,
}

impl<T: Clone> Recorder<T> {
    fn new() -> Self {
        Self {
            sent: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
        }
    }

    fn record(&self, item: &T) -> Result<SentId, SendError> {
        if let Some(err) = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        {
            return Err(err);
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.push(item.clone());
        Ok(SentId(format!("recorded-{}", sent.len())))
    }

    fn sent(&self) -> Vec<T> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn fail_next(&self, err: SendError) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(err);
    }
}

/// A [`Mailer`] that keeps every accepted email. Validates like the real adapters do.
pub struct RecordingMailer(Recorder<OutgoingEmail>, Mutex<Option<String>>);

impl Default for RecordingMailer {
    fn default() -> Self {
        Self(Recorder::new(), Mutex::new(None))
    }
}

impl RecordingMailer {
    pub fn new() -> Self {
        Self::default()
    }
    /// The next send to `address` panics, as a bug in an adapter would (tests that one
    /// message cannot take a tick down).
    pub fn panic_on(&self, address: &str) {
        *self.1.lock().unwrap_or_else(|p| p.into_inner()) = Some(address.to_string());
    }
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.0.sent()
    }
    /// The next send fails with `err` (queued: call again for several failures).
    pub fn fail_next(&self, err: SendError) {
        self.0.fail_next(err)
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<SentId, SendError> {
        let panics = {
            let mut target = self.1.lock().unwrap_or_else(|p| p.into_inner());
            let hit = target.as_deref() == Some(email.to.address.as_str());
            if hit {
                *target = None;
            }
            hit
        };
        assert!(!panics, "scripted panic while sending");
        email.validate()?;
        self.0.record(email)
    }
}

/// An [`SmsSender`] that keeps every accepted SMS. Refuses non-E.164 numbers like SNS adapter.
pub struct RecordingSms(Recorder<OutgoingSms>);

impl Default for RecordingSms {
    fn default() -> Self {
        Self(Recorder::new())
    }
}

impl RecordingSms {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn sent(&self) -> Vec<OutgoingSms> {
        self.0.sent()
    }
    pub fn fail_next(&self, err: SendError) {
        self.0.fail_next(err)
    }
}

#[async_trait]
impl SmsSender for RecordingSms {
    async fn send_sms(&self, sms: &OutgoingSms) -> Result<SentId, SendError> {
        validate_e164(&sms.to)?;
        self.0.record(sms)
    }
}

/// [`SupportAlerts`] that keeps `(subject, body)` pairs.
pub struct RecordingAlerts(Recorder<(String, String)>);

impl Default for RecordingAlerts {
    fn default() -> Self {
        Self(Recorder::new())
    }
}

impl RecordingAlerts {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn sent(&self) -> Vec<(String, String)> {
        self.0.sent()
    }
    pub fn fail_next(&self, err: SendError) {
        self.0.fail_next(err)
    }
}

#[async_trait]
impl SupportAlerts for RecordingAlerts {
    async fn alert(&self, subject: &str, body: &str) -> Result<(), SendError> {
        self.0
            .record(&(subject.to_string(), body.to_string()))
            .map(|_| ())
    }
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

    #[tokio::test]
    async fn recording_fakes_record_and_fail_on_demand() {
        let mailer = RecordingMailer::new();
        mailer.fail_next(SendError::Transient("throttled".into()));
        assert!(!mailer.send_email(&email()).await.unwrap_err().is_permanent());
        assert_eq!(
            mailer.send_email(&email()).await.unwrap(),
            SentId("recorded-1".into())
        );
        assert_eq!(mailer.sent(), vec![email()]);

        let sms = RecordingSms::new();
        let bad = OutgoingSms {
            to: "3331234567".into(),
            body: "x".into(),
            kind: SmsKind::Promotional,
        };
        assert!(sms.send_sms(&bad).await.unwrap_err().is_permanent());
        assert!(sms.sent().is_empty());

        let alerts = RecordingAlerts::new();
        alerts.alert("dead letter", "1 pending").await.unwrap();
        assert_eq!(alerts.sent(), vec![("dead letter".into(), "1 pending".into())]);
    }
}
