//! The real path, assembled once per test: signed platform fixtures go through [`Ingest`], whose
//! bus is the engine's [`InProcessBus`]; ticks send through recording fakes on a manual clock.
//!
//! The fixture orders are dated 2021/2022 (Shopify) and 2017 (WooCommerce), so every test sets
//! the clock near those dates; the thank-you would otherwise be "too late".

#![allow(dead_code)] // each test binary uses a different part of the harness

use aftersale_domain::{Flow, Message, MessageStatus, ShopConfig, ShopId};
use aftersale_engine::feedback::{LinkResponse, Method};
use aftersale_engine::{Engine, InProcessBus, Senders, Settings, TickReport};
use aftersale_ingest::{Ingest, Reply, Secret, WebhookSecrets};
use aftersale_links::{LinkAction, LinkClaims, LinkSigner};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{FlowStore, ManualClock, OutgoingEmail, Store};
use aftersale_rewards::MemoryDiscounts;
use aftersale_rewards::{DiscountApis, FixedDiscounts};
use aftersale_store_sqlite::SqliteStore;
use aftersale_templates::{Page, Templates};
use aftersale_testkit::{MemoryStore, RecordingAlerts, RecordingMailer, RecordingSms};
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const SHOPIFY_SECRET: &str = "shpss_engine_flow_tests";
pub const WOO_SECRET: &str = "wc_engine_flow_tests";
pub const LINK_KEY: [u8; 32] = *b"aftersale-engine-flow-tests-key!";
pub const LINK_BASE: &str = "https://links.aftersale.test";

/// The Shopify shop every Shopify delivery names.
pub const SHOP: &str = "demo.myshopify.com";
/// What `X-WC-Webhook-Source: https://shop.example/` becomes.
pub const WOO_SHOP: &str = "shop.example";

/// The fixtures' Shopify order, customer and product.
pub const ORDER: &str = "820982911946154508";
pub const CUSTOMER: &str = "115310627314723954";
pub const EMAIL: &str = "john@example.com";
pub const PRODUCT: &str = "632910392";
/// The WooCommerce fixture's order and billing email.
pub const WOO_ORDER: &str = "727";
pub const WOO_EMAIL: &str = "john.doe@example.com";

/// `created_at: 2021-12-31T19:00:00-05:00` of the Shopify order fixtures.
pub fn order_at() -> DateTime<Utc> {
    at("2022-01-01T00:00:00Z")
}

/// `happened_at: 2022-01-04T14:32:00-05:00` of `fulfillment_events_create.json` (delivered).
pub fn delivered_at() -> DateTime<Utc> {
    at("2022-01-04T19:32:00Z")
}

/// `date_created_gmt: 2017-03-22T19:28:02` of the WooCommerce order fixtures.
pub fn woo_order_at() -> DateTime<Utc> {
    at("2017-03-22T19:28:02Z")
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .with_timezone(&Utc)
}

pub fn shop() -> ShopId {
    ShopId::new(SHOP).unwrap()
}

pub fn woo_shop() -> ShopId {
    ShopId::new(WOO_SHOP).unwrap()
}

pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A fixture as JSON, to edit before signing. serde_json keeps 18-digit ids exact (u64).
pub fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

pub fn bytes(json: &Value) -> Vec<u8> {
    serde_json::to_vec(json).unwrap()
}

pub struct Harness {
    pub store: Arc<dyn FlowStore>,
    /// Discount codes "created in the shop" (the Admin API clients are tested against local
    /// servers in aftersale-rewards and in the referral tests).
    pub discounts: Arc<MemoryDiscounts>,
    pub mailer: Arc<RecordingMailer>,
    pub sms: Arc<RecordingSms>,
    pub alerts: Arc<RecordingAlerts>,
    pub clock: Arc<ManualClock>,
    pub engine: Arc<Engine>,
    pub ingest: Ingest,
    pub signer: LinkSigner,
    next_event: AtomicU64,
}

impl Harness {
    /// On the in-memory store, clock at the Shopify order's creation.
    pub fn new() -> Harness {
        Harness::with_store(Arc::new(MemoryStore::new()))
    }

