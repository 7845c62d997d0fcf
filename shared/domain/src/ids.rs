use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} contains '{ch}', which is not allowed in keys")]
    BadChar { what: &'static str, ch: char },
}

/// Checks a value that becomes part of a storage key: non-empty, bounded, and free of the
/// separators and control characters keys are built from, so tenants can never collide.
fn check_key_part(what: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    if value.chars().count() > max {
        return Err(IdError::TooLong { what, max });
    }
    if let Some(ch) = value
        .chars()
        .find(|c| *c == '#' || c.is_control() || c.is_whitespace())
    {
        return Err(IdError::BadChar { what, ch });
    }
    Ok(())
}

macro_rules! key_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_key_part($what, &value, $max)?;
                Ok(Self(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

key_id!(
    /// A shop: the `*.myshopify.com` domain for Shopify, the site's host for WooCommerce.
    /// Always lower case, it starts every storage key.
    ShopId, "shop", 255
);
key_id!(
    /// A platform's order id, kept as text: Shopify ids exceed 2^53 and must not pass through f64.
    OrderId, "order id", 128
);
key_id!(
    /// A platform's customer id, or a stable `guest-…` id derived from a guest's email.
    CustomerId, "customer id", 128
);
key_id!(
    /// The key a delivery is deduplicated on (Shopify's event id, or a WooCommerce state key).
    EventId, "event id", 512
);

impl ShopId {
    /// Normalises a shop domain or site URL (`https://Shop.Example/` → `shop.example`).
    pub fn from_domain(raw: &str) -> Result<Self, IdError> {
        let trimmed = raw.trim();
        let without_scheme = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .unwrap_or(trimmed);
        let host_and_path = without_scheme.trim_end_matches('/');
        Self::new(host_and_path.to_ascii_lowercase())
    }
}

impl CustomerId {
    /// A guest checkout has no platform customer: derive a stable, non-reversible id from the
    /// normalised email so a guest's orders still form one history.
    pub fn for_guest_email(email: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("guest-{hex}"))
    }
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
    Woocommerce,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Woocommerce => "woocommerce",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "shopify" => Ok(Platform::Shopify),
            "woocommerce" => Ok(Platform::Woocommerce),
            other => Err(format!(
                "unknown platform '{other}' (expected shopify or woocommerce)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_domains_are_normalised() {
        assert_eq!(
            ShopId::from_domain("https://Shop.Example/").unwrap().as_str(),
            "shop.example"
        );
        assert_eq!(
            ShopId::from_domain("demo.myshopify.com").unwrap().as_str(),
            "demo.myshopify.com"
        );
    }

    #[test]
    fn key_separators_and_empty_values_are_refused() {
        assert!(matches!(
            ShopId::new("a#b"),
            Err(IdError::BadChar { ch: '#', .. })
        ));
        assert!(matches!(OrderId::new(""), Err(IdError::Empty { .. })));
        assert!(matches!(OrderId::new("1 2"), Err(IdError::BadChar { .. })));
        assert!(matches!(
            EventId::new("x".repeat(600)),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn guest_ids_are_stable_and_ignore_case_and_spaces() {
        let a = CustomerId::for_guest_email("Laura@Example.com ");
        let b = CustomerId::for_guest_email("laura@example.com");
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("guest-"));
        assert!(!a.as_str().contains("laura"));
    }

    #[test]
    fn ids_deserialise_through_validation() {
        assert!(serde_json::from_str::<ShopId>("\"bad#shop\"").is_err());
        let id: OrderId = serde_json::from_str("\"820982911946154508\"").unwrap();
        assert_eq!(id.as_str(), "820982911946154508");
    }
}
