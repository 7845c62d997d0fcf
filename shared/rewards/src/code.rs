//! Discount codes Aftersale issues: advocates' personal referral codes, their reward codes and
//! win-back offers. [`DiscountCode`] is any of them (the name says what the platforms call it).
//!
//! A code is `PREFIX-BODY` (or just `BODY` without a prefix). The body is 10 characters from an
//! alphabet without look-alikes (no 0/O, 1/I/L, U), drawn from a CSPRNG: 30^10 ≈ 2^49
//! possibilities, so codes cannot be guessed or enumerated at checkout, and customers can read
//! them aloud or copy them from a screenshot without mistakes.

use rand::{CryptoRng, Rng};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Characters a code body is drawn from: digits and capitals minus the ones people confuse.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Length of the random part of a code.
pub const CODE_BODY_LEN: usize = 10;
/// Longest prefix a shop may choose, so the whole code stays short enough to type.
pub const MAX_PREFIX_LEN: usize = 8;

const SEPARATOR: char = '-';

/// Why a prefix or a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a code prefix is at most {MAX_PREFIX_LEN} letters or digits (A-Z, 0-9); got {0:?}")]
    BadPrefix(String),
    #[error("not a discount code Aftersale could have issued: {0:?}")]
    NotACode(String),
}

/// A shop-chosen prefix such as `FRIEND`, so customers recognise the code as the shop's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CodePrefix(String);

