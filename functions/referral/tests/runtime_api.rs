//! End to end: the real `referral` binary, run as Lambda runs it (against a local Runtime API),
//! invoked the two ways `template.yaml` invokes it: by an SNS delivery of a domain event (plan)
//! and by its schedule's `{"tick": ...}` (send), with DynamoDB, SES, SNS and SSM on moto server
//! and the shop's Shopify GraphQL Admin API played by a local server.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`).

// The setup, payloads, moto server and Runtime API the flow functions' tests share.
#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_domain::{CustomerId, MessageStatus, Platform, ShopConfig, ShopId};
use aftersale_ports::{Messages, ShopConfigs, ShopRegistry, ShopState};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use flow::{CUSTOMER, INVOCATION, LINK_KEY_HEX, LINK_KEY_PARAM, SENDER, SHOP, Stack, ses_messages, tick};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const ADMIN_TOKEN_PARAM: &str = "/aftersale/demo.myshopify.com/admin-token";

/// What the Admin API received: the access token header and the GraphQL request.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// The shop's GraphQL Admin API, as much as creating a basic discount code needs; returns
/// its base URL and what it was sent.
async fn shopify_admin() -> (String, Seen) {
    async fn graphql(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let query = body["query"].as_str().unwrap_or_default().to_string();
        seen.lock().unwrap().push((token, body));
        // A shop without Aftersale's first-order segment yet: it is looked up, then created.
        if query.starts_with("query segments") {
            return Json(json!({"data": {"segments": {"nodes": []}}}));
        }
        if query.contains("segmentCreate(") {
            return Json(
                json!({"data": {"segmentCreate": {"segment": {"id": "gid://shopify/Segment/42",
                "name": "Aftersale new customers", "query": "number_of_orders = 0"}, "userErrors": []}}}),
            );
        }
        Json(json!({"data": {"discountCodeBasicCreate": {
            "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1"}, "userErrors": []}}}))
    }
    let seen = Seen::default();
    let app = Router::new()
        .route("/admin/api/2025-10/graphql.json", post(graphql))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port for the Admin API");
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the Admin API serves") });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_plans_a_share_on_a_paid_order_and_sends_it_once_with_a_real_code() {
    let started = std::time::Instant::now();
    let shop = ShopId::from_domain(SHOP).unwrap();
    let customer = CustomerId::new(CUSTOMER).unwrap();

    // The secrets only in SSM, as template.yaml deploys them: the link key the stack's, the
    // Admin API token under the shop's own prefix.
    let admin_token = flow::moto::unique("shpat");
    let stack = Stack::new(&[
        (LINK_KEY_PARAM, LINK_KEY_HEX),
        (ADMIN_TOKEN_PARAM, admin_token.as_str()),
    ])
    .await;

    // The shop's config, with referrals on and its Admin API on a local server.
    let (admin_api, seen) = shopify_admin().await;
    let toml = format!(
        r#"
[admin_api]
base_url = "{admin_api}"
access_token_secret = "{ADMIN_TOKEN_PARAM}"

[flows.referral]
enabled = true
eligible_after = "paid"
"#
    );
    stack.save_config(&toml).await;

    let invocation = stack.store_order(flow::ORDER_PAID_BY_A_SUBSCRIBER).await;

    let (mut runtime, mut function) = stack
        .start(env!("CARGO_BIN_EXE_referral"), flow::LINK_KEY_FROM_SSM)
        .await;
    let store = stack.store();
    let share_id = format!("referral#{CUSTOMER}#share");

    // 1. The domain event, as the SNS subscription delivers it: the share message is planned
    //    with the customer's code, and no discount exists yet.
    let response = flow::plan(&mut runtime, &mut function, invocation).await;
    assert_eq!(response, json!({"planned": 1}));
    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let share = messages
        .iter()
        .find(|m| m.id().as_str() == share_id)
        .unwrap_or_else(|| panic!("no {share_id} in {messages:#?}"));
    assert_eq!(share.status, MessageStatus::Planned, "{share:#?}");
    let code = share.details()["code"].clone();
    assert!(code.starts_with("FRIEND-"), "{code}");
    assert!(seen.lock().unwrap().is_empty(), "no code is created at planning");

    // 2. The schedule's tick: the code becomes a real discount (with the token from SSM), then
    //    the share email goes out through SES.
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    {
        let seen = seen.lock().unwrap();
        // Friend codes are first-order only by default: segment lookup, creation, discount.
        assert_eq!(seen.len(), 3, "{seen:#?}");
        assert!(
            seen.iter()
                .all(|(token, _)| token.as_deref() == Some(admin_token.as_str())),
            "every call carries the shop's token from SSM"
        );
        let (_, request) = &seen[2];
        assert!(
            request["query"]
                .as_str()
                .unwrap_or_default()
                .contains("discountCodeBasicCreate"),
            "{request}"
        );
        let input = &request["variables"]["basicCodeDiscount"];
        assert_eq!(input["code"], code.as_str(), "{request}");
        assert_eq!(input["appliesOncePerCustomer"], true, "{request}");
        assert_eq!(
            input["customerSelection"]["customerSegments"]["add"],
            json!(["gid://shopify/Segment/42"]),
            "{request}"
        );
    }

    let share = store
        .list_messages(Some(&shop))
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id().as_str() == share_id)
        .unwrap_or_else(|| panic!("{share_id} is gone"));
    assert_eq!(share.status, MessageStatus::Sent, "{share:#?}");
    let provider_id = share.provider_id.clone().expect("SES's message id is kept");

    // ...and moto's SES has it, from the shop's sender to the customer, with the code.
    let data = stack.moto.data().await;
    let sent = ses_messages(&data, &share_id);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let sent = sent[0];
    assert_eq!(sent["id"], provider_id.as_str(), "{sent}");
    assert!(
        sent["source"].as_str().unwrap_or_default().contains(SENDER),
        "{sent}"
    );
    let raw = sent["raw_data"].as_str().unwrap_or_default();
    assert!(
        raw.contains("To: John <john@example.com>"),
        "to the order's customer: {raw}"
    );
    assert!(raw.contains(&code), "the email shares the code {code}: {raw}");

    // 3. The next tick: nothing more is created or sent.
    let report = runtime.invoke_ok(&mut function, tick(2), INVOCATION).await;
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "the code is created once, nothing more is asked"
    );
    assert_eq!(
        ses_messages(&stack.moto.data().await, &share_id).len(),
        1,
        "the share is sent once"
    );
    assert!(function.exited().is_none(), "{}", function.log());

    eprintln!("referral runtime API test took {:?}", started.elapsed());
}

