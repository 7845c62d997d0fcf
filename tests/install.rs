//! The Shopify app end to end through the real binary: `aftersale serve` with the documented
//! test seams (`AFTERSALE_SHOPIFY_BASE_URL` pointing at a local Shopify, `SHOPIFY_API_KEY`,
//! `SHOPIFY_API_SECRET`, `AFTERSALE_PUBLIC_URL`), a merchant's install, orders, an uninstall,
//! and what `aftersale shops` and `aftersale tick` then say.

#[path = "../shared/shopify-app/tests/fake_shopify/mod.rs"]
mod fake_shopify;
#[path = "support/mod.rs"]
mod support;

use fake_shopify::FakeShopify;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use support::*;

const SHOP: &str = "demo.myshopify.com";
const PUBLIC: &str = "https://aftersale.example";
const API_KEY: &str = "e2e-api-key";

/// Shopify's query signature, made here independently: hex HMAC-SHA256 of the sorted pairs.
fn signed_callback(state: &str, code: &str) -> String {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let mut pairs = [
        format!("code={code}"),
        "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtbw".to_string(),
        format!("shop={SHOP}"),
        format!("state={state}"),
        format!("timestamp={timestamp}"),
    ];
    pairs.sort();
    let message = pairs.join("&");
    let mut mac = Hmac::<Sha256>::new_from_slice(SHOPIFY_SECRET.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    format!("{message}&hmac={}", hex::encode(mac.finalize().into_bytes()))
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn shops(server: &Server) -> Vec<Value> {
    server.cli_json(&["shops", "--json", "--public-url", PUBLIC])
}

#[test]
fn a_merchant_installs_orders_flow_and_after_an_uninstall_nothing_more_is_sent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let shopify = runtime.block_on(FakeShopify::start_with(API_KEY, SHOPIFY_SECRET));
    let server = Server::start_with(
        &[],
        &[
            ("AFTERSALE_SHOPIFY_BASE_URL", shopify.base_url.as_str()),
            ("SHOPIFY_API_KEY", API_KEY),
            ("AFTERSALE_PUBLIC_URL", PUBLIC),
        ],
    );

    // Install: the browser is sent to the shop's admin with a fresh state.
    let install = client()
        .get(format!("{}/shopify/install?shop={SHOP}", server.base))
        .send()
        .unwrap();
    assert_eq!(install.status(), 302);
    let location = url::Url::parse(install.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.host_str(), Some(SHOP));
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    // The merchant approves; Shopify redirects back with a signed code.
    shopify.approve("e2e-code");
    let callback = client()
        .get(format!(
            "{}/shopify/callback?{}",
            server.base,
            signed_callback(&state, "e2e-code")
        ))
        .send()
        .unwrap();
    assert_eq!(callback.status(), 200);
    let page = callback.text().unwrap();
    assert!(page.contains("demo.myshopify.com is connected"), "{page}");
    assert!(page.contains("Webhooks registered: 16 of 16."), "{page}");
    let subscriptions = shopify.lock().subscriptions.clone();
    assert_eq!(subscriptions.len(), 16);
    assert!(
        subscriptions
            .iter()
            .all(|s| s.uri == "https://aftersale.example/webhooks/shopify")
    );

    // The shop is listed as installed, everything healthy.
    let listed = shops(&server);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let shop = &listed[0];
    assert_eq!(shop["shop"], SHOP);
    assert_eq!(shop["platform"], "shopify");
    assert_eq!(shop["status"], "installed");
    assert!(
        shop["scopes"]
            .as_array()
            .unwrap()
            .contains(&Value::from("write_discounts"))
    );
    assert_eq!(shop["webhooks"]["registered"], 16);
    assert_eq!(shop["webhooks"]["health"], "healthy");
    assert_eq!(shop["token"]["stored"], true);
    assert!(shop["token"]["expires_at"].is_string());
    assert_eq!(shop["last_event_at"], Value::Null);
    let text = server.cli(&["shops", "--public-url", PUBLIC]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("demo.myshopify.com (shopify): installed since"),
        "{text}"
    );
    assert!(
        text.contains(
            "webhooks:   16 of 16 registered at https://aftersale.example/webhooks/shopify: healthy"
        ),
        "{text}"
    );
    assert!(text.contains("token:      expires "), "{text}");

    // The token is nowhere in the data dir in clear.
    let token = shopify.lock().access_token.clone();
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&token),
                "{} holds the token",
                path.display()
            );
        }
    }

    // The operator's re-run of the registration finds everything in place and changes nothing.
    shopify.lock().graphql_calls.clear();
    let sync = sync_webhooks(&server, &shopify);
    let stderr = String::from_utf8_lossy(&sync.stderr);
    assert!(sync.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "demo.myshopify.com: 16 of 16 webhooks registered at https://aftersale.example/webhooks/shopify"
        ),
        "{stderr}"
    );
    let stdout = String::from_utf8(sync.stdout).unwrap();
    assert!(stdout.contains("APP_UNINSTALLED"), "{stdout}");
    assert!(shopify.lock().graphql_calls.iter().all(|c| c == "list"));

    // An order plans its messages; then the merchant uninstalls.
    let order = fixture("shopify/orders_create.json");
    assert_eq!(post_shopify(&server, "orders/create", "o-1", &order).0, 200);
    let uninstall = fixture("shopify/app_uninstalled.json");
    let (status, body) = post_shopify_now(&server, "app/uninstalled", "u-1", &uninstall);
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"outcome":"accepted","stored":1}"#)
    );

    let listed = shops(&server);
    assert_eq!(listed[0]["status"], "uninstalled");
    assert_eq!(listed[0]["token"]["stored"], false, "the token is deleted");
    assert_eq!(listed[0]["last_event"], "app_uninstalled");
    assert!(
        listed[0]["scopes"].as_array().unwrap().len() > 1,
        "kept until shop/redact"
    );

    // Ticks send nothing for it; its planned messages end skipped.
    let report = server.cli_json(&["tick", "--json", "--now", "2022-01-10T00:00:00Z"]);
    assert_eq!(report[0]["sent"], 0, "{report:?}");
    let outbox = server.cli_json(&["outbox", "--json"]);
    assert!(!outbox.is_empty());
    for message in &outbox {
        assert_eq!(message["status"], "skipped", "{message}");
        assert_eq!(message["reason"], "skipped: shop uninstalled", "{message}");
    }
    assert!(!server.data_dir().join("outbox/email").exists() || emails_in(&server) == 0);

    // Without a token, registering webhooks says what to do.
    let sync = sync_webhooks(&server, &shopify);
    assert!(!sync.status.success());
    let err = String::from_utf8(sync.stderr).unwrap();
    assert!(
        err.contains("demo.myshopify.com has no Admin API token: install the app on it"),
        "{err}"
    );

    // Shopify's shop/redact, 48 hours later: everything goes but the record that it did.
    let redact = fixture("shopify/shop_redact.json");
    assert_eq!(post_shopify(&server, "shop/redact", "r-1", &redact).0, 200);
    let listed = shops(&server);
    assert_eq!(listed[0]["status"], "redacted");
    assert_eq!(listed[0]["scopes"], serde_json::json!([]));
    assert!(server.cli_json(&["outbox", "--json"]).is_empty());
}

