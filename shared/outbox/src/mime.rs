//! Just enough RFC 5322 / MIME to write an email any mail client opens: encoded headers
//! (RFC 2047), folded lines, and a multipart/alternative body in quoted-printable (RFC 2045),
//! which keeps mostly-ASCII text readable in the raw file.

use aftersale_ports::{Mailbox, OutgoingEmail, SendError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

/// Headers the mailer writes itself; a caller's copy would make the message ambiguous.
const RESERVED_HEADERS: [&str; 9] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "x-ses-configuration-set",
];

/// Recommended maximum line length (RFC 5322 2.1.1), without the CRLF.
const LINE: usize = 78;
/// Quoted-printable lines are at most 76 characters (RFC 2045 6.7), soft break included.
const QP_LINE: usize = 76;
/// Lines holding encoded words are at most 76 characters (RFC 2047 2); `=?UTF-8?B?` and `?=`
/// take 12 of them.
const ENCODED_LINE: usize = 76;

/// What makes one message unique in its file: its id and the time it was written.
pub(crate) struct Envelope<'a> {
    /// `local@domain`, written between angle brackets.
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
    /// Cannot occur in quoted-printable bodies: `=` followed by `_` is not a valid QP escape.
    pub boundary: &'a str,
}

/// The whole message, CRLF line endings, ASCII only.
pub(crate) fn message(email: &OutgoingEmail, envelope: &Envelope<'_>) -> Result<String, SendError> {
    let mut out = String::new();
    header(&mut out, "From", &mailbox("From", &email.from));
    header(&mut out, "To", &mailbox("To", &email.to));
    unstructured(&mut out, "Subject", &email.subject);
    header(&mut out, "Date", &envelope.date.to_rfc2822());
    header(&mut out, "Message-ID", &format!("<{}>", envelope.message_id));
    header(&mut out, "MIME-Version", "1.0");
    for (name, value) in &email.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(SendError::Permanent(format!(
                "header {name} is set by the mailer"
            )));
        }
        unstructured(&mut out, name, value);
    }
    if let Some(set) = &email.configuration_set {
        // The header SES reads for raw messages: kept so local files match what SES would get.
        unstructured(&mut out, "X-SES-CONFIGURATION-SET", set);
    }
    header(
        &mut out,
        "Content-Type",
        &format!("multipart/alternative;\r\n boundary=\"{}\"", envelope.boundary),
    );
    out.push_str("\r\n");
    // Text first: clients show the last alternative they understand, so HTML is preferred.
    for (subtype, body) in [("plain", &email.text), ("html", &email.html)] {
        out.push_str(&format!("--{}\r\n", envelope.boundary));
        header(
            &mut out,
            "Content-Type",
            &format!("text/{subtype}; charset=utf-8"),
        );
        header(&mut out, "Content-Transfer-Encoding", "quoted-printable");
        out.push_str("\r\n");
        out.push_str(&quoted_printable(body));
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{}--\r\n", envelope.boundary));
    Ok(out)
}

/// A header whose value is already ASCII and short.
fn header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// Free text (Subject, List-Unsubscribe, ...): folded at spaces when ASCII, RFC 2047 encoded
/// words otherwise. Text that merely looks like an encoded word is encoded too, so a subject
/// reading `=?utf-8?...` shows as written.
fn unstructured(out: &mut String, name: &str, value: &str) {
    let plain = value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
        && !value.contains("=?");
    if plain {
        out.push_str(name);
        out.push(':');
        let mut line_len = name.len() + 1;
        for (i, word) in value.split(' ').enumerate() {
            // Fold before a word that would overflow, but never leave a line empty.
            if i > 0 && line_len + 1 + word.len() > LINE && line_len > 1 {
                out.push_str("\r\n");
                line_len = 0;
            }
            out.push(' ');
            out.push_str(word);
            line_len += 1 + word.len();
        }
        out.push_str("\r\n");
    } else {
        header(out, name, &encoded_words(value, name.len() + 2));
    }
}

/// `Name <address>`, the name quoted or encoded as needed, for a header called `header`.
fn mailbox(header: &str, mailbox: &Mailbox) -> String {
    match mailbox.name.as_deref().filter(|name| !name.trim().is_empty()) {
        None => mailbox.address.clone(),
        Some(name) => {
            let name = phrase(name, header.len() + 2);
            let last_line = name.rsplit("\r\n").next().unwrap_or_default().len();
            let used = if name.contains("\r\n") {
                last_line
            } else {
                header.len() + 2 + last_line
            };
            // The address moves to its own folded line rather than overflow this one.
            let separator = if used + 3 + mailbox.address.len() > LINE {
                "\r\n "
            } else {
                " "
            };
            format!("{name}{separator}<{}>", mailbox.address)
        }
    }
}

