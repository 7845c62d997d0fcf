//! Local mode's senders: what would go to SES and SNS is written under a data directory instead.
//!
//! - [`FileMailer`]: one RFC 5322 `.eml` file per email in `<dir>/email/`, openable in any mail
//!   client, named `<UTC time>-<message id>.eml` so a directory listing is the send order.
//! - [`FileSms`]: one JSON line per SMS in `<dir>/sms.jsonl`.
//! - [`FileAlerts`]: one JSON line per support alert in `<dir>/alerts.jsonl`.
//! - [`OutboxEraser`]: removes a customer's or a shop's copies for a privacy request.
//! - [`RecordingMailer`], [`RecordingSms`], [`RecordingAlerts`]: keep what they are given in
//!   memory, for `aftersale simulate` and for tests.
//!
//! They validate exactly like the real adapters, so a message refused here would be refused in
//! AWS too. I/O failures are [`SendError::Transient`]: a full disk is an operator's fix, and the
//! message stays due.

use aftersale_mime::Envelope;

mod erase;
mod recording;

use aftersale_ports::{
    Clock, Mailer, OutgoingEmail, OutgoingSms, SendError, SentId, SmsKind, SmsSender, SupportAlerts,
    SystemClock, validate_e164,
};
use async_trait::async_trait;
use chrono::SecondsFormat;
pub use erase::OutboxEraser;
pub use recording::{RecordingAlerts, RecordingMailer, RecordingSms};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The domain of generated Message-IDs: local mail never leaves the machine.
const MESSAGE_ID_DOMAIN: &str = "aftersale.local";

/// Writes each email as an `.eml` file under `<dir>/email/`.
#[derive(Clone)]
pub struct FileMailer {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
}

impl FileMailer {
    /// Files are dated by the system clock.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_clock(dir, Arc::new(SystemClock))
    }

    /// Files are dated by `clock`, so `aftersale tick --now` and simulations write the virtual time.
    pub fn with_clock(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self {
            dir: dir.into(),
            clock,
        }
    }

    /// Where the `.eml` files go.
    pub fn email_dir(&self) -> PathBuf {
        self.dir.join("email")
    }
}

#[async_trait]
impl Mailer for FileMailer {
    /// Returns the Message-ID (`<hex>@aftersale.local`, without angle brackets).
    async fn send_email(&self, email: &OutgoingEmail) -> Result<SentId, SendError> {
        email.validate()?;
        let now = self.clock.now();
        let envelope = Envelope::new(MESSAGE_ID_DOMAIN, now);
        let eml = aftersale_mime::message(email, &envelope)?;
        let message_id = envelope.message_id;

        let dir = self.email_dir();
        let file_name = format!(
            "{}-{}.eml",
            now.format("%Y%m%dT%H%M%S%.3fZ"),
            sanitise(&message_id)
        );
        tokio::fs::create_dir_all(&dir).await.map_err(io_error)?;
        // Written aside and renamed, so a reader listing the directory never sees half a file.
        // A failed write leaves a hidden `.partial` file behind, which is safe to delete.
        let partial = dir.join(format!(".{file_name}.partial"));
        tokio::fs::write(&partial, eml).await.map_err(io_error)?;
        tokio::fs::rename(&partial, dir.join(&file_name))
            .await
            .map_err(io_error)?;
        Ok(SentId(message_id))
    }
}

/// Appends each SMS as a JSON line `{"id","to","body","kind","sent_at"}` to `<dir>/sms.jsonl`.
#[derive(Clone)]
pub struct FileSms(JsonLines);

impl FileSms {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_clock(dir, Arc::new(SystemClock))
    }

    pub fn with_clock(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self(JsonLines {
            path: dir.into().join("sms.jsonl"),
            clock,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.0.path.clone()
    }
}

#[derive(Serialize)]
struct SmsLine<'a> {
    id: &'a str,
    to: &'a str,
    body: &'a str,
    kind: &'static str,
    sent_at: String,
}

#[async_trait]
impl SmsSender for FileSms {
    async fn send_sms(&self, sms: &OutgoingSms) -> Result<SentId, SendError> {
        validate_e164(&sms.to)?;
        let id = random_hex();
        let line = SmsLine {
            id: &id,
            to: &sms.to,
            body: &sms.body,
            kind: match sms.kind {
                SmsKind::Transactional => "transactional",
                SmsKind::Promotional => "promotional",
            },
            sent_at: self.0.now(),
        };
        self.0.append(&line).await?;
        Ok(SentId(id))
    }
}

/// Appends each alert as a JSON line `{"subject","body","sent_at"}` to `<dir>/alerts.jsonl`.
#[derive(Clone)]
pub struct FileAlerts(JsonLines);

impl FileAlerts {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_clock(dir, Arc::new(SystemClock))
    }

    pub fn with_clock(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self(JsonLines {
            path: dir.into().join("alerts.jsonl"),
            clock,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.0.path.clone()
    }
}

#[derive(Serialize)]
struct AlertLine<'a> {
    subject: &'a str,
    body: &'a str,
    sent_at: String,
}

#[async_trait]
impl SupportAlerts for FileAlerts {
    async fn alert(&self, subject: &str, body: &str) -> Result<(), SendError> {
        let line = AlertLine {
            subject,
            body,
            sent_at: self.0.now(),
        };
        self.0.append(&line).await
    }
}

/// A JSON-lines file stamped by a clock: what the SMS and alert outboxes share.
#[derive(Clone)]
struct JsonLines {
    path: PathBuf,
    clock: Arc<dyn Clock>,
}

impl JsonLines {
    fn now(&self) -> String {
        self.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// One JSON document and its newline in a single `write_all` on a file opened for append,
    /// so concurrent writers (tasks or processes) never interleave inside a line.
    async fn append(&self, value: &impl Serialize) -> Result<(), SendError> {
        let mut line = serde_json::to_vec(value)
            .map_err(|e| SendError::Permanent(format!("encoding the outbox line: {e}")))?;
        line.push(b'\n');
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || append(&path, &line))
            .await
            .map_err(|e| SendError::Transient(format!("outbox writer stopped: {e}")))?
            .map_err(io_error)
    }
}

fn append(path: &Path, line: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line)
}

fn io_error(err: std::io::Error) -> SendError {
    SendError::Transient(format!("writing the local outbox: {err}"))
}

/// 128 random bits: unique without coordination between processes.
fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A file-name-safe form of a message id.
fn sanitise(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
