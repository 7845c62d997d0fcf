//! The CLI's own bad inputs: clear errors, non-zero exits, nothing half-done.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use support::{Server, binary, fixture, post_shopify};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(binary())
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_are_named() {
    let (ok, err) = run(&["serve", "--listen", "not-an-address"]);
    assert!(!ok);
    assert!(err.contains("--listen"), "{err}");

    let (ok, err) = run(&["frobnicate"]);
    assert!(!ok);
    assert!(err.contains("unrecognized subcommand"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (ok, err) = run(&["events", "--data-dir", data, "--shop", "bad#shop"]);
    assert!(!ok);
    assert!(err.contains("--shop") && err.contains("not allowed"), "{err}");

    let (ok, err) = run(&["dead-letters", "--data-dir", data, "replay", "--id", "dl-missing"]);
    assert!(!ok);
    assert!(err.contains("no pending dead letter with id dl-missing"), "{err}");
}

#[test]
fn a_broken_secrets_file_stops_serve_with_the_file_and_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.toml");
    std::fs::write(&file, "[woocommerce.sites]\n\"shop.example\" = \"\"\n").unwrap();
    let (ok, err) = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--secrets-file",
        file.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("secrets.toml") && err.contains("secret is empty"),
        "{err}"
    );

    let (ok, err) = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--secrets-file",
        "/nonexistent/secrets.toml",
    ]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/secrets.toml"), "{err}");
}

#[test]
fn an_empty_store_lists_nothing_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["events", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}

/// A shop with two VIP tiers; one paid order is enough for Silver.
const VIP_CONFIG: &str = r#"
shop = "demo.myshopify.com"
[flows.vip]
grace_days = 30
[[flows.vip.tiers]]
name = "Silver"
min_orders = 1
[[flows.vip.tiers]]
name = "Gold"
min_net_spend = { amount = "500", currency = "USD" }
"#;

/// Runs a command on `data` and returns (success, stdout, stderr).
fn run_on(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

/// `campaign create` arguments, with `changes` replacing or adding flags (`--tier`s given
/// replace the default one, and each adds a tier).
fn campaign_args(changes: &[(&str, &str)]) -> Vec<String> {
    let mut flags = vec![
        ("--shop", "demo.myshopify.com".to_string()),
        ("--name", "Autumn drop".to_string()),
        ("--public-start", in_days(10)),
        ("--lead-days", "3".to_string()),
        ("--tier", "Gold".to_string()),
        (
            "--message",
            "The autumn collection, before anyone else.".to_string(),
        ),
    ];
    if changes.iter().any(|(f, _)| *f == "--tier") {
        flags.retain(|(f, _)| *f != "--tier");
    }
    for (flag, value) in changes {
        if *flag == "--message-file" {
            flags.retain(|(f, _)| *f != "--message");
        }
        match flags.iter_mut().find(|(f, _)| f == flag && *flag != "--tier") {
            Some(entry) => entry.1 = value.to_string(),
            None => flags.push((flag, value.to_string())),
        }
    }
    let mut args = vec!["campaign".to_string(), "create".to_string()];
    for (flag, value) in flags {
        args.extend([flag.to_string(), value]);
    }
    args
}

fn create_campaign(data: &Path, changes: &[(&str, &str)], json: bool) -> (bool, String, String) {
    let mut args = campaign_args(changes);
    if json {
        args.push("--json".into());
    }
    run_on(data, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn load_vip_config(dir: &Path) {
    let file = dir.join("shop.toml");
    std::fs::write(&file, VIP_CONFIG).unwrap();
    let (ok, _, err) = run_on(&dir.join("data"), &["config", "load", file.to_str().unwrap()]);
    assert!(ok, "{err}");
}

#[test]
fn a_campaign_is_created_once_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    load_vip_config(dir.path());
    let data = dir.path().join("data");

    let (ok, out, err) = create_campaign(&data, &[("--tier", "Gold"), ("--tier", "Silver")], true);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["campaign"], "Autumn drop");
    assert_eq!(report["shop"], "demo.myshopify.com");
    // Nobody has ordered yet, so nobody is in a tier.
    assert_eq!(report["invited"], 0);
    assert!(report["first_send_at"].is_null());

    let (ok, _, err) = create_campaign(&data, &[("--name", "Autumn drop")], false);
    assert!(!ok);
    assert!(err.contains("'Autumn drop' already exists"), "{err}");

    let (ok, out, err) = run_on(
        &data,
        &["campaign", "list", "--shop", "demo.myshopify.com", "--json"],
    );
    assert!(ok, "{err}");
    let listed: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["name"], "Autumn drop");
    assert_eq!(listed[0]["lead_days"], 3);
    assert_eq!(listed[0]["tiers"], serde_json::json!(["Gold", "Silver"]));
    assert_eq!(listed[0]["public"], false);

    let (ok, out, _) = run_on(&data, &["campaign", "list", "--shop", "demo.myshopify.com"]);
    assert!(
        ok && out.contains("Autumn drop") && out.contains("Gold, Silver"),
        "{out}"
    );

    // A file holds the text just as well.
    let text = dir.path().join("launch.txt");
    std::fs::write(&text, "Winter, first for you.\n").unwrap();
    let (ok, out, err) = create_campaign(
        &data,
        &[
            ("--name", "Winter drop"),
            ("--message-file", text.to_str().unwrap()),
        ],
        false,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("'Winter drop' created") && out.contains("0 customers invited"),
        "{out}"
    );
}

