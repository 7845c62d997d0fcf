//! Planning after the reply (`Ingest::planning_after_replies`, what `serve` runs): a delivery
//! answered while another is in flight is stored before its reply and planned after it,
//! exactly once, never for a customer erased meanwhile, and finished by the next process when
//! this one dies with it waiting.

use aftersale_domain::{OrderId, ShopId, StoreEvent};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{EventBus, EventLog, ManualClock, OrderRecords, StoreError};
use aftersale_testkit::MemoryStore;
use async_trait::async_trait;
use chrono::TimeZone;
use http::{HeaderMap, HeaderValue, StatusCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const SECRET: &str = "shpss_test_secret";
const SHOP: &str = "demo.myshopify.com";

/// The flows, as far as ingest can tell: what was published, in order. Publishing the event
/// named `hold` waits until the test lets it go, so that its delivery stays in flight.
#[derive(Default)]
struct Flows {
    published: Mutex<Vec<String>>,
    hold: Mutex<Option<String>>,
    held: Notify,
    release: Notify,
}

#[async_trait]
impl EventBus for Flows {
    async fn publish(&self, event: &StoreEvent) -> Result<(), StoreError> {
        // Shopify's event ids are stored as `shopify:<X-Shopify-Event-Id>`.
        let id = event.event_id.as_str().trim_start_matches("shopify:").to_string();
        let held = self.hold.lock().unwrap().as_deref() == Some(id.as_str());
        if held {
            self.held.notify_one();
            self.release.notified().await;
        }
        self.published.lock().unwrap().push(id);
        Ok(())
    }
}

impl Flows {
    fn published(&self) -> Vec<String> {
        self.published.lock().unwrap().clone()
    }
}

struct Setup {
    store: Arc<MemoryStore>,
    flows: Arc<Flows>,
    ingest: Arc<Ingest>,
}

fn ingest_on(store: &Arc<MemoryStore>, flows: &Arc<Flows>) -> Arc<Ingest> {
    let secrets = WebhookSecrets {
        shopify: Secret::new(SECRET),
        ..Default::default()
    };
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap());
    Arc::new(Ingest::new(store.clone(), flows.clone(), Arc::new(clock), secrets).planning_after_replies())
}

fn setup() -> Setup {
    let store = Arc::new(MemoryStore::new());
    let flows = Arc::new(Flows::default());
    let ingest = ingest_on(&store, &flows);
    Setup { store, flows, ingest }
}

