//! Credentials for the platforms' admin APIs.

use std::fmt;

/// An API credential (Shopify access token, WooCommerce consumer key or secret). Debug never
/// shows it, so a client or config struct can be logged with `{:?}` without leaking it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `None` for an empty or blank value: calling an API with it could only fail, later and
    /// less clearly.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.trim().is_empty()).then_some(Self(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("shpat_0123456789abcdef").expect("non-empty");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "shpat_0123456789abcdef");
    }

    #[test]
    fn blank_secrets_are_refused() {
        assert!(Secret::new("").is_none());
        assert!(Secret::new("  ").is_none());
    }
}