/// `aftersale shopify sync-webhooks` with the app's credentials and the test seam.
fn sync_webhooks(server: &Server, shopify: &FakeShopify) -> std::process::Output {
    std::process::Command::new(binary())
        .args([
            "shopify",
            "sync-webhooks",
            "--shop",
            SHOP,
            "--public-url",
            PUBLIC,
            "--data-dir",
        ])
        .arg(server.data_dir())
        .env("SHOPIFY_API_KEY", API_KEY)
        .env("SHOPIFY_API_SECRET", SHOPIFY_SECRET)
        .env("AFTERSALE_SHOPIFY_BASE_URL", &shopify.base_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn emails_in(server: &Server) -> usize {
    std::fs::read_dir(server.data_dir().join("outbox/email"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Installs the app on the shop through the browser round trip.
fn install(server: &Server, shopify: &FakeShopify) {
    let install = client()
        .get(format!("{}/shopify/install?shop={SHOP}", server.base))
        .send()
        .unwrap();
    let location = url::Url::parse(install.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    shopify.approve("e2e-code");
    let callback = client()
        .get(format!(
            "{}/shopify/callback?{}",
            server.base,
            signed_callback(&state, "e2e-code")
        ))
        .send()
        .unwrap();
    assert_eq!(callback.status(), 200);
}

/// `aftersale tick` with the app's credentials and the test seam, as the deployment would run it.
fn tick_with_app(server: &Server, shopify: &FakeShopify, now: &str) -> Vec<Value> {
    let out = std::process::Command::new(binary())
        .args(["tick", "--json", "--now", now, "--data-dir"])
        .arg(server.data_dir())
        .env("SHOPIFY_API_KEY", API_KEY)
        .env("SHOPIFY_API_SECRET", SHOPIFY_SECRET)
        .env("AFTERSALE_SHOPIFY_BASE_URL", &shopify.base_url)
        .env("AFTERSALE_PUBLIC_URL", PUBLIC)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The paid-order fixture for another order and customer, who subscribed to marketing (a
/// referral share is marketing).
fn paid_order(order_id: u64, customer_id: u64, email: &str) -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixture("shopify/orders_paid.json")).unwrap();
    order["id"] = order_id.into();
    order["email"] = email.into();
    order["customer"]["id"] = customer_id.into();
    order["customer"]["email"] = email.into();
    order["customer"]["email_marketing_consent"] = serde_json::json!({
        "state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": "2021-12-01T00:00:00Z"
    });
    serde_json::to_vec(&order).unwrap()
}

fn referral_shares(server: &Server) -> Vec<Value> {
    server
        .cli_json(&["outbox", "--json"])
        .into_iter()
        .filter(|m| m["flow"] == "referral" && m["step"] == "share")
        .collect()
}

#[test]
fn an_installed_shops_referral_codes_are_created_with_its_token_and_none_after_uninstall() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let shopify = runtime.block_on(FakeShopify::start_with(API_KEY, SHOPIFY_SECRET));
    let server = Server::start_with(
        &[],
        &[
            ("AFTERSALE_SHOPIFY_BASE_URL", shopify.base_url.as_str()),
            ("SHOPIFY_API_KEY", API_KEY),
            ("AFTERSALE_PUBLIC_URL", PUBLIC),
        ],
    );
    // Before the install, referral codes need `[admin_api]`: the file is refused.
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        "shop = \"demo.myshopify.com\"\n[flows.referral]\nenabled = true\neligible_after = \"paid\"\n",
    )
    .unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("referral codes are real discount codes: configure [admin_api] first, or install the Aftersale app on the shop"),
        "{err}"
    );

    // Installed through the app, the same file loads: the app's token makes the codes.
    install(&server, &shopify);
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = paid_order(9001, 7001, "first@example.com");
    assert_eq!(post_shopify(&server, "orders/paid", "p-1", &first).0, 200);
    let soon = |minutes| (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339();
    tick_with_app(&server, &shopify, &soon(2));
    let shares = referral_shares(&server);
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert_eq!(shares[0]["status"], "sent", "{}", shares[0]);
    let code = shares[0]["details"]["code"].as_str().unwrap().to_string();
    let created = shopify.lock().discounts.clone();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].code, code);
    assert_eq!(
        created[0].access_token,
        shopify.lock().access_token,
        "X-Shopify-Access-Token is the installed token"
    );

    // Another customer's code is planned, then the merchant uninstalls: no code is created.
    let second = paid_order(9002, 7002, "second@example.com");
    assert_eq!(post_shopify(&server, "orders/paid", "p-2", &second).0, 200);
    let uninstall = fixture("shopify/app_uninstalled.json");
    assert_eq!(
        post_shopify_now(&server, "app/uninstalled", "u-1", &uninstall).0,
        200
    );
    tick_with_app(&server, &shopify, &soon(3));
    assert_eq!(
        shopify.lock().discounts.len(),
        1,
        "no discount code after uninstall"
    );
    let pending: Vec<Value> = referral_shares(&server)
        .into_iter()
        .filter(|m| m["details"]["code"] != code.as_str())
        .collect();
    assert!(!pending.is_empty());
    for message in pending {
        assert_eq!(message["status"], "skipped", "{message}");
        assert_eq!(message["reason"], "skipped: shop uninstalled", "{message}");
    }
}
