//! Loyalty points end to end: signed Shopify webhooks into `aftersale serve` (on a clock that
//! starts when the fixtures' order was placed), due work run with `aftersale tick --now`, and
//! the ledger read back with `aftersale points --json`, the outbox and the `.eml` files.

#[path = "support/mod.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

const CUSTOMER: &str = "115310627314723954";
const ORDER: &str = "820982911946154508";

/// The fixtures' order was placed 2022-01-01T00:00Z (388.00 subtotal, paid).
fn server_with(points: &str) -> Server {
    server_in("UTC", points)
}

/// A shop in the time zone `tz`, with `points` added to its `[points]`.
fn server_in(tz: &str, points: &str) -> Server {
    let server = Server::start_with(&["--now", "2022-01-01T00:30:00Z"], &[]);
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!("shop = \"demo.myshopify.com\"\ntime_zone = \"{tz}\"\n[points]\nenabled = true\nper_currency_unit = \"1\"\npending_days = 14\n{points}"),
    )
    .unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server
}

fn points(server: &Server) -> Value {
    let mut lines = server.cli_json(&[
        "points",
        "--shop",
        "demo.myshopify.com",
        "--customer",
        CUSTOMER,
        "--json",
    ]);
    assert_eq!(lines.len(), 1, "one object");
    lines.remove(0)
}

fn balance(server: &Server) -> (i64, i64, i64) {
    let p = points(server);
    let n = |k: &str| p[k].as_i64().unwrap_or_else(|| panic!("{k} in {p}"));
    (n("available"), n("pending"), n("balance"))
}

fn kinds(server: &Server) -> Vec<(String, i64)> {
    points(server)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["points"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Due work as of `now`, with the shop's Admin API token in the environment (the reward
/// codes' message creates them); links in what it sends point at this server.
fn tick(server: &Server, now: &str) -> Value {
    let listen = server.base.trim_start_matches("http://");
    let out = std::process::Command::new(binary())
        .args(["tick", "--json", "--now", now, "--listen", listen, "--data-dir"])
        .arg(server.data_dir())
        .env("RUST_LOG", "warn")
        .env("SHOP_ADMIN_TOKEN", "shpat_local")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tick: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap()
}

fn outbox(server: &Server) -> Vec<Value> {
    server.cli_json(&["outbox", "--json"])
}

fn message<'a>(messages: &'a [Value], step: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["flow"] == "points" && m["step"] == step)
        .unwrap_or_else(|| panic!("no points/{step} in {messages:#?}"))
}

