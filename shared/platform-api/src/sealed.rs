//! Secrets at rest (platform credentials, webhook secrets): sealed with AES-256-GCM under a
//! key that never sits beside them. Locally the key is the data dir's one `sealing.key`
//! (`aftersale_store_sqlite::key_file`: 0600, created on first use, also sealing the shops'
//! tokens); on AWS it is an SSM SecureString read at cold start. Each
//! sealed value is bound to what it belongs to (the associated data, e.g. the shop), so a
//! value copied to another shop's record does not open.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealing key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("a sealed value does not open with this key (a different key, or a value moved or altered)")]
    DoesNotOpen,
}

/// The key secrets are sealed under. `Debug` never shows it.
pub struct SealingKey(LessSafeKey);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

impl SealingKey {
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SealError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::BadKey)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM seals any message under 64 GiB");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::DoesNotOpen)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::DoesNotOpen);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::DoesNotOpen)?;
        let mut buffer = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| SealError::DoesNotOpen)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = SealingKey::from_hex(&"11".repeat(32)).unwrap();
        let sealed = key.seal("shop.example", b"cs_secret");
        assert!(!sealed.contains("cs_secret"));
        assert_eq!(key.open("shop.example", &sealed).unwrap(), b"cs_secret");
        assert_eq!(key.open("other.example", &sealed), Err(SealError::DoesNotOpen));
        let other = SealingKey::from_hex(&"22".repeat(32)).unwrap();
        assert_eq!(other.open("shop.example", &sealed), Err(SealError::DoesNotOpen));
        assert_ne!(
            key.seal("shop.example", b"cs_secret"),
            sealed,
            "a fresh nonce every time"
        );
        assert_eq!(SealingKey::from_hex("abcd").unwrap_err(), SealError::BadKey);
        assert_eq!(format!("{key:?}"), "SealingKey(***)");
    }
}
