//! `aftersale woocommerce connect|status` against a local WooCommerce stand-in that checks
//! every request's OAuth 1.0a signature exactly as WooCommerce does over plain HTTP (HMAC-SHA256
//! under `consumer_secret&`, fresh timestamp, unused nonce), then a delivery signed with the
//! secret connect created: accepted by `aftersale serve`; one signed with any other: refused.

#[path = "support/mod.rs"]
mod support;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use support::*;

const KEY: &str = "ck_4f2a9c";
const SECRET: &str = "cs_77b1e0";

/// How the stand-in behaves.
#[derive(Clone, Copy, PartialEq)]
enum Site {
    WooCommerce,
    /// WordPress with "Plain" permalinks: `/wp-json/` is a 404 page, `?rest_route=/` the API.
    PlainPermalinks,
    /// Not WordPress at all.
    Other,
}

#[derive(Default)]
struct Woo {
    webhooks: Vec<Value>,
    nonces: HashSet<String>,
    writes: usize,
    /// Coupons created through `POST /wp-json/wc/v3/coupons`.
    coupons: Vec<Value>,
    /// The site answers 503 to coupon creation (a plugin update, say).
    coupons_down: bool,
}

#[derive(Clone)]
struct Shared {
    woo: Arc<Mutex<Woo>>,
    site: Site,
    port: u16,
}

/// RFC 3986, written here independently of the client's own.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// WooCommerce's check (`WC_REST_Authentication::check_oauth_signature`) for one request.
fn oauth_ok(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    params: &BTreeMap<String, String>,
) -> Result<(), String> {
    if params.get("oauth_consumer_key").map(String::as_str) != Some(KEY) {
        return Err("Consumer key is invalid.".into());
    }
    if params.get("oauth_signature_method").map(String::as_str) != Some("HMAC-SHA256") {
        return Err("Invalid signature method.".into());
    }
    let timestamp: i64 = params
        .get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("Missing timestamp")?;
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 15 * 60 {
        return Err("Invalid timestamp.".into());
    }
    let nonce = params.get("oauth_nonce").ok_or("Missing nonce")?.clone();
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| *k != "oauth_signature")
        .map(|(k, v)| (enc(k), enc(v)))
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base_url = format!("http://127.0.0.1:{}{}", shared.port, uri.path());
    let base = format!("{}&{}&{}", method.as_str(), enc(&base_url), enc(&query));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(format!("{SECRET}&").as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if params.get("oauth_signature") != Some(&expected) {
        return Err("Invalid signature - provided signature does not match.".into());
    }
    if !shared.woo.lock().unwrap().nonces.insert(nonce) {
        return Err("Invalid nonce - nonce has already been used.".into());
    }
    Ok(())
}

fn rest_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message, "data": {"status": status.as_u16()}})),
    )
        .into_response()
}

/// The gate every API request passes: the site kind, then Basic (refused over HTTP) or OAuth.
fn gate(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
) -> Option<Response> {
    if shared.site != Site::WooCommerce {
        return Some((StatusCode::NOT_FOUND, "<html><body>Page not found</body></html>").into_response());
    }
    if headers.contains_key("authorization") {
        return Some(rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            "Basic auth over HTTP",
        ));
    }
    oauth_ok(shared, method, uri, params).err().map(|why| {
        rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            &why,
        )
    })
}

async fn list(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(refused) = gate(&s, &method, &uri, &headers, &q) {
        return refused;
    }
    let woo = s.woo.lock().unwrap();
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let items: Vec<Value> = woo
        .webhooks
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(public)
        .collect();
    axum::Json(items).into_response()
}

/// A webhook as the API shows it (the stand-in keeps the secret to sign deliveries with).
fn public(w: &Value) -> Value {
    let mut shown = w.clone();
    shown.as_object_mut().unwrap().remove("secret");
    shown
}

async fn create(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: String,
) -> Response {
    if let Some(refused) = gate(&s, &method, &uri, &headers, &q) {
        return refused;
    }
    let body: Value = serde_json::from_str(&body).unwrap();
    let mut woo = s.woo.lock().unwrap();
    woo.writes += 1;
    let id = 100 + woo.webhooks.len() as u64;
    let hook = json!({"id": id, "name": body["name"], "status": body["status"], "topic": body["topic"], "delivery_url": body["delivery_url"], "secret": body["secret"]});
    woo.webhooks.push(hook.clone());
    (StatusCode::CREATED, axum::Json(public(&hook))).into_response()
}