/// Where template.yaml keeps the app's client secret, and where the install keeps the shop's
/// token (`/aftersale/{stack}/{shop}/shopify-token`, the stack's own prefix).
const APP_SECRET_PARAM: &str = "/aftersale/shopify/api-secret";
const APP_SECRET: &str = "shpss_app_secret_runtime_test";
const SHOP_PARAMETER_PREFIX: &str = "/aftersale/runtime-test-stack";
const TOKEN_PARAM: &str = "/aftersale/runtime-test-stack/demo.myshopify.com/shopify-token";

/// The refresh requests Shopify's token endpoint received.
type Grants = Arc<Mutex<Vec<Value>>>;

/// Shopify for an app-installed shop: the token endpoint (a refresh rotates the pair to
/// `shpat_fresh` / `shprt_2`) and the GraphQL Admin API at any version.
async fn shopify_with_oauth() -> (String, Seen, Grants) {
    async fn token(State((_, grants)): State<(Seen, Grants)>, Json(body): Json<Value>) -> Json<Value> {
        grants.lock().unwrap().push(body);
        Json(json!({"access_token": "shpat_fresh", "scope": "write_discounts",
            "expires_in": 3600, "refresh_token": "shprt_2", "refresh_token_expires_in": 7_776_000}))
    }
    async fn graphql(
        State((seen, _)): State<(Seen, Grants)>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let query = body["query"].as_str().unwrap_or_default().to_string();
        seen.lock().unwrap().push((token, body));
        if query.starts_with("query segments") {
            return Json(
                json!({"data": {"segments": {"nodes": [{"id": "gid://shopify/Segment/42",
                "name": "Aftersale new customers", "query": "number_of_orders = 0"}]}}}),
            );
        }
        Json(json!({"data": {"discountCodeBasicCreate": {
            "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1"}, "userErrors": []}}}))
    }
    let state = (Seen::default(), Grants::default());
    let app = Router::new()
        .route("/admin/oauth/access_token", post(token))
        .route("/admin/api/{version}/graphql.json", post(graphql))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port for Shopify");
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("Shopify serves") });
    (base, state.0, state.1)
}

