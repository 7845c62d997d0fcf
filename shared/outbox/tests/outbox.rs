use aftersale_outbox::{FileAlerts, FileMailer, FileSms};
use aftersale_ports::{
    Mailbox, Mailer, ManualClock, OutgoingEmail, OutgoingSms, SmsKind, SmsSender, SupportAlerts,
};
use chrono::{TimeZone, Utc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
    ))
}

fn email() -> OutgoingEmail {
    OutgoingEmail {
        from: Mailbox::named("Caffè Rossi, Milano", "ciao@bottega-rossi.example"),
        to: Mailbox::named("Laura \"Lau\" Bianchi", "laura@example.com"),
        subject: "È arrivato tutto bene, Laura? Ti chiediamo solo un attimo per sapere com'è andata".into(),
        html: "<p>Ciao Laura,</p>\n<p>è arrivato tutto bene? <a href=\"https://l.example/l/abc?x=1&amp;y=2\">Sì</a></p>\n".into(),
        text: format!("Ciao Laura,\nè arrivato tutto bene?\nSì: https://l.example/l/{}\n", "a".repeat(120)),
        headers: vec![
            ("List-Unsubscribe".into(), "<https://l.example/l/unsub>, <mailto:unsub@bottega-rossi.example>".into()),
            ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
        ],
        configuration_set: Some("aftersale-events".into()),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn an_email_becomes_one_eml_file_with_every_header() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::with_clock(dir.path(), clock());
    let id = mailer.send_email(&email()).await.unwrap();
    assert!(id.0.ends_with("@aftersale.local"), "{id}");

    let written = files(&dir.path().join("email"));
    assert_eq!(written.len(), 1);
    let name = written[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        name,
        format!("20261201T100000.000Z-{}.eml", id.0.replace('@', "_"))
    );

    let raw = std::fs::read_to_string(&written[0]).unwrap();
    assert!(raw.is_ascii());
    assert!(raw.split("\r\n").all(|line| line.len() <= 78), "{raw}");
    assert!(!raw.replace("\r\n", "").contains('\n'), "bare LF");
    let (head, _) = raw.split_once("\r\n\r\n").unwrap();
    for expected in [
        "From: =?UTF-8?B?",
        "To: \"Laura \\\"Lau\\\" Bianchi\" <laura@example.com>",
        "Subject: =?UTF-8?B?",
        "Date: Tue, 1 Dec 2026 10:00:00 +0000",
        &format!("Message-ID: <{id}>"),
        "MIME-Version: 1.0",
        "List-Unsubscribe: <https://l.example/l/unsub>,",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "X-SES-CONFIGURATION-SET: aftersale-events",
        "Content-Type: multipart/alternative;\r\n boundary=\"=_aftersale_",
    ] {
        assert!(head.contains(expected), "{expected} not in\n{head}");
    }
    let text_at = raw.find("Content-Type: text/plain; charset=utf-8").unwrap();
    let html_at = raw.find("Content-Type: text/html; charset=utf-8").unwrap();
    assert!(text_at < html_at, "text part first");
}

/// Python's standard `email` package is what many tools use to read mail: if it parses the
/// file without defects and decodes every part back, mail clients will too.
#[tokio::test]
async fn the_eml_parses_back_with_pythons_email_package() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::with_clock(dir.path(), clock());
    let sent = email();
    mailer.send_email(&sent).await.unwrap();
    let path = files(&dir.path().join("email")).remove(0);

    let script = r#"
import email, email.policy, json, sys
with open(sys.argv[1], 'rb') as f:
    msg = email.message_from_binary_file(f, policy=email.policy.default)
parts = [p for p in msg.walk() if not p.is_multipart()]
print(json.dumps({
    "defects": [str(d) for d in msg.defects] + [str(d) for p in msg.walk() for d in p.defects],
    "subject": str(msg["subject"]),
    "from_name": msg["from"].addresses[0].display_name,
    "from": msg["from"].addresses[0].addr_spec,
    "to_name": msg["to"].addresses[0].display_name,
    "content_type": msg.get_content_type(),
    "types": [p.get_content_type() for p in parts],
    "bodies": [p.get_content() for p in parts],
    "unsubscribe": str(msg["list-unsubscribe"]),
}))
"#;
    let output = match Command::new("python3").arg("-c").arg(script).arg(&path).output() {
        Ok(output) => output,
        Err(err) => panic!("python3 is needed for this test: {err}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(parsed["defects"], serde_json::json!([]));
    assert_eq!(parsed["subject"], sent.subject.as_str());
    assert_eq!(parsed["from_name"], "Caffè Rossi, Milano");
    assert_eq!(parsed["from"], "ciao@bottega-rossi.example");
    assert_eq!(parsed["to_name"], "Laura \"Lau\" Bianchi");
    assert_eq!(parsed["content_type"], "multipart/alternative");
    assert_eq!(parsed["types"], serde_json::json!(["text/plain", "text/html"]));
    let bodies = parsed["bodies"].as_array().unwrap();
    // Python normalises line endings to the platform's `\n`.
    assert_eq!(bodies[0].as_str().unwrap().trim_end(), sent.text.trim_end());
    assert_eq!(bodies[1].as_str().unwrap().trim_end(), sent.html.trim_end());
    assert_eq!(
        parsed["unsubscribe"],
        "<https://l.example/l/unsub>, <mailto:unsub@bottega-rossi.example>"
    );
}

/// The headers of an `.eml` as Python's `email` package reads them: every header name, any
/// defect it found, and the addresses with their display names decoded. Names are decoded
/// with `email.header`, which follows RFC 2047 6.2 (the space between two encoded words is
/// not part of the name); the newer parser inserts one there.
fn parse_headers(path: &Path) -> Value {
    let script = r#"
import email, email.header, email.policy, email.utils, json, sys
with open(sys.argv[1], 'rb') as f:
    raw = f.read()
msg = email.message_from_bytes(raw, policy=email.policy.default)
legacy = email.message_from_bytes(raw, policy=email.policy.compat32)
def mailbox(header):
    [(name, address)] = email.utils.getaddresses([legacy[header]])
    return str(email.header.make_header(email.header.decode_header(name))), address
to_name, to = mailbox("to")
from_name, _ = mailbox("from")
print(json.dumps({
    "defects": [str(d) for d in msg.defects] + [str(d) for p in msg.walk() for d in p.defects],
    "to_name": to_name,
    "to": to,
    "from_name": from_name,
    "names": [k.lower() for k in msg.keys()],
}))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .unwrap_or_else(|err| panic!("python3 is needed for this test: {err}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn a_3000_character_first_name_is_folded_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::with_clock(dir.path(), clock());
    for name in [
        "A".repeat(3000),
        "Maria ".repeat(500).trim_end().to_owned(),
        "è".repeat(3000),
    ] {
        let mut long = email();
        long.to = Mailbox::named(name.as_str(), "laura@example.com");
        mailer.send_email(&long).await.unwrap();
        let path = files(&dir.path().join("email")).pop().unwrap();
        let raw = std::fs::read_to_string(&path).unwrap();
        let longest = raw.split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 78, "a line of {longest} characters");
        let parsed = parse_headers(&path);
        assert_eq!(parsed["defects"], serde_json::json!([]));
        assert_eq!(parsed["to_name"], name.as_str());
        assert_eq!(parsed["to"], "laura@example.com");
        std::fs::remove_file(path).unwrap();
    }
}

#[tokio::test]
async fn a_line_break_in_a_first_name_is_dropped_not_a_failure_or_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::with_clock(dir.path(), clock());
    let mut injected = email();
    injected.to = Mailbox::named("Laura\r\nBcc: eve@example.com\u{202e}", "laura@example.com");
    injected.from = Mailbox::named("Caffè\nRossi", "ciao@bottega-rossi.example");
    mailer.send_email(&injected).await.unwrap();
    let path = files(&dir.path().join("email")).remove(0);
    let parsed = parse_headers(&path);
    assert_eq!(parsed["defects"], serde_json::json!([]));
    assert_eq!(parsed["to_name"], "Laura Bcc: eve@example.com");
    assert_eq!(parsed["from_name"], "Caffè Rossi");
    assert!(
        !parsed["names"].as_array().unwrap().contains(&"bcc".into()),
        "{parsed}"
    );
}

#[tokio::test]
async fn doubtful_addresses_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path());
    for (address, reason) in [
        (
            "laura@example.com(comment)",
            "recipient email address has a comment in parentheses",
        ),
        (
            "làura@example.com",
            "recipient email address has characters outside plain ASCII (international addresses are not supported)",
        ),
        (
            "\"laura\"@example.com",
            "recipient email address has a quoted name part",
        ),
    ] {
        let mut doubtful = email();
        doubtful.to = Mailbox::new(address);
        let err = mailer.send_email(&doubtful).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("permanent send failure: {reason}"),
            "{address}"
        );
    }
    assert!(files(&dir.path().join("email")).is_empty());
}

