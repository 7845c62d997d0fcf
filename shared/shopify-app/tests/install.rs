//! The whole install against a local Shopify (`fake_shopify`) over real HTTP: install,
//! callback, code exchange, webhook registration, token refresh under concurrency, and every
//! tampered callback, each checked on the page the merchant sees and on what reached Shopify.

mod fake_shopify;

use aftersale_domain::Secret;
use aftersale_domain::ShopId;
use aftersale_platform_api::shopify::{AppCredentials, Endpoint, ShopifyOAuth, ShopifyWebhooks};
use aftersale_ports::{Clock, ManualClock, ShopRegistry, ShopStatus, ShopToken, ShopTokens, WebhookOutcome};
use aftersale_shopify_app::{AppSettings, ShopifyApp, router};
use aftersale_store_sqlite::{SealedTokens, SqliteStore};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use fake_shopify::{API_KEY, API_SECRET, FakeShopify};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use tower::ServiceExt;

const SHOP: &str = "demo.myshopify.com";
const PUBLIC: &str = "https://aftersale.example";

struct Harness {
    _dir: tempfile::TempDir,
    shopify: FakeShopify,
    app: Arc<ShopifyApp>,
    store: SqliteStore,
    tokens: SealedTokens,
    clock: Arc<ManualClock>,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let tokens = SealedTokens::open(store.clone(), dir.path(), &[7; 32])
        .await
        .unwrap();
    let shopify = FakeShopify::start().await;
    let clock = Arc::new(ManualClock::new("2026-12-01T10:00:00Z".parse().unwrap()));
    let credentials = AppCredentials::new(API_KEY, API_SECRET).unwrap();
    let settings = AppSettings::new(credentials.clone(), PUBLIC).unwrap();
    let endpoint = Endpoint::Base(shopify.base_url.clone());
    let app = ShopifyApp::new(
        Arc::new(store.clone()),
        Arc::new(tokens.clone()),
        Arc::new(ShopifyOAuth::new(endpoint.clone(), credentials, true)),
        Arc::new(ShopifyWebhooks::new(endpoint)),
        clock.clone(),
        settings,
    );
    Harness {
        _dir: dir,
        shopify,
        app: Arc::new(app),
        store,
        tokens,
        clock,
    }
}

