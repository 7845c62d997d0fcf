//! How a request proves it holds the site's REST API keys, by WooCommerce's documented rules:
//! over HTTPS, HTTP Basic with `consumer_key:consumer_secret`; over plain HTTP, where Basic
//! would send the secret in clear, OAuth 1.0a one-legged: the request is signed with
//! HMAC-SHA256 under `consumer_secret&`, and only the key, a timestamp, a nonce and the
//! signature travel, as query parameters.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

/// The scheme a site's URL calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Basic,
    OAuth1,
}

impl Auth {
    pub fn for_url(url: &Url) -> Auth {
        if url.scheme() == "https" {
            Auth::Basic
        } else {
            Auth::OAuth1
        }
    }
}

/// The `oauth_*` parameters that sign `method url` (its own query included) with the key
/// and secret. `timestamp` is Unix seconds; `nonce` must be unique per request.
pub fn oauth1_params(
    method: &str,
    url: &Url,
    consumer_key: &str,
    consumer_secret: &str,
    timestamp: u64,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut oauth = vec![
        ("oauth_consumer_key".to_string(), consumer_key.to_string()),
        ("oauth_nonce".to_string(), nonce.to_string()),
        ("oauth_signature_method".to_string(), "HMAC-SHA256".to_string()),
        ("oauth_timestamp".to_string(), timestamp.to_string()),
    ];
    let mut all: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    all.extend(oauth.iter().cloned());
    let signature = signature(method, url, &all, consumer_secret);
    oauth.push(("oauth_signature".to_string(), signature));
    oauth
}

/// The OAuth 1.0a signature (RFC 5849 §3.4) of a request with these parameters (the URL's
/// query is ignored: pass every parameter in `params`, `oauth_signature` excepted).
pub fn signature(method: &str, url: &Url, params: &[(String, String)], consumer_secret: &str) -> String {
    let base = base_string(method, url, params);
    let key = format!("{}&", encode(consumer_secret));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(base.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `METHOD&encoded base URL&encoded sorted parameters`.
fn base_string(method: &str, url: &Url, params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    encoded.sort();
    let joined = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base_url = format!("{}{}", url.origin().ascii_serialization(), url.path());
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_url),
        encode(&joined)
    )
}

/// RFC 3986 percent-encoding: everything but `A-Z a-z 0-9 - . _ ~`.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_uses_basic_and_plain_http_oauth() {
        assert_eq!(
            Auth::for_url(&Url::parse("https://shop.example").unwrap()),
            Auth::Basic
        );
        assert_eq!(
            Auth::for_url(&Url::parse("http://127.0.0.1:8080").unwrap()),
            Auth::OAuth1
        );
    }

    #[test]
    fn encoding_is_rfc_3986() {
        assert_eq!(encode("a b+c/~_-."), "a%20b%2Bc%2F~_-.");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn the_base_string_sorts_and_encodes_every_parameter() {
        let url = Url::parse("http://127.0.0.1:8080/shop/wp-json/wc/v3/webhooks?page=2").unwrap();
        let params = vec![
            ("page".to_string(), "2".to_string()),
            ("oauth_consumer_key".to_string(), "ck_1".to_string()),
            ("oauth_nonce".to_string(), "n 1".to_string()),
        ];
        assert_eq!(
            base_string("get", &url, &params),
            "GET&http%3A%2F%2F127.0.0.1%3A8080%2Fshop%2Fwp-json%2Fwc%2Fv3%2Fwebhooks&\
             oauth_consumer_key%3Dck_1%26oauth_nonce%3Dn%25201%26page%3D2"
        );
    }

    #[test]
    fn the_signature_changes_with_the_secret_and_the_request() {
        let url = Url::parse("http://127.0.0.1:8080/wp-json/wc/v3/webhooks").unwrap();
        let signed = oauth1_params("GET", &url, "ck_1", "cs_1", 1_700_000_000, "abc");
        let sig = signed
            .iter()
            .find(|(k, _)| k == "oauth_signature")
            .unwrap()
            .1
            .clone();
        let unsigned: Vec<(String, String)> = signed
            .iter()
            .filter(|(k, _)| k != "oauth_signature")
            .cloned()
            .collect();
        assert_eq!(signature("GET", &url, &unsigned, "cs_1"), sig);
        assert_ne!(signature("GET", &url, &unsigned, "cs_2"), sig);
        assert_ne!(signature("POST", &url, &unsigned, "cs_1"), sig);
    }
}
