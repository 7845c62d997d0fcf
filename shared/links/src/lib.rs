//! Signed, expiring 1-tap links: the rating, survey, delivery and unsubscribe links in messages.
//!
//! A link carries its own claims (who, which message, what answer), so answering needs no
//! lookup before the signature is checked and a forged or edited link changes nothing.
//!
//! Token format: `base64url(json claims) "." base64url(HMAC-SHA256(key, "aftersale-link-v1." payload))`,
//! both parts unpadded. The version prefix in the MAC input keeps these signatures from ever
//! being valid for another use of the same key. The claims are signed, not encrypted: they hold
//! ids only, never an address or a name.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation for the MAC: bump the version if the claims' meaning ever changes.
/// Public (it is no secret) so the fuzz targets can sign arbitrary payloads.
pub const MAC_CONTEXT: &[u8] = b"aftersale-link-v1.";

/// Shorter keys make the MAC guessable in principle; 32 bytes matches SHA-256's strength.
pub const MIN_KEY_LEN: usize = 32;

/// What tapping the link does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    /// Customer satisfaction, 1 (poor) to 5 (great).
    Csat { score: u8 },
    /// Net promoter score, 0 to 10.
    Nps { score: u8 },
    /// "Did everything arrive OK?": yes or something went wrong.
    Delivery { ok: bool },
    /// A product rating, 1 to 5 stars.
    Rating { product_id: String, stars: u8 },
    /// One-click unsubscribe (RFC 8058 and the visible link).
    Unsubscribe,
    /// The customer's points: a page listing the rewards they can afford.
    Points,
    /// Turn `points` into the shop's reward of that cost (a POST from the points page).
    Redeem { points: u32 },
    /// Give one's birthday (day and month, a form POSTed from the points page).
    Birthday,
}

/// Everything a link proves: answered by this customer, about this message, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub shop: String,
    pub customer_id: String,
    pub message_id: String,
    pub order_id: Option<String>,
    pub action: LinkAction,
    /// Unix seconds; the link stops working at this instant.
    pub expires_at: i64,
}

/// Why a link was refused (for logs: the pages customers see are templates).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is incomplete or damaged")]
    Malformed,
    #[error("the link's signature is not ours")]
    BadSignature,
    /// Genuine but past its expiry. The claims come along so the page can name the shop and
    /// speak the customer's language; they must never be acted on.
    #[error("the link has expired")]
    Expired(Box<LinkClaims>),
    /// A configuration error, not a customer-facing one.
    #[error("the link signing key must be at least {MIN_KEY_LEN} bytes")]
    WeakKey,
}

/// Signs and verifies link tokens with one secret key.
#[derive(Clone)]
pub struct LinkSigner {
    /// Keyed once: cloning a keyed MAC is cheaper than re-deriving it for every link.
    mac: HmacSha256,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSigner").field("key", &"<redacted>").finish()
    }
}

impl LinkSigner {
    /// A signer for `key`, which must be at least [`MIN_KEY_LEN`] bytes of secret randomness.
    pub fn new(key: &[u8]) -> Result<LinkSigner, LinkError> {
        if key.len() < MIN_KEY_LEN {
            return Err(LinkError::WeakKey);
        }
        let mac = HmacSha256::new_from_slice(key).map_err(|_| LinkError::WeakKey)?;
        Ok(LinkSigner { mac })
    }

    /// The URL-safe token for `claims`. Claims outside the valid ranges (a CSAT of 7) sign fine
    /// but never verify, so callers build them from the enums' documented ranges.
    pub fn sign(&self, claims: &LinkClaims) -> String {
        let json = serde_json::to_vec(&Wire::from(claims))
            .expect("claims serialise: only strings, integers and booleans");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let signature = URL_SAFE_NO_PAD.encode(self.mac_of(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The claims of a genuine, unexpired token. The signature is checked (in constant time)
    /// before the payload is decoded, so nothing an attacker wrote is parsed unless we signed it.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<LinkClaims, LinkError> {
        let (payload, signature) = token.split_once('.').ok_or(LinkError::Malformed)?;
        if payload.is_empty() || signature.is_empty() || signature.contains('.') {
            return Err(LinkError::Malformed);
        }
        // Strict decoding (no padding, no stray trailing bits) so every signature has exactly
        // one spelling: an edited character can never decode to the same bytes.
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::BadSignature)?;
        self.mac_of(payload)
            .verify_slice(&signature)
            .map_err(|_| LinkError::BadSignature)?;

        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Malformed)?;
        let wire: Wire = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
        let claims = LinkClaims::try_from(wire)?;
        if now_unix >= claims.expires_at {
            return Err(LinkError::Expired(Box::new(claims)));
        }
        Ok(claims)
    }

    /// The full link: `{base_url}/l/{token}` (a trailing slash on the base is ignored).
    pub fn url(&self, base_url: &str, claims: &LinkClaims) -> String {
        format!("{}/l/{}", base_url.trim_end_matches('/'), self.sign(claims))
    }

