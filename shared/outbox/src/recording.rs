//! Senders that keep what they are given instead of sending it: `aftersale simulate` runs the
//! real flows through them (nothing may leave the machine), and tests read back what was sent
//! and script failures. They validate like the real adapters, so a message refused by SES or
//! SNS is refused here too.

use aftersale_ports::{
    Mailer, OutgoingEmail, OutgoingSms, SendError, SentId, SmsSender, SupportAlerts, validate_e164,
};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;

/// What a recorder keeps, plus failures scripted to be returned by the next calls.
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
    use aftersale_ports::{Mailbox, SmsKind};

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
