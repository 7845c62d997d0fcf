//! Every key and index value the table uses, built in one place so the layout in `TABLE.md`
//! and the code cannot drift apart. Ids validated by the domain (shop, order, customer, event)
//! never contain `#`, so `#`-joined keys of two tenants can never collide.

use aftersale_domain::{CustomerId, EventId, Flow, OrderId, ShopId};
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const GSI2PK: &str = "gsi2pk";
pub(crate) const GSI2SK: &str = "gsi2sk";
pub(crate) const GSI3PK: &str = "gsi3pk";
pub(crate) const GSI3SK: &str = "gsi3sk";
pub(crate) const GSI4PK: &str = "gsi4pk";
pub(crate) const GSI4SK: &str = "gsi4sk";
/// Epoch seconds after which DynamoDB's TTL may delete the item.
pub(crate) const EXPIRES_AT: &str = "expires_at";

pub(crate) const GSI1: &str = "GSI1";
pub(crate) const GSI2: &str = "GSI2";
pub(crate) const GSI3: &str = "GSI3";
pub(crate) const GSI4: &str = "GSI4";

/// Sort keys of the base table, one per item type.
pub(crate) const SK_SEEN: &str = "SEEN";
pub(crate) const SK_ORDER: &str = "ORDER";
pub(crate) const SK_PROFILE: &str = "PROFILE";
pub(crate) const SK_META: &str = "META";
pub(crate) const SK_CONFIG: &str = "CONFIG";
pub(crate) const SK_SUPPRESSED: &str = "SUPPRESSED";

/// Sort-key prefix of planned messages in a customer's partition.
pub(crate) const MESSAGE_PREFIX: &str = "MSG#";
/// Sort-key prefix of answers in a customer's partition.
pub(crate) const ANSWER_PREFIX: &str = "ANSWER#";
/// GSI1 sort-key prefix of a shop's messages (`list_messages`).
pub(crate) const MESSAGE_REF_PREFIX: &str = "MSG#";
/// Sort-key prefix of documents in their shop's partition (and of their GSI1 entries).
pub(crate) const DOCUMENT_PREFIX: &str = "DOC#";

/// How many shards each hour bucket of the due index is split into. Writes of one flow in one
/// hour spread over this many GSI4 partitions (about 1000 WRU/s each); a tick queries every
/// shard of every bucket it covers, so raising it costs reads. Changing it re-homes nothing:
/// readers must know every shard ever used, so only ever raise it together with a migration.
pub(crate) const DUE_SHARDS: u64 = 4;

/// GSI2 partition listing every shop's install record (`aftersale shops`). Written only when
/// a shop's install state changes, so it is never hot.
pub(crate) const SHOPS_PARTITION: &str = "SHOPS";
/// Sort-key prefix of OAuth `state` nonces in their shop's partition.
pub(crate) const NONCE_PREFIX: &str = "OAUTH#";

/// GSI1 partition listing every dead letter of every shop (a handful: it is an alarm).
pub(crate) const DEAD_LETTERS_PARTITION: &str = "DEADLETTERS";
/// GSI1 sort-key prefix of events, for `begins_with` in `list_events`.
pub(crate) const EVENT_PREFIX: &str = "E#";

/// Longer key parts are replaced by their hash: DynamoDB caps partition keys at 2048 bytes and
/// sort keys at 1024, and event ids (512 chars) or raw dead-letter shops could pass that.
const MAX_PART_BYTES: usize = 256;

/// `SHOP#{shop}`: the shop's META item, and the GSI1 partition of everything the shop owns.
pub(crate) fn shop(shop: &ShopId) -> String {
    format!("SHOP#{shop}")
}

/// `SHOP#{shop}#C#{customer}`: the customer's partition (profile and per-customer items), and
/// the GSI2 partition of their orders and events.
pub(crate) fn customer(shop: &ShopId, customer: &CustomerId) -> String {
    format!("SHOP#{shop}#C#{customer}")
}

/// `SHOP#{shop}#O#{order}`: the order item, and the GSI3 partition of the order's events.
pub(crate) fn order(shop: &ShopId, order: &OrderId) -> String {
    format!("SHOP#{shop}#O#{order}")
}

/// The order id an [`order`] partition key names.
pub(crate) fn order_id_of<'a>(shop: &ShopId, pk: &'a str) -> Option<&'a str> {
    pk.strip_prefix(&format!("SHOP#{shop}#O#"))
}

/// `SHOP#{shop}#E#{event}`: one event, which is also its own dedupe record.
pub(crate) fn event(shop: &ShopId, event_id: &EventId) -> String {
    format!("SHOP#{shop}#E#{}", bounded(event_id.as_str()))
}

/// `E#{received_at}#{event}`: sorts a partition's events by receive time.
pub(crate) fn event_by_time(received_at: DateTime<Utc>, event_id: &EventId) -> String {
    format!(
        "{EVENT_PREFIX}{}#{}",
        timestamp(received_at),
        bounded(event_id.as_str())
    )
}

