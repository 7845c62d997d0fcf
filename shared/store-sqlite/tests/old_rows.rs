//! A message row written before payloads were typed (its `details` a map of text, its count
//! of processing errors among them) still reads, is due, and is written back in the same
//! shape.

use aftersale_domain::flows::win_back::IncentiveKind;
use aftersale_domain::{CustomerId, Flow, MessageId, MessageStatus, ShopId};
use aftersale_ports::Messages;
use aftersale_store_sqlite::SqliteStore;
use chrono::{TimeZone, Utc};

/// A win-back offer waiting on its discount code, byte for byte as the old code stored it.
const OLD_BODY: &str = concat!(
    r#"{"shop":"demo.myshopify.com","customer_id":"c1","flow":"win-back","subject":"1001","#,
    r#""step":"offer","order_id":null,"class":"marketing","channel":"email","#,
    r#""due_at":"2026-03-29T09:00:00Z","due_basis":"known","status":"planned","#,
    r#""reason":"retrying: discount code: the shop refused: 403","#,
    r#""planned_at":"2026-03-26T09:00:00Z","lease_until":null,"attempts":1,"products":[],"#,
    r#""details":{"discount_attempts":"1","discount_error":"the shop refused: 403","#,
    r#""discount_first_error":"2026-03-28T09:00:00Z","discount_percent":"10","incentive":"discount","#,
    r#""lapse_at":"2026-03-26T09:00:00Z","last_order_at":"2026-01-05T09:00:00Z","#,
    r#""offer_code":"BACK-K7M2P9QX4R","processing_errors":"2","segment":"regular","window_days":"80"},"#,
    r#""to":null,"rendered_subject":null,"sent_at":null,"provider_id":null,"version":1}"#
);

#[tokio::test]
async fn a_message_row_of_the_old_shape_reads_is_due_and_keeps_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let due = Utc.with_ymd_and_hms(2026, 3, 29, 9, 0, 0).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("aftersale.db")).unwrap();
    db.execute(
        "INSERT INTO messages (shop, customer_id, id, flow, attention_at, due_at, version, body)
         VALUES ('demo.myshopify.com', 'c1', 'win-back#1001#offer', 'win-back', ?1, ?1, 1, ?2)",
        rusqlite::params![due.timestamp_millis(), OLD_BODY],
    )
    .unwrap();

    let shop = ShopId::new("demo.myshopify.com").unwrap();
    let customer = CustomerId::new("c1").unwrap();
    let id = MessageId::of(aftersale_domain::flows::win_back::Step::Offer.into(), "1001");
    let message = store
        .load_message(&shop, &customer, &id)
        .await
        .unwrap()
        .expect("the old row");
    let offer = message.payload.win_back().expect("a win-back payload");
    assert_eq!(offer.incentive, Some(IncentiveKind::Discount));
    assert_eq!(offer.offer_code.as_deref(), Some("BACK-K7M2P9QX4R"));
    assert_eq!(offer.discount.discount_attempts, Some(1));
    assert_eq!(message.processing_errors, 2);
    assert_eq!(message.details()["discount_percent"], "10");

    let due_now = store.due_messages(Flow::WinBack, due, 10).await.unwrap();
    assert_eq!(due_now, vec![message.clone()]);

    let mut claimed = message;
    claimed.status = MessageStatus::Claimed;
    store.update_message(&claimed).await.unwrap();
    let body: String = db
        .query_row(
            "SELECT body FROM messages WHERE id = 'win-back#1001#offer'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let expected = OLD_BODY
        .replace(r#""status":"planned""#, r#""status":"claimed""#)
        .replace(r#""version":1}"#, r#""version":2}"#);
    assert_eq!(body, expected);
}