async fn update(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<u64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: String,
) -> Response {
    if let Some(refused) = gate(&s, &method, &uri, &headers, &q) {
        return refused;
    }
    let body: Value = serde_json::from_str(&body).unwrap();
    let mut woo = s.woo.lock().unwrap();
    woo.writes += 1;
    let Some(hook) = woo.webhooks.iter_mut().find(|w| w["id"] == id) else {
        return rest_error(
            StatusCode::NOT_FOUND,
            "woocommerce_rest_webhook_invalid_id",
            "Invalid ID.",
        );
    };
    for field in ["status", "secret"] {
        if let Some(v) = body.get(field) {
            hook[field] = v.clone();
        }
    }
    axum::Json(public(hook)).into_response()
}

/// `POST /wp-json/wc/v3/coupons`: a code WooCommerce already has is refused with its own error.
async fn create_coupon(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: String,
) -> Response {
    if let Some(refused) = gate(&s, &method, &uri, &headers, &q) {
        return refused;
    }
    let mut woo = s.woo.lock().unwrap();
    if woo.coupons_down {
        return rest_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance",
            "Briefly unavailable for scheduled maintenance.",
        );
    }
    let body: Value = serde_json::from_str(&body).unwrap();
    let code = body["code"].as_str().unwrap_or_default().to_lowercase();
    if woo.coupons.iter().any(|c| c["code"] == code.as_str()) {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_coupon_code_already_exists",
            "The coupon code already exists",
        );
    }
    let id = 700 + woo.coupons.len() as u64;
    let coupon = json!({"id": id, "code": code, "amount": body["amount"], "discount_type": body["discount_type"], "usage_limit": body["usage_limit"], "minimum_amount": body["minimum_amount"]});
    woo.coupons.push(coupon.clone());
    (StatusCode::CREATED, axum::Json(coupon)).into_response()
}

async fn index(State(s): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    match (s.site, q.get("rest_route")) {
        (Site::PlainPermalinks, Some(_)) => {
            axum::Json(json!({"name": "Shop", "namespaces": ["wp/v2", "wc/v3"]})).into_response()
        }
        _ => (StatusCode::OK, "<html>home</html>").into_response(),
    }
}