/// `E#{event}`: an event in its customer's GSI2 partition.
pub(crate) fn event_ref(event_id: &EventId) -> String {
    format!("{EVENT_PREFIX}{}", bounded(event_id.as_str()))
}

/// `O#{order}`: an order in its shop's GSI1 and its customer's GSI2 partitions.
pub(crate) fn order_ref(order: &OrderId) -> String {
    format!("O#{order}")
}

/// `C#{customer}`: a profile in its shop's GSI1 partition.
pub(crate) fn customer_ref(customer: &CustomerId) -> String {
    format!("C#{customer}")
}

/// `MSG#{flow}#{subject}#{step}`: a planned message in its customer's partition.
pub(crate) fn message(id: &str) -> String {
    format!("{MESSAGE_PREFIX}{}", bounded(id))
}

/// `MSG#{customer}#{flow}#{subject}#{step}`: a message in its shop's GSI1 partition.
pub(crate) fn message_ref(customer: &CustomerId, id: &str) -> String {
    format!("{MESSAGE_REF_PREFIX}{customer}#{}", bounded(id))
}

/// `ANSWER#{message id}#{question}`: an answer in its customer's partition.
pub(crate) fn answer(message_id: &str, question: &str) -> String {
    format!("{ANSWER_PREFIX}{}#{}", bounded(message_id), bounded(question))
}

/// `ANSWER#{customer}#{message id}#{question}`: an answer in its shop's GSI1 partition.
pub(crate) fn answer_ref(customer: &CustomerId, message_id: &str, question: &str) -> String {
    format!(
        "{ANSWER_PREFIX}{customer}#{}#{}",
        bounded(message_id),
        bounded(question)
    )
}

/// `DOC#{key}`: a document in its shop's partition, and its entry in the shop's GSI1
/// partition. The key is kept literal, never escaped or hashed, so a `begins_with` on
/// `DOC#{prefix}` lists exactly the documents whose key starts with the prefix (`%`, `_` and
/// `#` are plain characters to DynamoDB). Document keys are built by the code (`kind#...`, ids
/// the domain validated), far below the 1024-byte sort-key limit.
pub(crate) fn document(key: &str) -> String {
    format!("{DOCUMENT_PREFIX}{key}")
}

/// The document key a [`document`] sort key holds.
pub(crate) fn document_key(sort_key: &str) -> Option<&str> {
    sort_key.strip_prefix(DOCUMENT_PREFIX)
}

/// `SHOP#{shop}#S#{address hash}`: one suppressed address (its hash, never the address).
pub(crate) fn suppression(shop: &ShopId, address_hash: &str) -> String {
    format!("SHOP#{shop}#S#{address_hash}")
}

/// `S#{address hash}`: a suppression in its shop's GSI1 partition.
pub(crate) fn suppression_ref(address_hash: &str) -> String {
    format!("S#{address_hash}")
}

/// `DUEWM#{flow}`: the due index's watermark of one flow (see `due_watermark`). The only
/// base-table key that does not start with a shop: it belongs to no tenant and holds no
/// tenant data, only an hour.
pub(crate) fn due_watermark(flow: Flow) -> String {
    format!("DUEWM#{flow}")
}

