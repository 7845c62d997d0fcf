//! `aftersale metrics` as a script reads it: one JSON object with exactly the keys the README
//! defines (and every flow's funnel with exactly its fields), tables on a terminal, a rebuild
//! that changes no figure, and bad arguments refused in words.
//!
//! The figures themselves are checked against independently computed values in
//! `shared/metrics/tests/known_answers.rs`; here the store is a generated history folded into
//! the embedded store, as the browser test seeds it.

#[path = "support/mod.rs"]
mod support;

use aftersale_metrics::{contract, history};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use support::binary;

fn aftersale(data: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run aftersale")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// `{"amount": "12.50", "currency": "EUR"}` per currency, sorted by code, never summed.
fn assert_money_list(value: &Value, what: &str) {
    let list = value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is a list: {value}"));
    let mut currencies = Vec::new();
    for money in list {
        assert_eq!(
            keys(money),
            BTreeSet::from(["amount", "currency"]),
            "{what}: {money}"
        );
        let amount = money["amount"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: amount is text: {money}"));
        let (_, cents) = amount
            .split_once('.')
            .unwrap_or_else(|| panic!("{what}: {amount}"));
        assert_eq!(cents.len(), 2, "{what}: cents: {amount}");
        currencies.push(money["currency"].as_str().unwrap().to_string());
    }
    let mut sorted = currencies.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(currencies, sorted, "{what}: one figure per currency, sorted");
}

fn assert_rate(value: &Value, what: &str) {
    let rate = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is a number: {value}"));
    assert!((0.0..=1.0).contains(&rate), "{what} is a fraction: {rate}");
}

#[test]
fn metrics_json_has_exactly_the_documented_keys_and_a_rebuild_changes_no_figure() {
    let h = history::generate(17, 150);
    let data = tempfile::tempdir().unwrap();
    {
        let store = aftersale_store_sqlite::SqliteStore::open_dir(data.path()).unwrap();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(contract::load(&store, &h))
            .expect("the history folds");
    }
    let shop = h.shop.as_str();
    let now = h.now.to_rfc3339();
    let metrics = |extra: &[&str]| -> Value {
        let mut args = vec!["metrics", "--shop", shop, "--json", "--now", &now];
        args.extend_from_slice(extra);
        serde_json::from_str(&stdout(&aftersale(data.path(), &args))).expect("one JSON object")
    };
    let figures = metrics(&[]);

    assert_eq!(
        keys(&figures),
        BTreeSet::from([
            "customers",
            "orders",
            "revenue",
            "repeat_purchase_rate",
            "median_days_to_second_order",
            "aov_first_order",
            "aov_repeat_orders",
            "ltv",
            "refund_rate",
            "review_rate",
            "nps",
            "csat",
            "cohorts",
            "flows",
        ])
    );
    assert!(figures["customers"].as_u64().unwrap() > 100, "{figures}");
    assert!(figures["orders"].as_u64().unwrap() > figures["customers"].as_u64().unwrap());
    for money in ["revenue", "aov_first_order", "aov_repeat_orders"] {
        assert_money_list(&figures[money], money);
    }
    assert_eq!(keys(&figures["ltv"]), BTreeSet::from(["d30", "d90", "d365"]));
    for horizon in ["d30", "d90", "d365"] {
        assert_money_list(&figures["ltv"][horizon], horizon);
    }
    for rate in ["repeat_purchase_rate", "refund_rate", "review_rate", "csat"] {
        assert_rate(&figures[rate], rate);
    }
    let nps = figures["nps"].as_f64().unwrap();
    assert!((-100.0..=100.0).contains(&nps), "{nps}");
    assert!(figures["median_days_to_second_order"].as_f64().unwrap() > 0.0);

    let cohorts = figures["cohorts"].as_array().unwrap();
    assert!(!cohorts.is_empty());
    for cohort in cohorts {
        assert_eq!(
            keys(cohort),
            BTreeSet::from(["month", "customers", "m1", "m2", "m3", "m6", "m12"]),
            "{cohort}"
        );
        for k in ["m1", "m2", "m3", "m6", "m12"] {
            if !cohort[k].is_null() {
                assert_rate(&cohort[k], k);
            }
        }
    }

    let flows = figures["flows"].as_object().unwrap();
    for flow in ["replenishment", "win-back", "review-request"] {
        assert!(flows.contains_key(flow), "{flow}: {:?}", flows.keys());
    }
    for (flow, funnel) in flows {
        assert_eq!(
            keys(funnel),
            BTreeSet::from([
                "holdout_percent",
                "attribution_days",
                "planned",
                "sent",
                "held_out",
                "skipped",
                "deferred",
                "failed",
                "delivered",
                "opened",
                "clicked",
                "bounced",
                "unsubscribed",
                "complained",
                "converted",
                "attributed_revenue",
                "lift",
            ]),
            "{flow}"
        );
        assert!(funnel["skipped"].is_object(), "skipped by reason: {flow}");
        assert_money_list(&funnel["attributed_revenue"], flow);
        let lift = &funnel["lift"];
        match lift["status"].as_str() {
            Some("not enough data yet") => {
                assert_eq!(
                    keys(lift),
                    BTreeSet::from(["status", "sent", "held_out", "min_sample"]),
                    "{flow}"
                );
            }
            Some("measured") => {
                for key in [
                    "sent_conversion",
                    "held_out_conversion",
                    "lift",
                    "relative_lift",
                    "incremental_revenue",
                ] {
                    assert!(lift.get(key).is_some(), "{flow}: {key} in {lift}");
                }
                assert_money_list(&lift["incremental_revenue"], flow);
            }
            other => panic!("{flow}: lift status {other:?}"),
        }
    }
    assert_eq!(figures["flows"]["win-back"]["holdout_percent"], 5);
    assert_eq!(figures["flows"]["review-request"]["holdout_percent"], 0);

    // A range counts fewer customers than the whole history.
    let spring = metrics(&["--from", "2026-03-01", "--to", "2026-05-31"]);
    assert!(
        spring["customers"].as_u64().unwrap() < figures["customers"].as_u64().unwrap(),
        "{spring}"
    );

    // The terminal view: the same figures as readable lines.
    let table = stdout(&aftersale(
        data.path(),
        &["metrics", "--shop", shop, "--now", &now],
    ));
    assert!(
        table.contains(&format!("{:<30} {}", "customers", figures["customers"])),
        "{table}"
    );
    let repeat = figures["repeat_purchase_rate"].as_f64().unwrap() * 100.0;
    assert!(
        table.contains(&format!("{:<30} {repeat:.1}%", "repeat purchase rate")),
        "{table}"
    );
    assert!(table.contains("win-back"), "{table}");
    assert!(table.contains("read clicks as the engagement figure"), "{table}");

    // Recomputing the rollups from the records changes no figure.
    let rebuilt = stdout(&aftersale(data.path(), &["metrics", "rebuild", "--shop", shop]));
    assert!(
        rebuilt.starts_with(&format!("rebuilt the metrics of {shop} from ")),
        "{rebuilt}"
    );
    assert_eq!(metrics(&[]), figures);
}

#[test]
fn bad_metrics_arguments_are_refused_saying_what_to_give() {
    let data = tempfile::tempdir().unwrap();
    let refused = |args: &[&str]| -> String {
        let out = aftersale(data.path(), args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&["metrics"]);
    assert!(err.contains("--shop is required"), "{err}");
    let err = refused(&["metrics", "--shop", "demo.myshopify.com", "--from", "2026-13-01"]);
    assert!(err.contains("is not a date such as 2026-03-31"), "{err}");
    let err = refused(&[
        "metrics",
        "--shop",
        "demo.myshopify.com",
        "--from",
        "2026-04-01",
        "--to",
        "2026-03-01",
    ]);
    assert!(err.contains("is after --to 2026-03-01"), "{err}");
}
