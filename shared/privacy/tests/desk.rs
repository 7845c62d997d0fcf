//! The privacy desk on the in-memory store: what a data request keeps and says, and what a
//! redaction hands to the copies kept outside the store.

use aftersale_domain::{
    Customer, CustomerId, EventId, EventKind, Platform, PrivacyRequest, ShopId, StoreEvent,
};
use aftersale_ports::{CustomerProfiles, ManualClock, PersonalFiles, PrivacyDesk, StoreError, Traces};
use aftersale_privacy::{Desk, list_requests};
use aftersale_testkit::{MemoryStore, RecordingAlerts};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct SeenFiles(Mutex<Vec<Traces>>);

#[async_trait]
impl PersonalFiles for SeenFiles {
    async fn erase(&self, traces: &Traces) -> Result<u64, StoreError> {
        self.0.lock().unwrap().push(traces.clone());
        Ok(1)
    }
}

fn request(email: &str) -> PrivacyRequest {
    PrivacyRequest {
        customer_id: Some(CustomerId::new("42").unwrap()),
        email: Some(email.into()),
        phone: None,
        order_ids: vec![],
        request_id: Some("9999".into()),
    }
}

#[tokio::test]
async fn a_data_request_keeps_one_export_and_tells_the_merchant_without_naming_anyone() {
    let store = Arc::new(MemoryStore::new());
    let shop = ShopId::new("demo.myshopify.com").unwrap();
    let mut ada = Customer::bare(CustomerId::new("42").unwrap());
    ada.email = Some("ada@example.com".into());
    store.save_customer(&shop, &ada).await.unwrap();
    let alerts = Arc::new(RecordingAlerts::new());
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let desk = Desk::new(store.clone(), alerts.clone(), Arc::new(ManualClock::new(at)));
    let event = StoreEvent {
        origin: Default::default(),
        shop: shop.clone(),
        platform: Platform::Shopify,
        event_id: EventId::new("shopify:dr-1").unwrap(),
        occurred_at: at,
        kind: EventKind::CustomerDataRequest(request("ada@example.com")),
    };
    desk.data_request(&event, &request("ada@example.com"))
        .await
        .unwrap();
    desk.data_request(&event, &request("ada@example.com"))
        .await
        .unwrap();

    let requests = list_requests(store.as_ref(), &shop).await.unwrap();
    assert_eq!(
        requests.len(),
        1,
        "one export, not one for the email's guest key too"
    );
    assert_eq!(requests[0].request_id, "9999");
    assert_eq!(requests[0].received_at, at);
    assert_eq!(
        requests[0].export.profile.as_ref().unwrap().email.as_deref(),
        Some("ada@example.com")
    );
    let sent = alerts.sent();
    assert_eq!(sent.len(), 1, "told once");
    assert_eq!(sent[0].0, "Customer data request for demo.myshopify.com");
    assert!(
        sent[0].1.contains("request 9999")
            && sent[0]
                .1
                .contains("aftersale data-requests --shop demo.myshopify.com")
    );
    assert!(
        !sent[0].1.contains("ada@example.com") && !sent[0].1.contains("42 "),
        "{}",
        sent[0].1
    );
}

#[tokio::test]
async fn a_redaction_erases_the_copies_outside_the_store_by_what_the_store_knew() {
    let store = Arc::new(MemoryStore::new());
    let shop = ShopId::new("demo.myshopify.com").unwrap();
    let mut ada = Customer::bare(CustomerId::new("42").unwrap());
    ada.email = Some("ada.new@example.com".into());
    ada.phone = Some("+393331234567".into());
    store.save_customer(&shop, &ada).await.unwrap();
    let files = Arc::new(SeenFiles::default());
    let desk = Desk::new(
        store.clone(),
        Arc::new(RecordingAlerts::new()),
        Arc::new(ManualClock::new(Utc::now())),
    )
    .with_files(files.clone());
    desk.redact_customer(&shop, &request("ada.old@example.com"))
        .await
        .unwrap();

    let seen = files.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let emails: Vec<&str> = seen[0].emails.iter().map(String::as_str).collect();
    assert_eq!(
        emails,
        ["ada.new@example.com", "ada.old@example.com"],
        "the request's and the profile's"
    );
    assert!(seen[0].phones.contains("+393331234567"));
    assert!(seen[0].customers.contains("42"));
    assert_eq!(
        store
            .load_customer(&shop, &CustomerId::new("42").unwrap())
            .await
            .unwrap(),
        None
    );
}