/// Shopify's signature of a query, computed here independently of the code under test:
/// HMAC-SHA256 (hex) of the pairs but `hmac`, sorted, joined as `k=v&…` (test values need no
/// escaping).
fn sign(pairs: &[(&str, String)]) -> String {
    let mut sorted: Vec<_> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    sorted.sort();
    let mut mac = Hmac::<Sha256>::new_from_slice(API_SECRET.as_bytes()).unwrap();
    mac.update(sorted.join("&").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The callback Shopify would send for `shop` and `state`, signed, at `at`.
fn callback_pairs(shop: &str, state: &str, code: &str, at: DateTime<Utc>) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("code", code.to_string()),
        ("host", "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtbw".to_string()),
        ("shop", shop.to_string()),
        ("state", state.to_string()),
        ("timestamp", at.timestamp().to_string()),
    ];
    let hmac = sign(&pairs);
    pairs.push(("hmac", hmac));
    pairs
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Harness {
    async fn get(&self, path_and_query: &str) -> Page {
        let response = router(self.app.clone())
            .oneshot(Request::get(path_and_query).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Page {
            status,
            location,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    /// Starts an install and returns the `state` Shopify will carry back.
    async fn start_install(&self, shop: &str) -> String {
        let page = self.get(&format!("/shopify/install?shop={shop}")).await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
        let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned()
    }

    async fn callback(&self, pairs: &[(&str, String)]) -> Page {
        self.get(&format!("/shopify/callback?{}", query(pairs))).await
    }

    fn exchanges(&self) -> usize {
        self.shopify
            .lock()
            .token_requests
            .iter()
            .filter(|r| r.get("code").is_some())
            .count()
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

fn shop() -> ShopId {
    ShopId::new(SHOP).unwrap()
}

#[tokio::test]
async fn a_merchant_installs_and_lands_on_a_connected_page_with_every_webhook_registered() {
    let h = harness().await;
    let page = h.get(&format!("/shopify/install?shop={SHOP}")).await;
    assert_eq!(page.status, StatusCode::FOUND);
    let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    assert_eq!(
        format!(
            "{}://{}{}",
            location.scheme(),
            location.host_str().unwrap(),
            location.path()
        ),
        "https://demo.myshopify.com/admin/oauth/authorize",
        "the browser goes to the shop's own admin"
    );
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], API_KEY);
    assert_eq!(
        params["scope"],
        "read_orders,read_all_orders,read_customers,read_fulfillments,read_products,read_discounts,write_discounts"
    );
    assert_eq!(
        params["redirect_uri"],
        "https://aftersale.example/shopify/callback"
    );
    let state = &params["state"];
    assert_eq!(state.len(), 64);

    h.shopify.approve("code-1");
    let page = h.callback(&callback_pairs(SHOP, state, "code-1", h.now())).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<h1>demo.myshopify.com is connected</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Aftersale is connected to <strong>demo.myshopify.com</strong>")
    );
    assert!(
        page.body.contains("Webhooks registered: 16 of 16."),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("not granted"),
        "write_discounts covers read_discounts"
    );

    // The code was exchanged once, as documented, asking for an expiring token.
    let requests = h.shopify.lock().token_requests.clone();
    assert_eq!(
        requests,
        [serde_json::json!({
            "client_id": API_KEY, "client_secret": API_SECRET, "code": "code-1", "expiring": 1
        })]
    );
    // Every topic is at the public URL.
    let subscriptions = h.shopify.lock().subscriptions.clone();
    assert_eq!(subscriptions.len(), 16);
    assert!(
        subscriptions
            .iter()
            .all(|s| s.uri == "https://aftersale.example/webhooks/shopify")
    );
    assert!(subscriptions.iter().any(|s| s.topic == "APP_UNINSTALLED"));

    // The token is stored sealed, and the record says what was granted.
    let token = h.tokens.load_token(&shop()).await.unwrap().unwrap();
    assert_eq!(token.access_token.expose(), "shpat_issued_1");
    assert_eq!(
        token.refresh_token.as_ref().map(Secret::expose),
        Some("shprt_issued_1")
    );
    assert_eq!(token.expires_at, Some(h.now() + Duration::hours(1)));
    let state = h.store.load_shop(&shop()).await.unwrap().unwrap();
    assert_eq!(state.status, ShopStatus::Installed);
    assert!(state.scopes.contains(&"read_all_orders".to_string()));
    assert_eq!(state.token_expires_at, token.expires_at);
    let sync = state.webhooks.unwrap();
    assert!(sync.topics.iter().all(|t| t.outcome == WebhookOutcome::Created));

    // Registering again changes nothing: one list, no mutation.
    h.shopify.lock().graphql_calls.clear();
    let again = h.app.sync_webhooks(&shop()).await.unwrap();
    assert!(again.topics.iter().all(|t| t.outcome == WebhookOutcome::Ok));
    let calls = h.shopify.lock().graphql_calls.clone();
    assert!(calls.iter().all(|c| c == "list"), "{calls:?}");
    assert_eq!(h.shopify.lock().subscriptions, subscriptions);
}

#[tokio::test]
async fn registration_fixes_wrong_uris_removes_duplicates_and_reports_refused_topics() {
    let h = harness().await;
    h.tokens
        .save_token(
            &shop(),
            &ShopToken {
                access_token: Secret::new("shpat_issued_0").unwrap(),
                scopes: vec![],
                expires_at: None,
                refresh_token: None,
                refresh_token_expires_at: None,
            },
        )
        .await
        .unwrap();
    h.shopify.lock().access_token = "shpat_issued_0".into();
    h.store
        .save_shop(
            &shop(),
            &aftersale_ports::ShopState::installed(aftersale_domain::Platform::Shopify, h.now()),
        )
        .await
        .unwrap();
    let right = "https://aftersale.example/webhooks/shopify";
    h.shopify
        .subscribe("ORDERS_CREATE", "https://old.example/webhooks/shopify");
    h.shopify
        .subscribe("ORDERS_PAID", "https://old.example/webhooks/shopify");
    h.shopify.subscribe("ORDERS_PAID", right);
    h.shopify
        .subscribe("PRODUCTS_UPDATE", "https://someone-else.example/hook");
    h.shopify
        .lock()
        .refuse_topics
        .insert("FULFILLMENTS_CREATE".into());

    let sync = h.app.sync_webhooks(&shop()).await.unwrap();
    let outcome = |topic: &str| sync.topics.iter().find(|t| t.topic == topic).unwrap().clone();
    assert_eq!(outcome("ORDERS_CREATE").outcome, WebhookOutcome::Fixed);
    assert_eq!(outcome("ORDERS_PAID").outcome, WebhookOutcome::Ok);
    assert_eq!(outcome("REFUNDS_CREATE").outcome, WebhookOutcome::Created);
    let refused = outcome("FULFILLMENTS_CREATE");
    assert_eq!(refused.outcome, WebhookOutcome::Failed);
    assert_eq!(
        refused.detail.as_deref(),
        Some("Topic requires the read_fulfillments access scope")
    );

    let subscriptions = h.shopify.lock().subscriptions.clone();
    let ours: Vec<_> = subscriptions
        .iter()
        .filter(|s| s.topic != "PRODUCTS_UPDATE")
        .collect();
    assert_eq!(ours.len(), 15, "one per topic, the refused one missing: {ours:?}");
    assert!(ours.iter().all(|s| s.uri == right));
    assert!(
        subscriptions.iter().any(|s| s.topic == "PRODUCTS_UPDATE"),
        "topics Aftersale does not handle are left alone"
    );
    let recorded = h
        .store
        .load_shop(&shop())
        .await
        .unwrap()
        .unwrap()
        .webhooks
        .unwrap();
    assert_eq!(recorded, sync);
}

/// What is tampered with, the callback, the status and a sentence the page must say.
type Case = (
    &'static str,
    Vec<(&'static str, String)>,
    StatusCode,
    &'static str,
);

#[tokio::test]
async fn every_tampered_callback_gets_a_clear_4xx_page_and_no_token_exchange() {
    let h = harness().await;
    let state = h.start_install(SHOP).await;
    h.shopify.approve("code-1");
    let now = h.now();

    let mut bad_hmac = callback_pairs(SHOP, &state, "code-1", now);
    let last = bad_hmac.len() - 1;
    bad_hmac[last].1 = bad_hmac[last].1.replace(|c: char| c.is_ascii_digit(), "0");
    let mut changed_code = callback_pairs(SHOP, &state, "code-1", now);
    changed_code[0].1 = "code-2".into();
    let mut no_hmac = callback_pairs(SHOP, &state, "code-1", now);
    no_hmac.pop();
    let cases: Vec<Case> = vec![
        (
            "bad hmac",
            bad_hmac,
            StatusCode::UNAUTHORIZED,
            "signature does not match",
        ),
        (
            "changed after signing",
            changed_code,
            StatusCode::UNAUTHORIZED,
            "signature does not match",
        ),
        (
            "no hmac",
            no_hmac,
            StatusCode::BAD_REQUEST,
            "missing its hmac parameter",
        ),
        (
            "old timestamp",
            callback_pairs(SHOP, &state, "code-1", now - Duration::hours(1)),
            StatusCode::BAD_REQUEST,
            "This link is too old",
        ),
        (
            "timestamp from the future",
            callback_pairs(SHOP, &state, "code-1", now + Duration::hours(1)),
            StatusCode::BAD_REQUEST,
            "This link is too old",
        ),
        (
            "foreign state",
            callback_pairs("other-shop.myshopify.com", &state, "code-1", now),
            StatusCode::BAD_REQUEST,
            "not issued for this shop",
        ),
        (
            "made-up state",
            callback_pairs(SHOP, &"ab".repeat(32), "code-1", now),
            StatusCode::BAD_REQUEST,
            "already used, or it was not issued for this shop",
        ),
        (
            "bad shop",
            callback_pairs("evil.example", &state, "code-1", now),
            StatusCode::BAD_REQUEST,
            "is not a Shopify shop address",
        ),
        (
            "shop with a path",
            callback_pairs("demo.myshopify.com.evil.example", &state, "code-1", now),
            StatusCode::BAD_REQUEST,
            "is not a Shopify shop address",
        ),
    ];
    for (what, pairs, status, text) in cases {
        let page = h.callback(&pairs).await;
        assert_eq!(page.status, status, "{what}: {}", page.body);
        assert!(
            page.body.contains("<h1>Aftersale could not be installed</h1>"),
            "{what}"
        );
        assert!(page.body.contains(text), "{what}: {}", page.body);
        assert!(page.body.contains("Nothing was changed in your shop."), "{what}");
        assert_eq!(h.exchanges(), 0, "{what}: no token exchange");
    }
    assert_eq!(h.tokens.load_token(&shop()).await.unwrap(), None);

    // None of those consumed the state: the genuine callback still works, once.
    let genuine = callback_pairs(SHOP, &state, "code-1", now);
    assert_eq!(h.callback(&genuine).await.status, StatusCode::OK);
    assert_eq!(h.exchanges(), 1);
    let replay = h.callback(&genuine).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(
        replay.body.contains("This installation link was already used"),
        "{}",
        replay.body
    );
    assert_eq!(h.exchanges(), 1, "a replayed callback exchanges nothing");
}

#[tokio::test]
async fn an_expired_state_is_refused_even_with_a_fresh_signature() {
    let h = harness().await;
    let state = h.start_install(SHOP).await;
    h.clock.set(h.now() + Duration::minutes(11));
    h.shopify.approve("code-1");
    let page = h.callback(&callback_pairs(SHOP, &state, "code-1", h.now())).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("This installation link has expired"),
        "{}",
        page.body
    );
    assert_eq!(h.exchanges(), 0);
}

#[tokio::test]
async fn a_code_shopify_refuses_is_explained_and_nothing_is_stored() {
    let h = harness().await;
    let state = h.start_install(SHOP).await;
    // No code approved: Shopify answers 400 invalid_request.
    let page = h.callback(&callback_pairs(SHOP, &state, "code-x", h.now())).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(
        page.body.contains(
            "Shopify refused the token request: The authorization code was not found or was already used"
        ),
        "{}",
        page.body
    );
    assert_eq!(h.tokens.load_token(&shop()).await.unwrap(), None);
    assert_eq!(h.store.load_shop(&shop()).await.unwrap(), None);
}

#[tokio::test]
async fn install_links_check_the_shop_and_an_admin_launchs_signature() {
    let h = harness().await;
    for (link, status, text) in [
        (
            "/shopify/install",
            StatusCode::BAD_REQUEST,
            "missing its shop parameter",
        ),
        (
            "/shopify/install?shop=evil.example",
            StatusCode::BAD_REQUEST,
            "&quot;evil.example&quot; is not a Shopify shop address",
        ),
        (
            "/shopify/install?shop=-demo.myshopify.com",
            StatusCode::BAD_REQUEST,
            "is not a Shopify shop address",
        ),
    ] {
        let page = h.get(link).await;
        assert_eq!(page.status, status, "{link}");
        assert!(page.body.contains(text), "{link}: {}", page.body);
        assert!(page.location.is_none());
    }
    // A launch from the admin carries hmac and timestamp: verified.
    let mut launch = vec![
        ("shop", SHOP.to_string()),
        ("timestamp", h.now().timestamp().to_string()),
    ];
    let hmac = sign(&launch);
    launch.push(("hmac", hmac));
    let ok = h.get(&format!("/shopify/install?{}", query(&launch))).await;
    assert_eq!(ok.status, StatusCode::FOUND);
    launch[2].1 = "00".repeat(32);
    let forged = h.get(&format!("/shopify/install?{}", query(&launch))).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(forged.body.contains("signature does not match"));
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh_and_the_rotated_refresh_token_is_kept() {
    let h = harness().await;
    let state = h.start_install(SHOP).await;
    h.shopify.approve("code-1");
    assert_eq!(
        h.callback(&callback_pairs(SHOP, &state, "code-1", h.now()))
            .await
            .status,
        StatusCode::OK
    );

    // 57 minutes later the token has 3 minutes left: inside the refresh margin.
    h.clock.set(h.now() + Duration::minutes(57));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let app = h.app.clone();
            tokio::spawn(async move { app.access_token(&shop()).await })
        })
        .collect();
    let mut seen = Vec::new();
    for caller in callers {
        seen.push(caller.await.unwrap().unwrap().access_token);
    }
    assert!(seen.iter().all(|t| t.expose() == "shpat_issued_2"), "{seen:?}");
    assert_eq!(h.shopify.lock().refreshes, 1, "one refresh for eight callers");
    let refresh = h.shopify.lock().token_requests[1].clone();
    assert_eq!(
        refresh,
        serde_json::json!({
            "client_id": API_KEY, "client_secret": API_SECRET,
            "grant_type": "refresh_token", "refresh_token": "shprt_issued_1"
        })
    );
    let stored = h.tokens.load_token(&shop()).await.unwrap().unwrap();
    assert_eq!(
        stored.refresh_token.as_ref().map(Secret::expose),
        Some("shprt_issued_2"),
        "the rotated one"
    );
    assert_eq!(stored.expires_at, Some(h.now() + Duration::hours(1)));
    assert_eq!(
        h.store
            .load_shop(&shop())
            .await
            .unwrap()
            .unwrap()
            .token_expires_at,
        stored.expires_at
    );

    // Fresh now: no more refreshes, and the Admin API takes the new token.
    h.app.access_token(&shop()).await.unwrap();
    assert_eq!(h.shopify.lock().refreshes, 1);
    h.app.sync_webhooks(&shop()).await.unwrap();
}

#[tokio::test]
async fn a_refused_refresh_says_to_reinstall_and_a_missing_token_says_to_install() {
    let h = harness().await;
    let err = h.app.access_token(&shop()).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "demo.myshopify.com has no Admin API token: install the app on it (open /shopify/install?shop=demo.myshopify.com)"
    );
    h.tokens
        .save_token(
            &shop(),
            &ShopToken {
                access_token: Secret::new("old").unwrap(),
                scopes: vec![],
                expires_at: Some(h.now() - Duration::minutes(1)),
                refresh_token: Secret::new("shprt_revoked"),
                refresh_token_expires_at: None,
            },
        )
        .await
        .unwrap();
    let err = h.app.access_token(&shop()).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "refreshing demo.myshopify.com's access token failed: Shopify refused the token request: The refresh token is invalid or was already used"
    );
}

