//! The web pages in a real browser: Debian's headless Chromium, driven over WebDriver
//! (`chromedriver`), against a running `aftersale serve`. What is asserted is what a person
//! sees on the rendered page: the owner's dashboard figures, equal to `aftersale metrics
//! --json` on the same store, and a customer's answer and unsubscribe pages after pressing
//! their buttons. Screenshots are saved under `target/tmp/browser/`.
//!
//! Chromium comes from the system (`.ci/run` and `infra/scripts/test-all.sh` install
//! `chromium` and `chromium-driver`). Without it the tests skip with a loud message, except
//! in CI (`CI` set), where a missing browser fails them.

#[path = "support/mod.rs"]
mod support;

use aftersale_metrics::{contract, history};
use chrono::{Duration, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use support::mail::{emails, links, list_unsubscribe, order};
use support::*;

/// Where Chromium and its driver are, or why the test cannot run.
fn chromium() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    match (find("chromium"), find("chromedriver")) {
        (Some(browser), Some(driver)) => Some((browser, driver)),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "chromium and chromedriver are missing in CI: .ci/run installs them (apt: chromium chromium-driver)"
            )
        }
        _ => {
            eprintln!(
                "\n**********\nSKIPPED: the browser test needs Debian's `chromium` and `chromium-driver` \
                 (sudo apt-get install -y chromium chromium-driver); `.ci/run` installs them.\n**********\n"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chromedriver with one headless Chromium session, both ended on drop.
struct Browser {
    client: Option<Client>,
    driver: Child,
    rt: tokio::runtime::Runtime,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Option<Browser> {
        let (chromium, chromedriver) = chromium()?;
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // The flags keep Chromium off the network (this machine refuses its background
        // connections) and out of any profile but a fresh one.
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let client = rt.block_on(async {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                // Plain HTTP: chromedriver listens on loopback, and no page is fetched over TLS.
                let attempt = ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await;
                match attempt {
                    Ok(client) => break client,
                    Err(err) if std::time::Instant::now() > deadline => {
                        panic!("no WebDriver session from chromedriver: {err}")
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                }
            }
        });
        Some(Browser {
            client: Some(client),
            driver,
            rt,
            _profile: profile,
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    fn open(&self, url: &str) {
        self.rt.block_on(self.client().goto(url)).expect("the page loads");
    }

    /// The visible text of the first element matching `css`.
    fn text(&self, css: &str) -> String {
        self.rt
            .block_on(async { self.client().find(Locator::Css(css)).await?.text().await })
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    /// The visible text of the page's `<main>` (or body), whitespace collapsed: what a
    /// person reads, line breaks aside.
    fn reads(&self) -> String {
        let css = if self.rt.block_on(self.client().find(Locator::Css("main"))).is_ok() {
            "main"
        } else {
            "body"
        };
        self.text(css).split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The visible text of every element matching `css`.
    fn texts(&self, css: &str) -> Vec<String> {
        self.rt
            .block_on(async {
                let mut texts = Vec::new();
                for element in self.client().find_all(Locator::Css(css)).await? {
                    texts.push(element.text().await?);
                }
                Ok::<_, fantoccini::error::CmdError>(texts)
            })
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    /// Presses the form button matching `css`, then waits for the page the form answers with.
    /// A click returns as soon as the press is sent, so without the wait the next read can
    /// land on the old page, or between the two pages.
    fn submit(&self, css: &str) {
        self.rt
            .block_on(async {
                let button = self.client().find(Locator::Css(css)).await?;
                button.click().await?;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                loop {
                    match button.is_displayed().await {
                        Err(e) if e.is_stale_element_reference() => break,
                        Err(e) => return Err(e),
                        Ok(_) if std::time::Instant::now() > deadline => {
                            return Err(fantoccini::error::CmdError::WaitTimeout);
                        }
                        Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                    }
                }
                loop {
                    let state = self
                        .client()
                        .execute("return document.readyState", vec![])
                        .await?;
                    if state == "complete" {
                        break Ok(());
                    }
                    if std::time::Instant::now() > deadline {
                        break Err(fantoccini::error::CmdError::WaitTimeout);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            })
            .unwrap_or_else(|e| panic!("submit {css}: {e}"));
    }

    /// Saves a PNG of the viewport under `target/tmp/browser/`, and returns its path.
    fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .rt
            .block_on(self.client().screenshot())
            .expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG image");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A money list as the English page writes it: `12.50 EUR · 3.00 USD`, or `–`.
fn money(list: &Value) -> String {
    let parts: Vec<String> = list
        .as_array()
        .expect("a money list")
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["amount"].as_str().unwrap(),
                m["currency"].as_str().unwrap()
            )
        })
        .collect();
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(" · ")
    }
}

/// A fraction as the page writes it, a percentage to one place, or `–`.
fn percent(x: &Value) -> String {
    x.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{:.1}%", x * 100.0))
}

fn one_place(x: &Value) -> String {
    x.as_f64().map_or_else(|| "–".into(), |x| format!("{x:.1}"))
}

/// The lift cell as the owner reads it, from the JSON figure.
fn lift_cell(lift: &Value) -> String {
    match lift["status"].as_str().unwrap() {
        "not enough data yet" => format!(
            "not enough data yet ({} sent, {} held out)",
            lift["sent"], lift["held_out"]
        ),
        "measured" => {
            let points = |x: &Value| format!("{:+.1}", x.as_f64().unwrap() * 100.0);
            format!(
                "{} pts ({} … {})",
                points(&lift["lift"]),
                points(&lift["interval_95"][0]),
                points(&lift["interval_95"][1])
            )
        }
        other => panic!("unknown lift status {other}"),
    }
}

/// The page rounds the lift once, from the exact figure, to a tenth of a point; the JSON
/// keeps four places of the fraction. Read with the numbers within a rounding of each other
/// and every word the same.
fn assert_same_reading(page: &str, from_json: &str) {
    let split = |text: &str| -> (Vec<String>, Vec<f64>) {
        let (mut words, mut numbers) = (Vec::new(), Vec::new());
        for token in text.split_whitespace() {
            let bare = token.trim_matches(|c: char| c == '(' || c == ')' || c == ',');
            match bare.parse::<f64>() {
                Ok(x) if bare.chars().any(|c| c.is_ascii_digit()) => numbers.push(x),
                _ => words.push(token.to_string()),
            }
        }
        (words, numbers)
    };
    let ((page_words, page_numbers), (json_words, json_numbers)) = (split(page), split(from_json));
    assert_eq!(page_words, json_words, "{page} against {from_json}");
    assert_eq!(
        page_numbers.len(),
        json_numbers.len(),
        "{page} against {from_json}"
    );
    for (a, b) in page_numbers.iter().zip(&json_numbers) {
        assert!((a - b).abs() <= 0.1 + 1e-9, "{page} against {from_json}");
    }
}

#[test]
fn the_dashboard_in_chromium_shows_the_figures_of_aftersale_metrics_and_refuses_bad_links() {
    let Some(browser) = Browser::start() else {
        return;
    };
    // A year of generated history, folded into the embedded store the way ingest and the
    // engine fold it, before `serve` opens that store.
    let history = history::generate(11, 400);
    let data_dir = tempfile::tempdir().unwrap();
    {
        let store = aftersale_store_sqlite::SqliteStore::open_dir(data_dir.path()).unwrap();
        browser
            .rt
            .block_on(contract::load(&store, &history))
            .expect("the history folds");
    }
    let now = history.now.to_rfc3339();
    let server = Server::start_in(data_dir, &["--now", &now, "--tick-seconds", "3600"], &[]);
    let shop = history.shop.as_str();
    let out = server.cli(&["metrics", "--shop", shop, "--json", "--now", &now]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let figures: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(figures["customers"].as_u64().unwrap() > 300, "{figures}");

    let out = server.cli(&["dashboard-link", "--shop", shop, "--public-url", &server.base]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    browser.open(&link);
    assert_eq!(browser.text("h1"), format!("Retention dashboard {shop}"));

    // Every headline tile says what `metrics --json` says.
    let tile = |metric: &str| browser.text(&format!("[data-metric={metric}] .value"));
    assert_eq!(tile("customers"), figures["customers"].to_string());
    assert_eq!(tile("orders"), figures["orders"].to_string());
    assert_eq!(tile("revenue"), money(&figures["revenue"]));
    assert_eq!(
        tile("repeat_purchase_rate"),
        percent(&figures["repeat_purchase_rate"])
    );
    assert_eq!(
        tile("median_days_to_second_order"),
        one_place(&figures["median_days_to_second_order"])
    );
    assert_eq!(tile("aov_first_order"), money(&figures["aov_first_order"]));
    assert_eq!(tile("aov_repeat_orders"), money(&figures["aov_repeat_orders"]));
    // Shortest horizon first.
    let ltv_tiles = browser.texts("[data-metric=ltv]");
    let expected: Vec<String> = ["d30", "d90", "d365"]
        .iter()
        .map(|h| format!("Lifetime value {h}\n{}", money(&figures["ltv"][*h])))
        .collect();
    assert_eq!(ltv_tiles, expected);
    assert_eq!(tile("refund_rate"), percent(&figures["refund_rate"]));
    assert_eq!(tile("review_rate"), percent(&figures["review_rate"]));
    assert_eq!(tile("nps"), one_place(&figures["nps"]));
    assert_eq!(tile("csat"), percent(&figures["csat"]));

    // Each flow's funnel row, and its lift or "not enough data yet" with the counts.
    let flows = figures["flows"].as_object().unwrap();
    assert!(flows.len() >= 3, "{flows:?}");
    let mut measured = 0;
    for (flow, f) in flows {
        let row = format!("tr[data-flow={flow}] td");
        let cells = browser.texts(&row);
        let skipped: u64 = f["skipped"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        let expected: Vec<String> = [
            "planned",
            "sent",
            "held_out",
            "skipped",
            "deferred",
            "failed",
            "delivered",
            "opened",
            "clicked",
            "unsubscribed",
            "complained",
            "converted",
        ]
        .iter()
        .map(|k| {
            if *k == "skipped" {
                skipped.to_string()
            } else {
                f[*k].to_string()
            }
        })
        .chain([
            money(&f["attributed_revenue"]),
            if f["lift"]["status"] == "measured" {
                money(&f["lift"]["incremental_revenue"])
            } else {
                "–".into()
            },
        ])
        .collect();
        let (lift, counts) = cells.split_last().expect("a lift cell");
        assert_eq!(counts, expected.as_slice(), "the {flow} row");
        assert_same_reading(lift, &lift_cell(&f["lift"]));
        measured += usize::from(f["lift"]["status"] == "measured");
    }
    assert!(measured >= 1, "the history measures a lift somewhere: {flows:?}");
    assert!(
        flows
            .values()
            .any(|f| f["lift"]["status"] == "not enough data yet"),
        "and has a flow without a holdout"
    );
    assert!(
        browser
            .text("main")
            .contains("clicks are the engagement figure to trust")
    );
    let shot = browser.screenshot("dashboard");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real picture");

    // A link someone edited, and one that has expired, each get a page saying so.
    browser.open(&link.replace("expires=", "expires=9"));
    assert_eq!(browser.text("body"), "This dashboard link is not valid.");
    browser.screenshot("dashboard-bad-link");
    let later = (Utc::now() + Duration::days(3)).to_rfc3339();
    let late_server = Server::start_in(tempfile::tempdir().unwrap(), &["--now", &later], &[]);
    let out = late_server.cli(&[
        "dashboard-link",
        "--shop",
        shop,
        "--hours",
        "1",
        "--public-url",
        &late_server.base,
    ]);
    let stale = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // Signed for an hour from now, opened on a server whose clock is three days ahead.
    browser.open(&stale);
    assert_eq!(
        browser.text("body"),
        "This dashboard link has expired: ask for a new one."
    );

    // The session the link set opens the dashboard without naming the shop again; without
    // it, no shop named at all gets a page saying so.
    browser.open(&format!("{}/dashboard", server.base));
    assert_eq!(browser.text("h1"), format!("Retention dashboard {shop}"));
    browser
        .rt
        .block_on(browser.client().delete_all_cookies())
        .expect("cookies cleared");
    browser.open(&format!("{}/dashboard", server.base));
    assert!(
        browser
            .text("body")
            .starts_with("Which shop? The address names none: add ?shop=your-shop.myshopify.com"),
        "{}",
        browser.text("body")
    );
}

#[test]
fn a_customer_answers_and_unsubscribes_in_chromium_by_pressing_the_buttons() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let server = Server::start_with(&["--tick-seconds", "3600"], &[]);
    let placed = Utc::now() - Duration::minutes(5);
    let (status, _) = post_shopify(&server, "orders/create", "o-1", &order(placed, 5001, "#1001"));
    assert_eq!(status, 200);
    for at in [placed + Duration::minutes(10), placed + Duration::days(3)] {
        let out = server.cli(&["tick", "--json", "--now", &at.to_rfc3339()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let survey = emails(&server)
        .into_iter()
        .find(|m| m.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"))
        .expect("the survey");

    // The CSAT link asks to confirm; pressing the button records the answer.
    browser.open(&links(&server, &survey)[3]);
    assert!(
        browser
            .reads()
            .starts_with("How happy are you with your order #1001? You chose 4 out of 5"),
        "{}",
        browser.reads()
    );
    browser.submit("form button");
    assert!(
        browser
            .reads()
            .starts_with("Thank you! Your answer has been recorded."),
        "{}",
        browser.reads()
    );
    browser.screenshot("feedback-recorded");
    let answers = server.cli_json(&["answers", "--json"]);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        (answers[0]["question"].as_str(), answers[0]["score"].as_u64()),
        (Some("csat"), Some(4))
    );

    // The unsubscribe page asks first; its button unsubscribes.
    browser.open(&list_unsubscribe(&server, &survey));
    assert!(
        browser
            .reads()
            .starts_with("Stop emails from demo.myshopify.com?"),
        "{}",
        browser.reads()
    );
    browser.submit("form button");
    assert!(
        browser.reads().starts_with("You're unsubscribed"),
        "{}",
        browser.reads()
    );
    browser.screenshot("unsubscribed");

    // An edited link is refused with a page that says what to do.
    browser.open(&format!("{}x", list_unsubscribe(&server, &survey)));
    assert_eq!(browser.text("h1"), "This link is not valid");
    assert_eq!(
        browser.reads(),
        "This link is not valid Please use the link exactly as it appears in the original message."
    );
}