/// template.yaml gives the referral function the app's credentials and the token parameter:
/// a shop installed through the app, with no `[admin_api]`, gets its code made with the
/// installed token. That token expires in two minutes, so the function refreshes it first and
/// writes the rotated pair back to SSM (the only copy of the new refresh token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_shops_code_is_made_with_its_refreshed_token_written_back_to_ssm() {
    let shop = ShopId::from_domain(SHOP).unwrap();
    let stale = json!({
        "access_token": "shpat_stale",
        "scopes": ["write_discounts"],
        "expires_at": (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339(),
        "refresh_token": "shprt_1",
    })
    .to_string();
    let stack = Stack::new(&[
        (LINK_KEY_PARAM, LINK_KEY_HEX),
        (APP_SECRET_PARAM, APP_SECRET),
        (TOKEN_PARAM, stale.as_str()),
    ])
    .await;
    let (shopify, seen, grants) = shopify_with_oauth().await;
    // The shop as the install leaves it: installed through the app (so referrals need no
    // [admin_api]), its token in SSM.
    let store = stack.store();
    let config = ShopConfig::from_toml_for(
        "[flows.referral]\nenabled = true\neligible_after = \"paid\"\n",
        &shop,
        true,
    )
    .unwrap();
    store.save_config(&shop, &config).await.unwrap();
    let mut installed =
        ShopState::installed(Platform::Shopify, chrono::Utc::now() - chrono::Duration::days(1));
    installed.reinstalled(chrono::Utc::now() - chrono::Duration::days(1));
    store.save_shop(&shop, &installed).await.unwrap();
    let invocation = stack.store_order(flow::ORDER_PAID_BY_A_SUBSCRIBER).await;

    let (mut runtime, mut function) = stack
        .start(
            env!("CARGO_BIN_EXE_referral"),
            &[
                ("AFTERSALE_LINK_KEY_PARAM", LINK_KEY_PARAM),
                ("SHOPIFY_API_KEY", "app-client-id"),
                ("SHOPIFY_API_SECRET_PARAM", APP_SECRET_PARAM),
                ("AFTERSALE_PUBLIC_URL", "https://app.example"),
                ("AFTERSALE_SHOPIFY_BASE_URL", shopify.as_str()),
                ("AFTERSALE_SHOP_PARAMETER_PREFIX", SHOP_PARAMETER_PREFIX),
            ],
        )
        .await;
    assert_eq!(
        flow::plan(&mut runtime, &mut function, invocation).await,
        json!({"planned": 1})
    );
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}; log:\n{}", function.log());

    // One refresh, with the app's credentials from SSM and the stored refresh token.
    {
        let grants = grants.lock().unwrap();
        assert_eq!(grants.len(), 1, "{grants:#?}");
        assert_eq!(grants[0]["client_id"], "app-client-id");
        assert_eq!(grants[0]["client_secret"], APP_SECRET);
        assert_eq!(grants[0]["grant_type"], "refresh_token");
        assert_eq!(grants[0]["refresh_token"], "shprt_1");
    }
    // Every Admin API call carries the fresh token, and the code is the one in the email.
    let share_id = format!("referral#{CUSTOMER}#share");
    let share = stack
        .store()
        .list_messages(Some(&shop))
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id().as_str() == share_id)
        .unwrap_or_else(|| panic!("{share_id} is gone"));
    let code = share.details()["code"].clone();
    {
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty());
        assert!(
            seen.iter()
                .all(|(token, _)| token.as_deref() == Some("shpat_fresh")),
            "{seen:#?}"
        );
        let (_, created) = seen.last().unwrap();
        assert_eq!(created["variables"]["basicCodeDiscount"]["code"], code.as_str());
    }
    let sent = ses_messages(&stack.moto.data().await, &share_id)
        .first()
        .map(|m| m["raw_data"].as_str().unwrap_or_default().to_string())
        .expect("the share email reached SES");
    assert!(sent.contains(&code), "the email shares {code}: {sent}");

    // The rotated pair is what SSM now holds.
    let stored = aws_sdk_ssm::Client::new(&stack.config)
        .get_parameter()
        .name(TOKEN_PARAM)
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .and_then(|p| p.value)
        .unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["access_token"], "shpat_fresh");
    assert_eq!(stored["refresh_token"], "shprt_2");
    assert!(
        !function.log().contains("shpat_fresh") && !function.log().contains(APP_SECRET),
        "no token or secret in the logs"
    );
}

/// The app's key without its secret is a deployment error: the cold start fails and says
/// what is missing, instead of every installed shop's codes failing at send time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_key_without_its_secret_fails_the_cold_start_naming_it() {
    let stack = Stack::new(&[(LINK_KEY_PARAM, LINK_KEY_HEX)]).await;
    let (_runtime, mut function) = stack
        .start(
            env!("CARGO_BIN_EXE_referral"),
            &[
                ("AFTERSALE_LINK_KEY_PARAM", LINK_KEY_PARAM),
                ("SHOPIFY_API_KEY", "app-client-id"),
                ("AFTERSALE_PUBLIC_URL", "https://app.example"),
            ],
        )
        .await;
    let status = function.wait_exit(std::time::Duration::from_secs(30)).await;
    assert!(!status.success(), "{status}");
    let log = function.log();
    assert!(
        log.contains("the Shopify app's settings") && log.contains("SHOPIFY_API_SECRET is not set"),
        "{log}"
    );
}
