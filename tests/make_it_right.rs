//! Make-it-right end to end: signed Shopify webhooks into `aftersale serve` (an order and its
//! delivery), the check-in sent by `aftersale tick --now`, its "something went wrong" link
//! followed over HTTP to the form, the form posted (twice at once), the code created in a
//! local Shopify Admin API, the case worked with `aftersale cases`, and the review request
//! held until the case is resolved.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::mail::emails;
use support::shopify_admin::FakeShopifyAdmin;
use support::*;

const ORDER: &str = "820982911946154508";

fn server(admin: &FakeShopifyAdmin) -> Server {
    let server = Server::start_with(
        &["--now", "2022-01-01T00:30:00Z"],
        &[("SHOP_ADMIN_TOKEN", "shpat_local")],
    );
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        format!(
            "shop = \"demo.myshopify.com\"\nsupport_email = \"help@demo.example\"\n\
             [admin_api]\nbase_url = \"{}\"\naccess_token_secret = \"SHOP_ADMIN_TOKEN\"\n\
             [flows.make_it_right]\nresponse_hours = 12\n\
             [flows.make_it_right.menu]\nlate = {{ discount_percent = 10 }}\nmissing_item = \"support\"\n",
            admin.base
        ),
    )
    .unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server
}

fn ok(response: (u16, String)) {
    assert_eq!(response.0, 200, "{}", response.1);
}

/// Due work as of `now`; the links in what it sends point at this server.
fn tick(server: &Server, now: &str) {
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
}

/// A page's words, without markup.
fn visible(html: &str) -> String {
    let body = html.split_once("<body>").map_or(html, |(_, b)| b);
    let (mut text, mut in_tag) = (String::new(), false);
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&#x27;", "'").replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn post(url: &str, form: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .expect("POST");
    (response.status().as_u16(), response.text().unwrap())
}

/// Ordered, delivered (2022-01-04 19:32 UTC), checked in a day later; the "something went
/// wrong" link confirmed. Returns the form's address (`/l/{token}/case`).
fn something_went_wrong(server: &Server) -> String {
    ok(post_shopify(
        server,
        "orders/paid",
        "o-1",
        &fixture("shopify/orders_paid.json"),
    ));
    ok(post_shopify(
        server,
        "fulfillment_events/create",
        "f-1",
        &fixture("shopify/fulfillment_events_create.json"),
    ));
    tick(server, "2022-01-05T19:32:00Z");
    let check_in = emails(server)
        .into_iter()
        .find(|m| m.contains("Did everything arrive OK?"))
        .expect("the check-in");
    let start = check_in.find("Something went wrong: ").expect("the link") + "Something went wrong: ".len();
    let link = check_in[start..].split_whitespace().next().unwrap().to_string();

    // A GET (a mail scanner) only asks; the confirm button's POST opens the form.
    let page = reqwest::blocking::get(&link).unwrap().text().unwrap();
    assert!(!visible(&page).contains("Tell us what happened"), "{page}");
    let (status, page) = post(&link, "");
    assert_eq!(status, 200);
    let words = visible(&page);
    assert!(
        words.contains("Tell us what happened and we'll make it right.")
            && words.contains("It arrived damaged")
            && words.contains("Anything you'd like to add? (optional)"),
        "{words}"
    );
    let token = link.rsplit('/').next().unwrap();
    assert!(page.contains(&format!("action=\"/l/{token}/case\"")), "{page}");
    format!("{link}/case")
}

/// The check-in's "Yes, all good" link.
fn all_good_link(server: &Server) -> String {
    let check_in = emails(server)
        .into_iter()
        .find(|m| m.contains("Did everything arrive OK?"))
        .expect("the check-in");
    let start = check_in.find("Yes, all good: ").expect("the link") + "Yes, all good: ".len();
    check_in[start..].split_whitespace().next().unwrap().to_string()
}

/// A second `serve` on the same data dir whose clock starts at `now` (to see links expire).
fn later_server(server: &Server, now: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--now",
            now,
            "--data-dir",
        ])
        .arg(server.data_dir())
        .env("SHOPIFY_API_SECRET", SHOPIFY_SECRET)
        .env("SHOP_ADMIN_TOKEN", "shpat_local")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    for _ in 0..400 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Server::adopt(child, base, tempfile::tempdir().unwrap())
}

