//! What each fuzz target checks, shared by the cargo-fuzz targets (`tests/fuzz`, on nightly)
//! and the property tests that run the same checks on stable (`tests/fuzz_properties.rs`).
//! Each takes any bytes and must never panic; what a parser accepts must also make sense.

use aftersale_domain::{EventId, ShopConfig, ShopId};
use aftersale_links::{LinkClaims, LinkError, LinkSigner, MAC_CONTEXT};
use aftersale_platforms::shopify_bulk::{self, Fed, Reassembler};
use aftersale_platforms::{Delivery, shopify, woocommerce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The link key of the fuzz runs (any 32 bytes do).
const LINK_KEY: [u8; 32] = [42; 32];

fn shop() -> ShopId {
    ShopId::from_domain("fuzz.myshopify.com").expect("a shop")
}

fn delivery(event_id: Option<&str>) -> Delivery {
    Delivery {
        shop: shop(),
        event_id: event_id.map(|id| EventId::new(id).expect("an event id")),
        triggered_at: Some(Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()),
    }
}

/// Splits a fuzz input into a topic (its first byte, an index into `topics`) and a body.
fn topic_and_body<'a, T: Copy>(data: &'a [u8], topics: &[T]) -> (T, &'a [u8]) {
    let (first, body) = data.split_first().unwrap_or((&0, &[]));
    (topics[usize::from(*first) % topics.len()], body)
}

/// The first byte that selects `topic` in a fuzz input: seeds are written with it.
pub fn shopify_topic_byte(topic: shopify::Topic) -> u8 {
    shopify::Topic::ALL
        .iter()
        .position(|t| *t == topic)
        .expect("a topic") as u8
}

pub fn woocommerce_topic_byte(topic: woocommerce::Topic) -> u8 {
    woocommerce::Topic::ALL
        .iter()
        .position(|t| *t == topic)
        .expect("a topic") as u8
}

/// A verified Shopify delivery of any topic and body: events for the delivery's own shop, or
/// an error that says what is wrong. Normalising is a pure function of its input.
pub fn shopify_normaliser(data: &[u8]) {
    let (topic, body) = topic_and_body(data, &shopify::Topic::ALL);
    let delivery = delivery(Some("fuzz-event-1"));
    match shopify::normalise(topic, &delivery, body) {
        Ok(events) => {
            for event in &events {
                assert_eq!(event.shop, delivery.shop, "an event for another shop");
            }
            let again = shopify::normalise(topic, &delivery, body).expect("the same body again");
            assert_eq!(again, events, "normalising is deterministic");
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// The same for WooCommerce, whose deliveries carry no event id (ids are built from the
/// order's state), and whose creation ping must be told apart from any real body.
pub fn woocommerce_normaliser(data: &[u8]) {
    let (topic, body) = topic_and_body(data, &woocommerce::Topic::ALL);
    let ping = woocommerce::is_creation_ping(body);
    let delivery = delivery(None);
    match woocommerce::normalise(topic, &delivery, body) {
        Ok(events) => {
            assert!(!ping || events.is_empty(), "a creation ping made events");
            for event in &events {
                assert_eq!(event.shop, delivery.shop, "an event for another shop");
            }
            let again = woocommerce::normalise(topic, &delivery, body).expect("the same body again");
            assert_eq!(again, events, "event ids and events are a function of the body");
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// A link token, as typed in a browser: the bytes as given (no signature of ours verifies
/// unless we made it), and the bytes as a payload we signed, which reaches the claims
/// decoder. Whatever verifies signs back to the same claims.
pub fn link_token(data: &[u8]) {
    let signer = LinkSigner::new(&LINK_KEY).expect("a long key");
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap().timestamp();
    let as_given = String::from_utf8_lossy(data);
    if let Ok(claims) = signer.verify(&as_given, now) {
        round_trips(&signer, &claims, now);
    }
    let payload = URL_SAFE_NO_PAD.encode(data);
    let mut mac = Hmac::<Sha256>::new_from_slice(&LINK_KEY).expect("any key length");
    mac.update(MAC_CONTEXT);
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    match signer.verify(&format!("{payload}.{signature}"), now) {
        Ok(claims) => round_trips(&signer, &claims, now),
        Err(LinkError::Expired(claims)) => assert!(claims.expires_at <= now),
        Err(LinkError::BadSignature) => panic!("our own signature was refused"),
        Err(_) => {}
    }
}

fn round_trips(signer: &LinkSigner, claims: &LinkClaims, now: i64) {
    let again = signer
        .verify(&signer.sign(claims), now)
        .expect("a token we signed verifies");
    assert_eq!(&again, claims);
}

/// A shop's config file: parsed and validated, or refused with an error naming what is wrong.
pub fn shop_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for installed in [false, true] {
        match ShopConfig::from_toml_for(text, &shop(), installed) {
            Ok(config) => {
                let again = ShopConfig::from_toml_for(text, &shop(), installed).expect("the same text again");
                assert_eq!(
                    format!("{again:?}"),
                    format!("{config:?}"),
                    "parsing is deterministic"
                );
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    }
}

/// A bulk-operation export (JSONL, `groupObjects: true`), line by line as the import reads
/// it: orders come out in file order with their own items, a bad line's reason never
/// quotes the line, and every order either normalises or says why not.
pub fn import_jsonl(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut reader = Reassembler::starting_after(0);
    let mut orders = Vec::new();
    for line in text.split('\n') {
        match reader.feed(line) {
            Fed::Nothing => {}
            Fed::Order(order) => orders.push(order),
            Fed::Bad(bad) => {
                assert!(bad.line >= 1 && bad.line <= reader.line());
                if bad.text.len() >= 12 {
                    assert!(!bad.reason.contains(&bad.text), "a reason quotes its line");
                }
            }
        }
    }
    orders.extend(reader.finish());
    let mut last_line = 0;
    for order in &orders {
        assert!(order.line > last_line, "orders in file order");
        last_line = order.line;
        match shopify_bulk::normalise_order(&shop(), order) {
            Ok(events) => {
                for event in &events {
                    assert_eq!(event.shop, shop(), "an event for another shop");
                }
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    }
}