/// Starts the stand-in on its own thread; returns its state and address.
fn woo_site(site: Site) -> (Arc<Mutex<Woo>>, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let woo = Arc::new(Mutex::new(Woo::default()));
    let shared = Shared {
        woo: Arc::clone(&woo),
        site,
        port,
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/", get(index))
                .route("/wp-json/wc/v3/webhooks", get(list).post(create))
                .route("/wp-json/wc/v3/webhooks/{id}", put(update))
                .route("/wp-json/wc/v3/coupons", axum::routing::post(create_coupon))
                .with_state(shared);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (woo, format!("http://127.0.0.1:{port}"))
}

/// `aftersale serve` with no WooCommerce secret configured at all: only what connect stored.
fn serve() -> Server {
    let data_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir.path())
        .env_remove("WOOCOMMERCE_WEBHOOK_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Server::adopt(child, base, data_dir)
}

fn run(server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = server.cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn deliver(server: &Server, site: &str, secret: &str) -> u16 {
    let body = fixture("woocommerce/order_created.json");
    reqwest::blocking::Client::new()
        .post(format!("{}/webhooks/woocommerce", server.base))
        .header("content-type", "application/json")
        .header("x-wc-webhook-topic", "order.created")
        .header("x-wc-webhook-source", format!("{site}/"))
        .header("x-wc-webhook-signature", sign(secret, &body))
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn connect_creates_each_webhook_once_repairs_a_disabled_one_and_its_secret_verifies_deliveries() {
    let (woo, site) = woo_site(Site::WooCommerce);
    let server = serve();
    let public = server.base.clone();
    let (ok, out, err) = run(
        &server,
        &[
            "woocommerce",
            "connect",
            "--url",
            &site,
            "--consumer-key",
            KEY,
            "--consumer-secret",
            SECRET,
            "--public-url",
            &public,
        ],
    );
    assert!(ok, "{err}");
    for topic in [
        "order.created",
        "order.updated",
        "order.deleted",
        "order.restored",
        "customer.created",
        "customer.updated",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(topic) && l.ends_with("created")),
            "{topic}: {out}"
        );
    }
    assert!(err.contains("6 webhook(s) created"), "{err}");
    // The site is a shop of Aftersale's from the connect on, before any order.
    let (ok, shops, err) = run(&server, &["shops", "--json"]);
    assert!(ok, "{err}");
    let listed: Vec<serde_json::Value> = shops.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        listed.iter().any(|s| s["platform"] == "woocommerce"
            && s["status"] == "installed"
            && site.contains(s["shop"].as_str().unwrap_or("?"))),
        "{shops}"
    );
    let hooks = woo.lock().unwrap().webhooks.clone();
    assert_eq!(hooks.len(), 6);
    let secret = hooks[0]["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32, "a generated secret");
    for hook in &hooks {
        assert_eq!(hook["delivery_url"], format!("{public}/webhooks/woocommerce"));
        assert_eq!(hook["secret"], secret.as_str(), "one secret per site");
        assert_eq!(hook["status"], "active");
    }
    let stored = std::fs::read(server.data_dir().join("aftersale.db")).unwrap();
    for clear in [secret.as_str(), SECRET] {
        assert!(
            !stored.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "kept sealed, not in clear"
        );
    }

    // A second run (the keys are remembered) creates nothing and writes nothing.
    let writes = woo.lock().unwrap().writes;
    let (ok, out, err) = run(&server, &["woocommerce", "connect", "--url", &site]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.ends_with("already there")).count(),
        6,
        "{out}"
    );
    assert_eq!(woo.lock().unwrap().webhooks.len(), 6);
    assert_eq!(woo.lock().unwrap().writes, writes);

    // WooCommerce disables a webhook after failed deliveries: status shows it, connect repairs it.
    woo.lock().unwrap().webhooks[1]["status"] = json!("disabled");
    let (ok, out, err) = run(&server, &["woocommerce", "status", "--url", &site]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("order.updated") && l.ends_with("disabled")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("order.created") && l.ends_with("active")),
        "{out}"
    );
    assert!(
        err.contains("1 webhook(s) not active: run `aftersale woocommerce connect"),
        "{err}"
    );
    let (ok, out, _) = run(&server, &["woocommerce", "connect", "--url", &site]);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("order.updated") && l.ends_with("reactivated (was disabled)")),
        "{out}"
    );
    assert_eq!(woo.lock().unwrap().webhooks[1]["status"], "active");
    assert_eq!(woo.lock().unwrap().webhooks.len(), 6);

    // The site's deliveries: signed with the secret connect set, accepted; any other, refused.
    assert_eq!(deliver(&server, &site, &secret), 200);
    let stored = server.events();
    assert!(!stored.is_empty(), "the order was stored");
    // Stored under the site's host, as its deliveries name it.
    let shop = url::Url::parse(&site).unwrap().host_str().unwrap().to_string();
    assert!(
        stored.iter().all(|e| e["shop"] == shop && e["order_id"] == "727"),
        "{stored:?}"
    );
    assert_eq!(deliver(&server, &site, "some-other-secret"), 401);
    assert_eq!(deliver(&server, &site, WOO_SECRET), 401);
    assert_eq!(server.events(), stored, "a refused delivery stores nothing");
}