#[test]
fn bad_campaigns_are_refused_with_the_problem_named_and_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    load_vip_config(dir.path());
    let data = dir.path().join("data");
    let empty_file = dir.path().join("empty.txt");
    std::fs::write(&empty_file, "  \n").unwrap();
    let past = in_days(-1);
    // (flags changed, what the error must say)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[("--public-start", "next tuesday")],
            &["--public-start", "RFC 3339"],
        ),
        (
            &[("--public-start", &past)],
            &["--public-start", "not in the future"],
        ),
        (&[("--lead-days", "0")], &["--lead-days", "between 1 and 30"]),
        (&[("--lead-days", "31")], &["--lead-days", "between 1 and 30"]),
        (
            &[("--tier", "Platinum")],
            &["'Platinum' is not a configured tier", "Silver, Gold"],
        ),
        (&[("--message", "   ")], &["--message", "must not be empty"]),
        (
            &[("--message-file", "/nonexistent/launch.txt")],
            &["--message-file", "/nonexistent/launch.txt"],
        ),
        (
            &[("--message-file", empty_file.to_str().unwrap())],
            &["--message-file", "must not be empty"],
        ),
        (&[("--name", "a#b")], &["--name", "without '#'"]),
    ];
    for (changes, expected) in cases {
        let (ok, _, err) = create_campaign(&data, changes, false);
        assert!(!ok, "{changes:?} was accepted");
        for part in *expected {
            assert!(err.contains(part), "{changes:?}: expected {part:?} in: {err}");
        }
    }
    // --message and --message-file together, or neither, is a usage error.
    let mut both = campaign_args(&[]);
    both.extend(["--message-file".into(), empty_file.to_str().unwrap().into()]);
    let (ok, _, err) = run_on(&data, &both.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ok && err.contains("--message-file"), "{err}");

    let (ok, out, _) = run_on(
        &data,
        &["campaign", "list", "--shop", "demo.myshopify.com", "--json"],
    );
    assert!(ok);
    assert!(out.is_empty(), "a refused campaign was stored: {out}");

    // A shop without tiers is told what to configure, not that every tier is unknown.
    let (ok, _, err) = create_campaign(
        &dir.path().join("empty-store"),
        &[("--shop", "other.myshopify.com")],
        false,
    );
    assert!(!ok);
    assert!(
        err.contains("no VIP tiers configured") && err.contains("config load"),
        "{err}"
    );
}

