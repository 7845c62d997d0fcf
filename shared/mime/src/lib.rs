//! The text of one outgoing email: RFC 5322 headers over a multipart/alternative body. SES raw
//! sends and local `.eml` files both use it, so the file a merchant opens is byte for byte what
//! a customer's mail server would receive.
//!
//! - **Folded headers.** Lines stay within 78 characters wherever a space allows it and never
//!   exceed 998 (RFC 5322 2.1.1). Text that is not plain ASCII, or that has no space to fold at,
//!   becomes RFC 2047 `B` encoded words, one per folded line. A header that still cannot fit
//!   (one 1000-character URL) is refused rather than sent broken.
//! - **Display names are cleaned, not refused.** They come from checkout forms: control
//!   characters (a CR/LF in a first name) and invisible direction overrides are dropped and
//!   whitespace collapsed, so a name can neither inject a header nor fail every email to the
//!   customer.
//! - **Bodies** are quoted-printable (RFC 2045), which keeps mostly-ASCII text readable in the
//!   raw file.
//!
//! Addresses are checked before this (`OutgoingEmail::validate`): they are plain ASCII
//! `local@domain` here.

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
/// The hard limit: longer lines may be cut or rejected in transit (RFC 5322 2.1.1).
const MAX_LINE: usize = 998;
/// Quoted-printable lines are at most 76 characters (RFC 2045 6.7), soft break included.
const QP_LINE: usize = 76;
/// Lines holding encoded words are at most 76 characters (RFC 2047 2); `=?UTF-8?B?` and `?=`
/// take 12 of them.
const ENCODED_LINE: usize = 76;

/// What makes one message unique: its id, when it was written, and its MIME boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `local@domain`, written between angle brackets.
    pub message_id: String,
    pub date: DateTime<Utc>,
    /// Cannot occur in quoted-printable bodies: `=` followed by `_` is not a valid QP escape.
    pub boundary: String,
}

impl Envelope {
    /// A fresh Message-ID on `domain` (the sender's: a `localhost` id hurts spam scores) and a
    /// fresh boundary, both 128 random bits, unique without coordination between processes.
    pub fn new(domain: &str, date: DateTime<Utc>) -> Envelope {
        let random = || format!("{:032x}", rand::random::<u128>());
        Envelope {
            message_id: format!("{}@{domain}", random()),
            date,
            boundary: format!("=_aftersale_{}", random()),
        }
    }
}