/// A display name: atoms as they are, other ASCII as a quoted string, the rest encoded.
fn phrase(name: &str, used: usize) -> String {
    const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    if !name.is_ascii() || name.contains("=?") || name.chars().any(char::is_control) {
        return encoded_words(name, used);
    }
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || ATEXT_SPECIALS.contains(c))
    {
        return name.to_owned();
    }
    let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// RFC 2047 `B` encoded words, split on character boundaries and folded one per line so every
/// line stays within 76 characters; `used` is how much of the first line the header name takes.
fn encoded_words(value: &str, used: usize) -> String {
    // Bytes an encoded word can carry on a line with `used` characters already taken.
    let capacity = |used: usize| (ENCODED_LINE.saturating_sub(used + 12) / 4 * 3).max(3);
    let mut words = Vec::new();
    let mut chunk = String::new();
    let mut budget = capacity(used);
    for c in value.chars() {
        if !chunk.is_empty() && chunk.len() + c.len_utf8() > budget {
            words.push(std::mem::take(&mut chunk));
            budget = capacity(1);
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|word| format!("=?UTF-8?B?{}?=", STANDARD.encode(word)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Quoted-printable with CRLF line breaks; soft breaks keep lines within 76 characters.
fn quoted_printable(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + body.len() / 8);
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let line = line.strip_suffix('\r').unwrap_or(line).as_bytes();
        let mut line_len = 0;
        for (at, &byte) in line.iter().enumerate() {
            let last = at + 1 == line.len();
            let literal = match byte {
                b'=' => false,
                b' ' | b'\t' => !last, // trailing whitespace would be stripped in transit
                33..=126 => true,
                _ => false,
            };
            let width = if literal { 1 } else { 3 };
            // Leave room for the `=` of a soft break unless this is the line's last token.
            let limit = if last { QP_LINE } else { QP_LINE - 1 };
            if line_len + width > limit {
                out.push_str("=\r\n");
                line_len = 0;
            }
            if literal {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("={byte:02X}"));
            }
            line_len += width;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_escapes_and_wraps() {
        assert_eq!(quoted_printable("a=b\nline two "), "a=3Db\r\nline two=20");
        assert_eq!(quoted_printable("è"), "=C3=A8");
        assert_eq!(quoted_printable("x\r\ny"), "x\r\ny");
        let long = "a".repeat(200);
        let encoded = quoted_printable(&long);
        assert!(
            encoded.split("\r\n").all(|line| line.len() <= QP_LINE),
            "{encoded}"
        );
        assert_eq!(encoded.replace("=\r\n", ""), long);
        let accents = "è".repeat(60);
        let encoded = quoted_printable(&accents);
        assert!(
            encoded.split("\r\n").all(|line| line.len() <= QP_LINE),
            "{encoded}"
        );
        assert!(!encoded.contains("=\r\n\r\n"));
    }

    #[test]
    fn headers_are_encoded_only_when_needed() {
        let mut out = String::new();
        unstructured(&mut out, "Subject", "Thanks, Laura");
        assert_eq!(out, "Subject: Thanks, Laura\r\n");

        let mut out = String::new();
        unstructured(&mut out, "Subject", "È arrivato tutto bene?");
        assert_eq!(out, "Subject: =?UTF-8?B?w4ggYXJyaXZhdG8gdHV0dG8gYmVuZT8=?=\r\n");

        let mut out = String::new();
        let long = "word ".repeat(40);
        unstructured(&mut out, "Subject", long.trim_end());
        assert!(out.split("\r\n").all(|line| line.len() <= LINE), "{out}");
        assert_eq!(
            out.replace("\r\n", "").trim_end(),
            format!("Subject: {}", long.trim_end())
        );

        assert_eq!(phrase("Bottega Rossi", 6), "Bottega Rossi");
        assert_eq!(phrase("Rossi, Bottega \"B\"", 6), "\"Rossi, Bottega \\\"B\\\"\"");
        assert_eq!(phrase("Caffè", 6), "=?UTF-8?B?Q2FmZsOo?=");
        let long = Mailbox::named(
            "è".repeat(40),
            "someone.with.a.long.address@bottega-rossi.example",
        );
        let from = format!("From: {}", mailbox("From", &long));
        assert!(from.split("\r\n").all(|line| line.len() <= LINE), "{from}");
    }

    #[test]
    fn long_encoded_words_split_on_characters() {
        let value = "è".repeat(50);
        let encoded = encoded_words(&value, 9);
        assert!(encoded.split("\r\n").next().unwrap().len() + 9 <= ENCODED_LINE);
        for word in encoded.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let b64 = word
                .strip_prefix("=?UTF-8?B?")
                .unwrap()
                .strip_suffix("?=")
                .unwrap();
            assert!(String::from_utf8(STANDARD.decode(b64).unwrap()).is_ok());
        }
    }
}