#[test]
fn site_errors_and_bad_inputs_are_explained_to_the_shop_owner() {
    let server = serve();
    let public = server.base.clone();
    let connect = |site: &str, key: &str, secret: &str| {
        run(
            &server,
            &[
                "woocommerce",
                "connect",
                "--url",
                site,
                "--consumer-key",
                key,
                "--consumer-secret",
                secret,
                "--public-url",
                &public,
            ],
        )
    };
    let (woo, site) = woo_site(Site::WooCommerce);
    let (ok, _, err) = connect(&site, "  ", SECRET);
    assert!(!ok);
    assert!(
        err.contains("invalid value '  ' for '--consumer-key <CONSUMER_KEY>': must not be blank"),
        "{err}"
    );
    let (ok, _, err) = connect(&site, KEY, "cs_wrong");
    assert!(!ok);
    assert!(
        err.contains("refused the REST API keys (401 woocommerce_rest_authentication_error)"),
        "{err}"
    );
    assert!(
        err.contains("WooCommerce → Settings → Advanced → REST API"),
        "{err}"
    );
    assert!(woo.lock().unwrap().webhooks.is_empty());

    let (_, plain) = woo_site(Site::PlainPermalinks);
    let (ok, _, err) = connect(&plain, KEY, SECRET);
    assert!(!ok);
    assert!(
        err.contains("\"Plain\" permalinks") && err.contains("Settings → Permalinks"),
        "{err}"
    );

    let (_, other) = woo_site(Site::Other);
    let (ok, _, err) = connect(&other, KEY, SECRET);
    assert!(!ok);
    assert!(
        err.contains("does not look like a WordPress site with WooCommerce"),
        "{err}"
    );

    let (ok, _, err) = connect("shop.example", KEY, SECRET);
    assert!(!ok);
    assert!(err.contains("is not a site address"), "{err}");

    let (ok, _, err) = connect("http://127.0.0.1:1", KEY, SECRET);
    assert!(!ok);
    assert!(err.contains("could not reach http://127.0.0.1:1"), "{err}");

    let (ok, _, err) = run(
        &server,
        &["woocommerce", "connect", "--url", &site, "--public-url", &public],
    );
    assert!(!ok);
    assert!(err.contains("give --consumer-key and --consumer-secret"), "{err}");

    let (ok, _, err) = run(&server, &["woocommerce", "status", "--url", &site]);
    assert!(!ok);
    assert!(err.contains("is not connected"), "{err}");
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_param(url: &str, name: &str) -> String {
    let parsed = url::Url::parse(url).unwrap();
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

#[test]
fn the_wordpress_approval_screen_connects_a_site_and_only_a_live_nonce_delivers_keys() {
    let (woo, site) = woo_site(Site::WooCommerce);
    let server = serve();
    let start = browser()
        .get(format!("{}/woocommerce/connect", server.base))
        .query(&[("site", site.as_str())])
        .send()
        .unwrap();
    assert_eq!(start.status().as_u16(), 302);
    let location = start.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!(
            "{site}/wc-auth/v1/authorize?app_name=Aftersale&scope=read_write&user_id="
        )),
        "{location}"
    );
    let nonce = query_param(&location, "user_id");
    let callback = query_param(&location, "callback_url");
    let return_url = query_param(&location, "return_url");
    assert!(
        callback.starts_with(&format!("{}/woocommerce/callback", server.base)),
        "{callback}"
    );
    assert!(
        return_url.starts_with(&format!("{}/woocommerce/return", server.base)),
        "{return_url}"
    );

    // WordPress posts the keys it made. A tampered or unknown nonce delivers nothing.
    let keys = |user_id: &str| json!({"key_id": 1, "user_id": user_id, "consumer_key": KEY, "consumer_secret": SECRET, "key_permissions": "read_write"});
    let post = |body: Value| browser().post(&callback).json(&body).send().unwrap();
    let flipped = if nonce.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &nonce[..nonce.len() - 1]);
    assert_eq!(post(keys(&tampered)).status().as_u16(), 403);
    assert_eq!(post(keys("not-a-nonce")).status().as_u16(), 403);
    // Blank keys are refused before the nonce is spent, so the real answer still connects.
    let blank = post(json!({"key_id": 1, "user_id": nonce, "consumer_key": " ", "consumer_secret": SECRET}));
    assert_eq!(blank.status().as_u16(), 400);
    assert_eq!(
        blank.text().unwrap(),
        "WooCommerce sent a blank consumer key or secret"
    );
    let accepted = post(keys(&nonce));
    assert_eq!(accepted.status().as_u16(), 200);
    assert_eq!(post(keys(&nonce)).status().as_u16(), 403, "a nonce is used once");

    // The owner's browser comes back: the webhooks are made, and the page says so.
    let finish = browser()
        .get(format!("{return_url}&success=1&user_id={nonce}"))
        .send()
        .unwrap();
    assert_eq!(finish.status().as_u16(), 200);
    let html = finish.text().unwrap();
    assert!(html.contains("Your shop is connected"), "{html}");
    assert!(
        html.contains("order.created: created") && html.contains("customer.updated: created"),
        "{html}"
    );
    let hooks = woo.lock().unwrap().webhooks.clone();
    assert_eq!(hooks.len(), 6);
    let secret = hooks[0]["secret"].as_str().unwrap().to_string();
    assert_eq!(deliver(&server, &site, &secret), 200);
    assert_eq!(deliver(&server, &site, "forged"), 401);
    let again = browser()
        .get(format!("{return_url}&success=1&user_id={nonce}"))
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 400, "the return link works once");

    // Listed at once, before any order, and a reconnect keeps when it was first connected.
    let listed = |server: &Server| {
        let (ok, shops, err) = run(server, &["shops", "--json"]);
        assert!(ok, "{err}");
        shops
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|s| s["platform"] == "woocommerce" && site.contains(s["shop"].as_str().unwrap_or("?")))
    };
    let shop = listed(&server).expect("the connected site is a shop");
    assert_eq!(shop["status"], "installed", "{shop}");
    let connected_at = |server: &Server| {
        let (ok, out, err) = run(server, &["woocommerce", "status", "--url", &site, "--json"]);
        assert!(ok, "{err}");
        let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        first["connected_at"].as_str().unwrap().to_string()
    };
    let first = connected_at(&server);
    let restart = browser()
        .get(format!("{}/woocommerce/connect", server.base))
        .query(&[("site", site.as_str())])
        .send()
        .unwrap();
    let renonce = query_param(restart.headers()["location"].to_str().unwrap(), "user_id");
    assert_eq!(post(keys(&renonce)).status().as_u16(), 200);
    let refinish = browser()
        .get(format!("{return_url}&success=1&user_id={renonce}"))
        .send()
        .unwrap();
    let html = refinish.text().unwrap();
    assert!(html.contains("order.created: already there"), "{html}");
    assert_eq!(connected_at(&server), first, "a reconnect is the same connection");
    assert_eq!(listed(&server).unwrap()["changed_at"], shop["changed_at"]);
    assert_eq!(woo.lock().unwrap().webhooks.len(), 6, "nothing made twice");

    let declined = browser()
        .get(format!("{return_url}&success=0&user_id={nonce}"))
        .send()
        .unwrap();
    assert!(declined.text().unwrap().contains("You did not approve Aftersale"));
    let bad = browser()
        .get(format!("{}/woocommerce/connect", server.base))
        .query(&[("site", "not a site")])
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().unwrap().contains("is not a site address"));
}

