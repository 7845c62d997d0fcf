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
    let server = Server::start_with(
        &["--now", "2022-01-01T00:30:00Z"],
        &[("SHOP_ADMIN_TOKEN", "shpat_local")],
    );
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!(
            "shop = \"demo.myshopify.com\"\n[admin_api]\nbase_url = \"{}\"\naccess_token_secret = \"SHOP_ADMIN_TOKEN\"\n\
             [points]\nenabled = true\nper_currency_unit = \"1\"\npending_days = 14\n\
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