/// A paid order `order` of customer `customer`, delivered as event `event_id`.
fn paid_order(event_id: &str, order: u64, customer: u64) -> (HeaderMap, Vec<u8>) {
    let path = format!(
        "{}/../../tests/fixtures/shopify/orders_paid.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut body: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    body["id"] = serde_json::json!(order);
    body["customer"]["id"] = serde_json::json!(customer);
    body["email"] = serde_json::json!(format!("customer-{customer}@example.com"));
    body["customer"]["email"] = body["email"].clone();
    let body = serde_json::to_vec(&body).unwrap();
    (headers("orders/paid", event_id, &body), body)
}

fn headers(topic: &str, event_id: &str, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-shopify-topic", HeaderValue::from_str(topic).unwrap());
    h.insert("x-shopify-shop-domain", HeaderValue::from_static(SHOP));
    h.insert("x-shopify-event-id", HeaderValue::from_str(event_id).unwrap());
    let sig = sign_base64(SECRET.as_bytes(), body);
    h.insert("x-shopify-hmac-sha256", HeaderValue::from_str(&sig).unwrap());
    h
}

fn shop() -> ShopId {
    ShopId::new(SHOP).unwrap()
}

async fn applied(store: &MemoryStore, event_id: &str) -> Option<bool> {
    let id = aftersale_domain::EventId::new(format!("shopify:{event_id}")).unwrap();
    store.event_applied(&shop(), &id).await.unwrap()
}

async fn order_stored(store: &MemoryStore, order: &str) -> bool {
    let id = OrderId::new(order).unwrap();
    store.load_order(&shop(), &id).await.unwrap().is_some()
}

/// Starts delivery `held` and returns once it is in flight, its publishing held.
async fn hold_in_flight(setup: &Setup, held: &str) -> tokio::task::JoinHandle<u16> {
    *setup.flows.hold.lock().unwrap() = Some(held.to_string());
    let (h, body) = paid_order(held, 9001, 71);
    let ingest = Arc::clone(&setup.ingest);
    let first = tokio::spawn(async move { ingest.shopify(&h, &body).await.status.as_u16() });
    tokio::time::timeout(Duration::from_secs(5), setup.flows.held.notified())
        .await
        .expect("the first delivery reaches its planning");
    first
}

/// Lets the held delivery finish and returns its status.
async fn let_go(setup: &Setup, first: tokio::task::JoinHandle<u16>) -> u16 {
    setup.flows.release.notify_one();
    first.await.unwrap()
}

/// Waits (a few seconds at most) until `event_id` has been published.
async fn published_soon(flows: &Flows, event_id: &str) {
    for _ in 0..500 {
        if flows.published().iter().any(|e| e == event_id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{event_id} was never published: {:?}", flows.published());
}

#[tokio::test]
async fn one_delivery_at_a_time_is_planned_before_its_reply() {
    let setup = setup();
    let (h, body) = paid_order("evt-alone", 1001, 51);
    let reply = setup.ingest.shopify(&h, &body).await;
    assert_eq!((reply.status, reply.stored), (StatusCode::OK, 1));
    assert_eq!(setup.flows.published(), ["evt-alone"]);
    assert_eq!(applied(&setup.store, "evt-alone").await, Some(true));
}

#[tokio::test]
async fn a_delivery_answered_while_another_is_in_flight_is_stored_first_and_planned_after() {
    let setup = setup();
    let first = hold_in_flight(&setup, "evt-first").await;

    let (h, body) = paid_order("evt-second", 1002, 52);
    let reply = setup.ingest.shopify(&h, &body).await;
    assert_eq!((reply.status, reply.stored), (StatusCode::OK, 1), "{reply:?}");
    assert!(
        order_stored(&setup.store, "1002").await,
        "the order is stored before the reply"
    );
    assert_eq!(applied(&setup.store, "evt-second").await, Some(false));

    let planner = tokio::spawn({
        let ingest = Arc::clone(&setup.ingest);
        async move { ingest.plan_after_replies().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !setup.flows.published().contains(&"evt-second".to_string()),
        "nothing is planned while a delivery is in flight"
    );
    assert_eq!(let_go(&setup, first).await, 200);
    published_soon(&setup.flows, "evt-second").await;
    assert_eq!(applied(&setup.store, "evt-second").await, Some(true));
    assert_eq!(setup.flows.published(), ["evt-first", "evt-second"]);
    planner.abort();
}

#[tokio::test]
async fn a_redelivery_of_a_waiting_event_is_a_duplicate_and_it_is_planned_once() {
    let setup = setup();
    let first = hold_in_flight(&setup, "evt-first").await;
    let (h, body) = paid_order("evt-twice", 1003, 53);
    assert_eq!(setup.ingest.shopify(&h, &body).await.stored, 1);
    let again = setup.ingest.shopify(&h, &body).await;
    assert_eq!(
        (again.status, again.stored, again.duplicates),
        (StatusCode::OK, 0, 1)
    );

    assert_eq!(let_go(&setup, first).await, 200);
    setup.ingest.plan_waiting_now().await;
    let twice: Vec<_> = setup
        .flows
        .published()
        .into_iter()
        .filter(|e| e == "evt-twice")
        .collect();
    assert_eq!(twice, ["evt-twice"]);
}

#[tokio::test]
async fn a_customer_erased_while_their_event_waits_is_never_planned() {
    let setup = setup();
    let first = hold_in_flight(&setup, "evt-first").await;
    let (h, body) = paid_order("evt-erased", 1004, 54);
    assert_eq!(setup.ingest.shopify(&h, &body).await.stored, 1);

    let redact = br#"{"shop_id": 1, "shop_domain": "demo.myshopify.com", "customer": {"id": 54, "email": "customer-54@example.com", "phone": null}, "orders_to_redact": [1004]}"#;
    let reply = setup
        .ingest
        .shopify(&headers("customers/redact", "evt-redact", redact), redact)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "a privacy request is done before its reply"
    );
    assert_eq!(applied(&setup.store, "evt-erased").await, None);

    assert_eq!(let_go(&setup, first).await, 200);
    setup.ingest.plan_waiting_now().await;
    assert!(!setup.flows.published().contains(&"evt-erased".to_string()));
    assert!(
        !order_stored(&setup.store, "1004").await,
        "planning after the erasure brought nothing back"
    );
}

#[tokio::test]
async fn what_a_killed_process_left_waiting_the_next_one_finishes() {
    let setup = setup();
    let first = hold_in_flight(&setup, "evt-first").await;
    let (h, body) = paid_order("evt-left", 1005, 55);
    assert_eq!(setup.ingest.shopify(&h, &body).await.stored, 1);
    assert_eq!(let_go(&setup, first).await, 200);
    // The process dies: its queue is gone, the store is not.
    let Setup { store, .. } = setup;

    let flows = Arc::new(Flows::default());
    let next = ingest_on(&store, &flows);
    // Started a moment after the last reply (the test's clock stands still).
    let now = next.now() + chrono::Duration::seconds(1);
    assert_eq!(next.finish_unfinished(now).await.unwrap(), 1);
    assert_eq!(flows.published(), ["evt-left"]);
    assert_eq!(applied(&store, "evt-left").await, Some(true));
    assert_eq!(next.finish_unfinished(now).await.unwrap(), 0, "finished once");
}

#[tokio::test]
async fn an_unfinished_privacy_request_is_left_to_the_platforms_redelivery() {
    let store = Arc::new(MemoryStore::new());
    let flows = Arc::new(Flows::default());
    let ingest = ingest_on(&store, &flows);
    let request = aftersale_domain::PrivacyRequest {
        customer_id: None,
        email: None,
        phone: None,
        order_ids: vec![],
        request_id: None,
    };
    let stripped = StoreEvent {
        shop: shop(),
        platform: aftersale_domain::Platform::Shopify,
        event_id: aftersale_domain::EventId::new("evt-redact-died").unwrap(),
        occurred_at: ingest.now(),
        origin: aftersale_domain::Origin::Live,
        kind: aftersale_domain::EventKind::CustomerRedact(request),
    };
    store.record_event(&stripped, ingest.now()).await.unwrap();
    let later = ingest.now() + chrono::Duration::hours(1);
    assert_eq!(ingest.finish_unfinished(later).await.unwrap(), 0);
    assert!(flows.published().is_empty());
}
