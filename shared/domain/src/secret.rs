//! [`Secret`]: the one type for every credential Aftersale holds — the link signing key, the
//! Shopify app's client secret, shops' access and refresh tokens, webhook secrets, WooCommerce
//! consumer keys and secrets, the sealing key's text.
//!
//! Why one type: each of these must never reach a log, must be compared without leaking
//! timing, and should not outlive its use in memory. Written once here, those three promises
//! hold for all of them:
//! - `Debug` prints `Secret(***)`, and there is no `Display`, so `{:?}` of a settings or client
//!   struct is safe;
//! - `==` is constant-time ([`subtle`]), so comparing a presented secret with the expected one
//!   tells nothing through timing;
//! - the bytes are zeroed when the value is dropped ([`zeroize`]).
//!
//! A `Secret` has no `Serialize`: writing one out is a deliberate act, either through
//! [`Secret::expose`] or, for a field of a record that is itself sealed at rest, through
//! `#[serde(with = "aftersale_domain::secret::exposed")]`.

use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A credential. Never blank (see [`Secret::new`]).
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// `None` for an empty or blank value: an empty HMAC key accepts forgeries made by anyone,
    /// and an API called with a blank token can only fail, later and less clearly.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = Zeroizing::new(value.into());
        (!value.trim().is_empty()).then_some(Self(value))
    }

    /// The value, for the one place that must use it (a header, an HMAC key, a sealed record).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value's bytes, for HMAC keys.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PartialEq for Secret {
    /// Constant-time in the length of the shorter value: the lengths may differ in timing,
    /// the contents never.
    fn eq(&self, other: &Self) -> bool {
        self.expose_bytes().ct_eq(other.expose_bytes()).into()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `#[serde(with = "aftersale_domain::secret::exposed")]`: a field that is written out in
/// clear, for records that are sealed as a whole before they are stored (a shop's tokens).
/// A blank value reads back as an error, as [`Secret::new`] refuses it.
pub mod exposed {
    use super::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(deserializer)?);
        Secret::new(text.as_str()).ok_or_else(|| serde::de::Error::custom("a secret is blank"))
    }

    /// The same for an optional field (`None` stays `null`).
    pub mod option {
        use super::Secret;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(secret: &Option<Secret>, serializer: S) -> Result<S::Ok, S::Error> {
            match secret {
                Some(secret) => serializer.serialize_some(secret.expose()),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
            let text = Option::<String>::deserialize(deserializer)?.map(zeroize::Zeroizing::new);
            Ok(text.and_then(|t| Secret::new(t.as_str())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_the_value_is_there_when_asked_for() {
        let secret = Secret::new("shpat_0123456789abcdef").expect("non-empty");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(Secret(***))");
        assert_eq!(secret.expose(), "shpat_0123456789abcdef");
        assert_eq!(secret.expose_bytes(), b"shpat_0123456789abcdef");
    }

    #[test]
    fn blank_secrets_are_refused() {
        assert!(Secret::new("").is_none());
        assert!(Secret::new("  \n").is_none());
    }

    #[test]
    fn equality_compares_the_whole_value() {
        let a = Secret::new("hunter2").unwrap();
        assert_eq!(a, Secret::new("hunter2").unwrap());
        assert_ne!(a, Secret::new("hunter3").unwrap());
        assert_ne!(a, Secret::new("hunter22").unwrap());
        assert_ne!(a, Secret::new("hunter").unwrap());
    }

    #[test]
    fn a_sealed_record_writes_the_value_and_refuses_a_blank_one() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Record {
            #[serde(with = "exposed")]
            token: Secret,
            #[serde(with = "exposed::option", default)]
            refresh: Option<Secret>,
        }
        let record = Record {
            token: Secret::new("shpat_x").unwrap(),
            refresh: None,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(json, r#"{"token":"shpat_x","refresh":null}"#);
        let back: Record = serde_json::from_str(r#"{"token":"shpat_x","refresh":"shprt_y"}"#).unwrap();
        assert_eq!(back.token.expose(), "shpat_x");
        assert_eq!(back.refresh.unwrap().expose(), "shprt_y");
        let missing: Record = serde_json::from_str(r#"{"token":"shpat_x"}"#).unwrap();
        assert!(missing.refresh.is_none());
        assert!(serde_json::from_str::<Record>(r#"{"token":" "}"#).is_err());
    }
}
