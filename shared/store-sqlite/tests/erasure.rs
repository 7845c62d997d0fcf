//! A redacted customer leaves no trace in the database file's raw bytes: deleted rows are
//! zeroed (`secure_delete`) and the write-ahead log, which still holds the pages as they were,
//! is checkpointed and truncated.

use aftersale_domain::{
    Customer, CustomerId, EventId, EventKind, Order, OrderId, OrderRecord, Platform, PrivacyRequest, ShopId,
    StoreEvent,
};
use aftersale_ports::erasure::erase_request;
use aftersale_ports::{CustomerProfiles, Documents, EventLog, OrderRecords};
use aftersale_store_sqlite::SqliteStore;
use chrono::{TimeZone, Utc};
use serde_json::json;

const EMAIL: &str = "rawbytes.ada@example.com";
const PHONE: &str = "+393339876543";
const CUSTOMER: &str = "8812345670";

fn order(shop: &ShopId) -> (StoreEvent, OrderRecord) {
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let mut customer = Customer::bare(CustomerId::new(CUSTOMER).unwrap());
    customer.email = Some(EMAIL.into());
    customer.phone = Some(PHONE.into());
    let order: Order = serde_json::from_value(json!({
        "id": "9930001", "name": "#1001", "customer": customer, "created_at": at, "updated_at": at,
        "status": "processing", "fulfillment": "unfulfilled", "line_items": [],
        "subtotal": {"amount": "10", "currency": "EUR"}, "total": {"amount": "10", "currency": "EUR"},
        "total_discounts": {"amount": "0", "currency": "EUR"}, "discount_codes": [], "refunds": [],
        "shipping_country": "IT", "shipping_address": null, "client_ip": null
    }))
    .expect("an order");
    let mut record = OrderRecord::new(order.id.clone());
    record.snapshot = Some(order.clone());
    let event = StoreEvent {
        origin: Default::default(),
        shop: shop.clone(),
        platform: Platform::Shopify,
        event_id: EventId::new("raw-1").unwrap(),
        occurred_at: at,
        kind: EventKind::OrderPlaced(order),
    };
    (event, record)
}

fn raw_files(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_redacted_customer_is_gone_from_the_database_files_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let shop = ShopId::new("rawbytes.myshopify.com").unwrap();
    let (event, record) = order(&shop);
    store.record_event(&event, event.occurred_at).await.unwrap();
    store.save_order(&shop, &record, 0).await.unwrap();
    store
        .save_customer(&shop, &record.snapshot.clone().unwrap().customer)
        .await
        .unwrap();
    let id = CustomerId::new(CUSTOMER).unwrap();
    store
        .save_document(
            &shop,
            &format!("customer#{id}#orders"),
            &json!({"orders": ["9930001"]}),
            0,
        )
        .await
        .unwrap();
    store
        .save_document(&shop, "code#ADA-RAW", &json!({"customer": CUSTOMER}), 0)
        .await
        .unwrap();
    let before = raw_files(dir.path());
    for value in [EMAIL, PHONE, CUSTOMER] {
        assert!(holds(&before, value), "{value} is written before the redaction");
    }

    let request = PrivacyRequest {
        customer_id: Some(id),
        email: Some(EMAIL.into()),
        phone: Some(PHONE.into()),
        order_ids: vec![OrderId::new("9930001").unwrap()],
        request_id: None,
    };
    assert!(erase_request(&store, &shop, &request).await.unwrap() >= 5);

    let after = raw_files(dir.path());
    for value in [EMAIL, PHONE, CUSTOMER] {
        assert!(
            !holds(&after, value),
            "{value} is still in the database files' bytes"
        );
    }
}
