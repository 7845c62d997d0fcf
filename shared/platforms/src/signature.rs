//! HMAC-SHA256 signatures as Shopify and WooCommerce send them: base64 of the MAC over the
//! exact raw body. Verification runs before any parsing and compares in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header is not base64")]
    NotBase64,
    #[error("signature does not match the body")]
    Mismatch,
    #[error("no secret is configured for this sender")]
    NoSecret,
}

/// Base64 HMAC-SHA256 of `body` under `secret`: what the platform puts in its header.
pub fn sign_base64(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a base64 signature header against the raw body, in constant time.
pub fn verify_base64(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::Missing)?;
    let expected = STANDARD.decode(header).map_err(|_| SignatureError::NotBase64)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    // `verify_slice` compares in constant time and rejects wrong lengths.
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"hush";

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let body = br#"{"id":1}"#;
        let sig = sign_base64(SECRET, body);
        assert_eq!(verify_base64(SECRET, body, Some(&sig)), Ok(()));
    }

    #[test]
    fn missing_garbled_and_foreign_signatures_fail() {
        let body = b"{}";
        assert_eq!(verify_base64(SECRET, body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify_base64(SECRET, body, Some("  ")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_base64(SECRET, body, Some("%%%")),
            Err(SignatureError::NotBase64)
        );
        let other = sign_base64(b"other secret", body);
        assert_eq!(
            verify_base64(SECRET, body, Some(&other)),
            Err(SignatureError::Mismatch)
        );
        // A truncated MAC is refused even though it is a prefix of the right one.
        let sig = sign_base64(SECRET, body);
        let short = STANDARD.encode(&STANDARD.decode(&sig).unwrap()[..16]);
        assert_eq!(
            verify_base64(SECRET, body, Some(&short)),
            Err(SignatureError::Mismatch)
        );
    }

    proptest! {
        #[test]
        fn any_changed_body_byte_fails(body in proptest::collection::vec(any::<u8>(), 1..2048),
                                       index in any::<prop::sample::Index>(),
                                       flip in 1u8..=255) {
            let sig = sign_base64(SECRET, &body);
            let mut tampered = body.clone();
            let i = index.index(tampered.len());
            tampered[i] ^= flip;
            prop_assert_eq!(verify_base64(SECRET, &tampered, Some(&sig)), Err(SignatureError::Mismatch));
        }

        #[test]
        fn any_changed_signature_byte_fails(body in proptest::collection::vec(any::<u8>(), 0..512),
                                            index in any::<prop::sample::Index>(),
                                            flip in 1u8..=255) {
            let sig = sign_base64(SECRET, &body);
            let mut raw = STANDARD.decode(&sig).unwrap();
            let i = index.index(raw.len());
            raw[i] ^= flip;
            let tampered = STANDARD.encode(raw);
            prop_assert_eq!(verify_base64(SECRET, &body, Some(&tampered)), Err(SignatureError::Mismatch));
        }
    }
}