    fn mac_of(&self, payload: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(MAC_CONTEXT);
        mac.update(payload.as_bytes());
        mac
    }
}

/// The signed JSON, with one-letter names: links end up in SMS and must stay short.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    s: String,
    c: String,
    m: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<String>,
    a: WireAction,
    e: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "k", deny_unknown_fields)]
enum WireAction {
    #[serde(rename = "c")]
    Csat { v: u8 },
    #[serde(rename = "n")]
    Nps { v: u8 },
    #[serde(rename = "d")]
    Delivery { v: bool },
    #[serde(rename = "r")]
    Rating { p: String, v: u8 },
    #[serde(rename = "u")]
    Unsubscribe,
    #[serde(rename = "p")]
    Points,
    #[serde(rename = "x")]
    Redeem { v: u32 },
    #[serde(rename = "b")]
    Birthday,
}

impl From<&LinkClaims> for Wire {
    fn from(claims: &LinkClaims) -> Self {
        let a = match &claims.action {
            LinkAction::Csat { score } => WireAction::Csat { v: *score },
            LinkAction::Nps { score } => WireAction::Nps { v: *score },
            LinkAction::Delivery { ok } => WireAction::Delivery { v: *ok },
            LinkAction::Rating { product_id, stars } => WireAction::Rating {
                p: product_id.clone(),
                v: *stars,
            },
            LinkAction::Unsubscribe => WireAction::Unsubscribe,
            LinkAction::Points => WireAction::Points,
            LinkAction::Redeem { points } => WireAction::Redeem { v: *points },
            LinkAction::Birthday => WireAction::Birthday,
        };
        Wire {
            s: claims.shop.clone(),
            c: claims.customer_id.clone(),
            m: claims.message_id.clone(),
            o: claims.order_id.clone(),
            a,
            e: claims.expires_at,
        }
    }
}

impl TryFrom<Wire> for LinkClaims {
    type Error = LinkError;