impl CodePrefix {
    /// Accepts 0 to 8 ASCII letters or digits, in any case; stored upper-case because the
    /// platforms match codes case-insensitively.
    pub fn new(prefix: &str) -> Result<Self, CodeError> {
        let upper = prefix.trim().to_ascii_uppercase();
        let valid = upper.len() <= MAX_PREFIX_LEN && upper.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid {
            Ok(Self(upper))
        } else {
            Err(CodeError::BadPrefix(prefix.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A discount code (referral, reward or win-back offer) in its canonical (upper-case, trimmed)
/// form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DiscountCode(String);

impl DiscountCode {
    /// A fresh code from the thread-local CSPRNG (ChaCha, reseeded from the OS).
    pub fn generate(prefix: &CodePrefix) -> Self {
        Self::generate_with(prefix, &mut rand::rng())
    }

    /// A fresh code from the given generator. Requiring `CryptoRng` keeps a predictable
    /// generator (and so guessable codes) from compiling.
    pub fn generate_with<R: CryptoRng + ?Sized>(prefix: &CodePrefix, rng: &mut R) -> Self {
        let mut code = String::with_capacity(MAX_PREFIX_LEN + 1 + CODE_BODY_LEN);
        if !prefix.0.is_empty() {
            code.push_str(&prefix.0);
            code.push(SEPARATOR);
        }
        for _ in 0..CODE_BODY_LEN {
            let index = rng.random_range(0..CODE_ALPHABET.len());
            code.push(char::from(CODE_ALPHABET[index]));
        }
        Self(code)
    }

    /// Reads a code as a customer typed it or a platform reported it (Shopify
    /// `discount_codes[].code`, WooCommerce `coupon_lines[].code`, which WooCommerce
    /// lower-cases): surrounding whitespace and case are ignored.
    pub fn parse(raw: &str) -> Result<Self, CodeError> {
        let upper = raw.trim().to_ascii_uppercase();
        let body = match upper.rsplit_once(SEPARATOR) {
            Some((prefix, body)) => {
                let prefix_ok = !prefix.is_empty()
                    && prefix.len() <= MAX_PREFIX_LEN
                    && prefix.bytes().all(|b| b.is_ascii_alphanumeric());
                if !prefix_ok {
                    return Err(CodeError::NotACode(raw.to_string()));
                }
                body
            }
            None => upper.as_str(),
        };
        let body_ok = body.len() == CODE_BODY_LEN && body.bytes().all(|b| CODE_ALPHABET.contains(&b));
        if body_ok {
            Ok(Self(upper))
        } else {
            Err(CodeError::NotACode(raw.to_string()))
        }
    }

    /// The first of an order's discount codes that is well-formed as one of ours; the caller
    /// still looks it up, since only codes it issued belong to an advocate.
    pub fn find_in<'a>(codes: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        codes.into_iter().find_map(|c| Self::parse(c).ok())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DiscountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DiscountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DiscountCode({})", self.0)
    }
}

impl FromStr for DiscountCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DiscountCode {
    type Error = CodeError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DiscountCode> for String {
    fn from(code: DiscountCode) -> Self {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::HashSet;

    fn prefix(p: &str) -> CodePrefix {
        CodePrefix::new(p).expect("valid prefix")
    }

    #[test]
    fn ten_thousand_codes_are_distinct() {
        let friend = prefix("FRIEND");
        let codes: HashSet<DiscountCode> = (0..10_000).map(|_| DiscountCode::generate(&friend)).collect();
        assert_eq!(codes.len(), 10_000);
    }

    #[test]
    fn bodies_use_only_the_unambiguous_alphabet() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = HashSet::new();
        for _ in 0..2_000 {
            let code = DiscountCode::generate_with(&CodePrefix::default(), &mut rng);
            assert_eq!(code.as_str().len(), CODE_BODY_LEN);
            for b in code.as_str().bytes() {
                assert!(CODE_ALPHABET.contains(&b), "{code} has {}", char::from(b));
                seen.insert(b);
            }
        }
        // Every symbol is reachable, so no entropy is lost to a biased draw.
        assert_eq!(seen.len(), CODE_ALPHABET.len());
        for confusable in [b'0', b'O', b'1', b'I', b'L', b'U'] {
            assert!(!CODE_ALPHABET.contains(&confusable));
        }
    }

    #[test]
    fn prefix_is_prepended_with_a_dash() {
        let code = DiscountCode::generate(&prefix("vip24"));
        let (p, body) = code.as_str().split_once('-').expect("dash");
        assert_eq!(p, "VIP24");
        assert_eq!(body.len(), CODE_BODY_LEN);
    }

    #[test]
    fn prefixes_are_validated() {
        assert_eq!(prefix("").as_str(), "");
        assert_eq!(prefix(" friend ").as_str(), "FRIEND");
        assert_eq!(prefix("ABCDEFG8").as_str(), "ABCDEFG8");
        for bad in ["ABCDEFGH9", "FR-IEND", "ÉTÉ", "A B", "x_y"] {
            assert_eq!(
                CodePrefix::new(bad),
                Err(CodeError::BadPrefix(bad.to_string())),
                "{bad}"
            );
        }
    }

    #[test]
    fn parsing_ignores_case_and_surrounding_space() {
        let code = DiscountCode::generate(&prefix("FRIEND"));
        let typed = format!("  {}\n", code.as_str().to_lowercase());
        assert_eq!(DiscountCode::parse(&typed), Ok(code.clone()));
        assert_eq!(typed.parse::<DiscountCode>(), Ok(code));
        assert_eq!(
            DiscountCode::parse("k7m2p9qx4r").map(String::from),
            Ok("K7M2P9QX4R".to_string())
        );
    }

    #[test]
    fn parsing_rejects_what_we_never_issue() {
        for bad in [
            "",
            "SUMMER10",
            "K7M2P9QX4",            // too short
            "K7M2P9QX4RR",          // too long
            "K7M2P9QX40",           // 0 is not in the alphabet
            "-K7M2P9QX4R",          // empty prefix
            "ABCDEFGHJ-K7M2P9QX4R", // prefix too long
            "FR_END-K7M2P9QX4R",
            "FRIEND K7M2P9QX4R",
        ] {
            assert!(DiscountCode::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn finds_the_referral_code_among_an_orders_discount_codes() {
        let codes = ["WELCOME10", "friend-k7m2p9qx4r"];
        assert_eq!(
            DiscountCode::find_in(codes).map(String::from),
            Some("FRIEND-K7M2P9QX4R".to_string())
        );
        assert_eq!(DiscountCode::find_in(["WELCOME10"]), None);
    }

    #[test]
    fn serde_round_trips_through_the_canonical_string() {
        let code = DiscountCode::parse("friend-k7m2p9qx4r").expect("valid");
        let json = serde_json::to_string(&code).expect("serialise");
        assert_eq!(json, "\"FRIEND-K7M2P9QX4R\"");
        assert_eq!(
            serde_json::from_str::<DiscountCode>(&json).expect("deserialise"),
            code
        );
        assert!(serde_json::from_str::<DiscountCode>("\"nope\"").is_err());
    }
}
