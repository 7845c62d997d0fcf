//! Small serde helpers for platform payloads.

use serde::{Deserialize, Deserializer};

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