    /// On the SQLite store (in memory), clock at the Shopify order's creation.
    pub fn sqlite() -> Harness {
        Harness::with_store(Arc::new(SqliteStore::in_memory().unwrap()))
    }

    /// The first flows only (thank-you, check-in, review), so their tests count only theirs.
    pub fn with_store<S: FlowStore + 'static>(store: Arc<S>) -> Harness {
        Harness::running(
            store,
            &[Flow::ThankYou, Flow::DeliveryCheckIn, Flow::ReviewRequest],
        )
    }

    /// Running `flows`, on the SQLite store in memory (the embedded store of local mode).
    pub fn lifecycle(flows: &[Flow]) -> Harness {
        Harness::running(Arc::new(SqliteStore::in_memory().unwrap()), flows)
    }

    pub fn running<S: FlowStore + 'static>(store: Arc<S>, flows: &[Flow]) -> Harness {
        Harness::assemble(store, flows, None)
    }

    /// Running `flows` on SQLite with discount codes created through `discounts` (the real
    /// Admin API clients against a local server) instead of in memory.
    pub fn with_discounts(flows: &[Flow], discounts: Arc<dyn DiscountApis>) -> Harness {
        Harness::assemble(
            Arc::new(SqliteStore::in_memory().unwrap()),
            flows,
            Some(discounts),
        )
    }

    fn assemble<S: FlowStore + 'static>(
        store: Arc<S>,
        flows: &[Flow],
        discount_apis: Option<Arc<dyn DiscountApis>>,
    ) -> Harness {
        let mailer = Arc::new(RecordingMailer::new());
        let sms = Arc::new(RecordingSms::new());
        let alerts = Arc::new(RecordingAlerts::new());
        let discounts = Arc::new(MemoryDiscounts::new());
        let clock = Arc::new(ManualClock::new(order_at()));
        let signer = LinkSigner::new(&LINK_KEY).unwrap();
        let settings = Settings {
            link_base_url: LINK_BASE.into(),
            flows: flows.to_vec(),
            ..Settings::default()
        };
        let engine = Arc::new(Engine::new(
            store.clone(),
            Senders {
                mailer: mailer.clone(),
                sms: sms.clone(),
                alerts: alerts.clone(),
                discounts: discount_apis.unwrap_or_else(|| Arc::new(FixedDiscounts(discounts.clone()))),
                catalogue: Arc::new(aftersale_ports::NoCatalogue),
            },
            Templates::builtin(),
            signer.clone(),
            clock.clone(),
            settings,
        ));
        let secrets = WebhookSecrets {
            shopify: Secret::new(SHOPIFY_SECRET),
            woocommerce_default: Secret::new(WOO_SECRET),
            ..Default::default()
        };
        let ingest_store: Arc<dyn Store> = store.clone();
        let ingest = Ingest::new(
            ingest_store,
            Arc::new(InProcessBus::new(engine.clone())),
            clock.clone(),
            secrets,
        );
        Harness {
            store,
            discounts,
            mailer,
            sms,
            alerts,
            clock,
            engine,
            ingest,
            signer,
            next_event: AtomicU64::new(1),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        use aftersale_ports::Clock;
        self.clock.now()
    }

    pub fn set_clock(&self, now: DateTime<Utc>) {
        self.clock.set(now);
    }

    pub async fn save_config(&self, shop: &ShopId, toml: &str) {
        let config = ShopConfig::from_toml(toml, shop).unwrap_or_else(|e| panic!("{toml}: {e}"));
        self.store.save_config(shop, &config).await.unwrap();
    }

    /// A signed Shopify delivery to [`SHOP`] with a fresh `X-Shopify-Event-Id`.
    pub async fn shopify(&self, topic: &str, body: &[u8]) -> Reply {
        let id = format!("evt-{}", self.next_event.fetch_add(1, Ordering::Relaxed));
        self.shopify_event(topic, &id, body).await
    }

    /// A signed Shopify delivery with the given event id (a platform retry reuses it).
    pub async fn shopify_event(&self, topic: &str, event_id: &str, body: &[u8]) -> Reply {
        let mut h = HeaderMap::new();
        h.insert("x-shopify-topic", HeaderValue::from_str(topic).unwrap());
        h.insert("x-shopify-shop-domain", HeaderValue::from_static(SHOP));
        h.insert("x-shopify-event-id", HeaderValue::from_str(event_id).unwrap());
        h.insert(
            "x-shopify-webhook-id",
            HeaderValue::from_str(&format!("wh-{event_id}")).unwrap(),
        );
        let sig = sign_base64(SHOPIFY_SECRET.as_bytes(), body);
        h.insert("x-shopify-hmac-sha256", HeaderValue::from_str(&sig).unwrap());
        let reply = self.ingest.shopify(&h, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{topic}: {}", reply.json());
        reply
    }

    /// A signed WooCommerce delivery from `https://shop.example/`.
    pub async fn woo(&self, topic: &str, body: &[u8]) -> Reply {
        let mut h = HeaderMap::new();
        h.insert("x-wc-webhook-topic", HeaderValue::from_str(topic).unwrap());
        h.insert(
            "x-wc-webhook-source",
            HeaderValue::from_static("https://shop.example/"),
        );
        h.insert("x-wc-webhook-delivery-id", HeaderValue::from_static("42"));
        let sig = sign_base64(WOO_SECRET.as_bytes(), body);
        h.insert("x-wc-webhook-signature", HeaderValue::from_str(&sig).unwrap());
        let reply = self.ingest.woocommerce(&h, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{topic}: {}", reply.json());
        reply
    }

    /// `orders/create` from the fixture, as documented (financial status pending).
    pub async fn place_order(&self) {
        let reply = self
            .shopify("orders/create", &fixture("shopify/orders_create.json"))
            .await;
        assert_eq!((reply.outcome, reply.stored), ("accepted", 1));
    }

    /// `fulfillment_events/create`: the parcel was delivered at [`delivered_at`].
    pub async fn deliver(&self) {
        self.shopify(
            "fulfillment_events/create",
            &fixture("shopify/fulfillment_events_create.json"),
        )
        .await;
    }

    /// Moves the clock to `now` (links are answered on the same clock) and runs due work.
    pub async fn tick(&self, now: DateTime<Utc>) -> TickReport {
        self.set_clock(now);
        self.engine.tick(now).await.unwrap()
    }

    /// A tap on a link, on the current clock.
    pub async fn follow(&self, url: &str, method: Method) -> LinkResponse {
        self.engine.follow_link(token(url), method, None).await.unwrap()
    }

    /// A tap on a link from a browser that sends `Accept-Language`.
    pub async fn follow_in(&self, url: &str, method: Method, accept_language: &str) -> LinkResponse {
        self.engine
            .follow_link(token(url), method, Some(accept_language))
            .await
            .unwrap()
    }

    pub async fn messages(&self) -> Vec<Message> {
        self.store.list_messages(None).await.unwrap()
    }

    /// The one message of `flow`/`step` (about any order); panics if there are several.
    pub async fn message(&self, flow: Flow, step: &str) -> Message {
        let found: Vec<Message> = self
            .messages()
            .await
            .into_iter()
            .filter(|m| m.flow() == flow && m.step.as_str() == step)
            .collect();
        assert_eq!(found.len(), 1, "{flow}/{step}: {found:#?}");
        found.into_iter().next().unwrap()
    }

    /// `(flow/step, status, reason)` of every message, for readable assertions.
    pub async fn outcomes(&self) -> Vec<(String, MessageStatus, String)> {
        let mut all: Vec<_> = self
            .messages()
            .await
            .into_iter()
            .map(|m| (format!("{}/{}", m.flow(), m.step), m.status, m.reason.to_string()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Emails whose `X-Aftersale-Message` names `flow#…#step`.
    pub fn emails(&self, flow: Flow, step: &str) -> Vec<OutgoingEmail> {
        self.mailer
            .sent()
            .into_iter()
            .filter(|e| {
                header(e, "X-Aftersale-Message").is_some_and(|id| {
                    id.starts_with(&format!("{flow}#")) && id.ends_with(&format!("#{step}"))
                })
            })
            .collect()
    }

    pub fn email(&self, flow: Flow, step: &str) -> OutgoingEmail {
        let mut found = self.emails(flow, step);
        assert_eq!(found.len(), 1, "emails for {flow}/{step}: {found:#?}");
        found.remove(0)
    }

    /// Verifies a link on the current clock and returns what it claims.
    pub fn claims(&self, url: &str) -> LinkClaims {
        self.signer
            .verify(token(url), self.now().timestamp())
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    pub fn actions(&self, urls: &[String]) -> Vec<LinkAction> {
        urls.iter().map(|u| self.claims(u).action).collect()
    }
}

pub fn header<'a>(email: &'a OutgoingEmail, name: &str) -> Option<&'a str> {
    email
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The token of a `{LINK_BASE}/l/{token}` URL (angle brackets of a header value allowed).
pub fn token(url: &str) -> &str {
    let url = url.trim_start_matches('<').trim_end_matches('>');
    url.rsplit_once("/l/")
        .unwrap_or_else(|| panic!("not a link: {url}"))
        .1
}

/// Every signed link in a text part, in order.
pub fn links(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .filter(|w| w.starts_with(LINK_BASE))
        .map(String::from)
        .collect()
}

/// The link on the line of a text part that starts with `label`.
pub fn link_after(text: &str, label: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line starting {label:?} in:\n{text}"));
    let found = links(line);
    assert_eq!(found.len(), 1, "{line}");
    found[0].clone()
}

/// The URL in a `List-Unsubscribe: <url>` header.
pub fn list_unsubscribe(email: &OutgoingEmail) -> String {
    let value = header(email, "List-Unsubscribe").expect("List-Unsubscribe header");
    assert!(value.starts_with('<') && value.ends_with('>'), "{value}");
    value[1..value.len() - 1].to_string()
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

pub fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// What a tick that touched nothing reports.
pub fn idle() -> TickReport {
    TickReport::default()
}

pub fn sent(n: usize) -> TickReport {
    TickReport {
        sent: n,
        ..TickReport::default()
    }
}

/// Asserts a message's status and exact reason.
#[track_caller]
pub fn assert_outcome(message: &Message, status: MessageStatus, reason: &str) {
    assert_eq!(
        (message.status, message.reason.to_string().as_str()),
        (status, reason),
        "{}: {message:#?}",
        message.id()
    );
}

/// A page answer's status, which page it is, and the text a visitor reads on it.
#[track_caller]
pub fn page(response: &LinkResponse) -> (StatusCode, Page, String) {
    match response {
        LinkResponse::Page { status, page, html } => (*status, *page, visible(html)),
        other => panic!("expected a page, got {other:?}"),
    }
}

/// A page's HTML.
#[track_caller]
pub fn html(response: &LinkResponse) -> &str {
    match response {
        LinkResponse::Page { html, .. } => html,
        other => panic!("expected a page, got {other:?}"),
    }
}

/// Whether a page has the button that POSTs back to its own link.
pub fn has_confirm_button(response: &LinkResponse) -> bool {
    let html = html(response);
    html.contains("<form method=\"post\">") && html.contains("<button")
}

/// The text of a page's body as a browser shows it: tags dropped, entities decoded,
/// whitespace collapsed.
pub fn visible(html: &str) -> String {
    let body = html.split_once("<body>").map_or(html, |(_, body)| body);
    let mut text = String::new();
    let mut tag: Option<String> = None;
    for c in body.chars() {
        match (&mut tag, c) {
            (None, '<') => tag = Some(String::new()),
            (Some(name), '>') => {
                let name = name.trim_start_matches('/');
                let name = name.split_whitespace().next().unwrap_or_default();
                // Block elements break the text; inline ones (a link, a span) do not.
                if !matches!(name, "a" | "span" | "strong" | "em" | "b" | "i") {
                    text.push(' ');
                }
                tag = None;
            }
            (Some(name), c) => name.push(c),
            (None, c) => text.push(c),
        }
    }
    let text = text
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