fn alerts(server: &Server) -> Vec<String> {
    std::fs::read_to_string(server.data_dir().join("outbox/alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn cases(server: &Server) -> Vec<Value> {
    server.cli_json(&["cases", "--shop", "demo.myshopify.com", "--json"])
}

fn outbox_message(server: &Server, flow: &str, step: &str) -> Value {
    server
        .cli_json(&["outbox", "--json"])
        .into_iter()
        .find(|m| m["flow"] == flow && m["step"] == step)
        .unwrap_or_else(|| panic!("no {flow}/{step}"))
}

#[test]
fn a_late_parcel_gets_one_real_code_however_often_the_form_is_sent_shown_on_the_page_and_emailed() {
    let admin = FakeShopifyAdmin::start();
    let server = server(&admin);
    let form = something_went_wrong(&server);

    // Two submits racing (a double tap), then a third with another answer.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| post(&form, "kind=late&comment=Two+days+late"));
        let b = s.spawn(|| post(&form, "kind=late&comment=Two+days+late"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let again = post(&form, "kind=damaged&comment=changed+my+mind");
    let created = admin.created();
    assert_eq!(created.len(), 1, "one code created in the shop: {created:?}");
    let code = created[0]["code"].as_str().unwrap().to_string();
    assert!(code.starts_with("SORRY-"), "{code}");
    assert_eq!(created[0]["usageLimit"], 1);
    assert_eq!(
        created[0]["customerSelection"],
        serde_json::json!({ "customers": { "add": ["gid://shopify/Customer/115310627314723954"] } }),
        "the code is tied to the customer's account"
    );
    for (status, page) in [&a, &b, &again] {
        assert_eq!(*status, 200);
        let words = visible(page);
        assert!(
            words.contains(&format!(
                "Here is 10% off your next order, with this code: {code}"
            )),
            "every answer shows the one code: {words}"
        );
    }

    assert!(
        alerts(&server).is_empty(),
        "a code, not a person: {:#?}",
        alerts(&server)
    );
    let all = cases(&server);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        (
            all[0]["order_id"].as_str(),
            all[0]["kind"].as_str(),
            all[0]["resolution"].as_str()
        ),
        (Some(ORDER), Some("late"), Some("code"))
    );
    assert_eq!(all[0]["comment"], "Two days late", "the first answer is the case");

    // The email goes on the next tick, once, with the same code; it creates nothing more.
    tick(&server, "2022-01-05T20:00:00Z");
    tick(&server, "2022-01-05T21:00:00Z");
    let credit = outbox_message(&server, "make-it-right", "credit");
    assert_eq!(credit["status"], "sent", "{credit}");
    let mail: Vec<String> = emails(&server)
        .into_iter()
        .filter(|m| m.contains(&code))
        .collect();
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("Subject: John, we're sorry: here is 10% off your next order"),
        "{}",
        mail[0]
    );
    assert!(mail[0].contains("X-Aftersale-Class: transactional"));
    assert_eq!(admin.created().len(), 1, "the email did not create a second code");
}

#[test]
fn a_missing_item_goes_to_a_person_and_holds_the_review_request_until_support_resolves_the_case() {
    let admin = FakeShopifyAdmin::start();
    let server = server(&admin);
    let form = something_went_wrong(&server);
    let (status, page) = post(&form, "kind=missing_item&comment=The+lid+was+not+in+the+box");
    assert_eq!(status, 200);
    assert!(visible(&page).contains("will reply within 12 hours"), "{page}");
    assert!(admin.created().is_empty(), "a person, not a code");
    let alerts = std::fs::read_to_string(server.data_dir().join("outbox/alerts.jsonl")).unwrap();
    let alert = alerts
        .lines()
        .find(|l| l.contains("make it right (missing_item)"))
        .unwrap_or_else(|| panic!("{alerts}"));
    assert!(alert.contains("Items: 1 x IPod Nano - 8GB"), "{alert}");
    assert!(alert.contains("The lid was not in the box"), "{alert}");
    assert!(alert.contains("within 12 hours"), "{alert}");

    // The review request falls due 14 days after delivery, while the case is open: it waits.
    tick(&server, "2022-01-18T19:32:00Z");
    let request = outbox_message(&server, "review-request", "request");
    assert_eq!(request["status"], "planned", "{request}");
    assert_eq!(request["reason"], "deferred: make-it-right case open");

    // Support replies, then resolves it; the request goes on the next tick after that.
    let out = server.cli(&[
        "cases",
        "--shop",
        "demo.myshopify.com",
        "--answered",
        ORDER,
        "--now",
        "2022-01-01T02:31:00Z",
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.starts_with(&format!("case for order {ORDER} answered; first response after ")),
        "{said}"
    );
    let minutes: i64 = cases(&server)[0]["first_response_minutes"].as_i64().unwrap();
    assert!(
        (60..=121).contains(&minutes),
        "opened at the server's 00:30 or so: {minutes}"
    );
    let out = server.cli(&["cases", "--shop", "demo.myshopify.com", "--resolved", ORDER]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(cases(&server)[0]["resolved_at"].is_string(), "resolved");
    tick(&server, "2022-01-19T20:00:00Z");
    let request = outbox_message(&server, "review-request", "request");
    assert_eq!(request["status"], "sent", "{request}");
}

#[test]
fn a_major_problem_alerts_support_exactly_once_however_often_the_link_and_the_form_are_sent() {
    let admin = FakeShopifyAdmin::start();
    let server = server(&admin);
    let form = something_went_wrong(&server);
    // The confirm pressed again, then the form sent twice at once (a double tap).
    let link = form.trim_end_matches("/case").to_string();
    ok(post(&link, ""));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| post(&form, "kind=damaged&comment=The+glass+is+broken"));
        let b = s.spawn(|| post(&form, "kind=damaged&comment=The+glass+is+broken"));
        (a.join().unwrap(), b.join().unwrap())
    });
    for (status, page) in [&a, &b] {
        assert_eq!(*status, 200);
        assert!(visible(page).contains("will reply within 12 hours"), "{page}");
    }
    let alerts = alerts(&server);
    assert_eq!(alerts.len(), 1, "one problem, one alert: {alerts:#?}");
    assert!(
        alerts[0].contains("make it right (damaged)") && alerts[0].contains("The glass is broken"),
        "{}",
        alerts[0]
    );
    assert_eq!(cases(&server).len(), 1);
    assert!(admin.created().is_empty(), "a person, not a code");
}

#[test]
fn bad_forms_and_bad_case_commands_say_what_is_wrong_and_change_nothing() {
    let admin = FakeShopifyAdmin::start();
    let server = server(&admin);
    let form = something_went_wrong(&server);
    let alerts_before = std::fs::read_to_string(server.data_dir().join("outbox/alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .count();
    let long = format!("kind=other&comment={}", "a".repeat(2001));
    for (body, says) in [
        ("", "Please choose what happened."),
        ("kind=stolen", "Please choose one of the options below."),
        (
            long.as_str(),
            "Your note is too long: please keep it under 2000 characters.",
        ),
    ] {
        let (status, page) = post(&form, body);
        assert_eq!(status, 400, "{body}");
        assert!(visible(&page).contains(says), "{body}: {page}");
    }
    // A tampered link, the check-in's other link ("all good") and an expired link each get
    // a page that says so.
    let forged = form.replace("/case", "x/case");
    let (status, page) = post(&forged, "kind=late");
    assert_eq!(status, 400, "{page}");
    assert!(visible(&page).contains("This link is not valid"), "{page}");
    let all_good = all_good_link(&server);
    let (status, page) = post(&format!("{all_good}/case"), "kind=late");
    assert_eq!(status, 400, "{page}");
    assert!(visible(&page).contains("This link is not valid"), "{page}");
    let later = later_server(&server, "2022-06-01T00:00:00Z");
    let (status, page) = post(&form.replace(&server.base, &later.base), "kind=late");
    assert_eq!(status, 410, "{page}");
    assert!(visible(&page).contains("This link has expired"), "{page}");
    drop(later);
    assert!(cases(&server).is_empty(), "nothing recorded");
    assert!(admin.created().is_empty());
    let alerts_after = std::fs::read_to_string(server.data_dir().join("outbox/alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(alerts_after, alerts_before, "nobody alerted");

    // The CLI: an unknown order, a bad id, both flags, a bad time; then answering twice.
    let run = |args: &[&str]| {
        let mut all = vec!["cases", "--shop", "demo.myshopify.com"];
        all.extend_from_slice(args);
        let out = server.cli(&all);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (args, says) in [
        (vec!["--answered", "404"], "no make-it-right case for order 404"),
        (vec!["--resolved", "  "], "--resolved"),
        (
            vec!["--answered", ORDER, "--resolved", ORDER],
            "cannot be used with",
        ),
        (vec!["--answered", ORDER, "--now", "yesterday"], "--now"),
    ] {
        let (ok, stderr) = run(&args);
        assert!(!ok && stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = server.cli(&["cases", "--shop", "not a shop"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--shop"), "{stderr}");
    assert!(cases(&server).is_empty());

    let (status, _) = post(&form, "kind=missing_item");
    assert_eq!(status, 200);
    assert!(run(&["--answered", ORDER]).0);
    let (ok, stderr) = run(&["--answered", ORDER]);
    assert!(!ok && stderr.contains("already answered"), "{stderr}");
    let case = &cases(&server)[0];
    assert!(
        case["answered_at"].is_string() && case["resolved_at"].is_null(),
        "{case}"
    );
}