/// `shop.example` with points (10 buy "5.00 USD off") and its Admin API at the stand-in `site`,
/// the keys in the environment of `serve` and `tick` (as `[admin_api]` names them).
fn points_shop(site: &str) -> Server {
    let server = Server::start_with(
        &["--now", "2022-01-03T10:30:00Z"],
        &[("WOO_CK", KEY), ("WOO_CS", SECRET)],
    );
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!(
            "shop = \"shop.example\"\n[admin_api]\nbase_url = \"{site}\"\nconsumer_key_secret = \"WOO_CK\"\n\
             consumer_secret_secret = \"WOO_CS\"\n[points]\nenabled = true\nper_currency_unit = \"1\"\n\
             pending_days = 1\npending_from = \"paid\"\n[[points.rewards]]\npoints = 10\namount_off = \"5\"\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = run(&server, &["config", "load", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    // The fixture's order (18.00 USD of items: 18 points), paid the morning of 3 January 2022;
    // spendable a day later.
    let mut order: Value = serde_json::from_slice(&fixture("woocommerce/order_created.json")).unwrap();
    for field in ["date_created_gmt", "date_paid_gmt", "date_modified_gmt"] {
        order[field] = json!("2022-01-03T10:00:00");
    }
    let (status, body) = post_woocommerce(&server, "order.created", &serde_json::to_vec(&order).unwrap());
    assert_eq!(status, 200, "{body}");
    server
}

/// `aftersale tick --now` with the shop's keys in the environment, links pointed at `server`.
fn tick_at(server: &Server, now: &str) -> Value {
    let listen = server.base.trim_start_matches("http://");
    let out = Command::new(binary())
        .args(["tick", "--json", "--now", now, "--listen", listen, "--data-dir"])
        .arg(server.data_dir())
        .env("RUST_LOG", "warn")
        .env("WOO_CK", KEY)
        .env("WOO_CS", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tick: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap()
}

/// The points page link of the "now available" email.
fn points_page_link(server: &Server) -> String {
    let mail = support::mail::emails(server)
        .into_iter()
        .find(|m| m.contains("ready to spend"))
        .unwrap_or_else(|| panic!("the points email: {:#?}", server.cli_json(&["outbox", "--json"])));
    support::mail::links(server, &mail)
        .into_iter()
        .find(|l| {
            let page = reqwest::blocking::get(l).unwrap().text().unwrap();
            page.contains("points to spend")
        })
        .expect("a points link")
}

fn redeem_button(page: &str) -> String {
    page.split("action=\"")
        .nth(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("a reward button: {page}"))
}

fn post_page(url: &str) -> String {
    reqwest::blocking::Client::new()
        .post(url)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn your_code(page: &str) -> Option<String> {
    page.split("Your code: ")
        .nth(1)
        .map(|r| r.split('<').next().unwrap().to_string())
}

#[test]
fn woocommerce_points_become_a_real_coupon_signed_with_oauth_once_even_when_tapped_twice_at_once() {
    let (woo, site) = woo_site(Site::WooCommerce);
    let server = points_shop(&site);
    tick_at(&server, "2022-01-04T11:00:00Z");
    let page = reqwest::blocking::get(points_page_link(&server))
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("You have 18 points to spend"), "{page}");
    assert!(page.contains("10 points: 5.00 USD off"), "{page}");
    let button = redeem_button(&page);

    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| post_page(&button));
        let b = s.spawn(|| post_page(&button));
        (a.join().unwrap(), b.join().unwrap())
    });
    let code = your_code(&a)
        .or_else(|| your_code(&b))
        .unwrap_or_else(|| panic!("a code:\n{a}\n{b}"));
    assert!(code.starts_with("PTS-"), "{code}");
    let again = post_page(&button);
    assert_eq!(your_code(&again).as_deref(), Some(code.as_str()), "{again}");
    assert!(again.contains("5.00 USD off, for 10 points"), "{again}");

    // One coupon in the site, made with a valid OAuth 1.0a signature (the stand-in refuses
    // any other), single use, worth 5.
    let coupons = woo.lock().unwrap().coupons.clone();
    assert_eq!(coupons.len(), 1, "{coupons:?}");
    assert_eq!(coupons[0]["code"], code.to_lowercase());
    assert_eq!(coupons[0]["discount_type"], "fixed_cart");
    assert_eq!(
        coupons[0]["amount"].as_str().unwrap().parse::<f64>().unwrap(),
        5.0
    );
    assert_eq!(coupons[0]["usage_limit"], 1);
    let page = reqwest::blocking::get(points_page_link(&server))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("You have 8 points to spend"),
        "debited once: {page}"
    );

    // The code email goes once, and creates nothing more.
    tick_at(&server, "2022-01-04T11:30:00Z");
    tick_at(&server, "2022-01-04T12:00:00Z");
    let mails: Vec<String> = support::mail::emails(&server)
        .into_iter()
        .filter(|m| m.contains(&code) && m.contains("Your reward code"))
        .collect();
    assert_eq!(mails.len(), 1, "one code email");
    assert_eq!(woo.lock().unwrap().coupons.len(), 1);
}