#[tokio::test]
async fn invalid_emails_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::new(dir.path());
    let mut bad_address = email();
    bad_address.to = Mailbox::new("laura@example.com, eve@example.com");
    let mut injection = email();
    injection.subject = "Hi\r\nBcc: eve@example.com".into();
    let mut reserved = email();
    reserved
        .headers
        .push(("content-type".into(), "text/plain".into()));
    for email in [bad_address, injection, reserved] {
        assert!(mailer.send_email(&email).await.unwrap_err().is_permanent());
    }
    assert!(files(&dir.path().join("email")).is_empty());
}

#[tokio::test]
async fn each_send_is_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = FileMailer::with_clock(dir.path(), clock());
    let first = mailer.send_email(&email()).await.unwrap();
    let second = mailer.send_email(&email()).await.unwrap();
    assert_ne!(first, second);
    let written = files(&dir.path().join("email"));
    assert_eq!(written.len(), 2);
    assert!(written.iter().all(|p| p.extension().unwrap() == "eml"));
}

#[tokio::test]
async fn sms_are_appended_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let sender = FileSms::with_clock(dir.path(), clock());
    let sms = OutgoingSms {
        to: "+393331234567".into(),
        body: "Ciao Laura, è arrivato tutto bene?\n\"Sì\"".into(),
        kind: SmsKind::Transactional,
    };
    let first = sender.send_sms(&sms).await.unwrap();
    let second = sender.send_sms(&sms).await.unwrap();
    assert_ne!(first, second);

    let written = lines(&dir.path().join("sms.jsonl"));
    assert_eq!(written.len(), 2);
    assert_eq!(written[0]["to"], "+393331234567");
    assert_eq!(written[0]["body"], sms.body.as_str());
    assert_eq!(written[0]["sent_at"], "2026-12-01T10:00:00Z");
    assert_eq!(written[0]["kind"], "transactional");
    assert_eq!(written[0]["id"], first.0.as_str());
    assert_eq!(written[1]["id"], second.0.as_str());
}

#[tokio::test]
async fn invalid_numbers_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let sender = FileSms::new(dir.path());
    let sms = OutgoingSms {
        to: "333 1234567".into(),
        body: "x".into(),
        kind: SmsKind::Promotional,
    };
    assert!(sender.send_sms(&sms).await.unwrap_err().is_permanent());
    assert!(!sender.path().exists());
}

#[tokio::test]
async fn concurrent_appends_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(FileAlerts::new(dir.path().join("nested")));
    let body = "x".repeat(20_000);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let alerts = Arc::clone(&alerts);
            let body = body.clone();
            tokio::spawn(async move { alerts.alert(&format!("alert {i}"), &body).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let written = lines(&alerts.path());
    assert_eq!(written.len(), 16);
    assert!(written.iter().all(|line| line["body"] == body.as_str()));
    assert!(written.iter().all(|line| line["sent_at"].is_string()));
}
