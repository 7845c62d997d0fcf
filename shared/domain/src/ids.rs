//! The identifiers every storage key is built from: validated newtypes, so a value that could
//! break a key (a `#`, a space, a line break) or collide across tenants never gets that far.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is too long (more than {max} characters)")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} contains {}, which is not allowed in ids", describe(*ch))]
    BadChar { what: &'static str, ch: char },
    #[error("shop {problem}")]
    BadShop { problem: &'static str },
}

/// Names a refused character the way a person reads it: a value may be shown in logs, so the
/// character is described, and invisible ones are named rather than printed.
fn describe(ch: char) -> String {
    match ch {
        ' ' => "a space".into(),
        '\r' | '\n' => "a line break".into(),
        '\t' => "a tab".into(),
        c if c.is_control() => "a control character".into(),
        c if c.is_whitespace() => "a space character".into(),
        c => format!("'{c}'"),
    }
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
    /// A platform's product id. It is signed into rating links and put into review URLs, so it
    /// is held to the same rules as an order id: no separators, spaces or line breaks.
    ProductId, "product id", 128
);
key_id!(
    /// A platform's variant (variation) id, held to the same rules as a product id.
    VariantId, "variant id", 128
);
key_id!(
    /// The key a delivery is deduplicated on (Shopify's event id, or a WooCommerce state key).
    EventId, "event id", 512
);

/// One message of one customer: `{flow}#{subject}#{step}`, unique within the customer, so
/// planning a message twice stores it once. Unlike the ids above it is made of parts, joined
/// by `#`. An id read from outside (a signed link, a stored key) is checked by
/// [`MessageId::new`]: no spaces, line breaks or control characters, since it goes into mail
/// headers; a message names itself with [`MessageId::of`], from its own parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

impl MessageId {
    /// Flow name, a subject of at most two ids and a step: well under this.
    const MAX: usize = 512;

    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let what = "message id";
        if value.is_empty() {
            return Err(IdError::Empty { what });
        }
        if value.chars().count() > Self::MAX {
            return Err(IdError::TooLong { what, max: Self::MAX });
        }
        if let Some(ch) = value.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(IdError::BadChar { what, ch });
        }
        Ok(Self(value))
    }

    /// The id of the message at `step` (of its flow) about `subject`.
    pub fn of(step: crate::FlowStep, subject: &str) -> Self {
        Self(format!("{}#{subject}#{step}", step.flow()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest host name DNS allows.
const MAX_HOST: usize = 253;

impl ShopId {
    /// Reduces a shop domain or site URL to its host (`https://Shop.Example:8443/shop/` →
    /// `shop.example`): lower case, no scheme, port, path or trailing dot. One site has one
    /// id however its URL is spelled, so the same delivery can never be stored twice under
    /// two spellings. This is how WooCommerce sources and `--shop` values are read.
    pub fn from_domain(raw: &str) -> Result<Self, IdError> {
        let trimmed = raw.trim();
        let lower = trimmed.to_ascii_lowercase();
        // A URL may carry a path, query or fragment after its host; a bare domain only a
        // path (`shop.example/`), so `#` or `?` in one is refused as a character.
        let (rest, ends_host): (&str, &[char]) = match lower.split_once("://") {
            Some(("http" | "https", rest)) => (rest, &['/', '?', '#']),
            Some(_) => {
                return Err(IdError::BadShop {
                    problem: "URL must be http or https",
                });
            }
            None => (lower.as_str(), &['/']),
        };
        let authority = rest.split(ends_host).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(IdError::BadShop {
                problem: "must not contain a user name ('@')",
            });
        }
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
            Some(_) => {
                return Err(IdError::BadShop {
                    problem: "has a port that is not a number",
                });
            }
            None => authority,
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        check_host(host)?;
        Ok(Self(host.to_string()))
    }

    /// A Shopify shop as `X-Shopify-Shop-Domain` names it. Shopify sends exactly
    /// `{handle}.myshopify.com`; anything else (another domain, a port, a trailing dot, a user
    /// name, a path) is refused rather than tidied, because it did not come from Shopify.
    pub fn shopify(raw: &str) -> Result<Self, IdError> {
        let lower = raw.trim().to_ascii_lowercase();
        if !lower.ends_with(".myshopify.com") {
            return Err(IdError::BadShop {
                problem: "is not a *.myshopify.com domain",
            });
        }
        if !is_myshopify_domain(&lower) {
            return Err(IdError::BadShop {
                problem: "is not a *.myshopify.com domain (the name before it may hold only a-z, 0-9 and '-')",
            });
        }
        if lower.len() > MAX_HOST {
            return Err(IdError::TooLong {
                what: "shop",
                max: MAX_HOST,
            });
        }
        Ok(Self(lower))
    }
}

/// The one rule for a Shopify shop's permanent domain, the anchored
/// `^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$`: only that domain serves OAuth and the Admin
/// API, so checking it keeps a forged `shop` from sending a secret or token to another host.
/// [`ShopId::shopify`] applies it to the lower-cased header value, the install route and the
/// discount client to the value as given, and the shop config to its canonical lower-case form.
pub fn is_myshopify_domain(shop: &str) -> bool {
    let Some(name) = shop.strip_suffix(".myshopify.com") else {
        return false;
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A lower-case DNS host name (or IPv4 address): labels of a-z, 0-9 and '-', none empty.
fn check_host(host: &str) -> Result<(), IdError> {
    if host.is_empty() {
        return Err(IdError::Empty { what: "shop" });
    }
    if host.len() > MAX_HOST {
        return Err(IdError::TooLong {
            what: "shop",
            max: MAX_HOST,
        });
    }
    if let Some(ch) = host
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(IdError::BadChar { what: "shop", ch });
    }
    if host.split('.').any(|label| label.is_empty()) {
        return Err(IdError::BadShop {
            problem: "has an empty part between dots",
        });
    }
    if host
        .split('.')
        .any(|label| label.starts_with('-') || label.ends_with('-'))
    {
        return Err(IdError::BadShop {
            problem: "has a part that starts or ends with '-'",
        });
    }
    Ok(())
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
    fn one_myshopify_rule_serves_the_header_the_install_route_and_the_config() {
        for good in [
            "demo.myshopify.com",
            "Demo-1.myshopify.com",
            "9lives.myshopify.com",
        ] {
            assert!(is_myshopify_domain(good), "{good}");
        }
        for bad in [
            "",
            ".myshopify.com",
            "-demo.myshopify.com",
            "demo.myshopify.com.evil.example",
            "evil.example/demo.myshopify.com",
            "demo.evil.myshopify.com",
            "demo_1.myshopify.com",
            "demo.myshopify.com\n",
            "https://demo.myshopify.com",
            "demo.MYSHOPIFY.com",
            "démo.myshopify.com",
        ] {
            assert!(!is_myshopify_domain(bad), "{bad:?}");
        }
        // On canonical (lower-case) names the id and the config check agree with the rule.
        for name in [
            "demo.myshopify.com",
            "0-shop.myshopify.com",
            "-x.myshopify.com",
            "a_b.myshopify.com",
        ] {
            let rule = is_myshopify_domain(name);
            assert_eq!(ShopId::shopify(name).is_ok(), rule, "{name}");
            assert_eq!(crate::shop_domain_problem(name).is_none(), rule, "{name}");
        }
    }

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
    fn a_site_is_reduced_to_its_host_however_it_is_spelled() {
        for spelling in [
            "shop.example",
            "https://Shop.Example/",
            "http://shop.example:8080/",
            "shop.example.",
            "https://shop.example./wordpress/?x=1",
            " SHOP.EXAMPLE:443 ",
        ] {
            assert_eq!(
                ShopId::from_domain(spelling).unwrap().as_str(),
                "shop.example",
                "{spelling}"
            );
        }
        for bad in [
            "",
            "..",
            "a..b",
            "user@shop.example",
            "ftp://shop.example",
            "shop.example:x",
            "-a.example",
            "a b.example",
            "shop_x.example",
            "bad#shop",
            "shop?x",
        ] {
            assert!(ShopId::from_domain(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_shopify_shop_is_exactly_a_myshopify_domain() {
        assert_eq!(
            ShopId::shopify("Demo-2.MyShopify.com").unwrap().as_str(),
            "demo-2.myshopify.com"
        );
        for bad in [
            "evil.com",
            "..",
            "a/b",
            "user@demo.myshopify.com",
            "demo.myshopify.com.",
            "demo.myshopify.com:443",
            ".myshopify.com",
            "-demo.myshopify.com",
            "a.b.myshopify.com",
            "demo.myshopify.com/x",
            "https://demo.myshopify.com",
        ] {
            let err = ShopId::shopify(bad).unwrap_err().to_string();
            assert!(err.starts_with("shop "), "{bad:?}: {err}");
        }
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        assert_eq!(
            OrderId::new("1 2").unwrap_err().to_string(),
            "order id contains a space, which is not allowed in ids"
        );
        assert_eq!(
            ProductId::new("123\r\nSet-Cookie: x").unwrap_err().to_string(),
            "product id contains a line break, which is not allowed in ids"
        );
        assert_eq!(
            EventId::new("x".repeat(600)).unwrap_err().to_string(),
            "event id is too long (more than 512 characters)"
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

    #[test]
    fn a_message_id_joins_its_parts_and_refuses_what_a_header_cannot_carry() {
        let id = MessageId::of(crate::flows::review_request::Step::Reminder.into(), "1001");
        assert_eq!(id.as_str(), "review-request#1001#reminder");
        assert_eq!(MessageId::new("review-request#1001#reminder"), Ok(id.clone()));
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"review-request#1001#reminder\""
        );
        assert_eq!(
            MessageId::new("thank-you#1001\r\nBcc: x")
                .unwrap_err()
                .to_string(),
            "message id contains a line break, which is not allowed in ids"
        );
        assert_eq!(MessageId::new("").unwrap_err().to_string(), "message id is empty");
        assert!(MessageId::new("a".repeat(513)).is_err());
        assert!(serde_json::from_str::<MessageId>("\"vip#a b#birthday\"").is_err());
    }
}