#[test]
fn a_woocommerce_coupon_the_site_cannot_create_yet_keeps_the_points_aside_and_is_retried_until_it_exists() {
    let (woo, site) = woo_site(Site::WooCommerce);
    let server = points_shop(&site);
    tick_at(&server, "2022-01-04T11:00:00Z");
    let link = points_page_link(&server);
    let button = redeem_button(&reqwest::blocking::get(&link).unwrap().text().unwrap());
    woo.lock().unwrap().coupons_down = true;
    let first = post_page(&button);
    assert!(first.contains("Your reward is on its way"), "{first}");
    assert!(first.contains("set aside 10 points for 5.00 USD off"), "{first}");
    let page = reqwest::blocking::get(&link).unwrap().text().unwrap();
    assert!(
        page.contains("You have 8 points to spend"),
        "held, not lost: {page}"
    );
    tick_at(&server, "2022-01-04T11:30:00Z");
    let outbox = server.cli_json(&["outbox", "--json"]);
    let reward = outbox
        .iter()
        .find(|m| m["flow"] == "points" && m["step"] == "reward-code")
        .expect("the reward-code message");
    assert_eq!(reward["status"], "planned", "{reward}");
    assert!(
        reward["reason"]
            .as_str()
            .unwrap()
            .starts_with("retrying: discount code:")
            && reward["reason"].as_str().unwrap().contains("503"),
        "{reward}"
    );
    assert!(woo.lock().unwrap().coupons.is_empty());

    woo.lock().unwrap().coupons_down = false;
    tick_at(&server, "2022-01-05T11:30:00Z");
    let coupons = woo.lock().unwrap().coupons.clone();
    assert_eq!(coupons.len(), 1, "{coupons:?}");
    let code = coupons[0]["code"].as_str().unwrap().to_uppercase();
    let mail = support::mail::emails(&server)
        .into_iter()
        .find(|m| m.contains("Your reward code"))
        .expect("the code email");
    assert!(mail.contains(&code), "{mail}");
    assert_eq!(your_code(&post_page(&button)).as_deref(), Some(code.as_str()));
    let page = reqwest::blocking::get(&link).unwrap().text().unwrap();
    assert!(
        page.contains("You have 8 points to spend"),
        "debited once: {page}"
    );
}
