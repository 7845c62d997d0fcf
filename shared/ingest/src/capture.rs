//! Captured deliveries: one webhook per line of a JSONL file, as it arrived,
//! `{"headers": {"X-Shopify-Topic": "orders/paid", ...}, "body_b64": "..."}`.
//!
//! `aftersale check-deliveries` reads them and `aftersale load` writes them. Reading a line is
//! pure (no secrets, no store), so a fuzz target can drive [`read_line`] alone.

use aftersale_domain::Platform;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One delivery read back from a capture.
#[derive(Debug, Clone)]
pub struct Captured {
    pub platform: Platform,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why a line is not a delivery. The texts are what `check-deliveries --verbose` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("bad JSON: {0}")]
    BadJson(String),
    #[error("bad header {name:?}: {why}")]
    BadHeader { name: String, why: &'static str },
    #[error("bad base64 in body_b64: {0}")]
    BadBase64(String),
    #[error("unknown platform: neither X-Shopify-Topic nor X-WC-Webhook-Topic (or -Signature) is set")]
    UnknownPlatform,
}

/// The line's shape. Other fields a capturing tool adds (timestamps, ids) are ignored.
#[derive(Serialize, Deserialize)]
struct Line {
    headers: BTreeMap<String, String>,
    body_b64: String,
}

/// Reads one line of a capture.
pub fn read_line(line: &str) -> Result<Captured, CaptureError> {
    let parsed: Line = serde_json::from_str(line).map_err(|e| CaptureError::BadJson(e.to_string()))?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for (name, value) in &parsed.headers {
        let key = HeaderName::try_from(name.as_str()).map_err(|_| CaptureError::BadHeader {
            name: name.clone(),
            why: "not a header name",
        })?;
        let value = HeaderValue::try_from(value.as_str()).map_err(|_| CaptureError::BadHeader {
            name: name.clone(),
            why: "not a header value",
        })?;
        // `X-Shopify-Topic` and `x-shopify-topic` are one header: with both, which topic (or
        // which signature) the delivery had is unknowable, so the line says so.
        if headers.contains_key(&key) {
            return Err(CaptureError::BadHeader {
                name: name.clone(),
                why: "given twice (header names ignore case)",
            });
        }
        headers.insert(key, value);
    }
    let body = STANDARD
        .decode(parsed.body_b64.trim())
        .map_err(|e| CaptureError::BadBase64(e.to_string()))?;
    let platform = platform_of(&headers).ok_or(CaptureError::UnknownPlatform)?;
    Ok(Captured {
        platform,
        headers,
        body,
    })
}

/// One capture line for a delivery (no trailing newline).
pub fn write_line<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>, body: &[u8]) -> String {
    let line = Line {
        headers: headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body_b64: STANDARD.encode(body),
    };
    serde_json::to_string(&line).expect("a map of strings always encodes")
}

/// Which platform sent a delivery, by its headers: each names itself in its topic and
/// signature headers.
pub fn platform_of(headers: &HeaderMap) -> Option<Platform> {
    let has = |name: &str| headers.contains_key(name);
    if has("x-shopify-topic") || has("x-shopify-hmac-sha256") {
        Some(Platform::Shopify)
    } else if has("x-wc-webhook-topic") || has("x-wc-webhook-signature") {
        Some(Platform::Woocommerce)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_line_reads_back_with_its_headers_and_exact_bytes() {
        let body = b"{\"id\": 1}\n\x00raw";
        let line = write_line(
            [
                ("X-Shopify-Topic", "orders/paid"),
                ("X-Shopify-Hmac-Sha256", "abc="),
            ],
            body,
        );
        let read = read_line(&line).unwrap();
        assert_eq!(read.platform, Platform::Shopify);
        assert_eq!(read.body, body);
        assert_eq!(read.headers["x-shopify-topic"], "orders/paid");
    }

    #[test]
    fn woocommerce_is_known_by_its_headers() {
        let line = write_line([("X-WC-Webhook-Topic", "order.updated")], b"{}");
        assert_eq!(read_line(&line).unwrap().platform, Platform::Woocommerce);
    }

    #[test]
    fn each_bad_line_says_why() {
        let cases = [
            ("{\"headers\": {", "bad JSON: "),
            ("[1, 2]", "bad JSON: "),
            ("{\"body_b64\": \"\"}", "bad JSON: missing field `headers`"),
            (
                "{\"headers\": {\"X-Shopify-Topic\": 7}, \"body_b64\": \"\"}",
                "bad JSON: invalid type: integer `7`",
            ),
            (
                "{\"headers\": {\"X-Shopify-Topic\": \"orders/paid\"}, \"body_b64\": \"***\"}",
                "bad base64 in body_b64: ",
            ),
            (
                "{\"headers\": {\"bad header\": \"x\"}, \"body_b64\": \"\"}",
                "bad header \"bad header\": not a header name",
            ),
            (
                "{\"headers\": {\"X-Shopify-Topic\": \"a\\nb\"}, \"body_b64\": \"\"}",
                "bad header \"X-Shopify-Topic\": not a header value",
            ),
            (
                "{\"headers\": {\"X-Shopify-Topic\": \"orders/create\", \"x-shopify-topic\": \"orders/paid\"}, \"body_b64\": \"\"}",
                "bad header \"x-shopify-topic\": given twice (header names ignore case)",
            ),
            (
                "{\"headers\": {\"Content-Type\": \"application/json\"}, \"body_b64\": \"e30=\"}",
                "unknown platform: neither X-Shopify-Topic nor X-WC-Webhook-Topic",
            ),
        ];
        for (line, reason) in cases {
            let err = read_line(line).unwrap_err().to_string();
            assert!(err.starts_with(reason), "{line}: {err}");
        }
    }
}