#[tokio::test]
async fn a_reinstall_after_an_uninstall_picks_up_where_the_shop_was() {
    let h = harness().await;
    let state = h.start_install(SHOP).await;
    h.shopify.approve("code-1");
    assert_eq!(
        h.callback(&callback_pairs(SHOP, &state, "code-1", h.now()))
            .await
            .status,
        StatusCode::OK
    );

    // What app/uninstalled leaves (see the ingest's tests): uninstalled, no token.
    let mut record = h.store.load_shop(&shop()).await.unwrap().unwrap();
    record.set_status(ShopStatus::Uninstalled, h.now());
    h.store.save_shop(&shop(), &record).await.unwrap();
    h.tokens.delete_token(&shop()).await.unwrap();

    let state = h.start_install(SHOP).await;
    h.shopify.approve("code-2");
    let page = h.callback(&callback_pairs(SHOP, &state, "code-2", h.now())).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("They were already in place; nothing had to change."),
        "{}",
        page.body
    );
    let record = h.store.load_shop(&shop()).await.unwrap().unwrap();
    assert_eq!(record.status, ShopStatus::Installed);
    assert_eq!(
        h.tokens
            .load_token(&shop())
            .await
            .unwrap()
            .unwrap()
            .access_token
            .expose(),
        "shpat_issued_2"
    );
    assert_eq!(
        h.shopify.lock().subscriptions.len(),
        16,
        "no duplicate subscriptions"
    );
}

