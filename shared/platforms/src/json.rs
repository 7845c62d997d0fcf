//! Small serde helpers for platform payloads.

use crate::PayloadError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::error::Category;

/// Decodes a payload. A failure names the path of the field that did not fit
/// (`line_items[0].quantity`) but never quotes the value, which serde_json's own messages
/// do (`invalid type: string "laura.rossi@example.com"`).
pub fn decode<T: DeserializeOwned>(topic: &str, body: &[u8]) -> Result<T, PayloadError> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut reader).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.inner();
        let problem = match inner.classify() {
            Category::Eof => format!("it ends early (truncated?) at line {}", inner.line()),
            Category::Syntax | Category::Io => format!(
                "it is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ),
            // "missing field `x`" quotes our own field name, not the payload: keep it.
            Category::Data if inner.to_string().starts_with("missing field") => {
                let field = inner.to_string();
                let field = field.split('`').nth(1).unwrap_or_default().to_string();
                match path.as_str() {
                    "." | "" => format!("field `{field}` is missing"),
                    parent => format!("field `{parent}.{field}` is missing"),
                }
            }
            Category::Data => format!("field `{path}` has a type or value that does not fit"),
        };
        PayloadError::Json {
            topic: topic.to_string(),
            problem,
        }
    })
}

/// Accepts an id as a JSON number or string and keeps it as exact text.
/// serde_json reads integers as u64/i64, so Shopify's 18-digit ids are never rounded.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Unsigned(u64),
        Signed(i64),
        Text(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Unsigned(n) => n.to_string(),
        Raw::Signed(n) => n.to_string(),
        Raw::Text(s) => s,
    })
}

/// Like [`id`] but for optional ids, where `null`, `0` and `""` all mean "none".
pub fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "id")] String);
    let raw: Option<Wrap> = Option::deserialize(d)?;
    Ok(raw.map(|w| w.0).filter(|s| !s.is_empty() && s != "0"))
}

/// Empty strings become `None`: platforms send `""` for unknown values.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}
