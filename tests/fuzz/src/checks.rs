//! What each fuzz target checks, shared by the cargo-fuzz targets (`tests/fuzz`, on nightly)
//! and the property tests that run the same checks on stable (`tests/fuzz_properties.rs`).
//! Each takes any bytes and must never panic; what a parser accepts must also make sense.

use aftersale_domain::{EventId, Platform, ShopConfig, ShopId};
use aftersale_ingest::capture::{self, CaptureError};
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
                if bad.text.len() >= 12 && beyond_the_wording(&bad.text) {
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

/// Whether `text` holds a character the reasons' own wording never uses (it is letters, digits,
/// spaces, `(`, `)`, `:` and `_`; every JSON line has `{` and `"`). Only such a line can be in a
/// reason by being quoted: the fuzzer found the line `s not valid JSON (colu`, which every
/// "not valid JSON" reason contains by its wording alone.
fn beyond_the_wording(text: &str) -> bool {
    !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " ():_".contains(c))
}

/// A bulk-operation export resumed from a checkpoint, as the import saves one: at the start of
/// the line that begins an order (its byte offset, and the count of lines before it). Reading
/// the bytes from that offset, line by line as `FileLines` does, with the line count carried
/// on, gives exactly the orders and bad lines the uninterrupted read gave after it, with the
/// same line numbers. So a paused or crashed import neither skips nor repeats an order.
pub fn import_resume(data: &[u8]) {
    let whole = read_export(data, 0, 0);
    for checkpoint in &whole.checkpoints {
        let resumed = read_export(data, checkpoint.offset, checkpoint.lines);
        let after = |items: &[Item]| -> Vec<Item> {
            items
                .iter()
                .filter(|item| item.line() > checkpoint.lines)
                .cloned()
                .collect()
        };
        assert_eq!(
            resumed.items,
            after(&whole.items),
            "resuming at byte {} (after line {}) reads what the whole read did",
            checkpoint.offset,
            checkpoint.lines
        );
    }
}

/// What one read of an export gave, in order.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Order(shopify_bulk::BulkOrder),
    Bad(shopify_bulk::BadLine),
}

impl Item {
    fn line(&self) -> u64 {
        match self {
            Item::Order(order) => order.line,
            Item::Bad(bad) => bad.line,
        }
    }
}

/// Where an import may stop and resume: the byte offset of a line that began an order, and
/// the number of lines before it.
struct Checkpoint {
    offset: usize,
    lines: u64,
}

struct Read {
    items: Vec<Item>,
    checkpoints: Vec<Checkpoint>,
}

/// Reads `data` from byte `offset` as the import does (lines split at `\n`, each decoded
/// lossily, the reassembler counting on from `lines_done`).
fn read_export(data: &[u8], offset: usize, lines_done: u64) -> Read {
    let mut reader = Reassembler::starting_after(lines_done);
    let (mut items, mut checkpoints) = (Vec::new(), Vec::new());
    let mut start = offset;
    while start < data.len() {
        let end = data[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(data.len(), |i| start + i + 1);
        let text = String::from_utf8_lossy(data[start..end].strip_suffix(b"\n").unwrap_or(&data[start..end]));
        match reader.feed(&text) {
            Fed::Nothing => {}
            Fed::Bad(bad) => items.push(Item::Bad(bad)),
            Fed::Order(order) => {
                items.push(Item::Order(order));
                checkpoints.push(Checkpoint {
                    offset: start,
                    lines: reader.line() - 1,
                });
            }
        }
        start = end;
    }
    items.extend(reader.finish().map(Item::Order));
    // Bad lines and orders come out in line order, except that an order is only known to be
    // complete when the next one starts: order by the line each began on.
    items.sort_by_key(Item::line);
    Read { items, checkpoints }
}

/// One line of a capture file (`aftersale check-deliveries`): read, or refused with a reason
/// that says what is wrong. What reads back writes back: the line [`capture::write_line`]
/// makes of it reads as the same platform, headers and exact body bytes. Whatever the body
/// bytes, a line written for them reads them back unchanged.
pub fn captured_delivery(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    match capture::read_line(&line) {
        Ok(read) => {
            assert_eq!(capture::platform_of(&read.headers), Some(read.platform));
            let headers: Vec<(&str, &str)> = read
                .headers
                .iter()
                .map(|(name, value)| {
                    // Read from JSON text, so UTF-8 (`to_str` would refuse non-ASCII).
                    let value = std::str::from_utf8(value.as_bytes()).expect("a value read from text");
                    (name.as_str(), value)
                })
                .collect();
            let again = capture::read_line(&capture::write_line(headers, &read.body))
                .expect("a line we wrote reads back");
            assert_eq!(again.platform, read.platform);
            assert_eq!(again.body, read.body, "the body's exact bytes");
            assert_eq!(again.headers, read.headers);
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            if let CaptureError::BadHeader { why, .. } = &err {
                assert!(!why.is_empty());
            }
        }
    }
    for (topic, platform) in [
        ("X-Shopify-Topic", Platform::Shopify),
        ("X-WC-Webhook-Topic", Platform::Woocommerce),
    ] {
        let written = capture::write_line([(topic, "orders/paid")], data);
        let read = capture::read_line(&written).expect("a line we wrote reads back");
        assert_eq!(read.platform, platform);
        assert_eq!(read.body, data, "any body bytes survive a capture");
    }
}