#[test]
fn a_campaign_invites_tier_members_and_the_outbox_shows_its_details() {
    let server = Server::start();
    let file = server.data_dir().join("shop.toml");
    std::fs::write(&file, VIP_CONFIG).unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, _) = post_shopify(
        &server,
        "orders/paid",
        "o-1",
        &fixture("shopify/orders_paid.json"),
    );
    assert_eq!(status, 200);

    let args = campaign_args(&[("--tier", "Silver"), ("--lead-days", "2")]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("--json");
    let report = server.cli_json(&args);
    assert_eq!(report[0]["invited"], 1, "{report:?}");
    assert!(report[0]["first_send_at"].is_string(), "{report:?}");

    let messages = server.cli_json(&["outbox", "--json"]);
    let you_first = messages
        .iter()
        .find(|m| m["flow"] == "early-access" && m["step"] == "you-first")
        .unwrap_or_else(|| panic!("no early-access/you-first in {messages:#?}"));
    assert_eq!(you_first["details"]["campaign"], "Autumn drop");
    let tier_entered = messages
        .iter()
        .find(|m| m["flow"] == "vip" && m["step"] == "tier-entered")
        .unwrap_or_else(|| panic!("no vip/tier-entered in {messages:#?}"));
    assert_eq!(tier_entered["details"]["tier"], "Silver");

    let out = server.cli(&["outbox"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("[campaign Autumn drop, public "), "{table}");
    assert!(table.contains("[tier Silver]"), "{table}");

    // Birthdays: a file with any bad line imports nothing and names every bad line.
    let bad = server.data_dir().join("bad-birthdays.csv");
    std::fs::write(&bad, "customer_id,birthday\n115310627314723954,02-30\n42;01-01\n").unwrap();
    let out = server.cli(&[
        "birthdays",
        "--shop",
        "demo.myshopify.com",
        "--file",
        bad.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("nothing imported") && err.contains("line 2: `02-30`") && err.contains("line 3:"),
        "{err}"
    );
    let good = server.data_dir().join("birthdays.csv");
    std::fs::write(&good, "customer_id,birthday\n115310627314723954,07-14\n").unwrap();
    let report = server.cli_json(&[
        "birthdays",
        "--shop",
        "demo.myshopify.com",
        "--file",
        good.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        (
            report[0]["imported"].as_u64(),
            report[0]["greetings_planned"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let messages = server.cli_json(&["outbox", "--json"]);
    assert!(
        messages
            .iter()
            .any(|m| m["flow"] == "vip" && m["step"] == "birthday"),
        "a Silver member's birthday greeting: {messages:#?}"
    );
    // Referrals: none yet, and an empty list is not an error.
    let out = server.cli(&["referrals", "--shop", "demo.myshopify.com"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 referred order(s)"));
}

#[test]
fn simulate_shows_a_replenishment_reminder_with_its_run_out_date() {
    let dir = tempfile::tempdir().unwrap();
    let order =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/shopify/orders_paid.json");
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        format!(
            r#"{{"at":"2022-01-01T00:00:00Z","platform":"shopify","topic":"orders/paid","shop":"demo.myshopify.com","body_file":"{}"}}"#,
            order.display()
        ),
    )
    .unwrap();
    let config = dir.path().join("shop.toml");
    std::fs::write(
        &config,
        "shop = \"demo.myshopify.com\"\n[[flows.replenishment.supply]]\nproduct_id = \"632910392\"\ndays_per_unit = 30\n",
    )
    .unwrap();
    let simulate = |json: bool| {
        let mut cmd = Command::new(binary());
        cmd.args(["simulate", "--events"])
            .arg(&events)
            .arg("--config")
            .arg(&config);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // Two units of a 30-day product bought on Jan 1 run out on Mar 2.
    let text = simulate(false);
    assert!(
        text.lines()
            .any(|l| l.contains("replenishment/reminder") && l.contains("runs out 2022-03-02")),
        "{text}"
    );
    let reminder = simulate(true)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["what"] == "replenishment/reminder (email)")
        .expect("a replenishment reminder in the timeline");
    assert_eq!(reminder["details"]["run_out_at"], "2022-03-02T00:00:00Z");
}

/// The links in a quoted-printable `.eml`, with soft line breaks undone.
fn links_in(eml: &str, base: &str) -> Vec<String> {
    let text = eml.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let prefix = format!("{base}/l/");
    let mut links = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(&prefix) {
        let token: String = rest[at + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
            .collect();
        links.push(format!("{prefix}{token}"));
        rest = &rest[at + prefix.len()..];
    }
    links
}

/// What a link does, read from its signed (not encrypted) claims.
fn action_of(link: &str) -> serde_json::Value {
    use base64::Engine;
    let token = link.rsplit('/').next().unwrap();
    let payload = token.split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).unwrap()["a"].clone()
}

fn sent_emails(data: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(data.join("outbox/email"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The README's walkthrough in 2022: `serve --now` and `tick --now` share one clock, so the
/// survey's links work when followed, and the answer is listed by `aftersale answers`.
#[test]
fn trying_it_in_2022_the_links_of_tick_now_work_on_serve_now_and_answers_are_listed() {
    let server = Server::start_with(&["--now", "2022-01-01T00:00:00Z"], &[]);
    let (status, _) = post_shopify(
        &server,
        "orders/paid",
        "o-1",
        &fixture("shopify/orders_paid.json"),
    );
    assert_eq!(status, 200);
    let listen = server.base.trim_start_matches("http://").to_string();
    let out = server.cli(&["tick", "--now", "2022-01-04T10:00:00Z", "--listen", &listen]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The links expired long ago by the real clock: tick says how to follow them.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expire 2022-03-05T10:00:00Z")
            && err.contains("aftersale serve --now 2022-01-04T10:00:00Z"),
        "{err}"
    );

    let survey = sent_emails(&server.data_dir())
        .into_iter()
        .find(|e| e.contains("Subject: How did we do"))
        .expect("the survey was sent");
    let links = links_in(&survey, &server.base);
    assert!(
        links.len() >= 16,
        "every survey link points at the server: {links:?}"
    );
    let csat_5 = links
        .iter()
        .find(|l| action_of(l) == serde_json::json!({ "k": "c", "v": 5 }))
        .expect("a CSAT 5 link");
    let client = reqwest::blocking::Client::new();
    let page = client.post(csat_5).send().unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().unwrap();
    assert!(!body.contains("expired"), "{body}");

    let answers = server.cli_json(&["answers", "--json"]);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["question"], "csat");
    assert_eq!(answers[0]["score"], 5);
    assert_eq!(answers[0]["customer_id"], "115310627314723954");
    assert!(
        answers[0]["answered_at"]
            .as_str()
            .unwrap()
            .starts_with("2022-01-01"),
        "answered on the server's clock: {answers:?}"
    );
    let out = server.cli(&["answers", "--shop", "demo.myshopify.com"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("csat") && table.contains("5/5"), "{table}");

    // The outbox says each status once.
    let out = server.cli(&["outbox"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(!table.contains("planned planned"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("thank-you/feedback") && l.contains(" sent ")),
        "{table}"
    );
}

#[test]
fn tick_links_point_at_the_public_url_from_the_environment() {
    let server = Server::start_with(&["--now", "2022-01-01T00:00:00Z"], &[]);
    post_shopify(
        &server,
        "orders/paid",
        "o-1",
        &fixture("shopify/orders_paid.json"),
    );
    let out = Command::new(binary())
        .args(["tick", "--now", "2022-01-04T10:00:00Z", "--data-dir"])
        .arg(server.data_dir())
        .env("AFTERSALE_PUBLIC_URL", "https://links.torrefazione.example/")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let survey = sent_emails(&server.data_dir())
        .into_iter()
        .find(|e| e.contains("Subject: How did we do"))
        .unwrap();
    assert!(
        links_in(&survey, "https://links.torrefazione.example").len() >= 16,
        "{survey}"
    );
    assert!(!survey.contains("127.0.0.1:8787"), "{survey}");
}

#[test]
fn config_check_refuses_each_contradiction_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[flows.vip.tiers]]\nname = \"Gold\"\nmin_orders = 4\n[[flows.vip.tiers]]\nname = \"Silver\"\nmin_orders = 2\n",
            "flows.vip.tiers: tier 'Gold' can never be reached: every customer who meets it also meets 'Silver'",
        ),
        (
            "locale = \"fr\"\n",
            "locale: 'fr' has no messages: the built-in languages are en and it",
        ),
        (
            "[quiet_hours]\nstart = \"21:00\"\nend = \"21:00\"\n",
            "quiet_hours: start and end are both 21:00",
        ),
        (
            "[flows.win_back.incentives]\nrecent_first_timer = { discount = \"10\" }\n",
            "flows.win_back.incentives.recent_first_timer: a discount is a real single-use code created in the shop: configure [admin_api] first",
        ),
        (
            "[flows.referral]\nenabled = true\n",
            "flows.referral.enabled: referral codes are real discount codes: configure [admin_api] first",
        ),
        (
            "[flows.delivery_check_in]\nchannel = \"sms\"\n",
            "flows.delivery_check_in.channel: an SMS check-in asks a question the customer answers by email: set support_email",
        ),
        (
            "[flows.review_request]\ndelay_dayz = 9\n",
            "did you mean `delay_days`?",
        ),
        (
            "[quiet_hours]\nend = \"7am\"\n",
            "quiet_hours.end: '7am' is not a time like 20:00",
        ),
    ];
    for (n, (text, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("shop{n}.toml"));
        std::fs::write(&file, format!("shop = \"demo.myshopify.com\"\n{text}")).unwrap();
        let (ok, err) = run(&["config", "check", file.to_str().unwrap()]);
        assert!(!ok, "{text} was accepted");
        assert!(
            err.contains(expected) && err.contains(&format!("shop{n}.toml")),
            "{text}: {err}"
        );
    }
    // A shop that is not a shop domain, in the file or on the command line.
    let file = dir.path().join("demo.toml");
    std::fs::write(&file, "shop = \"demo\"\n").unwrap();
    let (ok, err) = run(&["config", "check", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("shop: 'demo' is not a shop domain: a Shopify shop is name.myshopify.com"),
        "{err}"
    );
    let file = dir.path().join("noshop.toml");
    std::fs::write(&file, "locale = \"it\"\n").unwrap();
    let (ok, err) = run(&["config", "check", file.to_str().unwrap(), "--shop", "demo"]);
    assert!(!ok);
    assert!(err.contains("--shop: 'demo' is not a shop domain"), "{err}");
}

#[test]
fn without_a_store_in_sight_commands_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["outbox"][..],
        &["events"],
        &["tick"],
        &["answers"],
        &["dead-letters"],
        &["customers", "--shop", "demo.myshopify.com"],
        &["referrals", "--shop", "demo.myshopify.com"],
    ] {
        let out = Command::new(binary())
            .args(args)
            .current_dir(dir.path())
            .env_remove("AFTERSALE_DATA_DIR")
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains("no store here")
                && err.contains("has no .aftersale directory")
                && err.contains("--data-dir"),
            "{args:?}: {err}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "{args:?}");
        assert!(
            !dir.path().join(".aftersale").exists(),
            "{args:?} created a store"
        );
    }
}

#[test]
fn a_bad_now_is_explained_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for command in ["tick", "serve"] {
        let (ok, err) = run(&[command, "--data-dir", data, "--now", "2026-12-01"]);
        assert!(!ok);
        assert!(
            err.contains("--now") && err.contains("not an RFC 3339 time such as 2026-12-01T10:00:00Z"),
            "{command}: {err}"
        );
    }
}

#[test]
fn customers_lists_a_tiers_members_as_of_a_day() {
    let server = Server::start_with(&["--now", "2022-01-01T00:00:00Z"], &[]);
    let file = server.data_dir().join("shop.toml");
    std::fs::write(
        &file,
        "shop = \"demo.myshopify.com\"\n[[flows.vip.tiers]]\nname = \"Silver\"\nmin_orders = 1\nperiod = \"calendar_year\"\n[[flows.vip.tiers]]\nname = \"Gold\"\nmin_orders = 5\n",
    )
    .unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    post_shopify(
        &server,
        "orders/paid",
        "o-1",
        &fixture("shopify/orders_paid.json"),
    );

    let members = server.cli_json(&[
        "customers",
        "--shop",
        "demo.myshopify.com",
        "--tier",
        "silver",
        "--now",
        "2022-02-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["customer_id"], "115310627314723954");
    assert_eq!(members[0]["tier"], "Silver");
    assert_eq!(members[0]["orders"], 1);
    assert_eq!(members[0]["email"], "john@example.com");
    let out = server.cli(&[
        "customers",
        "--shop",
        "demo.myshopify.com",
        "--tier",
        "Gold",
        "--now",
        "2022-02-01T00:00:00Z",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 customer(s) in Gold"));
    let out = server.cli(&["customers", "--shop", "demo.myshopify.com", "--tier", "Platinum"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "--tier: 'Platinum' is not a configured tier of demo.myshopify.com (tiers: Silver, Gold)"
        )
    );
}

#[test]
fn campaign_create_says_who_it_will_reach_and_who_not() {
    let server = Server::start();
    let file = server.data_dir().join("shop.toml");
    std::fs::write(&file, VIP_CONFIG).unwrap();
    let out = server.cli(&["config", "load", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The documented customer has not subscribed; a second one has.
    let (status, _) = post_shopify(
        &server,
        "orders/paid",
        "o-1",
        &fixture("shopify/orders_paid.json"),
    );
    assert_eq!(status, 200);
    let mut other: serde_json::Value = serde_json::from_slice(&fixture("shopify/orders_paid.json")).unwrap();
    other["id"] = serde_json::json!(820982911946154777u64);
    other["email"] = serde_json::json!("ada@example.com");
    other["contact_email"] = serde_json::json!("ada@example.com");
    other["customer"]["id"] = serde_json::json!(115310627314723777u64);
    other["customer"]["email"] = serde_json::json!("ada@example.com");
    other["customer"]["email_marketing_consent"]["state"] = serde_json::json!("subscribed");
    let (status, _) = post_shopify(
        &server,
        "orders/paid",
        "o-2",
        &serde_json::to_vec(&other).unwrap(),
    );
    assert_eq!(status, 200);

    let args = campaign_args(&[("--tier", "Silver")]);
    let out = server.cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("2 customer(s) invited"), "{text}");
    assert!(
        text.contains("1 will be reached; 1 may not be: no consent (1)"),
        "{text}"
    );

    let args = campaign_args(&[("--tier", "Silver"), ("--name", "Winter drop")]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("--json");
    let report = server.cli_json(&args);
    assert_eq!(report[0]["reachable"], 1, "{report:?}");
    assert_eq!(report[0]["unreachable"]["no consent"], 1, "{report:?}");
}

#[test]
fn healthz_reports_the_sending_loop() {
    let server = Server::start();
    let client = reqwest::blocking::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let response = client.get(format!("{}/healthz", server.base)).send().unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().unwrap();
        assert_eq!(body["status"], "ok", "{body}");
        assert_eq!(body["tick"]["every_seconds"], 60, "{body}");
        assert_eq!(body["tick"]["consecutive_failures"], 0, "{body}");
        if body["tick"]["last_success_at"].is_string() {
            assert_eq!(body["tick"]["last_report"]["errors"], 0, "{body}");
            assert!(body["tick"]["last_error"].is_null(), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no tick finished: {body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