    /// Signed tokens are ours, but ranges are still checked so a signing bug cannot record
    /// an impossible answer.
    fn try_from(wire: Wire) -> Result<Self, LinkError> {
        let in_range = |value: u8, range: std::ops::RangeInclusive<u8>| {
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(LinkError::Malformed)
            }
        };
        let action = match wire.a {
            WireAction::Csat { v } => LinkAction::Csat {
                score: in_range(v, 1..=5)?,
            },
            WireAction::Nps { v } => LinkAction::Nps {
                score: in_range(v, 0..=10)?,
            },
            WireAction::Delivery { v } => LinkAction::Delivery { ok: v },
            WireAction::Rating { p, v } if !p.is_empty() => LinkAction::Rating {
                product_id: p,
                stars: in_range(v, 1..=5)?,
            },
            WireAction::Rating { .. } => return Err(LinkError::Malformed),
            WireAction::Unsubscribe => LinkAction::Unsubscribe,
            WireAction::Points => LinkAction::Points,
            WireAction::Redeem { v } if v > 0 => LinkAction::Redeem { points: v },
            WireAction::Redeem { .. } => return Err(LinkError::Malformed),
            WireAction::Birthday => LinkAction::Birthday,
        };
        if wire.s.is_empty() || wire.c.is_empty() || wire.m.is_empty() {
            return Err(LinkError::Malformed);
        }
        Ok(LinkClaims {
            shop: wire.s,
            customer_id: wire.c,
            message_id: wire.m,
            order_id: wire.o,
            action,
            expires_at: wire.e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_780_000_000;

    fn signer() -> LinkSigner {
        LinkSigner::new(KEY).unwrap()
    }

    fn claims(action: LinkAction) -> LinkClaims {
        LinkClaims {
            shop: "bottega-rossi.myshopify.com".into(),
            customer_id: "7712345678901".into(),
            message_id: "01JD7Z5Q8M3K2V9XWQ4T6R1B0C".into(),
            order_id: Some("5550123456789".into()),
            action,
            expires_at: NOW + 30 * 86_400,
        }
    }

    /// Signs arbitrary wire JSON, to test what verify does with claims we would never issue.
    fn sign_raw(signer: &LinkSigner, json: &str) -> String {
        let payload = URL_SAFE_NO_PAD.encode(json);
        let signature = URL_SAFE_NO_PAD.encode(signer.mac_of(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    #[test]
    fn every_action_round_trips() {
        let actions = [
            LinkAction::Csat { score: 1 },
            LinkAction::Csat { score: 5 },
            LinkAction::Nps { score: 0 },
            LinkAction::Nps { score: 10 },
            LinkAction::Delivery { ok: true },
            LinkAction::Delivery { ok: false },
            LinkAction::Rating {
                product_id: "8123456789".into(),
                stars: 4,
            },
            LinkAction::Unsubscribe,
        ];
        for action in actions {
            let claims = claims(action);
            let token = signer().sign(&claims);
            assert!(!token.contains(['=', '+', '/']), "{token}");
            assert_eq!(signer().verify(&token, NOW).unwrap(), claims);
        }
        let mut no_order = claims(LinkAction::Unsubscribe);
        no_order.order_id = None;
        assert_eq!(signer().verify(&signer().sign(&no_order), NOW).unwrap(), no_order);
    }

    /// Shopify-sized ids give about 236 characters; this catches the format growing by accident.
    #[test]
    fn tokens_stay_short() {
        let token = signer().sign(&claims(LinkAction::Nps { score: 10 }));
        assert!(token.len() <= 240, "{} chars: {token}", token.len());
    }

    #[test]
    fn url_joins_base_and_token() {
        let claims = claims(LinkAction::Unsubscribe);
        let token = signer().sign(&claims);
        assert_eq!(
            signer().url("https://l.example/", &claims),
            format!("https://l.example/l/{token}")
        );
        assert_eq!(
            signer().url("https://l.example", &claims),
            format!("https://l.example/l/{token}")
        );
    }

    #[test]
    fn tampering_is_a_bad_signature() {
        let token = signer().sign(&claims(LinkAction::Csat { score: 2 }));
        let (payload, signature) = token.split_once('.').unwrap();

        let forged = sign_raw(&LinkSigner::new(&[7u8; 32]).unwrap(), "{}");
        let (forged_payload, _) = forged.split_once('.').unwrap();
        assert_eq!(
            signer().verify(&format!("{forged_payload}.{signature}"), NOW),
            Err(LinkError::BadSignature)
        );

        let other = signer().sign(&claims(LinkAction::Csat { score: 5 }));
        let (_, other_signature) = other.split_once('.').unwrap();
        assert_eq!(
            signer().verify(&format!("{payload}.{other_signature}"), NOW),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            signer().verify(&format!("{payload}.AAAA"), NOW),
            Err(LinkError::BadSignature)
        );

        let other_key = LinkSigner::new(b"another key that is long enough!!").unwrap();
        assert_eq!(other_key.verify(&token, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn expired_links_are_refused_from_their_expiry_on() {
        let claims = claims(LinkAction::Unsubscribe);
        let token = signer().sign(&claims);
        assert!(signer().verify(&token, claims.expires_at - 1).is_ok());
        assert_eq!(
            signer().verify(&token, claims.expires_at),
            Err(LinkError::Expired(Box::new(claims.clone())))
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for garbage in ["", ".", "abc", "abc.", ".abc", "a.b.c", "no dots at all"] {
            assert_eq!(
                signer().verify(garbage, NOW),
                Err(LinkError::Malformed),
                "{garbage:?}"
            );
        }
        // Correctly signed, but not claims.
        for json in [
            "not json",
            "{}",
            r#"{"s":"x","c":"y","m":"z","a":{"k":"?"},"e":1}"#,
        ] {
            let token = sign_raw(&signer(), json);
            assert_eq!(signer().verify(&token, NOW), Err(LinkError::Malformed), "{json}");
        }
    }

    #[test]
    fn out_of_range_answers_are_malformed() {
        let far = NOW + 1000;
        for action in [
            r#"{"k":"c","v":0}"#,
            r#"{"k":"c","v":6}"#,
            r#"{"k":"n","v":11}"#,
            r#"{"k":"r","p":"1","v":0}"#,
            r#"{"k":"r","p":"1","v":6}"#,
            r#"{"k":"r","p":"","v":3}"#,
        ] {
            let json = format!(r#"{{"s":"shop","c":"1","m":"m","a":{action},"e":{far}}}"#);
            let token = sign_raw(&signer(), &json);
            assert_eq!(
                signer().verify(&token, NOW),
                Err(LinkError::Malformed),
                "{action}"
            );
        }
        let json = format!(r#"{{"s":"","c":"1","m":"m","a":{{"k":"u"}},"e":{far}}}"#);
        assert_eq!(
            signer().verify(&sign_raw(&signer(), &json), NOW),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn short_keys_are_refused_and_never_printed() {
        assert_eq!(LinkSigner::new(&[1u8; 31]).unwrap_err(), LinkError::WeakKey);
        let debug = format!("{:?}", signer());
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(debug.contains("redacted"));
    }

    proptest! {
        #[test]
        fn any_single_changed_character_fails(index in any::<prop::sample::Index>(), replacement in any::<char>()) {
            let token = signer().sign(&claims(LinkAction::Rating { product_id: "8123456789".into(), stars: 5 }));
            let mut chars: Vec<char> = token.chars().collect();
            let at = index.index(chars.len());
            prop_assume!(chars[at] != replacement);
            chars[at] = replacement;
            let tampered: String = chars.into_iter().collect();
            prop_assert!(signer().verify(&tampered, NOW).is_err());
        }

        #[test]
        fn base64url_replacements_are_caught_by_the_mac(
            index in any::<prop::sample::Index>(),
            replacement in prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
            ),
        ) {
            let token = signer().sign(&claims(LinkAction::Csat { score: 3 }));
            let mut bytes = token.into_bytes();
            let at = index.index(bytes.len());
            prop_assume!(bytes[at] != b'.' && bytes[at] != replacement);
            bytes[at] = replacement;
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assert!(signer().verify(&tampered, NOW).is_err());
        }
    }
}