/// The hour bucket an instant falls in: `2026-11-01T10`.
pub(crate) fn hour(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

/// The start of an hour bucket written by [`hour`].
pub(crate) fn parse_hour(bucket: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(&format!("{bucket}:00:00"), "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|naive| naive.and_utc())
}

/// The due shard of a customer: stable across processes and releases (SHA-256, not Rust's
/// randomised hasher), and over shop and customer so small numeric ids of many shops spread.
pub(crate) fn due_shard(shop: &ShopId, customer: &CustomerId) -> u64 {
    let digest = Sha256::digest(format!("{shop}#{customer}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % DUE_SHARDS
}

/// `DUE#{flow}#{hour}#{shard}`: one partition of the due index.
pub(crate) fn due_partition(flow: Flow, bucket: &str, shard: u64) -> String {
    format!("DUE#{flow}#{bucket}#{shard}")
}

/// `{attention, millis}#{shop}#{customer}#{message id}`: due-index order is attention order.
pub(crate) fn due_sort(at: DateTime<Utc>, shop: &ShopId, customer: &CustomerId, id: &str) -> String {
    format!("{}#{shop}#{customer}#{}", millis(at), bounded(id))
}

/// An exclusive upper bound for [`due_sort`] keys of everything needing attention at or before
/// `now`'s millisecond: `$` sorts right after the `#` that ends the timestamp.
pub(crate) fn due_sort_upper(now: DateTime<Utc>) -> String {
    format!("{}$", millis(now))
}

/// Fixed-width RFC 3339 in UTC with milliseconds.
fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `SHOP#{raw shop}#DL`: dead letters keep the shop as the delivery named it, which may be
/// anything, so it is escaped. A valid shop id escapes to itself, so `redact_shop` finds them.
pub(crate) fn dead_letters(raw_shop: &str) -> String {
    format!("SHOP#{}#DL", escape(raw_shop))
}

/// `DL#{id}`.
pub(crate) fn dead_letter(id: &str) -> String {
    format!("DL#{}", escape(id))
}

/// `{received_at}#{raw shop}#{id}`: sorts all dead letters oldest first in GSI1.
pub(crate) fn dead_letter_by_time(received_at: DateTime<Utc>, raw_shop: &str, id: &str) -> String {
    format!("{}#{}#{}", timestamp(received_at), escape(raw_shop), escape(id))
}

/// Fixed-width RFC 3339 in UTC with nanoseconds, so string order is time order.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Percent-encodes `%`, `#`, whitespace and control characters (everything a shop id may not
/// contain, plus the escape character itself), then bounds the length.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for ch in raw.chars() {
        if ch == '%' || ch == '#' || ch.is_whitespace() || ch.is_control() {
            let mut buf = [0u8; 4];
            for byte in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(ch);
        }
    }
    bounded(&out)
}

/// The part itself, or `#sha256:{hex}` when too long. The leading `#` cannot start a real
/// part (ids and escaped values never contain `#`), so a hash never equals a literal id.
fn bounded(part: &str) -> String {
    if part.len() <= MAX_PART_BYTES {
        return part.to_string();
    }
    let digest = Sha256::digest(part.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("#sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_key_starts_with_the_shop() {
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let cid = CustomerId::new("7").unwrap();
        let oid = OrderId::new("1001").unwrap();
        let eid = EventId::new("abc").unwrap();
        assert_eq!(super::shop(&shop), "SHOP#demo.myshopify.com");
        assert_eq!(customer(&shop, &cid), "SHOP#demo.myshopify.com#C#7");
        assert_eq!(order(&shop, &oid), "SHOP#demo.myshopify.com#O#1001");
        assert_eq!(event(&shop, &eid), "SHOP#demo.myshopify.com#E#abc");
        assert_eq!(dead_letters(shop.as_str()), "SHOP#demo.myshopify.com#DL");
    }

    #[test]
    fn document_keys_are_literal_and_round_trip() {
        assert_eq!(document("customer#7#tier"), "DOC#customer#7#tier");
        assert_eq!(document(""), DOCUMENT_PREFIX, "the prefix of every document");
        assert_eq!(document_key(&document("campaign#a%_b")), Some("campaign#a%_b"));
        assert_eq!(document_key("MSG#thank-you#1001#note"), None);
        assert!(document("customer#c10#orders").starts_with(&document("customer#c1")));
        assert!(!document("customer#c10#orders").starts_with(&document("customer#c1#")));
    }

    #[test]
    fn raw_shops_are_escaped_and_valid_ones_are_not() {
        assert_eq!(dead_letters("localhost:8080/shop"), "SHOP#localhost:8080/shop#DL");
        assert_eq!(dead_letters("a #b%"), "SHOP#a%20%23b%25#DL");
        assert_eq!(dead_letters("a\nb"), "SHOP#a%0Ab#DL");
        assert_ne!(dead_letters("a%23b"), dead_letters("a#b"));
    }

    #[test]
    fn long_parts_are_hashed_within_dynamodb_limits() {
        let shop = ShopId::new("s".repeat(255)).unwrap();
        let eid = EventId::new("é".repeat(512)).unwrap();
        let pk = event(&shop, &eid);
        assert!(pk.len() < 2048);
        assert!(pk.contains("#E##sha256:"));
        assert_ne!(pk, event(&shop, &EventId::new("é".repeat(511)).unwrap()));
        assert!(dead_letters(&"x".repeat(10_000)).len() < 400);
    }

    #[test]
    fn due_keys_sort_by_attention_and_hours_round_trip() {
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let cid = CustomerId::new("7").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let key = due_sort(at, &shop, &cid, "thank-you#1001#note");
        assert_eq!(
            key,
            "2026-01-02T03:04:05.000Z#demo.myshopify.com#7#thank-you#1001#note"
        );
        assert!(key < due_sort_upper(at));
        assert!(key > due_sort_upper(at - chrono::Duration::milliseconds(1)));
        assert_eq!(hour(at), "2026-01-02T03");
        assert_eq!(
            parse_hour(&hour(at)),
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 0).single()
        );
        assert_eq!(
            due_partition(Flow::ThankYou, &hour(at), 3),
            "DUE#thank-you#2026-01-02T03#3"
        );
        let shards: std::collections::BTreeSet<u64> = (0..64)
            .map(|n| due_shard(&shop, &CustomerId::new(n.to_string()).unwrap()))
            .collect();
        assert_eq!(
            shards.len() as u64,
            DUE_SHARDS,
            "customers spread over every shard"
        );
    }

    #[test]
    fn timestamps_sort_as_strings() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::nanoseconds(1);
        let c = a + chrono::Duration::days(400);
        assert_eq!(timestamp(a), "2026-01-02T03:04:05.000000000Z");
        assert!(timestamp(a) < timestamp(b) && timestamp(b) < timestamp(c));
    }
}