/// Secrets for `[admin_api]`: none here, so a code can only come from the installed token.
struct NoSecrets;

#[async_trait::async_trait]
impl aftersale_platform_api::SecretSource for NoSecrets {
    async fn secret(&self, name: &str) -> Result<String, String> {
        Err(format!("{name} is not set"))
    }
}

fn discount_request(code: &str, at: DateTime<Utc>) -> aftersale_rewards::DiscountRequest {
    use aftersale_rewards::{CustomerEligibility, DiscountCode, DiscountValue, UsageLimit};
    aftersale_rewards::DiscountRequest {
        code: DiscountCode::parse(code).unwrap(),
        title: format!("Aftersale test code {code}"),
        value: DiscountValue::Percentage(rust_decimal::Decimal::TEN),
        usage: UsageLimit::SingleUse,
        customers: CustomerEligibility::Anyone,
        products: Vec::new(),
        minimum_subtotal: None,
        starts_at: at,
        ends_at: None,
    }
}

#[tokio::test]
async fn an_installed_shops_discount_codes_use_its_token_refreshed_and_none_after_uninstall() {
    use aftersale_domain::Platform;
    use aftersale_platform_api::AdminApiDiscounts;
    use aftersale_rewards::DiscountApis;
    let h = harness().await;
    let state = h.start_install(SHOP).await;
    h.shopify.approve("code-1");
    let page = h.callback(&callback_pairs(SHOP, &state, "code-1", h.now())).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let discounts = AdminApiDiscounts::new(Arc::new(NoSecrets))
        .with_installed(h.app.clone())
        .with_endpoint(Endpoint::Base(h.shopify.base_url.clone()));

    // No `[admin_api]` at all: the installed token creates the code.
    let api = discounts
        .for_shop(&shop(), Platform::Shopify, None)
        .await
        .unwrap();
    api.create_discount(&discount_request("FRIEND-K7M2P9QX4R", h.now()))
        .await
        .unwrap();
    let created = h.shopify.lock().discounts.clone();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].code, "FRIEND-K7M2P9QX4R");
    assert_eq!(created[0].access_token, "shpat_issued_1");

    // Near expiry the token is refreshed first, and the new one creates the code.
    h.clock.set(h.now() + Duration::minutes(57));
    let api = discounts
        .for_shop(&shop(), Platform::Shopify, None)
        .await
        .unwrap();
    api.create_discount(&discount_request("REWARD-K7M2P9QX4R", h.now()))
        .await
        .unwrap();
    assert_eq!(h.shopify.lock().refreshes, 1);
    assert_eq!(h.shopify.lock().discounts[1].access_token, "shpat_issued_2");

    // After uninstall the token is gone: no client, and the reason says what to do.
    h.tokens.delete_token(&shop()).await.unwrap();
    let err = match discounts.for_shop(&shop(), Platform::Shopify, None).await {
        Ok(_) => panic!("a client without a token"),
        Err(err) => err.to_string(),
    };
    assert_eq!(
        err,
        "discount creation failed: demo.myshopify.com has no Admin API access: install the Aftersale app on it, or configure [admin_api]"
    );
    assert_eq!(h.shopify.lock().discounts.len(), 2, "nothing more created");

    // A refresh Shopify refuses is permanent: retrying will not help until a reinstall.
    h.tokens
        .save_token(
            &shop(),
            &ShopToken {
                access_token: Secret::new("old").unwrap(),
                scopes: vec![],
                expires_at: Some(h.now() - Duration::minutes(1)),
                refresh_token: Secret::new("shprt_revoked"),
                refresh_token_expires_at: None,
            },
        )
        .await
        .unwrap();
    let err = match discounts.for_shop(&shop(), Platform::Shopify, None).await {
        Ok(_) => panic!("a client on a dead token"),
        Err(err) => err,
    };
    assert!(
        matches!(&err, aftersale_rewards::DiscountError::Permanent(m) if m.contains("The refresh token is invalid")),
        "{err:?}"
    );
    assert_eq!(h.shopify.lock().discounts.len(), 2);
}