/// The whole message, CRLF line endings, ASCII only. Errors are permanent: the same email
/// would fail the same way again.
pub fn message(email: &OutgoingEmail, envelope: &Envelope) -> Result<String, SendError> {
    let mut out = String::new();
    header(&mut out, "From", &mailbox("From", &email.from));
    header(&mut out, "To", &mailbox("To", &email.to));
    text_header(&mut out, "Subject", &email.subject, Overflow::Encode)?;
    header(&mut out, "Date", &envelope.date.to_rfc2822());
    header(&mut out, "Message-ID", &format!("<{}>", envelope.message_id));
    header(&mut out, "MIME-Version", "1.0");
    for (name, value) in &email.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(SendError::Permanent(format!(
                "header {name} is set by the mailer"
            )));
        }
        text_header(&mut out, name, value, Overflow::Refuse)?;
    }
    if let Some(set) = &email.configuration_set {
        // The header SES reads for raw messages, and what local files show.
        text_header(&mut out, "X-SES-CONFIGURATION-SET", set, Overflow::Refuse)?;
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

/// A header whose value is already ASCII and folded.
fn header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// What to do with plain text that cannot be folded within 998 characters.
#[derive(Clone, Copy)]
enum Overflow {
    /// Free text (the subject): encoded words can be split anywhere.
    Encode,
    /// Structured values (`List-Unsubscribe: <url>`) must stay as written.
    Refuse,
}

/// Free text (Subject, List-Unsubscribe, ...): folded at spaces when ASCII, RFC 2047 encoded
/// words otherwise. Text that merely looks like an encoded word is encoded too, so a subject
/// reading `=?utf-8?...` shows as written.
fn text_header(out: &mut String, name: &str, value: &str, overflow: Overflow) -> Result<(), SendError> {
    let plain = value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
        && !value.contains("=?");
    let used = name.len() + 2;
    let folded = if plain {
        let words: Vec<&str> = value.split(' ').collect();
        let folded = fold(&words, used);
        let fits = folded.split("\r\n").enumerate().all(|(i, line)| {
            let first = if i == 0 { used } else { 0 };
            first + line.len() <= MAX_LINE
        });
        match (fits, overflow) {
            (true, _) => folded,
            (false, Overflow::Encode) => encoded_words(value, used),
            (false, Overflow::Refuse) => {
                return Err(SendError::Permanent(format!(
                    "header {name} has a part longer than {MAX_LINE} characters"
                )));
            }
        }
    } else {
        encoded_words(value, used)
    };
    header(out, name, &folded);
    Ok(())
}

/// Joins words with a space, breaking the line (CRLF + space) before a word that would take it
/// past 78 characters. A word longer than a line goes on a line of its own; `used` is how much
/// of the first line the header name takes.
fn fold<S: AsRef<str>>(words: &[S], used: usize) -> String {
    let mut out = String::new();
    let mut line_len = used;
    for (i, word) in words.iter().enumerate() {
        let word = word.as_ref();
        if i > 0 {
            // Never leave a line holding only the folding space.
            if line_len + 1 + word.len() > LINE && line_len > 1 {
                out.push_str("\r\n");
                line_len = 0;
            }
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

/// `Name <address>`, the name cleaned and then written as atoms, a quoted string or encoded
/// words, and folded so that no line passes 78 characters where it can be helped.
fn mailbox(header: &str, mailbox: &Mailbox) -> String {
    let Some(name) = mailbox.name.as_deref().and_then(display_name) else {
        return mailbox.address.clone();
    };
    let used = header.len() + 2;
    let name = phrase(&name, used);
    let last_line = name.rsplit("\r\n").next().unwrap_or_default().len();
    let used_now = if name.contains("\r\n") {
        last_line
    } else {
        used + last_line
    };
    // The address moves to its own folded line rather than overflow this one.
    let separator = if used_now + 3 + mailbox.address.len() > LINE {
        "\r\n "
    } else {
        " "
    };
    format!("{name}{separator}<{}>", mailbox.address)
}

/// A display name as it may appear in a header: control characters (CR, LF, tab, NUL) and the
/// invisible characters that reorder or hide text are dropped, whitespace runs become one
/// space. `None` when nothing readable is left.
fn display_name(name: &str) -> Option<String> {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
    let kept: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|&c| !invisible(c))
        .collect();
    let collapsed = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}

/// A cleaned display name: atoms as they are (folded at spaces if long), other ASCII as a
/// quoted string when it fits one line, everything else (non-ASCII, text that looks like an
/// encoded word, a long quoted name) as encoded words.
fn phrase(name: &str, used: usize) -> String {
    const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    if !name.is_ascii() || name.contains("=?") {
        return encoded_words(name, used);
    }
    let words: Vec<&str> = name.split(' ').collect();
    let atoms = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || ATEXT_SPECIALS.contains(c));
    if atoms && words.iter().all(|w| w.len() < LINE) {
        return fold(&words, used);
    }
    let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
    if used + escaped.len() + 2 <= LINE {
        return format!("\"{escaped}\"");
    }
    encoded_words(name, used)
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

    fn text(name: &str, value: &str, overflow: Overflow) -> Result<String, SendError> {
        let mut out = String::new();
        text_header(&mut out, name, value, overflow).map(|()| out)
    }

    #[test]
    fn headers_are_encoded_only_when_needed() {
        assert_eq!(
            text("Subject", "Thanks, Laura", Overflow::Encode).unwrap(),
            "Subject: Thanks, Laura\r\n"
        );
        assert_eq!(
            text("Subject", "È arrivato tutto bene?", Overflow::Encode).unwrap(),
            "Subject: =?UTF-8?B?w4ggYXJyaXZhdG8gdHV0dG8gYmVuZT8=?=\r\n"
        );
        let long = "word ".repeat(40);
        let out = text("Subject", long.trim_end(), Overflow::Encode).unwrap();
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
    fn a_word_too_long_to_fold_is_encoded_in_a_subject_and_refused_elsewhere() {
        let word = "x".repeat(1200);
        let subject = text("Subject", &word, Overflow::Encode).unwrap();
        assert!(
            subject.split("\r\n").all(|line| line.len() <= ENCODED_LINE),
            "{subject}"
        );
        let url = format!("<https://links.example/l/{word}>");
        let err = text("List-Unsubscribe", &url, Overflow::Refuse).unwrap_err();
        assert_eq!(
            err,
            SendError::Permanent("header List-Unsubscribe has a part longer than 998 characters".into())
        );
        // A long URL that fits the hard limit stays whole, on its own line if need be.
        let url = format!("<https://links.example/l/{}>", "t".repeat(300));
        let out = text(
            "List-Unsubscribe",
            &format!("{url}, <mailto:u@example.com>"),
            Overflow::Refuse,
        )
        .unwrap();
        assert!(
            out.contains(&url) && out.split("\r\n").all(|l| l.len() <= MAX_LINE),
            "{out}"
        );
    }

    #[test]
    fn display_names_lose_control_and_invisible_characters() {
        assert_eq!(
            display_name("Laura\r\nBcc: eve@example.com").as_deref(),
            Some("Laura Bcc: eve@example.com")
        );
        assert_eq!(
            display_name(" Laura \t Bianchi\0 ").as_deref(),
            Some("Laura Bianchi")
        );
        assert_eq!(
            display_name("Laura\u{202e}ics\u{200b}").as_deref(),
            Some("Lauraics")
        );
        assert_eq!(display_name("\r\n\t"), None);
        let to = mailbox(
            "To",
            &Mailbox::named("Laura\r\nBcc: eve@example.com", "laura@example.com"),
        );
        assert_eq!(to, "\"Laura Bcc: eve@example.com\" <laura@example.com>");
        assert_eq!(
            mailbox("To", &Mailbox::named("\r\n", "laura@example.com")),
            "laura@example.com"
        );
    }

    #[test]
    fn long_names_fold_at_spaces_or_become_encoded_words() {
        let words = "Maria ".repeat(30);
        let folded = mailbox("To", &Mailbox::named(words.trim_end(), "maria@example.com"));
        let line = format!("To: {folded}");
        assert!(line.split("\r\n").all(|l| l.len() <= LINE), "{line}");
        assert_eq!(
            line.replace("\r\n", ""),
            format!("To: {} <maria@example.com>", words.trim_end())
        );

        let one_word = "A".repeat(3000);
        let line = format!(
            "To: {}",
            mailbox("To", &Mailbox::named(one_word.as_str(), "a@example.com"))
        );
        assert!(line.split("\r\n").all(|l| l.len() <= ENCODED_LINE), "{line}");
        assert!(
            line.starts_with("To: =?UTF-8?B?") && line.ends_with("<a@example.com>"),
            "{line}"
        );
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

    #[test]
    fn envelopes_are_unique_and_on_the_given_domain() {
        let now = Utc::now();
        let a = Envelope::new("bottega.example", now);
        let b = Envelope::new("bottega.example", now);
        assert_ne!(a.message_id, b.message_id);
        assert_ne!(a.boundary, b.boundary);
        assert!(a.message_id.ends_with("@bottega.example"), "{}", a.message_id);
        assert!(a.boundary.starts_with("=_"), "{}", a.boundary);
    }
}