fn emails(server: &Server) -> Vec<String> {
    let dir = server.data_dir().join("outbox/email");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| unquote(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// Undoes the `.eml` quoted-printable encoding (RFC 2045), to read a part as a mail client shows it.
fn unquote(qp: &str) -> String {
    let joined = qp.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The paid order, with the customer subscribed to email marketing.
fn paid_order() -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixture("shopify/orders_paid.json")).unwrap();
    order["customer"]["email_marketing_consent"] =
        json!({ "state": "subscribed", "opt_in_level": "single_opt_in" });
    serde_json::to_vec(&order).unwrap()
}

fn ok(response: (u16, String)) {
    assert_eq!(response.0, 200, "{}", response.1);
}

#[test]
fn a_paid_order_earns_pending_points_that_become_available_after_delivery_plus_the_pending_days() {
    let server = server_with("welcome_bonus = 100\n");
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    let p = points(&server);
    assert_eq!(
        (
            p["available"].as_i64(),
            p["pending"].as_i64(),
            p["balance"].as_i64()
        ),
        (Some(100), Some(388), Some(488))
    );
    let earn = &p["entries"][1];
    assert_eq!(earn["kind"], "earn");
    assert_eq!(earn["points"], 388);
    assert_eq!(
        earn["source"],
        json!({ "type": "order", "order": ORDER, "multiplier": "1" })
    );
    assert_eq!(earn["at"], "2022-01-01T00:00:00Z");
    assert_eq!(p["entries"][0]["kind"], "bonus");

    // Every event redelivered, under its own id and under a new one: nothing credits twice.
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    ok(post_shopify(&server, "orders/paid", "o-1-again", &paid_order()));
    ok(post_shopify(
        &server,
        "orders/fulfilled",
        "o-2",
        &fixture("shopify/orders_fulfilled.json"),
    ));
    assert_eq!(kinds(&server), [("bonus".into(), 100), ("earn".into(), 388)]);

    // Delivered 2022-01-04T19:32Z: available 14 days later, not a minute before.
    ok(post_shopify(
        &server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
    ok(post_shopify(
        &server,
        "fulfillment_events/create",
        "f-1-again",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
    tick(&server, "2022-01-18T19:00:00Z");
    assert_eq!(
        balance(&server),
        (100, 388, 488),
        "still inside the return window"
    );
    tick(&server, "2022-01-18T19:40:00Z");
    assert_eq!(balance(&server), (488, 0, 488));
    tick(&server, "2022-01-19T19:40:00Z");
    assert_eq!(
        kinds(&server).len(),
        3,
        "one pending -> available entry: {:?}",
        kinds(&server)
    );
    assert_eq!(kinds(&server)[2], ("available".into(), 388));

    let messages = outbox(&server);
    let available = message(&messages, "available");
    assert_eq!(available["status"], "sent", "{available}");
    assert_eq!(available["subject"], "388 points are ready to spend");
    let mail = emails(&server)
        .into_iter()
        .find(|m| m.contains("ready to spend"))
        .expect("the email");
    assert!(
        mail.contains(
            "The 388 points from your order #9999 are now available. You have 488 points to spend."
        ),
        "{mail}"
    );

    let text = server.cli(&["points", "--shop", "demo.myshopify.com", "--customer", CUSTOMER]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Available 488  Pending 0  Balance 488"), "{text}");
    assert!(
        text.contains(&format!("earn               +388  order {ORDER}")),
        "{text}"
    );
}

#[test]
fn refunds_take_points_back_in_proportion_and_a_cancellation_takes_the_rest() {
    let server = server_with("");
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    // 85.00 of 388.00 refunded (its two transactions): 85 points back.
    ok(post_shopify(
        &server,
        "refunds/create",
        "r-1",
        &fixture("shopify/refunds_create.json"),
    ));
    ok(post_shopify(
        &server,
        "refunds/create",
        "r-1-again",
        &fixture("shopify/refunds_create.json"),
    ));
    assert_eq!(kinds(&server), [("earn".into(), 388), ("clawback".into(), -85)]);
    assert_eq!(balance(&server), (0, 303, 303));
    let refund = &points(&server)["entries"][1]["source"];
    assert_eq!(refund["type"], "refund");
    assert_eq!(refund["order"], ORDER);

    // Cancelled before it was available: the rest goes, and nothing ever becomes available.
    ok(post_shopify(
        &server,
        "orders/cancelled",
        "c-1",
        &fixture("shopify/orders_cancelled.json"),
    ));
    ok(post_shopify(
        &server,
        "orders/cancelled",
        "c-1-again",
        &fixture("shopify/orders_cancelled.json"),
    ));
    assert_eq!(balance(&server), (0, 0, 0));
    tick(&server, "2022-02-01T10:00:00Z");
    assert_eq!(balance(&server), (0, 0, 0));
    assert_eq!(kinds(&server).len(), 3, "{:?}", kinds(&server));
    let available = message(&outbox(&server), "available").clone();
    assert_eq!(available["status"], "skipped");
    assert_eq!(
        available["reason"],
        "skipped: no points to tell the customer about"
    );
}

#[test]
fn a_cancellation_after_the_points_were_spent_leaves_a_negative_balance_the_next_order_pays_off() {
    let server = server_with("");
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    ok(post_shopify(
        &server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
    tick(&server, "2022-01-19T10:00:00Z");
    assert_eq!(balance(&server), (388, 0, 388));
    let spent = server.cli_json(&[
        "points",
        "adjust",
        "--shop",
        "demo.myshopify.com",
        "--customer",
        CUSTOMER,
        "--points",
        "-300",
        "--reason",
        "spent in the shop's till",
        "--json",
    ]);
    assert_eq!(spent[0]["entry"]["kind"], "adjustment");
    assert_eq!(spent[0]["entry"]["source"]["reason"], "spent in the shop's till");
    assert_eq!(spent[0]["balance"]["available"], 88);

    ok(post_shopify(
        &server,
        "orders/cancelled",
        "c-1",
        &fixture("shopify/orders_cancelled.json"),
    ));
    assert_eq!(
        balance(&server),
        (-300, 0, -300),
        "the shop allows a negative balance by default"
    );
    let cancel = points(&server)["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (cancel["kind"].as_str(), cancel["points"].as_i64()),
        (Some("clawback"), Some(-388))
    );
    assert_eq!(
        cancel["source"],
        json!({ "type": "cancellation", "order": ORDER })
    );
}

#[test]
fn double_points_windows_follow_the_shops_local_dates_and_the_end_is_exclusive() {
    // The order was placed 2021-12-31T19:00 in New York: 31 December there, 1 January in UTC.
    let server = server_in("America/New_York", "");
    // Without --shop, the store's one shop (known from its first webhook).
    ok(post_shopify(
        &server,
        "customers/create",
        "cu-1",
        &fixture("shopify/customers_create.json"),
    ));
    let created = server.cli_json(&[
        "points",
        "campaign",
        "create",
        "--multiplier",
        "2",
        "--from",
        "2021-12-31",
        "--to",
        "2021-12-31",
        "--json",
    ]);
    assert_eq!(created[0]["campaign"]["from"], "2021-12-31T05:00:00Z");
    assert_eq!(created[0]["campaign"]["to"], "2022-01-01T05:00:00Z");
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    let p = points(&server);
    assert_eq!(p["entries"][0]["points"], 776, "{p}");
    assert_eq!(p["entries"][0]["source"]["multiplier"], "2");

    let edge = server_in("America/New_York", "");
    // Ends at 19:00 local, the very minute the order was placed: outside.
    let out = edge.cli(&[
        "points",
        "campaign",
        "create",
        "--shop",
        "demo.myshopify.com",
        "--multiplier",
        "2",
        "--from",
        "2021-12-30",
        "--to",
        "2021-12-31T19:00",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("x2 points on orders from 2021-12-30T05:00:00Z to 2022-01-01T00:00:00Z")
    );
    ok(post_shopify(&edge, "orders/paid", "o-1", &paid_order()));
    assert_eq!(points(&edge)["entries"][0]["points"], 388);
}

#[test]
fn idle_points_expire_after_a_warning() {
    let server = server_with("expire_after_days = 30\nexpiry_warning_days = 7\n");
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    ok(post_shopify(
        &server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
    tick(&server, "2022-01-19T10:00:00Z");
    assert_eq!(balance(&server), (388, 0, 388));
    // Last activity: the order, 2022-01-01T00:00Z. Warning a week before the 30 days are up.
    tick(&server, "2022-01-23T23:00:00Z");
    assert_eq!(message(&outbox(&server), "expiry-warning")["status"], "planned");
    tick(&server, "2022-01-24T10:00:00Z");
    let messages = outbox(&server);
    let warning = message(&messages, "expiry-warning");
    assert_eq!(warning["status"], "sent", "{warning}");
    assert_eq!(warning["subject"], "Your 388 points expire on Monday, 31 January");
    let mail = emails(&server)
        .into_iter()
        .find(|m| m.contains("expire on"))
        .unwrap();
    assert!(
        mail.contains("List-Unsubscribe-Post"),
        "a marketing message: {mail}"
    );
    tick(&server, "2022-01-31T10:00:00Z");
    assert_eq!(balance(&server), (0, 0, 0));
    let entries = kinds(&server);
    assert_eq!(entries.last().unwrap(), &("expiry".to_string(), -388));
    let expiry = message(&outbox(&server), "expiry").clone();
    assert_eq!(
        expiry["reason"],
        "skipped: points ledger updated; nothing to send"
    );
    tick(&server, "2022-03-31T10:00:00Z");
    assert_eq!(kinds(&server).len(), entries.len(), "expired once");
}

#[test]
fn the_cli_refuses_bad_adjustments_naming_the_flag() {
    let server = server_with("");
    let run = |args: &[&str]| {
        let mut all = vec![
            "points",
            "adjust",
            "--shop",
            "demo.myshopify.com",
            "--customer",
            CUSTOMER,
        ];
        all.extend_from_slice(args);
        let out = server.cli(&all);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok_zero, err) = run(&["--points", "0", "--reason", "x"]);
    assert!(!ok_zero && err.contains("--points: must not be 0"), "{err}");
    let (ok_blank, err) = run(&["--points", "5", "--reason", "   "]);
    assert!(!ok_blank && err.contains("--reason: say why"), "{err}");
    let (ok_word, err) = run(&["--points", "five", "--reason", "x"]);
    assert!(!ok_word && err.contains("--points"), "{err}");
    let out = server.cli(&["points", "--shop", "demo.myshopify.com", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--customer: name the customer"));
    let out = server.cli(&[
        "points",
        "campaign",
        "create",
        "--multiplier",
        "2",
        "--from",
        "2022-01-01",
        "--to",
        "2022-01-02",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shop: this store holds no shop yet; name it"));
    let out = server.cli(&[
        "points",
        "campaign",
        "create",
        "--shop",
        "demo.myshopify.com",
        "--multiplier",
        "1",
        "--from",
        "2022-01-01",
        "--to",
        "2022-01-02",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--multiplier: must be more than 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(kinds(&server), [], "nothing was recorded");
    let (added, err) = run(&["--points", "25", "--reason", "sorry for the wait"]);
    assert!(added, "{err}");
    assert_eq!(balance(&server), (25, 0, 25));
}

/// A local Shopify GraphQL Admin API: answers `discountCodeBasicCreate`, or 503 while `down`,
/// and records the codes it was asked to create.
struct FakeShopify {
    base: String,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    created: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl FakeShopify {
    fn start() -> FakeShopify {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let created = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (down_in, created_in) = (down.clone(), created.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                let mut path = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if path.is_empty() {
                        path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, answer) = if down_in.load(Ordering::SeqCst) {
                    ("503 Service Unavailable", json!({"errors": "unavailable"}))
                } else if path.ends_with("/graphql.json")
                    && request["query"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("discountCodeBasicCreate")
                {
                    created_in
                        .lock()
                        .unwrap()
                        .push(request["variables"]["basicCodeDiscount"].clone());
                    (
                        "200 OK",
                        json!({"data": {"discountCodeBasicCreate": {
                        "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1"}, "userErrors": []}}}),
                    )
                } else {
                    ("404 Not Found", json!({"errors": "not found"}))
                };
                let text = answer.to_string();
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        FakeShopify { base, down, created }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn created(&self) -> Vec<Value> {
        self.created.lock().unwrap().clone()
    }
}

/// A shop whose points buy "5.00 USD off" for 300, with its Admin API at `shopify`.
fn redeeming_server(shopify: &FakeShopify) -> Server {
    redeeming_server_in(shopify, "UTC", "")
}

/// [`redeeming_server`] in the time zone `tz`, with `points` added to its `[points]`.
fn redeeming_server_in(shopify: &FakeShopify, tz: &str, points: &str) -> Server {
    let server = Server::start_with(
        &["--now", "2022-01-01T00:30:00Z"],
        &[("SHOP_ADMIN_TOKEN", "shpat_local")],
    );
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!(
            "shop = \"demo.myshopify.com\"\ntime_zone = \"{tz}\"\n[admin_api]\nbase_url = \"{}\"\naccess_token_secret = \"SHOP_ADMIN_TOKEN\"\n\
             [points]\nenabled = true\nper_currency_unit = \"1\"\npending_days = 14\n{points}\
             [[points.rewards]]\npoints = 300\namount_off = \"5\"\n[[points.rewards]]\npoints = 1000\npercent_off = \"20\"\n",
            shopify.base
        ),
    )
    .unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    ok(post_shopify(
        &server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
    tick(&server, "2022-01-19T10:00:00Z");
    assert_eq!(balance(&server), (388, 0, 388));
    server
}

/// The points page link in the "now available" email.
fn points_link(server: &Server) -> String {
    let mail = emails(server)
        .into_iter()
        .find(|m| m.contains("ready to spend"))
        .expect("the email");
    let start = mail.find("Turn them into a discount: ").expect("a points link")
        + "Turn them into a discount: ".len();
    mail[start..].split_whitespace().next().unwrap().to_string()
}

/// The redeem buttons' links on the points page.
fn redeem_links(page: &str) -> Vec<String> {
    page.split("action=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

fn post(url: &str) -> String {
    reqwest::blocking::Client::new()
        .post(url)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn one_tap_turns_points_into_a_real_code_exactly_once_even_when_tapped_twice_at_once() {
    let shopify = FakeShopify::start();
    let server = redeeming_server(&shopify);
    let page = reqwest::blocking::get(points_link(&server))
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("You have 388 points to spend"), "{page}");
    assert!(page.contains("300 points: 5.00 USD off"), "{page}");
    assert!(
        page.contains("1000 points: 20% off (612 more points needed)"),
        "{page}"
    );
    assert_eq!(
        balance(&server),
        (388, 0, 388),
        "opening the page changes nothing"
    );
    let links = redeem_links(&page);
    assert_eq!(links.len(), 1, "only the affordable reward is a button: {page}");
    // A GET of the redeem link (a mail scanner) spends nothing.
    let _ = reqwest::blocking::get(&links[0]).unwrap().text().unwrap();
    assert_eq!(balance(&server), (388, 0, 388));

    // Two taps racing, then a third.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| post(&links[0]));
        let b = s.spawn(|| post(&links[0]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let again = post(&links[0]);
    let code_of = |page: &str| {
        page.split("Your code: ")
            .nth(1)
            .map(|r| r.split('<').next().unwrap().to_string())
    };
    let code = code_of(&a)
        .or_else(|| code_of(&b))
        .unwrap_or_else(|| panic!("a code: {a}\n{b}"));
    assert!(code.starts_with("PTS-"), "{code}");
    assert_eq!(
        code_of(&again).as_deref(),
        Some(code.as_str()),
        "the third tap shows the same code: {again}"
    );
    assert!(again.contains("5.00 USD off, for 300 points"), "{again}");
    assert_eq!(balance(&server), (88, 0, 88), "debited once");
    let redeems: Vec<_> = kinds(&server)
        .into_iter()
        .filter(|(k, _)| k == "redeem")
        .collect();
    assert_eq!(redeems, [("redeem".to_string(), -300)]);
    let created = shopify.created();
    assert_eq!(created.len(), 1, "one code created in the shop: {created:?}");
    assert_eq!(created[0]["code"], code.as_str());
    assert_eq!(created[0]["usageLimit"], 1);

    // The code is emailed too (transactional), once.
    tick(&server, "2022-01-19T11:00:00Z");
    tick(&server, "2022-01-19T12:00:00Z");
    let reward = message(&outbox(&server), "reward-code").clone();
    assert_eq!(reward["status"], "sent", "{reward}");
    assert_eq!(reward["subject"], format!("Your reward code: {code}"));
    assert_eq!(
        shopify.created().len(),
        1,
        "the email did not create a second code"
    );
}

#[test]
fn a_code_the_shop_cannot_create_yet_keeps_the_debit_on_hold_and_is_retried_until_it_exists() {
    let shopify = FakeShopify::start();
    let server = redeeming_server(&shopify);
    let page = reqwest::blocking::get(points_link(&server))
        .unwrap()
        .text()
        .unwrap();
    let links = redeem_links(&page);
    shopify.set_down(true);
    let first = post(&links[0]);
    assert!(first.contains("Your reward is on its way"), "{first}");
    assert!(first.contains("set aside 300 points for 5.00 USD off"), "{first}");
    assert_eq!(balance(&server), (88, 0, 88), "held, not lost");
    tick(&server, "2022-01-19T10:30:00Z");
    let reward = message(&outbox(&server), "reward-code").clone();
    assert_eq!(reward["status"], "planned", "{reward}");
    assert!(
        reward["reason"]
            .as_str()
            .unwrap()
            .starts_with("retrying: discount code:"),
        "{reward}"
    );
    assert!(shopify.created().is_empty());

    shopify.set_down(false);
    tick(&server, "2022-01-20T10:30:00Z");
    let reward = message(&outbox(&server), "reward-code").clone();
    assert_eq!(reward["status"], "sent", "{reward}");
    let created = shopify.created();
    assert_eq!(created.len(), 1);
    let code = created[0]["code"].as_str().unwrap().to_string();
    let mail = emails(&server)
        .into_iter()
        .find(|m| m.contains("Your reward code"))
        .expect("the code email");
    assert!(mail.contains(&code) && mail.contains("It works once"), "{mail}");
    // The link now shows the code, and the balance was debited once.
    assert!(post(&links[0]).contains(&format!("Your code: {code}")));
    assert_eq!(balance(&server), (88, 0, 88));
}

/// POSTs a form body (`application/x-www-form-urlencoded`) and returns the status and page.
fn post_form(url: &str, form: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

/// The birthday form's action on the points page.
fn birthday_link(page: &str) -> String {
    redeem_links(page)
        .into_iter()
        .last()
        .filter(|_| page.contains("Save my birthday"))
        .unwrap_or_else(|| panic!("a birthday form: {page}"))
}

#[test]
fn the_birthday_given_on_the_points_page_earns_its_bonus_once_a_year_on_the_day_in_the_shops_zone() {
    // Auckland: 10:00 on 28 February 2022 (NZDT, UTC+13) is 21:00 UTC on the 27th.
    let shopify = FakeShopify::start();
    let server = redeeming_server_in(&shopify, "Pacific/Auckland", "birthday_bonus = 50\n");
    // 10:00 UTC was 23:00 in Auckland: the "now available" email waited for the morning.
    tick(&server, "2022-01-19T22:00:00Z");
    let page = reqwest::blocking::get(points_link(&server))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Tell us the day and month of your birthday, and we will add 50 points on the day."),
        "{page}"
    );
    let form = birthday_link(&page);

    // Bad input: a clear error, a 400, and nothing stored or planned.
    for (body, error) in [
        (
            "day=12",
            "Please choose both the day and the month of your birthday. Nothing was saved.",
        ),
        (
            "day=&month=3",
            "Please choose both the day and the month of your birthday. Nothing was saved.",
        ),
        ("day=30&month=2", "That month has no such day. Nothing was saved."),
        ("day=31&month=4", "That month has no such day. Nothing was saved."),
        (
            "day=0&month=5",
            "That is not a day and a month: the day is 1 to 31, the month 1 to 12. Nothing was saved.",
        ),
        (
            "day=12&month=13",
            "That is not a day and a month: the day is 1 to 31, the month 1 to 12. Nothing was saved.",
        ),
        (
            "day=twelve&month=5",
            "That is not a day and a month: the day is 1 to 31, the month 1 to 12. Nothing was saved.",
        ),
    ] {
        let (status, page) = post_form(&form, body);
        assert_eq!(status, 400, "{body}: {page}");
        assert!(page.contains(error), "{body}: {page}");
    }
    assert!(
        !outbox(&server).iter().any(|m| m["step"] == "birthday"),
        "nothing planned"
    );
    let page = reqwest::blocking::get(points_link(&server))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Tell us the day and month"),
        "nothing stored: {page}"
    );
    // A GET of the form's link (a mail scanner) stores nothing either.
    let _ = reqwest::blocking::get(&form).unwrap().text().unwrap();
    assert!(!outbox(&server).iter().any(|m| m["step"] == "birthday"));

    // 29 February: kept on the 28th in 2022, a common year.
    let (status, saved) = post_form(&form, "day=29&month=2");
    assert_eq!(status, 200, "{saved}");
    assert!(
        saved.contains("Thank you: we will add 50 points on your birthday, 29 February."),
        "{saved}"
    );
    assert!(saved.contains("<option value=\"29\" selected>"), "{saved}");
    let planned = message(&outbox(&server), "birthday").clone();
    assert_eq!(planned["due_at"], "2022-02-27T21:00:00+00:00", "{planned}");

    tick(&server, "2022-02-27T20:59:00Z");
    assert_eq!(balance(&server), (388, 0, 388), "not yet the 28th in Auckland");
    tick(&server, "2022-02-27T21:00:00Z");
    // The same tick delivered twice, and again later that day.
    tick(&server, "2022-02-27T21:00:00Z");
    tick(&server, "2022-02-28T08:00:00Z");
    assert_eq!(balance(&server), (438, 0, 438), "credited once");
    let bonus = points(&server)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "bonus")
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(bonus.len(), 1, "{bonus:?}");
    assert_eq!(bonus[0]["points"], 50);
    assert_eq!(
        bonus[0]["source"],
        json!({ "type": "bonus", "bonus": "birthday" })
    );
    let greetings: Vec<String> = emails(&server)
        .into_iter()
        .filter(|m| m.contains("Happy birthday"))
        .collect();
    assert_eq!(greetings.len(), 1, "one birthday email");
    assert!(
        greetings[0].contains("we've added 50 points to your account: you now have 438 points to spend."),
        "{}",
        greetings[0]
    );
    assert!(
        greetings[0].contains("Turn them into a discount: "),
        "{}",
        greetings[0]
    );

    // Next year's is planned for 28 February 2023; changing the birthday to a later day of
    // 2022 earns nothing more this year.
    let next: Vec<Value> = outbox(&server)
        .into_iter()
        .filter(|m| m["step"] == "birthday" && m["status"] == "planned")
        .collect();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0]["due_at"], "2023-02-27T21:00:00+00:00");
    let (status, moved) = post_form(&form, "day=20&month=3");
    assert_eq!(status, 200, "{moved}");
    assert!(
        moved.contains("we will add 50 points on your birthday, 20 March."),
        "{moved}"
    );
    tick(&server, "2022-03-19T21:00:00Z");
    assert_eq!(balance(&server), (438, 0, 438), "once a year, whatever the day");
    let skipped = outbox(&server)
        .into_iter()
        .find(|m| m["step"] == "birthday" && m["due_at"] == "2022-03-19T21:00:00+00:00")
        .expect("the 20 March message");
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(
        skipped["reason"],
        "skipped: this year's birthday bonus was already given"
    );
    // The old day's message for 2023 finds the birthday moved, and 2023's new one is planned.
    let planned: Vec<String> = outbox(&server)
        .into_iter()
        .filter(|m| m["step"] == "birthday" && m["status"] == "planned")
        .map(|m| m["due_at"].as_str().unwrap().to_string())
        .collect();
    assert!(
        planned.contains(&"2023-03-19T21:00:00+00:00".to_string()),
        "{planned:?}"
    );
}

#[test]
fn other_flows_messages_show_the_points_balance_when_points_are_on_and_never_when_off() {
    let thank_you = |server: &Server| {
        tick(server, "2022-01-01T02:00:00Z");
        emails(server)
            .into_iter()
            .find(|m| m.contains("We're preparing your order"))
            .expect("the thank-you email")
    };
    let on = server_with("welcome_bonus = 100\n");
    ok(post_shopify(&on, "orders/paid", "o-1", &paid_order()));
    let mail = thank_you(&on);
    assert!(
        mail.contains("You have 100 points to spend, and 388 more on their way."),
        "{mail}"
    );
    assert!(
        mail.contains("You have <strong>100</strong> points to spend, and 388 more on their way."),
        "the HTML part too: {mail}"
    );

    let off = Server::start_with(&["--now", "2022-01-01T00:30:00Z"], &[]);
    let file = off.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        "shop = \"demo.myshopify.com\"\n[points]\nenabled = false\n",
    )
    .unwrap();
    assert!(
        off.cli(&["config", "load", file.to_str().unwrap()])
            .status
            .success()
    );
    ok(post_shopify(&off, "orders/paid", "o-1", &paid_order()));
    let mail = thank_you(&off);
    assert!(!mail.contains("points"), "{mail}");
}

fn metrics(server: &Server, args: &[&str]) -> Value {
    let mut all = vec!["metrics", "--shop", "demo.myshopify.com", "--json"];
    all.extend_from_slice(args);
    let out = server.cli(&all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn points_issued_redeemed_and_outstanding_are_in_the_metrics_and_on_the_dashboard_and_a_rebuild_agrees() {
    let shopify = FakeShopify::start();
    let server = redeeming_server(&shopify);
    let page = reqwest::blocking::get(points_link(&server))
        .unwrap()
        .text()
        .unwrap();
    assert!(post(&redeem_links(&page)[0]).contains("Your code: PTS-"));
    let out = server.cli(&[
        "points",
        "adjust",
        "--shop",
        "demo.myshopify.com",
        "--customer",
        CUSTOMER,
        "--points",
        "-20",
        "--reason",
        "goodwill reversal",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(balance(&server), (68, 0, 68));

    let figures = metrics(&server, &[])["points"].clone();
    assert_eq!(
        figures,
        json!({
            "issued": 388, "redeemed": 300, "expired": 0, "clawed_back": 0, "adjusted": -20,
            "outstanding": 68, "outstanding_available": 68, "outstanding_pending": 0,
        })
    );
    // The flows count within the range; outstanding is everything up to its end.
    assert_eq!(
        metrics(&server, &["--from", "2022-01-02"])["points"],
        json!({
            "issued": 0, "redeemed": 0, "expired": 0, "clawed_back": 0, "adjusted": -20,
            "outstanding": 68, "outstanding_available": 68, "outstanding_pending": 0,
        })
    );
    // Before the first point there is nothing to show: the object is absent, as for a shop
    // without points, so such a shop's JSON keeps exactly the documented keys.
    assert_eq!(metrics(&server, &["--to", "2021-12-31"]).get("points"), None);
    let out = server.cli(&["metrics", "rebuild", "--shop", "demo.myshopify.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        metrics(&server, &[])["points"],
        figures,
        "a rebuild gives the same figures"
    );

    let text = server.cli(&["metrics", "--shop", "demo.myshopify.com"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("points outstanding             68 (68 available, 0 pending)"),
        "{text}"
    );
    let dashboard = reqwest::blocking::get(format!("{}/dashboard?shop=demo.myshopify.com", server.base))
        .unwrap()
        .text()
        .unwrap();
    for (metric, label, value) in [
        ("points_issued", "Points issued", "388"),
        ("points_redeemed", "Points redeemed", "300"),
        ("points_expired", "Points expired", "0"),
        ("points_outstanding", "Points outstanding (liability)", "68"),
        ("points_outstanding_available", "Of which spendable now", "68"),
    ] {
        let tile = format!(
            "<div class=\"tile\" data-metric=\"{metric}\"><div class=\"label\">{label}</div><div class=\"value\">{value}</div></div>"
        );
        assert!(dashboard.contains(&tile), "{tile}\n{dashboard}");
    }
}

#[test]
fn rating_a_product_through_the_review_request_earns_the_review_bonus_once_whatever_the_stars() {
    let server = server_with("review_bonus = 20\n");
    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    ok(post_shopify(
        &server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
    // Delivered 2022-01-04T19:32Z; the review request goes 14 days later.
    tick(&server, "2022-01-18T19:40:00Z");
    let request = emails(&server)
        .into_iter()
        .find(|m| m.contains("1 star: "))
        .expect("the review request");
    let link = |label: &str| {
        let start = request
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {request}"))
            + label.len();
        request[start..].split_whitespace().next().unwrap().to_string()
    };
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let rate = |url: &str| no_redirects.post(url).send().unwrap().status().as_u16();
    let before = balance(&server).0;
    // A GET (a mail scanner) gives nothing; a rating does, once, whether 5 stars or 3.
    let _ = reqwest::blocking::get(link("5 stars: ")).unwrap();
    assert_eq!(balance(&server).0, before);
    assert_eq!(
        rate(&link("5 stars: ")),
        303,
        "a good rating goes on to the review page"
    );
    assert_eq!(rate(&link("5 stars: ")), 303);
    assert_eq!(
        rate(&link("3 stars: ")),
        200,
        "a low one is asked what went wrong"
    );
    assert_eq!(balance(&server).0, before + 20);
    let reviews: Vec<Value> = points(&server)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"]["type"] == "review")
        .cloned()
        .collect();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0]["kind"], "bonus");
    assert_eq!(reviews[0]["points"], 20);
    assert_eq!(reviews[0]["source"]["order"], ORDER);
}

#[test]
fn a_sign_up_joins_with_the_welcome_bonus_before_any_order_and_the_first_order_adds_no_second() {
    let server = server_with("welcome_bonus = 100\n");
    let mut customer: Value = serde_json::from_slice(&fixture("shopify/customers_create.json")).unwrap();
    customer["email_marketing_consent"] = json!({ "state": "subscribed", "opt_in_level": "single_opt_in" });
    let body = serde_json::to_vec(&customer).unwrap();
    ok(post_shopify(&server, "customers/create", "c-1", &body));
    ok(post_shopify(&server, "customers/create", "c-1-again", &body));
    assert_eq!(balance(&server), (100, 0, 100));
    assert_eq!(kinds(&server), [("bonus".to_string(), 100)]);
    tick(&server, "2022-01-01T01:00:00Z");
    let welcome = message(&outbox(&server), "welcome").clone();
    assert_eq!(welcome["status"], "sent", "{welcome}");
    assert!(
        welcome["subject"]
            .as_str()
            .unwrap()
            .starts_with("You're in: 100 points to start with"),
        "{welcome}"
    );

    ok(post_shopify(&server, "orders/paid", "o-1", &paid_order()));
    assert_eq!(
        kinds(&server),
        [("bonus".to_string(), 100), ("earn".to_string(), 388)]
    );
    let welcomes = outbox(&server)
        .into_iter()
        .filter(|m| m["flow"] == "points" && m["step"] == "welcome")
        .count();
    assert_eq!(welcomes, 1);
}
